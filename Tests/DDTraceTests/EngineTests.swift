// Unit tests of the lock-free engine parts: the SPSC ring, the slot pool and stale span handles under two-thread
// contention, and the per-trace counters.

import Atomics
import Foundation
import Testing

@_spi(Benchmarks) @testable import DDTrace

@Suite("Lock-free engine parts")
struct EngineTests {
    /// Fake slot addresses for the ring (never dereferenced by the ring).
    static func fakeSlot(_ value: Int) -> SlotPointer { SlotPointer(bitPattern: (value + 1) << 6)! }

    /// Frees a ring the test made. The engine's rings live as long as the process, so `SpanRing` has no way to
    /// free itself; without this the leak checker (`--sanitize=address`) reports the tests' rings.
    static func deallocate(_ ring: SpanRing) {
        ring.entries.deallocate()
        ring.control.deallocate()
    }

    @Test("the ring hands every item over in order while producer and consumer race")
    func ringUnderContention() {
        let ring = SpanRing(capacity: 1024)
        defer { Self.deallocate(ring) }
        let total = 2_000_000
        let producerDone = ManagedAtomic<Bool>(false)
        let fullCount = ManagedAtomic<Int>(0)
        let producer = Thread {
            var index = 0
            while index < total {
                if ring.push(Self.fakeSlot(index)) { index += 1 } else { fullCount.wrappingIncrement(ordering: .relaxed) }
            }
            producerDone.store(true, ordering: .releasing)
        }
        producer.start()
        var expected = 0
        var outOfOrder = 0
        while expected < total {
            let drained = ring.drain { slot in
                if slot != Self.fakeSlot(expected) { outOfOrder += 1 }
                expected += 1
            }
            if drained == 0 && producerDone.load(ordering: .acquiring) && ring.count == 0 { break }
        }
        #expect(expected == total)
        #expect(outOfOrder == 0)
        #expect(ring.count == 0)
        while !producer.isFinished { usleep(100) }  // before the ring is freed
    }

