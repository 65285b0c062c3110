// A bounded single-producer / single-consumer ring of finished-span slot pointers.
//
// Producer: the thread that owns the ring (every thread that finishes spans has one). Consumer: the flusher.
// Each side keeps a private cached copy of the other side's index on its own cache line, so in the common case
// a push touches only producer-owned lines: it reads the cached head, writes the entry and publishes the new
// tail with a release store. The consumer reads the tail with an acquire load, which makes the entries - and
// everything the producer wrote into those slots before publishing them - visible, then consumes a whole batch
// and publishes its head every `headPublishInterval` entries and at the end (release), which is what lets the
// producer reuse those entries.

import Atomics

@usableFromInline struct SpanRing: @unchecked Sendable {  // shared by one producer and one consumer by design
    @usableFromInline let entries: UnsafeMutablePointer<SlotPointer?>
    @usableFromInline let mask: Int
    /// Layout: [0] head (consumer-written atomic), [8] consumer's cached tail;
    ///         [128] tail (producer-written atomic), [136] producer's cached head.
    @usableFromInline let control: UnsafeMutableRawPointer

    init(capacity: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "ring capacity must be a power of two")
        entries = .allocate(capacity: capacity)
        entries.initialize(repeating: nil, count: capacity)
        mask = capacity - 1
        control = .allocate(byteCount: 256, alignment: 128)
        // Plain initialization is enough: the ring reaches the flusher inside its ThreadState, through
        // ThreadRegistry's lock, which orders these writes before the first atomic access on either side.
        control.initializeMemory(as: UInt8.self, repeating: 0, count: 256)
    }

    var capacity: Int { mask + 1 }

    static let prefetchDistance = 4
    /// How often a long drain publishes its progress. A drain of a backlog takes milliseconds (16384 entries at
    /// 250 ns each are 4 ms), and the flusher releases slots meanwhile, so the producer keeps finishing spans: with
    /// the head published only at the end, it would find the ring full and send them all to the engine's overflow
    /// stack, whose entries the flusher then reads one dependent load after another, with no prefetch.
    static let headPublishInterval = 64

    @inlinable @inline(__always) var head: UnsafeAtomic<Int> {
        UnsafeAtomic(at: control.assumingMemoryBound(to: UnsafeAtomic<Int>.Storage.self))
    }
    @inline(__always) private var consumerCachedTail: UnsafeMutablePointer<Int> {
        (control + 8).assumingMemoryBound(to: Int.self)
    }
    @inlinable @inline(__always) var tail: UnsafeAtomic<Int> {
        UnsafeAtomic(at: (control + 128).assumingMemoryBound(to: UnsafeAtomic<Int>.Storage.self))
    }
    @inlinable @inline(__always) var producerCachedHead: UnsafeMutablePointer<Int> {
        (control + 136).assumingMemoryBound(to: Int.self)
    }

    /// Publishes one slot. Returns false when the ring is full. Producer thread only.
    @inlinable @inline(__always) func push(_ slot: SlotPointer) -> Bool {
        // Relaxed: the producer is the only writer of `tail`, so it reads back its own last store.
        let tailIndex = tail.load(ordering: .relaxed)
        if tailIndex &- producerCachedHead.pointee > mask {
            // Acquire, pairing with the consumer's releasing `head` store: its reads of the entries it consumed
            // happen before the writes below that reuse them. A stale (smaller) head only makes the ring look
            // fuller, never overwrites an unread entry.
            producerCachedHead.pointee = head.load(ordering: .acquiring)
            if tailIndex &- producerCachedHead.pointee > mask { return false }
        }
        entries[tailIndex & mask] = slot
        // Release, pairing with the consumer's acquiring `tail` load: the entry, and every write to the span's
        // slot before `finish` (ids, times, tags, strings), are visible to the flusher once it sees the new tail.
        tail.store(tailIndex &+ 1, ordering: .releasing)
        return true
    }

    /// Consumes every entry published so far, calling `body` for each, and returns how many there were.
    /// Consumer (flusher) thread only.
    @inline(__always) func drain(_ body: (SlotPointer) -> Void) -> Int {
        // Relaxed: the consumer is the only writer of `head`.
        let headIndex = head.load(ordering: .relaxed)
        // Acquire, pairing with `push`'s releasing store: entries up to `tailIndex`, and the slots they point
        // to, are fully written. Entries published after this load wait for the next drain.
        let tailIndex = tail.load(ordering: .acquiring)
        consumerCachedTail.pointee = tailIndex
        var index = headIndex
        // The slots were written by another core: start fetching a few slots ahead so the transfers overlap.
        var ahead = headIndex
        while ahead != tailIndex && ahead &- headIndex < Self.prefetchDistance {
            if let slot = entries[ahead & mask] { SpanSlot.prefetch(slot, forWriting: true) }
            ahead &+= 1
        }
        while index != tailIndex {
            if ahead != tailIndex {
                if let slot = entries[ahead & mask] { SpanSlot.prefetch(slot, forWriting: true) }
                ahead &+= 1
            }
            if let slot = entries[index & mask] { body(slot) }
            index &+= 1
            // Release, pairing with `push`'s acquiring `head` load: every read of the consumed entries happens
            // before the producer overwrites them. The entries read ahead for prefetching are at `index` or
            // beyond, which the producer cannot reach before the head passes them. (The slots themselves go back
            // to their pools separately, with their own release/acquire in SlotPool.)
            if index & (Self.headPublishInterval - 1) == 0 { head.store(index, ordering: .releasing) }
        }
        // Release, as above.
        if index != headIndex { head.store(index, ordering: .releasing) }
        return index &- headIndex
    }

    /// Entries published and not yet consumed (approximate when read concurrently). Relaxed: a statistic and a
    /// loop condition only; no entry is read on the strength of it (`drain` does its own acquire).
    var count: Int { tail.load(ordering: .relaxed) &- head.load(ordering: .relaxed) }
}
