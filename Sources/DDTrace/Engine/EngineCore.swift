// The span hot path: starting, tagging and finishing spans on application threads.
//
// `EngineCore` is the part of a tracer the hot path needs, kept in raw memory so that reaching it from a span
// handle costs no reference counting. Nothing here takes a lock, throws, logs or allocates once the calling
// thread's pool has warmed up. When something runs out (pool slots, ring entries), the span still works for the
// caller and the event is counted in the calling thread's counters:
// - no free slot: the span becomes a "dropped" span that has ids (so children and propagation still work) but
//   records nothing; counted as `droppedPoolExhausted`;
// - ring full at finish: the slot goes onto the engine's overflow stack instead (a lock-free Treiber stack the
//   flusher empties), so nothing is lost; counted as `ringOverflows`.

import Atomics
import CDDTraceShims

@usableFromInline struct EngineCore {
    let spanPoolSize: Int
    let ringCapacity: Int
    @usableFromInline let enabled: Bool
    /// Service of spans that name none and have no local parent.
    let defaultService: String
    let registry: Unmanaged<ThreadRegistry>
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns; refreshed by the flusher. Spans store monotonic times, so a
    /// wall-clock step never produces a negative duration.
    @usableFromInline let wallClockOffset: UnsafeAtomic<Int64>
    /// Finished slots that did not fit in their thread's ring (linked through `next`).
    let overflowStack: UnsafeAtomic<Int>
    @usableFromInline let isShutDown: UnsafeAtomic<Bool>
    /// Slots every thread's pool has grown to (chunks are never freed), for `DDTracerCounters.spanSlotsAllocated`.
    /// Added to once per chunk of 256, off the hot path.
    let slotsAllocated: UnsafeAtomic<Int>
}

/// A `Sendable` wrapper for the engine pointer (the engine is shared by design; its fields are immutable or atomic).
@usableFromInline struct EngineHandle: @unchecked Sendable {
    @usableFromInline let pointer: UnsafeMutablePointer<EngineCore>
    init(_ pointer: UnsafeMutablePointer<EngineCore>) { self.pointer = pointer }
}

/// What a new span needs to know about its parent.
struct ParentLink {
    var traceIdHigh: UInt64
    var traceIdLow: UInt64
    var spanId: UInt64
    /// The local root to register with, if the parent is local.
    var root: SlotPointer?
    var rootGeneration: UInt32
    /// The parent's own slot (to inherit its service), if local and recorded.
    var parentSlot: SlotPointer?
    var parentGeneration: UInt32
    /// Inherited from a propagated context (remote parents only).
    var samplingPriority: Int8
    var origin: String
    var propagatedTags: [String: String]?
}

extension UnsafeMutablePointer where Pointee == EngineCore {
    static func make(configuration: ResolvedConfiguration) -> UnsafeMutablePointer<EngineCore> {
        let engine = UnsafeMutablePointer<EngineCore>.allocate(capacity: 1)
        func atomic<T: AtomicValue>(_ value: T) -> UnsafeAtomic<T> {
            // Each engine-wide atomic gets its own cache line.
            let line = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
            let storage = line.bindMemory(to: UnsafeAtomic<T>.Storage.self, capacity: 1)
            storage.initialize(to: UnsafeAtomic<T>.Storage(value))
            return UnsafeAtomic(at: storage)
        }
        let registry = ThreadRegistry(engine: engine)
        engine.initialize(
            to: EngineCore(
                spanPoolSize: configuration.spanPoolSize, ringCapacity: configuration.ringCapacity,
                enabled: configuration.enabled, defaultService: configuration.service,
                registry: Unmanaged.passRetained(registry),
                wallClockOffset: atomic(ddtrace_realtime_ns() - ddtrace_monotonic_ns()),
                overflowStack: atomic(0), isShutDown: atomic(false), slotsAllocated: atomic(0)))
        return engine
    }