    @Test("a full ring refuses pushes until the consumer catches up")
    func ringFull() {
        let ring = SpanRing(capacity: 256)
        defer { Self.deallocate(ring) }
        for index in 0..<256 { #expect(ring.push(Self.fakeSlot(index))) }
        #expect(!ring.push(Self.fakeSlot(256)))
        var seen = 0
        #expect(ring.drain { _ in seen += 1 } == 256)
        #expect(seen == 256)
        #expect(ring.push(Self.fakeSlot(257)))
    }

    @Test("a long drain frees the entries it has consumed before it ends")
    func ringDrainPublishesItsProgress() {
        // The flusher releases slots while it drains a backlog, so the producer finishes spans meanwhile: they must
        // find room in the ring rather than go to the engine's overflow stack.
        let ring = SpanRing(capacity: 256)
        defer { Self.deallocate(ring) }
        for index in 0..<256 { #expect(ring.push(Self.fakeSlot(index))) }
        var pushedDuringDrain: [Bool] = []
        var seen: [SlotPointer] = []
        let drained = ring.drain { slot in
            seen.append(slot)
            // Here the drain has consumed `seen.count - 1` entries; the producer plays its part on this thread.
            if seen.count == SpanRing.headPublishInterval + 1 || seen.count == 200 {
                pushedDuringDrain.append(ring.push(Self.fakeSlot(1000 + seen.count)))
            }
        }
        #expect(drained == 256)
        #expect(seen == (0..<256).map(Self.fakeSlot))
        #expect(pushedDuringDrain == [true, true])
        // The entries pushed meanwhile come out in the next drain, in order.
        var next: [SlotPointer] = []
        #expect(ring.drain { next.append($0) } == 2)
        #expect(next == [Self.fakeSlot(1000 + SpanRing.headPublishInterval + 1), Self.fakeSlot(1200)])
    }

    @Test("slots released by another thread return to their pool, none lost or duplicated")
    func poolCrossThreadRelease() throws {
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.enabled = true
        configuration.spanPoolSize = 512
        configuration.agentURL = "http://127.0.0.1:9"  // never contacted
        let resolved = try configuration.resolve()
        let engine = UnsafeMutablePointer<EngineCore>.make(configuration: resolved)
        let state = engine.threadState
        let pool = state.pool
        let handoff = SpanRing(capacity: 1024)
        defer { Self.deallocate(handoff) }
        let stop = ManagedAtomic<Bool>(false)
        // The releasing thread plays the flusher: it gives every slot it receives back to the pool.
        let releaser = Thread {
            while !stop.load(ordering: .acquiring) || handoff.count > 0 {
                _ = handoff.drain { slot in slot.pointee.pool.giveBack(first: slot, last: slot) }
            }
        }
        releaser.start()
        var seen = Set<Int>()
        var taken = 0
        let deadline = Date().addingTimeInterval(20)
        while taken < 200_000 && Date() < deadline {
            guard let slot = pool.take() else { continue }
            taken += 1
            seen.insert(Int(bitPattern: slot))
            while !handoff.push(slot) {}
        }
        stop.store(true, ordering: .releasing)
        while !releaser.isFinished { usleep(100) }
        #expect(taken == 200_000, "the pool kept serving slots as they came back")
        #expect(seen.count <= 512, "no more distinct slots than the pool's capacity")
        #expect(pool.pointee.allocated <= 512)
        // After everything came back, the whole capacity can be taken again without duplicates.
        var again = Set<Int>()
        while let slot = pool.take() { again.insert(Int(bitPattern: slot)) }
        #expect(again.count == pool.pointee.allocated)
    }

    /// Counts the spans that carry the tag a stale handle tries to set, and drops every chunk (nothing to send).
    final class StaleTagCounter: DDTraceFilter {
        let spans = ManagedAtomic<Int>(0)
        let tainted = ManagedAtomic<Int>(0)

        func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
            for span in trace.spans {
                spans.wrappingIncrement(ordering: .relaxed)
                if span.tag("stale") != nil { tainted.wrappingIncrement(ordering: .relaxed) }
            }
            return .drop
        }
    }

    @Test("a finished span's handle on another thread never reaches the span its slot holds next")
    func staleHandlesWhileSlotsAreReused() throws {
        // A small pool and a short flush interval, so that the flusher hands every slot back within milliseconds
        // and the owner stamps new spans into the slots the stale handles point at, over and over.
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.agentURL = "http://127.0.0.1:9"  // unreachable: the filter drops every chunk anyway
        configuration.service = "stale-handles"
        configuration.strict = true
        configuration.spanPoolSize = 256
        configuration.flushInterval = .milliseconds(10)
        let tracer = try DDTracer(configuration: configuration)
        let counter = StaleTagCounter()
        tracer.configure(traceFilters: [counter])

        // The owner publishes each handle once its span is finished; the other thread uses the latest ones.
        let finished = LockedValue<[DDSpan]>([])
        let ownerDone = ManagedAtomic<Bool>(false)
        let seenOpen = ManagedAtomic<Int>(0)
        let staleCalls = ManagedAtomic<Int>(0)
        let user = Thread {
            var batch: [DDSpan] = []
            while !ownerDone.load(ordering: .acquiring) {
                finished.withLock { swap(&batch, &$0) }
                for span in batch {
                    // Every handle here is finished: neither check may take the slot's next span for it.
                    if span.isRecording { seenOpen.wrappingIncrement(ordering: .relaxed) }
                    span.setTag("stale", "written through a finished span's handle")
                    staleCalls.wrappingIncrement(ordering: .relaxed)
                }
                batch.removeAll(keepingCapacity: true)
            }
        }
        user.start()
        var slots: [Int: Int] = [:]
        var recorded = 0
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            for _ in 0..<256 {
                let span = tracer.startSpan("owned", ignoreActive: true)
                guard let slot = span.openSlot else { continue }  // pool exhausted: dropped, counted
                recorded += 1
                slots[Int(bitPattern: slot), default: 0] += 1
                span.setTag("owner", "main")
                span.finish()
                finished.withLock { $0.append(span) }
            }
        }
        ownerDone.store(true, ordering: .releasing)
        while !user.isFinished { usleep(100) }
        tracer.shutdown(timeout: .seconds(5))

        let reused = slots.values.reduce(0) { $0 + $1 - 1 }
        #expect(slots.count <= 256, "no more slots than the pool holds")
        #expect(reused > 1_000, "slots were reused while stale handles to them were in use (\(reused) reuses)")
        #expect(staleCalls.load(ordering: .relaxed) > 1_000, "the other thread used many stale handles")
        #expect(seenOpen.load(ordering: .relaxed) == 0, "a finished span's handle reported a recording span")
        #expect(counter.spans.load(ordering: .relaxed) == recorded, "every recorded span reached the filter")
        #expect(counter.tainted.load(ordering: .relaxed) == 0, "a stale handle wrote a tag into a later span")
    }

