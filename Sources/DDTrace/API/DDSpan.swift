import Atomics
import CDDTraceShims

/// A 128-bit Datadog trace id.
///
/// Datadog tracers build the high half from the trace's start time (`seconds << 32`) and the low half at random.
/// On the wire (`/v0.4/traces`) the low half is the span's `trace_id` and the high half travels as the `_dd.p.tid`
/// tag on the first span of each chunk.
public struct DDTraceID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// 32 lowercase hex digits.
    public var hexString: String {
        Self.hex(high) + Self.hex(low)
    }

    public var description: String { hexString }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// A span: one timed operation of a trace.
///
/// `DDSpan` is a small handle with reference semantics: copies refer to the same span, and changes made through
/// any copy (tags, error, finish) apply to it. Its storage comes from a per-thread pool and goes back to it after
/// the span has been sent, so creating and finishing spans allocates nothing.
///
/// A span is meant to be used by one task or thread at a time; handing it to another task or thread (for
/// example to finish it there) is fine, since the hand-off orders the accesses. After `finish()` the span is
/// read-only: further `setTag`, `setMetric`, `setError` and `finish` calls are ignored, as are calls on a span
/// that was dropped because its thread's span pool was exhausted (see `DDTracer.counters`).
public struct DDSpan: @unchecked Sendable {
    @usableFromInline let slot: SlotPointer?
    @usableFromInline let generation: UInt32
    /// The span's trace id.
    public let traceId: DDTraceID
    /// The span's id (non-zero, 63 random bits).
    public let spanId: UInt64
    @usableFromInline let root: SlotPointer?
    @usableFromInline let rootGeneration: UInt32
    @usableFromInline let parentSlot: SlotPointer?
    @usableFromInline let parentGeneration: UInt32

    @usableFromInline init(
        slot: SlotPointer?, generation: UInt32, traceIdHigh: UInt64, traceIdLow: UInt64, spanId: UInt64,
        root: SlotPointer?, rootGeneration: UInt32, parentSlot: SlotPointer?, parentGeneration: UInt32
    ) {
        self.slot = slot
        self.generation = generation
        self.traceId = DDTraceID(high: traceIdHigh, low: traceIdLow)
        self.spanId = spanId
        self.root = root
        self.rootGeneration = rootGeneration
        self.parentSlot = parentSlot
        self.parentGeneration = parentGeneration
    }

    /// A handle for the open span held by `slot`, rebuilt from the slot (used to find an active ancestor).
    init?(openSlot slot: SlotPointer, generation: UInt32) {
        guard slot.holdsOpenSpan(generation: generation) else { return nil }
        self.init(
            slot: slot, generation: generation, traceIdHigh: slot.pointee.traceIdHigh,
            traceIdLow: slot.pointee.traceIdLow, spanId: slot.pointee.spanId, root: slot.pointee.localRoot,
            rootGeneration: slot.pointee.localRootGeneration, parentSlot: slot.pointee.parentSlot,
            parentGeneration: slot.pointee.parentGeneration)
        // The slot may be another thread's open span (an ancestor), which can finish and be recycled while the
        // fields above are read. Checked again after them, as a sequence lock's reader does: if any field came
        // from a new span, so does the generation (the flusher's and `stamp`'s bump is fenced before their
        // writes), and the copy is thrown away.
        atomicMemoryFence(ordering: .acquiring)
        guard slot.holds(generation: generation) else { return nil }
    }

    /// This span if it is still open, else its closest open local ancestor: after a span finishes, its parent is
    /// the active span again (ddtrace's semantics), even while the finished span's activation scope lasts.
    var nearestOpen: DDSpan? {
        if openSlot != nil { return self }
        var parent = parentSlot
        var generation = parentGeneration
        while let candidate = parent {
            guard candidate.holds(generation: generation) else { return nil }
            if let span = DDSpan(openSlot: candidate, generation: generation) { return span }
            let next = candidate.pointee.parentSlot
            let nextGeneration = candidate.pointee.parentGeneration
            // A finished ancestor's slot may be recycled meanwhile: its link is used only if the slot still held
            // that ancestor after the link was read (as in `init(openSlot:)`).
            atomicMemoryFence(ordering: .acquiring)
            guard candidate.holds(generation: generation) else { return nil }
            parent = next
            generation = nextGeneration
        }
        return nil
    }

    // `setTag`, `setMetric` and `finish()` are inlinable: they compile into the caller's module, where the call,
    // its prologue and the length of a literal key fold away (420 instead of 520 instructions per reference span,
    // HotPathProfile). So is starting a child of a span handle (`DDTracer.startSpan(_:childOf: DDSpan)`,
    // `EngineCore.startChild`: about 330 instead of 420 instructions). What they reach (the slot header, its tag
    // areas, the thread's pool, ring and counters) is `@usableFromInline` for that reason. Starting a span from a
    // context or the active span stays a call: inlined, its parent link's strings were copied with retains and
    // releases in the caller.

    /// The slot, if this handle still refers to an unfinished, recorded span.
    @inlinable @inline(__always) var openSlot: SlotPointer? {
        guard let slot, slot.holdsOpenSpan(generation: generation) else { return nil }
        return slot
    }