    @inlinable @inline(__always) var threadState: UnsafeMutablePointer<ThreadState> {
        if ddtrace_tls_get_engine() == UnsafeMutableRawPointer(self), let state = ddtrace_tls_get_state() {
            return state.assumingMemoryBound(to: ThreadState.self)
        }
        return ThreadStateDirectory.state(for: self)
    }

    // MARK: Start

    /// Starts a span. Never fails: without a slot the returned span has ids but records nothing.
    @inline(__always)
    func startSpan(
        name: consuming String, service: consuming String?, resource: consuming String?, type: consuming String?,
        parent: ParentLink?, startWallClockNanoseconds: Int64?
    ) -> DDSpan {
        let state = threadState
        let now = ddtrace_monotonic_ns()
        let spanId = state.nextSpanId()
        let traceIdHigh: UInt64
        let traceIdLow: UInt64
        if let parent {
            traceIdHigh = parent.traceIdHigh
            traceIdLow = parent.traceIdLow
        } else {
            // 128-bit trace id as Datadog tracers build it: start second in the upper 32 of the high half.
            // `wallClockOffset` is relaxed everywhere: a self-contained value that publishes no other data, and a
            // 64-bit atomic load is never torn; an offset one refresh old only shifts times by clock drift.
            let seconds = UInt64(now &+ pointee.wallClockOffset.load(ordering: .relaxed)) / 1_000_000_000
            traceIdHigh = seconds << 32
            traceIdLow = state.nextRandom() | 1
        }
        // `isShutDown` is relaxed everywhere: it publishes no data, and no ordering could close the window in
        // which a span racing with `shutdown()` reads false and is pushed after the flusher's last drain.
        guard pointee.enabled, !pointee.isShutDown.load(ordering: .relaxed), let slot = state.pool.take()
        else {
            return droppedSpan(
                state: state, traceIdHigh: traceIdHigh, traceIdLow: traceIdLow, spanId: spanId, parent: parent)
        }
        state.count(.spansStarted)
        let generation = stamp(
            slot, traceIdHigh: traceIdHigh, traceIdLow: traceIdLow, spanId: spanId, parentId: parent?.spanId ?? 0,
            name: name, service: service ?? inheritedService(parent, state: state) ?? "", resource: resource ?? "",
            type: type ?? "")
        let (root, rootGeneration) = joinTrace(
            slot, generation: generation, parentRoot: parent?.root, parentRootGeneration: parent?.rootGeneration ?? 0)
        if root == slot, let parent {
            // A new chunk's root carries what was propagated to it (a remote parent's context).
            slot.pointee.inheritedPriority = parent.samplingPriority
            if !parent.origin.isEmpty { slot.pointee.origin = parent.origin }
            if let tags = parent.propagatedTags, !tags.isEmpty { slot.pointee.propagatedTags = tags }
        }
        let start =
            startWallClockNanoseconds.map { $0 &- pointee.wallClockOffset.load(ordering: .relaxed) } ?? now
        link(
            slot, root: root, rootGeneration: rootGeneration, parentSlot: parent?.parentSlot,
            parentGeneration: parent?.parentGeneration ?? 0, startMonotonic: start)
        return DDSpan(
            slot: slot, generation: generation, traceIdHigh: traceIdHigh, traceIdLow: traceIdLow, spanId: spanId,
            root: root, rootGeneration: rootGeneration, parentSlot: parent?.parentSlot,
            parentGeneration: parent?.parentGeneration ?? 0)
    }

    // The steps shared by `startSpan` and `startChild`, inlinable because `startChild` is.

