// The per-thread pool of span slots.
//
// Threading contract: `take()` is called only by the owning thread; `giveBack(first:last:)` by any thread (in
// practice the flusher, which releases every slot after encoding it). There is no lock:
//
// - the owner pops from `localFree`, a plain singly linked list nobody else touches;
// - other threads push released slots onto `remoteFree`, a Treiber stack (CAS on the head, release ordering so
//   that the slot's cleared contents are visible to the owner);
// - when `localFree` runs dry the owner takes the whole remote stack with one `exchange` (acquire ordering).
//
// With a single consumer that only ever takes the whole stack, the classic ABA problem of Treiber stacks cannot
// occur: a popped node is never re-pushed while a pusher still holds it as its expected head.
//
// Memory grows in chunks of `chunkSize` slots up to `capacity`, so idle threads stay small; once a thread has
// warmed up, taking and returning slots allocates nothing. Chunks are never freed: a stale `DDSpan` handle may
// still point into them, and the generation check must find valid memory there.

import Atomics
import CDDTraceShims

@usableFromInline struct SlotPool {
    /// Owner-only free list.
    @usableFromInline var localFree: SlotPointer?
    /// Slots handed out by this pool so far (owner-only).
    var allocated: Int
    let capacity: Int
    @usableFromInline let engine: UnsafeMutablePointer<EngineCore>
    /// Head of the remote free stack (a `SlotPointer` as an `Int`), on its own cache line: it is written by the
    /// flusher while the owner writes `localFree`.
    let remoteFree: UnsafeAtomic<Int>

    static let chunkSize = 256

    init(capacity: Int, engine: UnsafeMutablePointer<EngineCore>) {
        self.localFree = nil
        self.allocated = 0
        self.capacity = capacity
        self.engine = engine
        let line = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        let head = line.bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1)
        // Plain initialization: the pool is published with its ThreadState (under ThreadRegistry's lock), and
        // other threads only find it later through slots that reached them by a release/acquire hand-off.
        head.initialize(to: .init(0))
        self.remoteFree = UnsafeAtomic(at: head)
    }
}

extension UnsafeMutablePointer where Pointee == SlotPool {
    /// Takes a free slot, or returns nil when the pool is exhausted. Owner thread only.
    @inlinable @inline(__always) func take() -> SlotPointer? {
        if let slot = pointee.localFree {
            let next = slot.pointee.next
            pointee.localFree = next
            // The next slot most likely comes back from the flusher's core: ask for its lines now.
            if let next { SpanSlot.prefetch(next, forWriting: true) }
            return slot
        }
        return refill()
    }

    @usableFromInline @inline(never) func refill() -> SlotPointer? {
        // Acquire, pairing with `giveBack`'s releasing CAS: the slots' cleared contents and the `next` links of
        // the whole chain are visible before we walk it. CASes are read-modify-writes, which continue the release
        // sequence, so this sees every pusher's chain, not only the last one's. No release is needed: the owner
        // publishes nothing through the head (pushers store the value they read as a link, never dereference it).
        let remote = pointee.remoteFree.exchange(0, ordering: .acquiring)
        if remote != 0, let slot = SlotPointer(bitPattern: remote) {
            pointee.localFree = slot.pointee.next
            return slot
        }
        guard pointee.allocated < pointee.capacity else { return nil }
        growChunk()
        return take()
    }

    /// The new slots are owner-private until a span in them reaches another thread, through a ring (release/
    /// acquire) or a handle handed over (the hand-off orders the accesses), so plain writes initialize them.
    private func growChunk() {
        let count = Swift.min(SlotPool.chunkSize, pointee.capacity - pointee.allocated)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: count * SpanSlot.stride, alignment: 64)
        var previous: SlotPointer? = pointee.localFree
        // Link back to front so the list hands out slots in address order (kinder to the prefetcher).
        for index in stride(from: count - 1, through: 0, by: -1) {
            let slot = (memory + index * SpanSlot.stride).bindMemory(to: SlotHeader.self, capacity: 1)
            SpanSlot.initializeHeader(slot, pool: self)
            slot.pointee.next = previous
            previous = slot
        }
        pointee.localFree = previous
        pointee.allocated += count
        // Relaxed: a statistic, read by nobody on the strength of it.
        pointee.engine.pointee.slotsAllocated.wrappingIncrement(by: count, ordering: .relaxed)
    }

    /// Returns a chain of cleared slots (`first` ... `last`, linked through `next`) to this pool. Any thread.
    func giveBack(first: SlotPointer, last: SlotPointer) {
        // Relaxed (here and on CAS failure): the head read is only stored as `last.next`, never dereferenced;
        // the CAS below fails if it is stale.
        var head = pointee.remoteFree.load(ordering: .relaxed)
        while true {
            last.pointee.next = SlotPointer(bitPattern: head)
            // Release: the owner's acquiring exchange must see the cleared slot contents and the `next` links.
            let (exchanged, original) = pointee.remoteFree.weakCompareExchange(
                expected: head, desired: Int(bitPattern: first), successOrdering: .releasing,
                failureOrdering: .relaxed)
            if exchanged { return }
            head = original
        }
    }
}
