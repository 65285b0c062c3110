// A pooled span slot: the memory one span lives in from `startSpan` until the flusher has encoded it.
//
// Layout of one slot (the pool allocates slots back to back, `SpanSlot.stride` bytes each):
//
//     [ SlotHeader | inline meta entries (MetaEntry x metaCapacity) | inline metric entries (MetricEntry x ...) ]
//
// The header is an always-initialised Swift struct. The tag areas are raw memory: entries are initialised when a
// tag is set and deinitialised by the flusher when it releases the slot, so setting a tag is one initialising
// store per field (no release of an old value). A span with more tags than fit inline chains further slots
// from its own thread's pool through `overflow`; those slots use only their tag areas.
//
// Ownership: a slot belongs to the pool of the thread that allocated it. The span's owner (whoever holds its
// `DDSpan` handle, one task at a time) writes span fields until `finish()`, which publishes the slot to the
// finishing thread's ring. From then on only the flusher writes it, and the flusher alone hands it back to its
// pool (see SlotPool). A local root slot additionally carries the trace's packed span counters (`traceState`),
// which child spans on any thread update atomically. A child on any thread may also copy its parent's `service`,
// under a hazard pointer the flusher waits for (`ServiceState`).

import Atomics
import CDDTraceShims

/// One string tag stored in a slot.
@usableFromInline struct MetaEntry {
    @usableFromInline var key: String
    @usableFromInline var value: String

    @inlinable init(key: consuming String, value: consuming String) {
        self.key = key
        self.value = value
    }
}

/// One numeric tag stored in a slot.
@usableFromInline struct MetricEntry {
    @usableFromInline var key: String
    @usableFromInline var value: Double

    @inlinable init(key: consuming String, value: Double) {
        self.key = key
        self.value = value
    }
}

/// Lifecycle states of a slot, stored in `SlotHeader.stateStorage`.
@usableFromInline enum SlotState {
    // Computed, not stored: the inlinable span API compares with them in the caller's module, where a stored
    // static would be a call to its lazy initializer.
    /// Never handed out yet. A slot back in its pool keeps the state it had (see `SpanSlot.clear`).
    @inlinable static var free: UInt8 { 0 }
    @inlinable static var open: UInt8 { 1 }
    @inlinable static var finished: UInt8 { 2 }
    /// The slot is only a carrier of overflow tags for another slot.
    @inlinable static var overflowTags: UInt8 { 3 }
}

/// What a child starting on another thread may do with its parent's `service` (`SlotHeader.serviceStateStorage`).
///
/// A child without a service of its own takes its parent's. The parent may be on another thread and be finished,
/// sent and recycled meanwhile, and its `service` may own heap storage (a string longer than 15 UTF-8 bytes built
/// at run time), which the flusher releases. So a child reads a parent's service only under a hazard pointer
/// (`EngineCore.guardedService`), and the flusher waits for such readers before it tears a service down or
/// replaces it (`ThreadRegistry.awaitServiceReaders`). This state lets the common case, a parent with the default
/// service, skip all of that: one byte load.
@usableFromInline enum ServiceState {
    /// `service` is "" (the tracer's default service): nothing to inherit.
    @inlinable static var unset: UInt8 { 0 }
    /// The span set a service during this generation (it stays so even if set back to ""): a child reads it under
    /// a hazard pointer, and the flusher waits for such readers before releasing the slot.
    @inlinable static var set: UInt8 { 1 }
    /// The flusher is replacing the service (a trace filter's edit): a child takes the default service.
    @inlinable static var editing: UInt8 { 2 }
}

/// Sentinel for "no sampling priority set" in `SlotHeader.samplingPriority`.
/// Computed, not stored: the inlinable span start uses it in the caller's module, where a stored global would be
/// an access through its lazy initializer.
@inlinable var unsetSamplingPriority: Int8 { .min }

