// Pending edits of a DDFinishedTrace. Everything here is a value: copying the trace (as the filter chain does
// before each filter, to undo a throwing filter) copies only references, and the first edit after a copy pays
// for the copy-on-write.

/// Edits recorded on a trace, keyed by index in `DDFinishedTrace.slots`.
struct PendingEdits {
    /// Position → index in `slots`, once a span was removed (nil while no span was: the identity).
    var order: [Int]?
    /// Per-span edits; empty (and unallocated) until a filter edits a span.
    var spans: [Int: SpanEdits] = [:]

    var isEmpty: Bool { order == nil && spans.isEmpty }
}

/// The edits of one span. A nil tag value marks a removed tag; each key appears at most once.
struct SpanEdits {
    var name: String?
    var service: String?
    var resource: String?
    var type: String?
    var error: Bool?
    var meta: [(key: String, value: String?)] = []
    var metrics: [(key: String, value: Double?)] = []

    mutating func setMeta(_ key: String, _ value: String?) {
        if let index = meta.firstIndex(where: { $0.key == key }) {
            meta[index].value = value
        } else {
            meta.append((key, value))
        }
    }

    mutating func setMetric(_ key: String, _ value: Double?) {
        if let index = metrics.firstIndex(where: { $0.key == key }) {
            metrics[index].value = value
        } else {
            metrics.append((key, value))
        }
    }
}

extension DDFinishedTrace {
    /// Whether any filter edited the chunk (tags, fields or removed spans).
    var hasEdits: Bool { !edits.isEmpty }

    /// Sets the string tag `key` on the span at `position`, replacing any previous value.
    public mutating func setTag(_ key: String, _ value: String, onSpanAt position: Int) {
        edits.spans[slotIndex(position), default: SpanEdits()].setMeta(key, value)
    }

    /// Removes the string tag `key` from the span at `position` (nothing happens if it is absent).
    public mutating func removeTag(_ key: String, onSpanAt position: Int) {
        edits.spans[slotIndex(position), default: SpanEdits()].setMeta(key, nil)
    }

    /// Sets the numeric tag `key` on the span at `position`, replacing any previous value.
    public mutating func setMetric(_ key: String, _ value: Double, onSpanAt position: Int) {
        edits.spans[slotIndex(position), default: SpanEdits()].setMetric(key, value)
    }

    /// Removes the numeric tag `key` from the span at `position` (nothing happens if it is absent).
    public mutating func removeMetric(_ key: String, onSpanAt position: Int) {
        edits.spans[slotIndex(position), default: SpanEdits()].setMetric(key, nil)
    }

    /// Renames the operation of the span at `position`. A span whose resource defaulted to its name keeps its
    /// old name as resource, as in dd-trace-py where the resource is fixed when the span starts.
    public mutating func setName(_ name: String, onSpanAt position: Int) {
        let index = slotIndex(position)
        let span = DDFinishedSpan(trace: self, slotIndex: index)
        if (edits.spans[index]?.resource ?? span.slot.pointee.resource).isEmpty {
            edits.spans[index, default: SpanEdits()].resource = span.name
        }
        edits.spans[index, default: SpanEdits()].name = name
    }

    /// Sets the service of the span at `position` (an empty string means the tracer's default service).
    public mutating func setService(_ service: String, onSpanAt position: Int) {
        edits.spans[slotIndex(position), default: SpanEdits()].service = service
    }

    /// Sets the resource of the span at `position` (an empty string means the same as its name).
    public mutating func setResource(_ resource: String, onSpanAt position: Int) {
        edits.spans[slotIndex(position), default: SpanEdits()].resource = resource
    }

    /// Sets the span type of the span at `position`.
    public mutating func setSpanType(_ type: String, onSpanAt position: Int) {
        edits.spans[slotIndex(position), default: SpanEdits()].type = type
    }

    /// Marks the span at `position` as failed or not (the `error` flag only; tags are unchanged).
    public mutating func setError(_ isError: Bool, onSpanAt position: Int) {
        edits.spans[slotIndex(position), default: SpanEdits()].error = isError
    }

    /// Removes the span at `position` from the chunk: it is not sent. The positions of later spans shift down by
    /// one. Removing every span drops the chunk.
    public mutating func removeSpan(at position: Int) {
        _ = slotIndex(position)
        if edits.order == nil { edits.order = Array(slots.indices) }
        edits.order!.remove(at: position)
    }

    /// The indices in `slots` of the removed spans, ascending.
    var removedSpans: [Int] {
        guard let order = edits.order else { return [] }
        var kept = [Bool](repeating: false, count: slots.count)
        for index in order { kept[index] = true }
        return slots.indices.filter { !kept[$0] }
    }
}