    /// Hands `slot` to a new span: a new generation, the span's ids and strings, open. Returns the generation.
    @inlinable @inline(__always)
    func stamp(
        _ slot: SlotPointer, traceIdHigh: UInt64, traceIdLow: UInt64, spanId: UInt64, parentId: UInt64,
        name: consuming String, service: consuming String, resource: consuming String, type: consuming String
    ) -> UInt32 {
        // A relaxed load and store, not a read-modify-write: only the slot's current owner writes its generation
        // (the flusher in `retire`, then this thread after `take()`), and ownership passes with release/acquire
        // (ring, remote free stack), so this load sees the flusher's bump. Other threads only compare it with the
        // generation in their handle to ignore stale handles; a handle reaches them by a synchronizing hand-off.
        let generation = slot.generation.load(ordering: .relaxed) &+ 1
        slot.generation.store(generation, ordering: .relaxed)
        // The new generation is visible before any of the new span's fields and before its "open" state: a stale
        // handle that sees either knows the slot is no longer its own (`holdsOpenSpan`, `DDSpan(openSlot:)`).
        // No instruction on x86.
        atomicMemoryFence(ordering: .releasing)
        slot.pointee.traceIdHigh = traceIdHigh
        slot.pointee.traceIdLow = traceIdLow
        slot.pointee.spanId = spanId
        slot.pointee.parentId = parentId
        slot.state.store(SlotState.open, ordering: .relaxed)
        slot.pointee.error = 0
        slot.pointee.closingTotal = 0
        slot.pointee.samplingPriority = unsetSamplingPriority
        // Releasing, after the generation: a child that sees this state (acquiring, in `inheritedService`) through
        // a stale handle of the slot's previous span also sees the new generation, and gives up.
        slot.serviceState.store(service.isEmpty ? ServiceState.unset : ServiceState.set, ordering: .releasing)
        // A free slot's string fields are uninitialized (SpanSlot.clear deinitialized them on the flusher), so
        // they are initialized here: no release of an old value on the hot path, and "" costs nothing.
        SpanSlot.initializeStrings(slot, name: name, service: service, resource: resource, type: type)
        return generation
    }

    /// Registers the new span with its parent's local root; or, when there is none (a remote or no parent, a
    /// dropped parent) or the parent's trace has closed, makes it the local root of a new chunk.
    @inlinable @inline(__always)
    func joinTrace(
        _ slot: SlotPointer, generation: UInt32, parentRoot: SlotPointer?, parentRootGeneration: UInt32
    ) -> (root: SlotPointer, generation: UInt32) {
        if let parentRoot, register(with: parentRoot, generation: parentRootGeneration) {
            return (parentRoot, parentRootGeneration)
        }
        initializeLocalRoot(slot, generation: generation)
        return (slot, generation)
    }

    /// The new span's links (its local root, its parent's slot) and start time.
    @inlinable @inline(__always)
    func link(
        _ slot: SlotPointer, root: SlotPointer, rootGeneration: UInt32, parentSlot: SlotPointer?,
        parentGeneration: UInt32, startMonotonic: Int64
    ) {
        slot.pointee.localRoot = root
        slot.pointee.localRootGeneration = rootGeneration
        slot.pointee.parentSlot = parentSlot
        slot.pointee.parentGeneration = parentGeneration
        slot.pointee.startMonotonic = startMonotonic
    }

    /// Makes `slot` the local root of a new chunk: the trace's counters (this span registered and open), an empty
    /// chunk list, no sampling decision, no inherited priority (the caller sets a propagated context's).
    @usableFromInline func initializeLocalRoot(_ slot: SlotPointer, generation: UInt32) {
        // Relaxed: other threads find this root only through this span's handle or context, handed over by a
        // synchronizing hand-off. A stale `register` CAS on the slot's previous trace cannot succeed either before
        // this store (a released root has open == 0) or after it (the generation changed).
        slot.traceState.store(TraceCounters.pack(generation: generation, created: 1, open: 1), ordering: .relaxed)
        slot.pointee.chunkHead = nil
        slot.pointee.chunkTail = nil
        slot.pointee.received = 0
        slot.pointee.expected = 0
        slot.pointee.chunkPending = 0
        slot.pointee.decidedPriority = unsetSamplingPriority
        slot.pointee.rootSent = false
        // Relaxed for the same reason as `traceState` above; decisions are later published by CAS (acq_rel).
        slot.presetDecision.store(0, ordering: .relaxed)
        slot.pointee.inheritedPriority = unsetSamplingPriority
    }