    @Test("trace counters pack generation, created and open spans")
    func traceCounters() {
        let packed = TraceCounters.pack(generation: 0x12345, created: 7, open: 3)
        #expect(TraceCounters.generation(packed) == 0x12345)
        #expect(TraceCounters.created(packed) == 7)
        #expect(TraceCounters.open(packed) == 3)
        let registered = packed &+ TraceCounters.registerIncrement
        #expect(TraceCounters.created(registered) == 8)
        #expect(TraceCounters.open(registered) == 4)
    }

    @Test("Knuth sampling keeps a trace when id * 1111111111111111111 mod 2^64 is under rate * (2^64 - 1)")
    func knuthSampling() {
        // id 1 hashes to 1111111111111111111, i.e. 6.023 % of 2^64: kept at rate 0.0603, not at 0.0602.
        #expect(Sampling.keeps(traceIdLow: 1, rate: 0.0603))
        #expect(!Sampling.keeps(traceIdLow: 1, rate: 0.0602))
        #expect(!Sampling.keeps(traceIdLow: 1, rate: 0.0))
        #expect(Sampling.keeps(traceIdLow: .max, rate: 1.0))
        var kept = 0
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100_000 where Sampling.keeps(traceIdLow: generator.next(), rate: 0.25) { kept += 1 }
        #expect(abs(Double(kept) / 100_000 - 0.25) < 0.01)
    }

    @Test("the counters say what the tracer holds: the slots its pools grew to, the spare payload buffers")
    func memoryCounters() throws {
        let standIn = try DDAgentStandIn(mode: .discard)
        defer { standIn.stop() }
        let tracer = try makeTestTracer(agentURL: standIn.agentURL, service: "memory")
        defer { tracer.shutdown(timeout: .seconds(5)) }
        #expect(tracer.counters.spanSlotsAllocated == 0)
        // One thread makes every span of this tracer, so its pool alone grows: by a chunk of 256 slots at its first
        // span, and by a second one when 300 spans are open at once.
        let grown = LockedValue<[UInt64]>([])
        let producer = Thread {
            let root = tracer.startSpan("web.request", ignoreActive: true)
            grown.withLock { $0.append(tracer.counters.spanSlotsAllocated) }
            let children = (0..<299).map { _ in tracer.startSpan("db.query", childOf: root) }
            grown.withLock { $0.append(tracer.counters.spanSlotsAllocated) }
            for child in children { child.finish() }
            root.finish()
        }
        producer.start()
        while !producer.isFinished { usleep(100) }
        #expect(grown.withLock { $0 } == [256, 512])
        #expect(tracer.flush().succeeded)
        #expect(standIn.requests >= 1)
        // The payload buffer that was sent is kept for the next one.
        #expect(tracer.counters.spareBufferBytes > 0)
        #expect(tracer.counters.spanSlotsAllocated == 512, "finished spans give their slots back; pools never shrink")
    }
}