    /// Whether the span is recorded and not finished yet.
    public var isRecording: Bool { openSlot != nil }

    /// Sets a string tag (`meta` on the wire). Setting the same key again replaces the value.
    @inlinable @inline(__always) public func setTag(_ key: consuming String, _ value: consuming String) {
        guard let slot = openSlot else { return }
        slot.engine.setMeta(slot, key: key, value: value)
    }

    /// Sets a numeric tag (`metrics` on the wire). Setting the same key again replaces the value.
    @inlinable @inline(__always) public func setMetric(_ key: consuming String, _ value: Double) {
        guard let slot = openSlot else { return }
        slot.engine.setMetric(slot, key: key, value: value)
    }

    /// Marks the span as failed (`error = 1`) and records the error's type, message and, if given, stack
    /// (`error.type`, `error.message`, `error.stack`), as ddtrace does.
    public func setError(_ error: any Error, stack: String? = nil) {
        setError(type: String(reflecting: Swift.type(of: error)), message: String(describing: error), stack: stack)
    }

    /// Marks the span as failed with an explicit type and message.
    public func setError(type: String, message: String, stack: String? = nil) {
        guard let slot = openSlot else { return }
        slot.pointee.error = 1
        setTag("error.type", type)
        setTag("error.message", message)
        if let stack { setTag("error.stack", stack) }
    }

    /// Sets or clears the error flag without tags.
    public func setError(_ isError: Bool) {
        guard let slot = openSlot else { return }
        slot.pointee.error = isError ? 1 : 0
    }

    /// The operation name (e.g. `http.request`).
    public func setOperationName(_ name: String) {
        guard let slot = openSlot else { return }
        slot.pointee.name = name
    }

    /// The resource (e.g. `GET /users/:id`); defaults to the operation name.
    public func setResource(_ resource: String) {
        guard let slot = openSlot else { return }
        slot.pointee.resource = resource
    }

    /// The service; defaults to the parent's service, or the tracer's `DD_SERVICE`.
    ///
    /// Set it before handing the span's context to other threads: a child started there copies the service
    /// (when it has none of its own), and changing it during that copy is a data race like any other use of a
    /// span from two threads at once.
    public func setService(_ service: String) {
        guard let slot = openSlot else { return }
        slot.pointee.service = service
        // After the string, releasing: a child that sees this `set` also sees the string. Never back to `unset`
        // within a generation: the flusher relies on `set` to know that a child may be reading the service.
        if !service.isEmpty { slot.serviceState.store(ServiceState.set, ordering: .releasing) }
    }

    /// The span type (`web`, `http`, `sql`, `cache`, `custom`, ...).
    public func setSpanType(_ type: String) {
        guard let slot = openSlot else { return }
        slot.pointee.type = type
    }

    /// Forces the sampling decision of the span's whole trace: keep (`USER_KEEP`, 2) or drop (`USER_REJECT`, -1).
    public func setSamplingPriority(_ priority: DDSamplingPriority) {
        guard let slot = openSlot else { return }
        slot.pointee.samplingPriority = Int8(priority.rawValue)
    }

    /// Ends the span now.
    @inlinable @inline(__always) public func finish() {
        guard let slot = openSlot else { return }
        slot.engine.finish(slot, endWallClockNanoseconds: nil)
    }

    /// Ends the span at an explicit wall-clock time, in nanoseconds since the Unix epoch.
    public func finish(atWallClockNanoseconds end: Int64) {
        guard let slot = openSlot else { return }
        slot.engine.finish(slot, endWallClockNanoseconds: end)
    }

    /// The span's context, to parent spans on it elsewhere or to propagate it. While the span is open it carries
    /// the trace's sampling priority (once decided), origin and propagated `_dd.p.*` tags.
    public var context: DDTraceContext {
        var context = DDTraceContext(
            traceId: traceId, spanId: spanId, samplingPriority: nil, root: root, rootGeneration: rootGeneration,
            localSpan: slot, localSpanGeneration: generation)
        // Only an open span guarantees its trace (and so its root slot) is not recycled while we read it.
        guard let slot = openSlot else { return context }
        if let root, root.holds(generation: rootGeneration) {
            let preset = root.presetDecision.load(ordering: .acquiring)
            if preset != 0 {
                context.samplingPriority = DDSamplingPriority(rawValue: Int(Int8(truncatingIfNeeded: preset & 0xff)))
            } else if root.pointee.inheritedPriority != unsetSamplingPriority {
                context.samplingPriority = DDSamplingPriority(rawValue: Int(root.pointee.inheritedPriority))
            }
            if !root.pointee.origin.isEmpty { context.origin = root.pointee.origin }
            if let tags = root.pointee.propagatedTags { context.propagatedTags = tags }
        }
        if slot.pointee.samplingPriority != unsetSamplingPriority {
            context.samplingPriority = DDSamplingPriority(rawValue: Int(slot.pointee.samplingPriority))
        }
        return context
    }