    @inline(never)
    private func droppedSpan(
        state: UnsafeMutablePointer<ThreadState>, traceIdHigh: UInt64, traceIdLow: UInt64, spanId: UInt64,
        parent: ParentLink?
    ) -> DDSpan {
        if pointee.enabled {
            state.count(pointee.isShutDown.load(ordering: .relaxed) ? .droppedAfterShutdown : .droppedPoolExhausted)
        }
        // Keep the parent's root so that this span's children still join the parent's chunk.
        return DDSpan(
            slot: nil, generation: 0, traceIdHigh: traceIdHigh, traceIdLow: traceIdLow, spanId: spanId,
            root: parent?.root, rootGeneration: parent?.rootGeneration ?? 0, parentSlot: parent?.parentSlot,
            parentGeneration: parent?.parentGeneration ?? 0)
    }

    /// Starts a child of a local span (`DDTracer.startSpan(_:childOf: DDSpan)`): `startSpan` without a parent link.
    /// A span handle carries no propagated context (no origin or `_dd.p.*` strings to copy), so this path is
    /// inlinable: it compiles into the caller, where the handle's fields stay in registers (a call returned the
    /// nine-field handle through memory). The same steps as `startSpan`, the shared ones in `stamp`, `joinTrace`
    /// and `link`.
    @inlinable @inline(__always)
    func startChild(
        name: consuming String, service: consuming String?, resource: consuming String?, type: consuming String?,
        of parent: DDSpan
    ) -> DDSpan {
        let state = threadState
        let now = ddtrace_monotonic_ns()
        let spanId = state.nextSpanId()
        guard pointee.enabled, !pointee.isShutDown.load(ordering: .relaxed), let slot = state.pool.take() else {
            return droppedChild(state: state, spanId: spanId, of: parent)
        }
        state.count(.spansStarted)
        let generation = stamp(
            slot, traceIdHigh: parent.traceId.high, traceIdLow: parent.traceId.low, spanId: spanId,
            parentId: parent.spanId, name: name,
            service: service
                ?? inheritedService(parentSlot: parent.slot, parentGeneration: parent.generation, state: state) ?? "",
            resource: resource ?? "", type: type ?? "")
        let (root, rootGeneration) = joinTrace(
            slot, generation: generation, parentRoot: parent.root, parentRootGeneration: parent.rootGeneration)
        link(
            slot, root: root, rootGeneration: rootGeneration, parentSlot: parent.slot,
            parentGeneration: parent.generation, startMonotonic: now)
        return DDSpan(
            slot: slot, generation: generation, traceIdHigh: parent.traceId.high, traceIdLow: parent.traceId.low,
            spanId: spanId, root: root, rootGeneration: rootGeneration, parentSlot: parent.slot,
            parentGeneration: parent.generation)
    }

    @usableFromInline @inline(never)
    func droppedChild(state: UnsafeMutablePointer<ThreadState>, spanId: UInt64, of parent: DDSpan) -> DDSpan {
        droppedSpan(
            state: state, traceIdHigh: parent.traceId.high, traceIdLow: parent.traceId.low, spanId: spanId,
            parent: parent.parentLink)
    }

    /// The parent's service if it set one; nil for the tracer's default service.
    ///
    /// A parent with the default service (the common case) costs one byte load here. Otherwise the parent may be
    /// on another thread, finished and released by the flusher while this child starts (a context handed to a
    /// thread that outlives its parent), and its service may own heap storage that the release frees: the string
    /// is copied under a hazard pointer (`guardedService`).
    @inline(__always) private func inheritedService(
        _ parent: ParentLink?, state: UnsafeMutablePointer<ThreadState>
    ) -> String? {
        guard let parent else { return nil }
        return inheritedService(parentSlot: parent.parentSlot, parentGeneration: parent.parentGeneration, state: state)
    }

