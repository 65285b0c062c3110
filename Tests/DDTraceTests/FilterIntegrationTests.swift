// Trace filters and sampling rules applied by the flusher, end to end against the test agent.

import Foundation
import Synchronization
import Testing

@testable import DDTrace

@Suite("Filters and sampling rules end to end")
struct FilterIntegrationTests {
    struct RenameHealthResources: DDTraceFilter {
        func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
            for (index, span) in trace.spans.enumerated() where span.name == "db.query" {
                trace.setTag("filtered", "yes", onSpanAt: index)
            }
            if let index = trace.spans.firstIndex(where: { $0.name == "noise" }) { trace.removeSpan(at: index) }
            return .keep
        }
    }

    struct Throwing: DDTraceFilter {
        struct Failure: Error {}
        func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
            trace.setTag("should.not", "appear", onSpanAt: 0)
            throw Failure()
        }
    }

    @Test("filters run in order on the flusher: URL filter drops, edits and removals arrive, a throwing filter changes nothing")
    func filtersEndToEnd() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        tracer.configure(traceFilters: [
            try FilterRequestsOnUrl("http://example\\.com/healthcheck"), Throwing(), RenameHealthResources(),
        ])
        tracer.trace("web.request") { span in span.setTag("http.url", "http://example.com/healthcheck") }
        tracer.trace("web.request") { span in
            span.setTag("http.url", "http://example.com/users")
            tracer.trace("db.query") { _ in }
            tracer.trace("noise") { _ in }
        }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let chunks = try agent.traces(token)
        #expect(chunks.count == 1, "the health check never arrives")
        let spans = try #require(chunks.first)
        #expect(spans.map(\.name).sorted() == ["db.query", "web.request"])
        #expect(spans.first { $0.name == "db.query" }?.meta["filtered"] == "yes")
        #expect(spans.allSatisfy { $0.meta["should.not"] == nil })
        let counters = tracer.counters
        #expect(counters.droppedByFilters == 2, "the health-check span, and the removed span")
        tracer.shutdown()
    }

    @Test("filters can be reconfigured while spans are in flight")
    func reconfigureWhileTracing() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        let done = Mutex(false)
        let worker = Thread {
            while !done.withLock({ $0 }) { tracer.trace("busy") { $0.setTag("http.url", "http://x/y") } }
        }
        worker.start()
        // At least 50 changes; then on until the flusher has dropped something, since a slow or busy machine
        // (sanitizer builds, parallel tests on two cores) may not run the worker or the flusher during the first
        // ones. The deadline only bounds a real failure.
        let deadline = Date().addingTimeInterval(20)
        var round = 0
        while round < 50 || (tracer.counters.droppedByFilters == 0 && Date() < deadline) {
            tracer.configure(traceFilters: round % 2 == 0 ? [try FilterRequestsOnUrl("http://x")] : [])
            usleep(2000)
            round += 1
        }
        done.withLock { $0 = true }
        while !worker.isFinished { usleep(1000) }
        #expect(tracer.flush(timeout: .seconds(20)).succeeded)
        let counters = tracer.counters
        #expect(counters.spansSent + counters.droppedByFilters == counters.spansStarted)
        #expect(counters.droppedByFilters > 0)
        tracer.shutdown()
    }

    @Test("sampling rules decide with USER_KEEP / USER_REJECT and tag _dd.rule_psr / _dd.limit_psr")
    func samplingRules() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true) {
            $0.environment = [
                "DD_TRACE_SAMPLING_RULES": #"[{"service":"swift-test","name":"keep.*","sample_rate":1},{"name":"drop.me","sample_rate":0}]"#,
                "DD_SPAN_SAMPLING_RULES": #"[{"name":"important.child"}]"#,
            ]
        }
        tracer.trace("keep.this") { _ in }
        tracer.trace("drop.me") { _ in tracer.trace("important.child") { _ in } }
        tracer.trace("unmatched") { _ in }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let chunks = try agent.traces(token)
        let kept = try #require(chunks.first { $0[0].name == "keep.this" })[0]
        #expect(kept.metrics["_sampling_priority_v1"] == 2)
        #expect(kept.meta["_dd.p.dm"] == "-3")
        #expect(kept.metrics["_dd.rule_psr"] == 1)
        #expect(kept.metrics["_dd.limit_psr"] == 1)
        let dropped = try #require(chunks.first { $0.contains { $0.name == "drop.me" } })
        let droppedRoot = try #require(dropped.first { $0.name == "drop.me" })
        #expect(droppedRoot.metrics["_sampling_priority_v1"] == -1)
        #expect(droppedRoot.metrics["_dd.rule_psr"] == 0)
        let child = try #require(dropped.first { $0.name == "important.child" })
        #expect(child.metrics["_dd.span_sampling.mechanism"] == 8, "single-span sampling keeps it")
        #expect(child.metrics["_dd.span_sampling.rule_rate"] == 1)
        let unmatched = try #require(chunks.first { $0[0].name == "unmatched" })[0]
        #expect(unmatched.metrics["_sampling_priority_v1"] == 1)
        #expect(unmatched.meta["_dd.p.dm"] == "-0")
        tracer.shutdown()
    }
}