/// The header of a slot, laid out so that an ordinary span touches as few cache lines as possible: everything a
/// span writes on the hot path (and the flusher reads and resets for every span) sits in the first three lines;
/// what only a local root uses comes after them, in lines a child's own slot never touches: first the trace's
/// shared state (counters, propagated context, sampling), then the flusher's chunk list, apart, because the
/// flusher updates it for every span while the trace's spans update the counters. Swift lays out a struct's stored
/// properties in declaration order, so the order below is the layout; `SpanSlotLayoutTests` checks the line of each
/// group.
///
/// A child span with 2 tags and 1 metric writes 5 lines of its own slot (the 3 header lines, the first meta line,
/// the first metric line) where the previous layout wrote 8; the flusher reads the same 5.
@usableFromInline struct SlotHeader {
    // --- Line 0: identity and links.
    /// Flusher-private: next span in its local root's chunk list. It comes first because ThreadSanitizer reports
    /// a write through `slot.pointee.field = value` as a Swift access at the struct's base address: the flusher
    /// writes a root's chunk fields while the root's owner may still be using the span, so the field at offset 0
    /// must be one that no other thread reads (`pool`, read by every `setTag` and `finish`, was reported there).
    var chunkNext: UnsafeMutablePointer<SlotHeader>?
    /// The pool this slot returns to (inside its owner thread's state); the engine is reached through it.
    @usableFromInline var pool: UnsafeMutablePointer<SlotPool>
    /// Next slot in a free list, in the engine's ring-overflow stack, or in an overflow-tag chain.
    @usableFromInline var next: UnsafeMutablePointer<SlotHeader>?
    /// The local root whose counters this span is registered with (itself for a local root).
    @usableFromInline var localRoot: UnsafeMutablePointer<SlotHeader>?
    /// The local parent's slot (to find the next active span when this one finishes).
    @usableFromInline var parentSlot: UnsafeMutablePointer<SlotHeader>?
    /// The first overflow-tag slot, if this span has more tags than fit inline.
    var overflow: UnsafeMutablePointer<SlotHeader>?
    /// Incremented each time the slot is handed out; `DDSpan` handles carry the value they were created with, so
    /// a stale handle (its span finished and the slot reused) is detected and ignored. Accessed atomically.
    @usableFromInline var generationStorage: UnsafeAtomic<UInt32>.Storage
    @usableFromInline var localRootGeneration: UInt32
    @usableFromInline var parentGeneration: UInt32
    /// Total spans registered with this span's local root, set by the span whose finish closed the trace
    /// (0 otherwise). Tells the flusher how many spans of the chunk to wait for.
    @usableFromInline var closingTotal: UInt32

    // --- Line 1: span data, written by the span's owner.
    @usableFromInline var traceIdHigh: UInt64
    @usableFromInline var traceIdLow: UInt64
    @usableFromInline var spanId: UInt64
    @usableFromInline var parentId: UInt64
    /// CLOCK_MONOTONIC at start; the flusher converts it to wall time with the engine's clock offset.
    @usableFromInline var startMonotonic: Int64
    @usableFromInline var endMonotonic: Int64
    @usableFromInline var error: Int32
    @usableFromInline var metaCount: UInt16
    @usableFromInline var metricCount: UInt16
    /// The slot's `SlotState`. Accessed atomically: a thread holding a stale handle reads it to tell whether the
    /// slot still holds its open span, while the slot's owner may be stamping a new span into it (see
    /// `holdsOpenSpan`).
    @usableFromInline var stateStorage: UnsafeAtomic<UInt8>.Storage
    /// A sampling priority set manually (USER_KEEP/USER_REJECT) on this span for its whole trace;
    /// `unsetSamplingPriority` when absent.
    @usableFromInline var samplingPriority: Int8
    /// Whether `service` may be read by a child starting on another thread, see `ServiceState`. Accessed
    /// atomically.
    @usableFromInline var serviceStateStorage: UnsafeAtomic<UInt8>.Storage

    // --- Line 2: the span's strings.
    @usableFromInline var name: String
    /// "" means the tracer's default service (saves storing a reference on the hot path).
    @usableFromInline var service: String
    /// "" means the same as `name` (as the agent does for an empty resource).
    @usableFromInline var resource: String
    @usableFromInline var type: String

    // --- Line 3: local root only, the trace's shared state: written by its spans' threads (the counters on every
    // start and finish, the rest when a root starts or a context is injected), read by the flusher once per chunk.
    // Nothing the flusher writes per span may sit here: with the chunk list on this line, every child's counter
    // update had to fetch the line back from the flusher's core, and the flusher every append from the producer's.
    /// The trace's packed counters, see `TraceCounters`. Updated atomically by every span of the trace.
    @usableFromInline var traceStateStorage: UnsafeAtomic<UInt64>.Storage
    /// `_dd.origin` inherited from a propagated context ("" when absent).
    var origin: String
    /// When continuing a remote trace: the propagated `_dd.p.*` tags (nil otherwise).
    var propagatedTags: [String: String]?
    /// Rates recorded with an inject-time decision (`presetDecision`), written by the injecting thread before it
    /// publishes the decision.
    var presetRate: Double
    var presetLimitRate: Double
    /// The rate of the flusher's decision (written once per chunk, like the decision fields below).
    var decisionRate: Double
    /// A sampling decision made before the trace finished (at the first inject),
    /// `priority & 0xff | mechanism << 8`, or 0 when none was made. Set once by CAS from any thread.
    var presetDecisionStorage: UnsafeAtomic<UInt16>.Storage
    /// The priority inherited from a propagated (remote) parent context.
    var inheritedPriority: Int8
    /// The trace's sampling decision once made by the flusher (`unsetSamplingPriority` before).
    var decidedPriority: Int8
    var decisionMechanism: Int8
    /// The root span itself was already encoded by a partial flush; the slot is kept for its counters.
    var rootSent: Bool
    /// Whether a rule asked to discard the trace.
    var decisionDiscard: Bool
    /// Pads line 3 to its end, so that line 4 starts on a line of its own (checked by `SpanSlotLayoutTests`).
    var lineThreePadding: UInt8

