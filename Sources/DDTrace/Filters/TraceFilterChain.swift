/// Runs the user's trace filters, in order, on each finished chunk (flusher thread).
///
/// Follows dd-trace-py's `SpanAggregator.on_span_finish`: each filter is fed the previous one's output; a `drop`
/// or an empty chunk ends the chain and drops the chunk; an exception is logged and the chain continues with the
/// chunk as it was before the failing filter.
struct TraceFilterChain: Sendable {
    /// What the chain did, for the tracer's statistics.
    struct Statistics: Sendable, Equatable {
        /// Chunks that went through the chain.
        var chunksProcessed: UInt64 = 0
        /// Chunks a filter dropped (explicitly, or by removing all their spans).
        var chunksDropped: UInt64 = 0
        /// Spans of the dropped chunks.
        var spansDropped: UInt64 = 0
        /// Spans removed one by one from chunks that were kept.
        var spansRemoved: UInt64 = 0
        /// Errors thrown by filters (each one undone).
        var filterErrors: UInt64 = 0
    }

    /// Called the first time each filter throws (later errors of the same filter are only counted), so the
    /// flusher can log it once: the filter's position, the filter and the error.
    typealias ErrorReporter = @Sendable (_ position: Int, _ filter: any DDTraceFilter, _ error: any Error) -> Void

    let filters: [any DDTraceFilter]
    private let reportError: ErrorReporter
    private var reported: [Bool]
    private(set) var statistics = Statistics()

    init(filters: [any DDTraceFilter], reportError: @escaping ErrorReporter = { _, _, _ in }) {
        self.filters = filters
        self.reportError = reportError
        self.reported = [Bool](repeating: false, count: filters.count)
    }

    var isEmpty: Bool { filters.isEmpty }

    /// Runs every filter on `trace`. On `keep`, `trace` holds the surviving edits (apply them with `commit`).
    mutating func run(_ trace: inout DDFinishedTrace) -> DDFilterResult {
        statistics.chunksProcessed += 1
        let initialCount = trace.count
        for (position, filter) in filters.enumerated() {
            // A copy only retains the view's storage; restoring it undoes the failing filter's edits.
            let before = trace
            do {
                if try filter.process(&trace) == .drop || trace.count == 0 {
                    statistics.chunksDropped += 1
                    statistics.spansDropped += UInt64(initialCount)
                    return .drop
                }
            } catch {
                trace = before
                record(error, of: filter, at: position)
            }
        }
        statistics.spansRemoved += UInt64(initialCount - trace.count)
        return .keep
    }

    private mutating func record(_ error: any Error, of filter: any DDTraceFilter, at position: Int) {
        statistics.filterErrors += 1
        guard !reported[position] else { return }
        reported[position] = true
        reportError(position, filter, error)
    }
}
