// Per-thread engine state: the thread's span pool, its ring of finished spans, its id generator and its counters.
//
// One `ThreadState` exists per (engine, thread) pair. The hot path finds it through two C `_Thread_local`
// pointers (the engine it was last used with, and the state), which is a single %fs-relative load each; any other
// engine, or a thread's first span, takes the slow path through a pthread-specific list.
//
// When a thread exits, a pthread key destructor marks its states abandoned; the next new thread of the same
// engine adopts one instead of allocating. Adoption is safe without draining anything: the ring is
// single-producer and the dead thread can no longer produce, the pool's local free list belongs to the state,
// and the counters keep accumulating.

import Atomics
import CDDTraceShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Per-thread counters. Each is written only by its owner thread (a relaxed load plus a relaxed store, never a
/// read-modify-write) and read by anyone with relaxed loads, so counting costs no shared cache-line traffic.
@usableFromInline enum ThreadCounter: Int, CaseIterable {
    case spansStarted
    case spansFinished
    case droppedPoolExhausted
    case droppedAfterShutdown
    case tagsDroppedPoolExhausted
    case ringOverflows
}

@usableFromInline struct ThreadState {
    @usableFromInline var pool: SlotPool
    @usableFromInline let ring: SpanRing
    @usableFromInline var randomState: UInt64
    @usableFromInline let counters: UnsafeMutablePointer<UnsafeAtomic<UInt64>.Storage>
    let abandoned: UnsafeAtomic<Bool>
    /// The slot whose service this thread is reading (0 when none): the hazard pointer of
    /// `EngineCore.guardedService`, which `ThreadRegistry.awaitServiceReaders` waits on. On a line of its own: the
    /// thread writes it only when a child inherits a service, and the flusher reads it only before it releases
    /// such a slot.
    @usableFromInline let serviceHazard: UnsafeAtomic<UInt>
    let kernelThreadId: Int32

    init(engine: UnsafeMutablePointer<EngineCore>) {
        pool = SlotPool(capacity: engine.pointee.spanPoolSize, engine: engine)
        ring = SpanRing(capacity: engine.pointee.ringCapacity)
        var seed: UInt64 = 0
        withUnsafeMutableBytes(of: &seed) { ddtrace_random_bytes($0.baseAddress, $0.count) }
        randomState = seed
        // Plain initialization of the counters and the flag: the state reaches other threads only through
        // ThreadRegistry's lock (registration, the flusher's snapshot, `counters` readers), which orders these writes.
        let line = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        counters = line.bindMemory(to: UnsafeAtomic<UInt64>.Storage.self, capacity: ThreadCounter.allCases.count)
        counters.initialize(repeating: .init(0), count: ThreadCounter.allCases.count)
        let flag = UnsafeMutablePointer<UnsafeAtomic<Bool>.Storage>.allocate(capacity: 1)
        flag.initialize(to: .init(false))
        abandoned = UnsafeAtomic(at: flag)
        let hazardLine = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
            .bindMemory(to: UnsafeAtomic<UInt>.Storage.self, capacity: 1)
        hazardLine.initialize(to: .init(0))
        serviceHazard = UnsafeAtomic(at: hazardLine)
        kernelThreadId = ddtrace_thread_id()
    }
}

extension UnsafeMutablePointer where Pointee == ThreadState {
    @inlinable @inline(__always) var pool: UnsafeMutablePointer<SlotPool> { pointer(to: \.pool).unsafelyUnwrapped }

    /// Adds to one of this thread's counters. Owner thread only.
    @inlinable @inline(__always) func count(_ counter: ThreadCounter, _ amount: UInt64 = 1) {
        let cell = UnsafeAtomic<UInt64>(at: pointee.counters + counter.rawValue)
        // Relaxed load and store: this thread is the only writer (an adopting thread takes over only after the
        // acquire in `register`), so no increment can be lost; readers only need an untorn, recent value.
        cell.store(cell.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Any thread. Relaxed: a statistic; nothing else is read on the strength of it.
    func read(_ counter: ThreadCounter) -> UInt64 {
        UnsafeAtomic<UInt64>(at: pointee.counters + counter.rawValue).load(ordering: .relaxed)
    }

    /// The next 64-bit pseudo-random number (wyrand: one multiply, passes BigCrush; ids need uniqueness and
    /// uniform bits for Knuth sampling, not secrecy). Seeded per thread from getrandom(2).
    @inlinable @inline(__always) func nextRandom() -> UInt64 {
        pointee.randomState &+= 0xa076_1d64_78bd_642f
        let product = pointee.randomState.multipliedFullWidth(by: pointee.randomState ^ 0xe703_7ed1_a0b4_28db)
        return product.high ^ product.low
    }

    /// A random span id: non-zero, and with bit 63 clear, as dd-trace-cpp does, so that tracers which store span
    /// ids as signed 64-bit integers read them unchanged.
    @inlinable @inline(__always) func nextSpanId() -> UInt64 {
        while true {
            let id = nextRandom() & 0x7fff_ffff_ffff_ffff
            if id != 0 { return id }
        }
    }
}

/// All thread states of one engine. Registration takes a lock; that happens once per thread (or per adoption),
/// never per span. The flusher reads the list through `snapshot(ifChangedSince:)`.
final class ThreadRegistry: Sendable {
    private struct Contents {
        var states: [UnsafeMutablePointer<ThreadState>] = []
        var version = 0
    }
    private let contents = LockedValue(Contents())
    private let engine: EngineHandle

    init(engine: UnsafeMutablePointer<EngineCore>) {
        self.engine = EngineHandle(engine)
    }

    func register() -> UnsafeMutablePointer<ThreadState> {
        contents.withLock { contents in
            // Acquire, pairing with the key destructor's releasing store: everything the dead thread wrote to the
            // state (its ring's tail and cached head, pool free list, random state, counters) happens before the
            // adopting thread uses it.
            for state in contents.states
            where state.pointee.abandoned.compareExchange(expected: true, desired: false, ordering: .acquiring)
                .exchanged
            {
                return state
            }
            let state = UnsafeMutablePointer<ThreadState>.allocate(capacity: 1)
            state.initialize(to: ThreadState(engine: engine.pointer))
            contents.states.append(state)
            contents.version += 1
            return state
        }
    }

    /// The current list of states, or nil if it has not changed since `version`.
    func snapshot(ifChangedSince version: Int) -> (states: [UnsafeMutablePointer<ThreadState>], version: Int)? {
        contents.withLock { contents in
            contents.version == version ? nil : (contents.states, contents.version)
        }
    }

    var all: [UnsafeMutablePointer<ThreadState>] { contents.withLock { $0.states } }

    /// Waits until no thread is in the middle of reading the service of a slot that the caller (the flusher) has
    /// just made unreadable: either by bumping its generation (before releasing it) or by setting its service
    /// state to `editing` (before replacing the service).
    ///
    /// The other half of `EngineCore.guardedService`, a hazard-pointer handshake. The reader stores the slot in
    /// its `serviceHazard`, then loads the slot's generation and service state; the flusher has stored those, and
    /// then loads every hazard. All four accesses are sequentially consistent (a fence on this side), so at least
    /// one side sees the other's store: the reader sees the change and does not read the service, or this loop
    /// sees the hazard and waits until the reader has copied the service and cleared it (the acquiring load that
    /// sees it cleared orders the copy before the caller's teardown). The list is read under the registry's lock,
    /// so it holds every thread registered before this call; a thread that registers later takes that lock after
    /// the caller's store, so it sees the change.
    ///
    /// A hazard is held for a few loads and a retain, so the wait is short unless the reader's thread is
    /// preempted right there; then the flusher yields until it runs again.
    func awaitServiceReaders() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        for state in all {
            let hazard = state.pointee.serviceHazard
            let seen = hazard.load(ordering: .acquiring)
            guard seen != 0 else { continue }
            // Waiting for any read in progress, not only reads of the caller's slots, keeps this simple: a read is
            // a few loads and a retain. A value other than `seen` means that read ended; a read that starts after
            // the fence sees the change and does not touch the slot.
            var spins = 0
            while hazard.load(ordering: .acquiring) == seen {
                spins += 1
                if spins & 63 == 0 { sched_yield() }
            }
        }
    }
}


/// The slow path of thread-state lookup: a per-thread list of (engine, state) pairs stored under a pthread key
/// whose destructor marks the states abandoned when the thread exits.
@usableFromInline enum ThreadStateDirectory {
    final class PerThread {
        var entries: [(engine: UnsafeMutableRawPointer, state: UnsafeMutablePointer<ThreadState>)] = []
    }

    nonisolated(unsafe) private static var key: pthread_key_t = {
        var key = pthread_key_t()
        let result = pthread_key_create(&key) { raw in
            guard let raw else { return }
            let perThread = Unmanaged<PerThread>.fromOpaque(raw).takeRetainedValue()
            for entry in perThread.entries {
                // Release: this thread's last writes to the state happen before an adopter's acquiring CAS.
                entry.state.pointee.abandoned.store(true, ordering: .releasing)
            }
            // A destructor of some other key may still start spans on this dying thread: make it take the slow
            // path (and register anew) rather than use a state another thread may adopt from now on.
            ddtrace_tls_set(nil, nil)
        }
        precondition(result == 0, "pthread_key_create failed: \(result)")
        return key
    }()

    /// Finds or registers the calling thread's state for `engine` and caches it in the C thread-locals.
    @usableFromInline static func state(for engine: UnsafeMutablePointer<EngineCore>) -> UnsafeMutablePointer<ThreadState> {
        let raw = UnsafeMutableRawPointer(engine)
        let perThread: PerThread
        if let existing = pthread_getspecific(key) {
            perThread = Unmanaged<PerThread>.fromOpaque(existing).takeUnretainedValue()
        } else {
            perThread = PerThread()
            pthread_setspecific(key, Unmanaged.passRetained(perThread).toOpaque())
        }
        let state: UnsafeMutablePointer<ThreadState>
        if let entry = perThread.entries.first(where: { $0.engine == raw }) {
            state = entry.state
        } else {
            state = engine.pointee.registry.takeUnretainedValue().register()
            perThread.entries.append((raw, state))
        }
        // Thread-locals: read and written by this thread only, no ordering needed.
        ddtrace_tls_set(raw, UnsafeMutableRawPointer(state))
        return state
    }
}