    // --- Line 4: local root only, flusher-private: its chunk list, updated for every span that arrives.
    var chunkHead: UnsafeMutablePointer<SlotHeader>?
    var chunkTail: UnsafeMutablePointer<SlotHeader>?
    /// When the oldest span still pending in this root's chunk list arrived (monotonic ns), for stale traces.
    var pendingSince: Int64
    /// `_dd.limit_psr` of the decision (-1: none).
    var decisionLimitRate: Double
    /// The spans of this root's chunk that arrived and are not sent yet.
    var chunkPending: UInt32
    var received: UInt32
    var expected: UInt32
}

/// The packed per-trace counters of a local root: `[generation:20 | created:22 | open:22]`.
///
/// `created` counts every span registered with the root (it never decreases) and `open` the ones not yet
/// finished. Registration is a CAS that checks the generation (so a stale parent handle can never register with a
/// recycled slot) and that the trace is still open: once `open` reached zero the trace is closed for good and a
/// late child becomes the local root of a new chunk instead.
@usableFromInline enum TraceCounters {
    // Computed (constant-folded): the inlinable `finish` uses them in the caller's module.
    @inlinable static var countBits: UInt64 { 22 }
    @inlinable static var countMask: UInt64 { (1 << countBits) - 1 }
    @inlinable static var generationShift: UInt64 { 2 * countBits }
    @inlinable static var generationMask: UInt64 { (1 << 20) - 1 }
    @inlinable static var registerIncrement: UInt64 { (1 << countBits) | 1 }

    @inline(__always) static func pack(generation: UInt32, created: UInt64, open: UInt64) -> UInt64 {
        ((UInt64(generation) & generationMask) << generationShift) | (created << countBits) | open
    }
    @inlinable @inline(__always) static func open(_ packed: UInt64) -> UInt64 { packed & countMask }
    @inlinable @inline(__always) static func created(_ packed: UInt64) -> UInt64 {
        (packed >> countBits) & countMask
    }
    @inlinable @inline(__always) static func generation(_ packed: UInt64) -> UInt64 { packed >> generationShift }
}

@usableFromInline typealias SlotPointer = UnsafeMutablePointer<SlotHeader>

extension UnsafeMutablePointer where Pointee == SlotHeader {
    @inlinable @inline(__always) var engine: UnsafeMutablePointer<EngineCore> { pointee.pool.pointee.engine }

    @inlinable @inline(__always) var generation: UnsafeAtomic<UInt32> {
        UnsafeAtomic(at: self.pointer(to: \.generationStorage)!)
    }

    @inlinable @inline(__always) var state: UnsafeAtomic<UInt8> {
        UnsafeAtomic(at: self.pointer(to: \.stateStorage)!)
    }