    @inlinable @inline(__always)
    func inheritedService(
        parentSlot: SlotPointer?, parentGeneration: UInt32, state: UnsafeMutablePointer<ThreadState>
    ) -> String? {
        // Acquiring, pairing with the releasing store in `stamp`: a state written by a later span in a recycled
        // slot comes with that span's generation, which `guardedService` then sees.
        guard let parentSlot, parentSlot.serviceState.load(ordering: .acquiring) != ServiceState.unset else {
            return nil
        }
        return guardedService(of: parentSlot, generation: parentGeneration, state: state)
    }

    /// Copies the service of `parent` if the slot still holds the span of `generation` and its service is not being
    /// replaced; nil otherwise (the child then takes the tracer's default service, as it does for a parent whose
    /// slot was already recycled).
    ///
    /// A hazard-pointer read: publish the slot in this thread's `serviceHazard`, then check the generation and
    /// the service state. The flusher changes one of those before it releases or edits a slot's service and then
    /// waits until every hazard held at that moment has been released (`ThreadRegistry.awaitServiceReaders`, where
    /// the ordering argument is). Sequentially consistent store and loads: the check must not be ordered before the
    /// store.
    /// Out of line: children of spans with a service of their own are the less common case.
    ///
    /// A parent of another tracer is not read: that tracer's flusher does not see this thread's hazard.
    @usableFromInline @inline(never)
    func guardedService(of parent: SlotPointer, generation: UInt32, state: UnsafeMutablePointer<ThreadState>)
        -> String?
    {
        guard parent.engine == self else { return nil }
        let hazard = state.pointee.serviceHazard
        hazard.store(UInt(bitPattern: parent), ordering: .sequentiallyConsistent)
        defer { hazard.store(0, ordering: .releasing) }
        guard parent.generation.load(ordering: .sequentiallyConsistent) == generation,
            parent.serviceState.load(ordering: .sequentiallyConsistent) == ServiceState.set
        else { return nil }
        let service = parent.pointee.service
        return service.isEmpty ? nil : service
    }

