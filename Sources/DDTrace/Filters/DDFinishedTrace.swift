// A filter's view of one finished trace chunk.
//
// The view reads the spans' slots directly (no per-span objects) and records edits on the side, so a filter
// that only looks costs nothing beyond the reads, and one that edits allocates only for its edits. Reads see
// the pending edits. The flusher applies them to the slots with `commit(newCarrier:)` once the whole filter chain
// has kept the chunk; a throwing filter's edits are simply dropped with the copy of the view it worked on.

/// One finished trace chunk, as seen by a ``DDTraceFilter``: its spans, in the order they are sent (the local
/// root first when it is part of the chunk), and the edits filters make to them.
///
/// Span positions are like array indices: removing a span shifts the positions of the spans after it. To remove
/// several spans in one pass, go through the positions backwards.
///
/// The trace refers to the tracer's span storage and is valid only during ``DDTraceFilter/process(_:)``; do not
/// keep it (or its spans) beyond that call.
public struct DDFinishedTrace {
    /// The chunk's slots as the flusher collected them. Shares the flusher's buffer (arrays are copy-on-write).
    let slots: [SlotPointer]
    /// The trace's local root slot; it may or may not be part of this chunk (a partial flush sends it once).
    let localRoot: SlotPointer?
    /// The service of spans that did not set one (an empty `service` in a slot).
    let defaultService: String
    /// Edits made by filters so far.
    var edits = PendingEdits()
    /// Tags `commit` could not store in the slots; see `commit(newCarrier:)`.
    var extraMeta: [(spanIndex: Int, key: String, value: String)] = []
    var extraMetrics: [(spanIndex: Int, key: String, value: Double)] = []

    init(slots: [SlotPointer], localRoot: SlotPointer?, defaultService: String) {
        self.slots = slots
        self.localRoot = localRoot
        self.defaultService = defaultService
    }

    /// The number of spans in the chunk (after removals).
    public var count: Int { edits.order?.count ?? slots.count }

    /// The spans of the chunk, in order.
    public var spans: Spans { Spans(trace: self) }

    /// The local root span, if it is part of this chunk (it is not in the later chunks of a partially flushed
    /// trace, nor once a filter removed it).
    public var localRootSpan: DDFinishedSpan? {
        spans.first { $0.isLocalRoot }
    }

    /// The index in `slots` of the span at `position`.
    @inline(__always) func slotIndex(_ position: Int) -> Int {
        precondition(position >= 0 && position < count, "span position \(position) out of range 0..<\(count)")
        return edits.order?[position] ?? position
    }

    /// The spans of a ``DDFinishedTrace``, as a random-access collection of lightweight views.
    public struct Spans: RandomAccessCollection {
        let trace: DDFinishedTrace

        /// Always 0.
        public var startIndex: Int { 0 }
        /// The trace's span count.
        public var endIndex: Int { trace.count }

        /// The span at `position` (0 is the first span of the chunk).
        public subscript(position: Int) -> DDFinishedSpan {
            DDFinishedSpan(trace: trace, slotIndex: trace.slotIndex(position))
        }
    }
}

/// A read-only view of one span of a ``DDFinishedTrace``, reflecting the edits made so far. Edit spans through
/// the trace (``DDFinishedTrace/setTag(_:_:onSpanAt:)`` and its siblings).
public struct DDFinishedSpan {
    let trace: DDFinishedTrace
    let slotIndex: Int

    @inline(__always) var slot: SlotPointer { trace.slots[slotIndex] }
    @inline(__always) var edits: SpanEdits? { trace.edits.spans[slotIndex] }

    /// The operation name.
    public var name: String { edits?.name ?? slot.pointee.name }

    /// The service (the tracer's default service when the span did not set one).
    public var service: String {
        let service = edits?.service ?? slot.pointee.service
        return service.isEmpty ? trace.defaultService : service
    }

    /// The resource (the operation name when the span did not set one).
    public var resource: String {
        let resource = edits?.resource ?? slot.pointee.resource
        return resource.isEmpty ? name : resource
    }

    /// The span type (`web`, `http`, `sql`...), empty when unset.
    public var type: String { edits?.type ?? slot.pointee.type }

    /// Whether the span is marked as failed.
    public var error: Bool { edits?.error ?? (slot.pointee.error != 0) }

    /// The trace id.
    public var traceId: DDTraceID { DDTraceID(high: slot.pointee.traceIdHigh, low: slot.pointee.traceIdLow) }

    /// The span id.
    public var spanId: UInt64 { slot.pointee.spanId }

    /// The parent's span id; 0 for a trace's root span.
    public var parentId: UInt64 { slot.pointee.parentId }

    /// Whether this is the local root: the first span of the trace in this process (its parent, if any, is in
    /// another service).
    public var isLocalRoot: Bool { slot == trace.localRoot }

    /// The span's duration in nanoseconds.
    public var durationNanoseconds: Int64 { max(0, slot.pointee.endMonotonic &- slot.pointee.startMonotonic) }

    /// The string tag `key` (`meta` on the wire), or nil.
    public func tag(_ key: String) -> String? {
        if let edit = edits?.meta.first(where: { $0.key == key }) { return edit.value }
        return SlotTags.meta(slot, key)
    }

    /// The numeric tag `key` (`metrics` on the wire), or nil.
    public func metric(_ key: String) -> Double? {
        if let edit = edits?.metrics.first(where: { $0.key == key }) { return edit.value }
        return SlotTags.metric(slot, key)
    }

    /// All string tags the span itself set (not the tracer-wide ones such as `env` or `version`, which are added
    /// when the chunk is sent). Allocates a dictionary.
    public var allTags: [String: String] {
        var tags: [String: String] = [:]
        SlotTags.forEachMeta(slot) { key, value in tags[key] = value }
        for edit in edits?.meta ?? [] { tags[edit.key] = edit.value }
        return tags
    }

    /// All numeric tags the span itself set. Allocates a dictionary.
    public var allMetrics: [String: Double] {
        var metrics: [String: Double] = [:]
        SlotTags.forEachMetric(slot) { key, value in metrics[key] = value }
        for edit in edits?.metrics ?? [] { metrics[edit.key] = edit.value }
        return metrics
    }
}