    @inlinable @inline(__always) var traceState: UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: self.pointer(to: \.traceStateStorage)!)
    }

    @inlinable @inline(__always) var serviceState: UnsafeAtomic<UInt8> {
        UnsafeAtomic(at: self.pointer(to: \.serviceStateStorage)!)
    }

    @inline(__always) var presetDecision: UnsafeAtomic<UInt16> {
        UnsafeAtomic(at: self.pointer(to: \.presetDecisionStorage)!)
    }

    /// Whether this slot still holds the span a handle with `generation` refers to.
    @inline(__always) func holds(generation expected: UInt32) -> Bool {
        self.generation.load(ordering: .relaxed) == expected
    }

    /// Whether this slot still holds the span a handle with `generation` refers to, and that span is open: the
    /// check a handle makes before it writes to or reads from its span.
    ///
    /// The state is read first, the generation second, and that order is what makes the answer safe. A handle
    /// outlives its span: once the span is finished, retired and its slot stamped with a new span (by the slot's
    /// owner thread), a stale handle on another thread must see "not open" or "another generation". Read the
    /// other way round, a check could read the generation just before the flusher retires the slot (still the
    /// handle's) and the state just after the owner has stamped it open again, and take the new span for its own,
    /// on any CPU. Read in this order, a state that says "open" because of the new stamp comes with the stamp's
    /// generation: `stamp` stores the generation, then a release fence, then the state, and the state is loaded
    /// here with acquire ordering, so the generation load that follows sees the new value (on x86 both are plain
    /// moves; on ARM the fence keeps the two stores in order, which x86 does by itself).
    @inlinable @inline(__always) func holdsOpenSpan(generation expected: UInt32) -> Bool {
        state.load(ordering: .acquiring) == SlotState.open && generation.load(ordering: .relaxed) == expected
    }

    @inlinable @inline(__always) var metaEntries: UnsafeMutablePointer<MetaEntry> {
        (UnsafeMutableRawPointer(self) + SpanSlot.metaOffset).assumingMemoryBound(to: MetaEntry.self)
    }

    @inlinable @inline(__always) var metricEntries: UnsafeMutablePointer<MetricEntry> {
        (UnsafeMutableRawPointer(self) + SpanSlot.metricOffset).assumingMemoryBound(to: MetricEntry.self)
    }
}

/// Geometry of a slot. The inline capacities cover the common span (HTTP spans carry 4-8 meta tags); more tags
/// chain overflow slots.
@usableFromInline enum SpanSlot {
    // The geometry is computed (constant-folded), not stored: the inlinable span API uses it in the caller's
    // module, where a stored static would be a call to its lazy initializer.
    @inlinable static var metaCapacity: Int { 8 }
    @inlinable static var metricCapacity: Int { 4 }
    /// The tag areas start on a line of their own, so the first two meta entries share one line.
    @inlinable static var metaOffset: Int { align(MemoryLayout<SlotHeader>.size, to: 64) }
    @inlinable static var metricOffset: Int {
        align(metaOffset + metaCapacity * MemoryLayout<MetaEntry>.stride, to: MemoryLayout<MetricEntry>.alignment)
    }
    /// Rounded to whole cache lines so that two threads' slots never share a line.
    @inlinable static var stride: Int {
        align(metricOffset + metricCapacity * MemoryLayout<MetricEntry>.stride, to: 64)
    }

    @inlinable static func align(_ value: Int, to alignment: Int) -> Int {
        (value + alignment - 1) & ~(alignment - 1)
    }

    /// Initialises the header of a fresh slot in pool memory.
    static func initializeHeader(_ slot: SlotPointer, pool: UnsafeMutablePointer<SlotPool>) {
        slot.initialize(
            to: SlotHeader(
                chunkNext: nil, pool: pool, next: nil, localRoot: nil, parentSlot: nil, overflow: nil,
                generationStorage: .init(0), localRootGeneration: 0, parentGeneration: 0, closingTotal: 0,
                traceIdHigh: 0, traceIdLow: 0, spanId: 0, parentId: 0, startMonotonic: 0, endMonotonic: 0, error: 0,
                metaCount: 0, metricCount: 0, stateStorage: .init(SlotState.free), samplingPriority: unsetSamplingPriority,
                serviceStateStorage: .init(ServiceState.unset), name: "", service: "", resource: "", type: "",
                traceStateStorage: .init(0), origin: "", propagatedTags: nil, presetRate: 1, presetLimitRate: -1,
                decisionRate: 0, presetDecisionStorage: .init(0), inheritedPriority: unsetSamplingPriority,
                decidedPriority: unsetSamplingPriority, decisionMechanism: 0, rootSent: false, decisionDiscard: false,
                lineThreePadding: 0, chunkHead: nil, chunkTail: nil, pendingSince: 0, decisionLimitRate: -1,
                chunkPending: 0, received: 0, expected: 0))
    }

    /// Prefetches the cache lines an ordinary span uses: the three hot header lines, the first meta line and the
    /// first metric line (not the local-root lines, nor tag lines most spans never reach).
    @inlinable @inline(__always) static func prefetch(_ slot: SlotPointer, forWriting: Bool) {
        let raw = UnsafeRawPointer(slot)
        let lines = (raw, raw + 64, raw + 128, raw + metaOffset, raw + (metricOffset & ~63))
        if forWriting {
            ddtrace_prefetch_write(lines.0)
            ddtrace_prefetch_write(lines.1)
            ddtrace_prefetch_write(lines.2)
            ddtrace_prefetch_write(lines.3)
            ddtrace_prefetch_write(lines.4)
        } else {
            ddtrace_prefetch_read(lines.0)
            ddtrace_prefetch_read(lines.1)
            ddtrace_prefetch_read(lines.2)
            ddtrace_prefetch_read(lines.3)
            ddtrace_prefetch_read(lines.4)
        }
    }