    var parentLink: ParentLink {
        ParentLink(
            traceIdHigh: traceId.high, traceIdLow: traceId.low, spanId: spanId, root: root,
            rootGeneration: rootGeneration, parentSlot: slot, parentGeneration: generation,
            samplingPriority: unsetSamplingPriority, origin: "", propagatedTags: nil)
    }
}

/// Datadog sampling priorities (`_sampling_priority_v1`).
public enum DDSamplingPriority: Int, Sendable {
    /// Dropped by the user (manual drop, or a sampling rule).
    case userReject = -1
    /// Dropped by the sampler.
    case autoReject = 0
    /// Kept by the sampler.
    case autoKeep = 1
    /// Kept by the user (manual keep, or a sampling rule).
    case userKeep = 2
}

/// The propagated identity of a span: what a child needs to join its trace, here or in another process.
///
/// Contexts come from `DDSpan.context`, `DDTracer.currentTraceContext()`, or a propagator's `extract`. A context
/// taken from a local span also links to the local trace, so a span started from it on another thread joins the
/// same trace chunk.
public struct DDTraceContext: @unchecked Sendable, Equatable {
    public var traceId: DDTraceID
    /// The id of the span new children will have as their parent.
    public var spanId: UInt64
    /// The trace's sampling decision, if already made (for example by an upstream service).
    public var samplingPriority: DDSamplingPriority?
    /// `_dd.origin` (for example `synthetics` or `rum`), if the trace started there.
    public var origin: String?
    /// Propagated trace tags (`_dd.p.*` keys, for example `_dd.p.dm`); `_dd.p.tid` is not kept here, it is the
    /// high half of `traceId`.
    public var propagatedTags: [String: String]
    /// W3C `tracestate` list members of other vendors, in order, preserved on re-injection (the `dd=` member is
    /// rebuilt from this context).
    public var tracestateOtherVendors: [String]
    /// The last Datadog parent span id seen in W3C `tracestate` (`p:`), reported as `_dd.parent_id`.
    public var lastDatadogParentId: UInt64?
    /// W3C baggage items.
    public var baggage: [String: String]
    /// Why propagation data was partly discarded (`_dd.propagation_error`: `decoding_error`,
    /// `extract_max_size`, `inject_max_size`, `malformed_tid <value>`), if it was.
    public var propagationError: String?
    /// Contexts of other styles that disagreed with this one on extraction (span links with reason
    /// `terminated_context`).
    public var terminatedContexts: [DDTraceContext]

    // Links to the local trace, when the context comes from a span of this process.
    let root: SlotPointer?
    let rootGeneration: UInt32
    let localSpan: SlotPointer?
    let localSpanGeneration: UInt32

    /// A context received from another process (for example extracted from HTTP headers).
    public init(
        traceId: DDTraceID, spanId: UInt64, samplingPriority: DDSamplingPriority? = nil, origin: String? = nil,
        propagatedTags: [String: String] = [:], baggage: [String: String] = [:]
    ) {
        self.init(
            traceId: traceId, spanId: spanId, samplingPriority: samplingPriority, origin: origin,
            propagatedTags: propagatedTags, root: nil, rootGeneration: 0, localSpan: nil, localSpanGeneration: 0)
        self.baggage = baggage
    }

    init(
        traceId: DDTraceID, spanId: UInt64, samplingPriority: DDSamplingPriority?, origin: String? = nil,
        propagatedTags: [String: String] = [:], root: SlotPointer?, rootGeneration: UInt32,
        localSpan: SlotPointer?, localSpanGeneration: UInt32
    ) {
        self.traceId = traceId
        self.spanId = spanId
        self.samplingPriority = samplingPriority
        self.origin = origin
        self.propagatedTags = propagatedTags
        self.tracestateOtherVendors = []
        self.lastDatadogParentId = nil
        self.baggage = [:]
        self.propagationError = nil
        self.terminatedContexts = []
        self.root = root
        self.rootGeneration = rootGeneration
        self.localSpan = localSpan
        self.localSpanGeneration = localSpanGeneration
    }

    public static func == (lhs: DDTraceContext, rhs: DDTraceContext) -> Bool {
        lhs.traceId == rhs.traceId && lhs.spanId == rhs.spanId && lhs.samplingPriority == rhs.samplingPriority
            && lhs.origin == rhs.origin && lhs.propagatedTags == rhs.propagatedTags
            && lhs.tracestateOtherVendors == rhs.tracestateOtherVendors
            && lhs.lastDatadogParentId == rhs.lastDatadogParentId && lhs.baggage == rhs.baggage
            && lhs.propagationError == rhs.propagationError && lhs.terminatedContexts == rhs.terminatedContexts
    }

    var parentLink: ParentLink {
        ParentLink(
            traceIdHigh: traceId.high, traceIdLow: traceId.low, spanId: spanId, root: root,
            rootGeneration: rootGeneration, parentSlot: localSpan, parentGeneration: localSpanGeneration,
            samplingPriority: samplingPriority.map { Int8($0.rawValue) } ?? unsetSamplingPriority,
            origin: origin ?? "", propagatedTags: propagatedTags.isEmpty ? nil : propagatedTags)
    }
}