    /// Registers a new span with a local root: one CAS that fails if the root slot was recycled (generation) or
    /// its trace already closed (no open span left), in which case the new span starts a chunk of its own.
    ///
    /// Relaxed throughout: registering publishes no data (the new span's data reaches the flusher through its own
    /// ring push). Correctness rests on atomicity alone: the generation and `open > 0` checks are made on the same
    /// word the CAS updates, and all read-modify-writes of one word are totally ordered, so a registration either
    /// lands before the finish that closes the trace (and is counted in `created`) or fails.
    @inlinable @inline(__always) func register(with root: SlotPointer, generation: UInt32) -> Bool {
        let counters = root.traceState
        var current = counters.load(ordering: .relaxed)
        while true {
            guard TraceCounters.generation(current) == UInt64(generation) & TraceCounters.generationMask,
                TraceCounters.open(current) > 0,
                TraceCounters.created(current) < TraceCounters.countMask
            else { return false }
            let (exchanged, original) = counters.weakCompareExchange(
                expected: current, desired: current &+ TraceCounters.registerIncrement,
                successOrdering: .relaxed, failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    // MARK: Finish

    /// Finishes a span: stamps its end, updates its trace's counters and publishes it to the calling thread's
    /// ring. Finishing a stale, dropped or already finished span does nothing.
    @inlinable @inline(__always) func finish(_ slot: SlotPointer, endWallClockNanoseconds: Int64?) {
        if pointee.isShutDown.load(ordering: .relaxed) {
            // The flusher is gone: nothing would send this span. Count it; the slot stays taken.
            slot.state.store(SlotState.finished, ordering: .relaxed)
            threadState.count(.droppedAfterShutdown)
            return
        }
        if let endWallClockNanoseconds {
            slot.pointee.endMonotonic = endWallClockNanoseconds &- pointee.wallClockOffset.load(ordering: .relaxed)
        } else {
            slot.pointee.endMonotonic = ddtrace_monotonic_ns()
        }
        slot.state.store(SlotState.finished, ordering: .relaxed)
        let root = slot.pointee.localRoot.unsafelyUnwrapped
        // The counts need no ordering: read-modify-writes of one word are totally ordered, so exactly one finisher
        // sees `open` go from 1 to 0, and `created` then counts every span registered with the trace. Nor does the
        // data: each span reaches the flusher through its own ring push (release/acquire). Acquire-release is
        // kept as a margin (on x86 the locked add costs the same whatever the ordering).
        let before = root.traceState.loadThenWrappingDecrement(by: 1, ordering: .acquiringAndReleasing)
        slot.pointee.closingTotal = TraceCounters.open(before) == 1 ? UInt32(TraceCounters.created(before)) : 0
        let state = threadState
        state.count(.spansFinished)
        if !state.pointee.ring.push(slot) {
            pushOverflow(slot)
            state.count(.ringOverflows)
        }
    }

    /// A Treiber-stack push. Release on success, pairing with the flusher's acquiring `exchange` in `drainAll`:
    /// the span's data and its `next` link are visible to the flusher; successive CASes continue the release
    /// sequence, so every pusher's slot is covered. Relaxed on the initial load and on failure: the head read is
    /// only stored as a link, never dereferenced. No ABA: the flusher takes the whole stack at once, never pops.
    @usableFromInline @inline(never) func pushOverflow(_ slot: SlotPointer) {
        var head = pointee.overflowStack.load(ordering: .relaxed)
        while true {
            slot.pointee.next = SlotPointer(bitPattern: head)
            let (exchanged, original) = pointee.overflowStack.weakCompareExchange(
                expected: head, desired: Int(bitPattern: slot), successOrdering: .releasing,
                failureOrdering: .relaxed)
            if exchanged { return }
            head = original
        }
    }

    // MARK: Tags

    // Setting a key that is already present replaces its value, as in a map. The check compares UTF-8 lengths
    // first (O(1) for native strings), so distinct keys cost a length comparison each and the encoder never has
    // to de-duplicate.

    @inlinable @inline(__always) func setMeta(_ slot: SlotPointer, key: consuming String, value: consuming String) {
        let count = Int(slot.pointee.metaCount)
        let entries = slot.metaEntries
        let length = key.utf8.count
        for index in 0..<min(count, SpanSlot.metaCapacity) where entries[index].key.utf8.count == length {
            if entries[index].key == key {
                entries[index].value = value
                return
            }
        }
        if count < SpanSlot.metaCapacity {
            (entries + count).initialize(to: MetaEntry(key: key, value: value))
            slot.pointee.metaCount = UInt16(count + 1)
        } else {
            setOverflowMeta(slot, key: key, value: value)
        }
    }

    @inlinable @inline(__always) func setMetric(_ slot: SlotPointer, key: consuming String, value: Double) {
        let count = Int(slot.pointee.metricCount)
        let entries = slot.metricEntries
        let length = key.utf8.count
        for index in 0..<min(count, SpanSlot.metricCapacity) where entries[index].key.utf8.count == length {
            if entries[index].key == key {
                entries[index].value = value
                return
            }
        }
        if count < SpanSlot.metricCapacity {
            (entries + count).initialize(to: MetricEntry(key: key, value: value))
            slot.pointee.metricCount = UInt16(count + 1)
        } else {
            setOverflowMetric(slot, key: key, value: value)
        }
    }

    // The slow paths (a span with more tags than fit inline) share SlotTags with the trace filters: replace an
    // existing entry anywhere in the chain, else append to the first carrier with room, else chain a new carrier
    // taken from the calling thread's pool. With the pool exhausted the tag is lost and counted.

    @usableFromInline @inline(never) func setOverflowMeta(_ slot: SlotPointer, key: String, value: String) {
        let state = threadState
        if !SlotTags.setMeta(slot, key, value, newCarrier: { state.pool.take() }) {
            state.count(.tagsDroppedPoolExhausted)
        }
    }

    @usableFromInline @inline(never) func setOverflowMetric(_ slot: SlotPointer, key: String, value: Double) {
        let state = threadState
        if !SlotTags.setMetric(slot, key, value, newCarrier: { state.pool.take() }) {
            state.count(.tagsDroppedPoolExhausted)
        }
    }
}