    /// Initializes the string fields of a slot taken from its pool. Between `clear` and this call they hold no
    /// value (a fresh slot from `initializeHeader` holds empty strings, which own nothing, so overwriting them
    /// leaks nothing).
    @inlinable @inline(__always) static func initializeStrings(
        _ slot: SlotPointer, name: consuming String, service: consuming String, resource: consuming String,
        type: consuming String
    ) {
        slot.pointer(to: \.name).unsafelyUnwrapped.initialize(to: name)
        slot.pointer(to: \.service).unsafelyUnwrapped.initialize(to: service)
        slot.pointer(to: \.resource).unsafelyUnwrapped.initialize(to: resource)
        slot.pointer(to: \.type).unsafelyUnwrapped.initialize(to: type)
    }

    /// Replaces the service of a finished span on the flusher (a trace filter's edit). A child starting on another
    /// thread may be copying the old service (`EngineCore.guardedService`): readers that start from here on see
    /// `editing` and take the default service; the ones already reading are waited for before the old string is
    /// released (`ThreadRegistry.awaitServiceReaders`).
    static func replaceService(_ slot: SlotPointer, with service: String) {
        slot.serviceState.store(ServiceState.editing, ordering: .sequentiallyConsistent)
        slot.engine.pointee.registry.takeUnretainedValue().awaitServiceReaders()
        slot.pointee.service = service
        slot.serviceState.store(ServiceState.set, ordering: .releasing)
    }

    /// Drops everything a finished slot references (strings, tag entries) so it can be reused; its name, service,
    /// resource and type are left deinitialized (see `initializeStrings`). Returns the overflow chain, which the
    /// caller releases too. Called by the flusher only, with `StringStorage.canSkipUnowned` read once (a static is
    /// a lazily initialised global: reading it here cost a `swift_once` call per slot).
    static func clear(_ slot: SlotPointer, canSkipUnowned checked: Bool) -> SlotPointer? {
        // Each string is destroyed through `StringStorage.destroy`: most span strings are literals or small, own
        // no storage, and their release was a runtime call each (~24 instructions, 9 per reference span).
        for index in 0..<Int(min(slot.pointee.metaCount, UInt16(metaCapacity))) {
            let entry = slot.metaEntries + index
            StringStorage.destroy(entry.pointer(to: \.key).unsafelyUnwrapped, checked: checked)
            StringStorage.destroy(entry.pointer(to: \.value).unsafelyUnwrapped, checked: checked)
        }
        for index in 0..<Int(min(slot.pointee.metricCount, UInt16(metricCapacity))) {
            // A MetricEntry's only non-trivial field is its key.
            StringStorage.destroy((slot.metricEntries + index).pointer(to: \.key).unsafelyUnwrapped, checked: checked)
        }
        let overflow = slot.pointee.overflow
        slot.pointee.overflow = nil
        slot.pointee.metaCount = 0
        slot.pointee.metricCount = 0
        StringStorage.destroy(slot.pointer(to: \.name).unsafelyUnwrapped, checked: checked)
        StringStorage.destroy(slot.pointer(to: \.service).unsafelyUnwrapped, checked: checked)
        StringStorage.destroy(slot.pointer(to: \.resource).unsafelyUnwrapped, checked: checked)
        StringStorage.destroy(slot.pointer(to: \.type).unsafelyUnwrapped, checked: checked)
        // Only a local root's `startSpan` sets the propagated context (EngineCore), and checking it on any other
        // slot would read a root-only line a child span never touches.
        if slot.pointee.localRoot == slot {
            if !slot.pointee.origin.isEmpty { slot.pointee.origin = "" }
            if slot.pointee.propagatedTags != nil { slot.pointee.propagatedTags = nil }
        }
        // `state` and `parentSlot` are deliberately left as they are (the next `startSpan` sets both). A span
        // handle may still read them after `finish()` (`isRecording`, `nearestOpen`), on its own thread, having
        // seen the old generation just before `Flusher.retire` bumped it; writing them here raced with those reads
        // (ThreadSanitizer). Leaving them is safe: only finished spans and tag carriers are released, so the kept
        // state is never `open`, and a released slot is never reached through a matching generation. When the slot
        // holds an open span again, a stale handle still reads the new `open` with the new generation, because it
        // reads the state first (`holdsOpenSpan`).
        // The root-only chunk list head and tail are reset by `startSpan` when the slot next becomes a root.
        slot.pointee.localRoot = nil
        slot.pointee.chunkNext = nil
        return overflow
    }
}

