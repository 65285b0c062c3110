// A child without a service of its own takes its parent's. When the parent is on another thread, it may be
// finished, sent and released by the flusher while the child starts, and a service built at run time (longer than
// 15 UTF-8 bytes) owns heap storage that the release frees. These tests check the handshake that makes that copy
// safe (EngineCore.guardedService, ThreadRegistry.awaitServiceReaders): the flusher waits for a reader it can see,
// and children racing with releases and with a filter's edits get the parent's service, the edited one or the
// default one, never freed memory. The sanitizer builds (scripts/test-sanitizers.sh) run them too: AddressSanitizer
// reports a use after free, ThreadSanitizer a copy that is not ordered before the teardown.

import Atomics
import Foundation
import Testing

@testable import DDTrace

@Suite("Service inheritance across threads")
struct ServiceInheritanceTests {
    /// Services built at run time, so that each owns heap storage (a literal or a short string would not).
    static let ownedServices = (0..<4).map { String(repeating: "owned-service-\($0)-", count: 2) }
    static let editedService = String(repeating: "edited-by-a-filter-", count: 2)

    struct EditParents: DDTraceFilter {
        func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
            for (index, span) in trace.spans.enumerated() where span.name == "parent" && span.spanId % 2 == 0 {
                trace.setService(ServiceInheritanceTests.editedService, onSpanAt: index)
            }
            return .keep
        }
    }

    @Test("the flusher does not tear down a service while a reader on another thread holds its hazard")
    func flusherWaitsForReader() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        let service = Self.ownedServices[0]
        #expect(!StringStorage.ownsNoStorage(service) || !StringStorage.canSkipUnowned, "a service with storage")
        let parent = tracer.startSpan("parent", service: service, ignoreActive: true)
        let slot = try #require(parent.slot)
        #expect(slot.serviceState.load(ordering: .relaxed) == ServiceState.set)
        // Hold the hazard as a child copying the service would (guardedService), from a thread of the tracer.
        let reader = tracer.engine.pointer.threadState
        reader.pointee.serviceHazard.store(UInt(bitPattern: slot), ordering: .sequentiallyConsistent)
        parent.finish()
        // The flusher sends the trace, then waits to release the slot: the flush cannot complete.
        #expect(!tracer.flush(timeout: .milliseconds(500)).succeeded)
        #expect(slot.generation.load(ordering: .acquiring) != parent.generation, "retired: new readers give up")
        #expect(slot.pointee.service == service, "still intact while the hazard is held")
        reader.pointee.serviceHazard.store(0, ordering: .releasing)
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let spans = try agent.traces(token).flatMap { $0 }
        #expect(spans.map(\.service) == [service])
        tracer.shutdown()
    }

    @Test("a reader that comes after the release sees the new generation and takes the default service")
    func lateReaderGivesUp() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        let parent = tracer.startSpan("parent", service: Self.ownedServices[1], ignoreActive: true)
        let context = parent.context
        parent.finish()
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        // The parent's slot is released (and may be reused): the child starts a chunk of its own, default service.
        let child = tracer.startSpan("child", childOf: context)
        #expect(child.isRecording && child.traceId == parent.traceId)
        #expect(child.slot?.pointee.service == "")
        child.finish()
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let spans = try agent.traces(token).flatMap { $0 }
        let received = Dictionary(uniqueKeysWithValues: spans.map { ($0.name, $0) })
        #expect(received["parent"]?.service == Self.ownedServices[1])
        #expect(received["child"]?.service == "swift-test", "the tracer's default service")
        #expect(received["child"]?.parentId == parent.spanId)
        tracer.shutdown()
    }

    @Test("a child of a span whose service a filter is replacing takes the default service; afterwards it inherits")
    func readerGivesWayToAnEdit() throws {
        let agent = try FakeAgent { _, _ in .status(200) }
        defer { agent.stop() }
        let tracer = try makeTestTracer(agentURL: agent.url, service: "default-service")
        let parent = tracer.startSpan("parent", service: Self.ownedServices[2], ignoreActive: true)
        let slot = try #require(parent.slot)
        // What SpanSlot.replaceService publishes while it waits for readers and swaps the string.
        slot.serviceState.store(ServiceState.editing, ordering: .sequentiallyConsistent)
        let during = tracer.startSpan("child", childOf: parent)
        #expect(during.slot?.pointee.service == "", "the default service")
        slot.serviceState.store(ServiceState.set, ordering: .releasing)
        let after = tracer.startSpan("child", childOf: parent.context)
        #expect(after.slot?.pointee.service == Self.ownedServices[2])
        #expect(after.slot?.serviceState.load(ordering: .relaxed) == ServiceState.set, "its own children read it")
        let unset = tracer.startSpan("grandchild", childOf: during)
        #expect(during.slot?.serviceState.load(ordering: .relaxed) == ServiceState.unset)
        #expect(unset.slot?.pointee.service == "")
        for span in [unset, after, during, parent] { span.finish() }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        #expect(tracer.counters.spansSent == 4)
        tracer.shutdown()
    }

    /// Outcomes under real contention, and the handshake exercised by the sanitizer builds. The unsafe read this
    /// replaced lost only when the flusher freed the string within the few nanoseconds between a child's check and
    /// its copy, which a test cannot make happen reliably; the two tests above pin each side of the handshake.
    @Test("children started on another thread while their parents finish and are released and edited by a filter")
    func childrenRaceWithReleases() throws {
        let agent = try FakeAgent { _, _ in .status(200) }
        defer { agent.stop() }
        let tracer = try makeTestTracer(agentURL: agent.url, service: "default-service", flushInterval: .milliseconds(10))
        tracer.configure(traceFilters: [EditParents()])
        let parents = 20_000
        // Handed over one at a time, one way only (a release store of the count; the consumer writes nothing the
        // producer reads): the parent's handle and its context, then the parent finishes at once, so the child
        // starts at about the moment the flusher may release the parent. A lock around the hand-off would order
        // every child's read before the producer's next spans, and ThreadSanitizer would no longer see whether
        // the read is ordered before the flusher's teardown and the slot's reuse.
        let handles = UnsafeMutablePointer<DDSpan>.allocate(capacity: parents)
        let contexts = UnsafeMutablePointer<DDTraceContext>.allocate(capacity: parents)
        let published = ManagedAtomic<Int>(0)
        nonisolated(unsafe) let sharedHandles = handles
        nonisolated(unsafe) let sharedContexts = contexts
        let producer = Thread {
            for index in 0..<parents {
                let parent = tracer.startSpan(
                    "parent", service: Self.ownedServices[index % Self.ownedServices.count], ignoreActive: true)
                (sharedHandles + index).initialize(to: parent)
                (sharedContexts + index).initialize(to: parent.context)
                published.store(index + 1, ordering: .releasing)
                parent.finish()
                if index % 64 == 0 { usleep(50) }  // let the consumer keep up on two cores
            }
        }
        producer.start()
        var seen: [String: Int] = [:]
        var started = 0
        while started < parents {
            let available = published.load(ordering: .acquiring)
            if available == started {
                sched_yield()
                continue
            }
            for index in started..<available {
                let child =
                    index % 2 == 0
                    ? tracer.startSpan("child", childOf: handles[index])
                    : tracer.startSpan("child", childOf: contexts[index])
                // The child's own slot, on its own thread: what it inherited.
                if let slot = child.slot { seen[slot.pointee.service, default: 0] += 1 }
                child.finish()
            }
            started = available
        }
        while !producer.isFinished { usleep(100) }
        handles.deinitialize(count: parents).deallocate()
        contexts.deinitialize(count: parents).deallocate()
        #expect(started == parents)
        let allowed = Set(Self.ownedServices + [Self.editedService, ""])
        #expect(seen.keys.allSatisfy { allowed.contains($0) }, "\(seen.keys.filter { !allowed.contains($0) })")
        #expect(Self.ownedServices.contains { seen[$0, default: 0] > 0 }, "children inherited: \(seen)")
        #expect(tracer.flush(timeout: .seconds(20)).succeeded)
        let counters = tracer.counters
        #expect(counters.spansSent + counters.droppedPoolExhausted == UInt64(2 * parents))
        tracer.shutdown()
    }
}
