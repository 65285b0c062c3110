/// What a trace filter decided for one finished trace chunk.
///
/// The Swift form of dd-trace-py's `TraceFilter.process_trace` returning the trace (`keep`) or `None` (`drop`).
public enum DDFilterResult: Sendable, Equatable {
    /// Send the chunk (with any edits the filter made).
    case keep
    /// Drop the whole chunk: none of its spans is sent.
    case drop
}

/// A user-supplied processor of finished trace chunks, like dd-trace-py's `TraceFilter` (registered there with
/// `tracer.configure(trace_processors=[...])`).
///
/// Filters run in order on the tracer's background thread, before the sampling decision: each one sees the
/// chunk as the previous one left it, and the first `drop` ends the chain. A chunk whose spans were all removed
/// is dropped too (dd-trace-py treats an empty list as `None`).
///
/// If `process(_:)` throws, the error is logged (once per filter) and the chunk continues down the chain exactly
/// as it was before that filter: the filter's partial edits are discarded. This is dd-trace-py's behaviour ("an
/// exception in a processor is logged and the chain continues with the previous spans"), made exact: in Python
/// the spans are shared objects, so edits made before the exception would leak through.
///
/// Filters run on the hot path of the tracer's only writer thread: keep them fast and non-blocking.
public protocol DDTraceFilter: Sendable {
    /// Inspects, and possibly edits, one finished chunk. The trace is valid only during this call.
    func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult
}
