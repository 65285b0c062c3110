// The sampling decision travels with the trace: made before the first inject, adopted from upstream, changed by
// the agent's rates, and visible on what the agent receives. Includes a cross-process trace with Python ddtrace.

import Foundation
import Testing

@testable import DDTrace

@Suite("Sampling decisions and propagation end to end")
struct SamplingPropagationIntegrationTests {
    @Test("the decision is made before the first inject and is the one the agent receives")
    func decisionBeforeInject() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        var headers: [String: String] = [:]
        tracer.trace("client.request") { span in
            tracer.trace("http.call") { call in
                tracer.inject(call, into: &headers)
            }
        }
        #expect(headers["x-datadog-sampling-priority"] == "1")
        #expect(headers["x-datadog-tags"]?.contains("_dd.p.dm=-0") == true)
        #expect(headers["traceparent"]?.hasSuffix("-01") == true)
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let root = try #require(try agent.traces(token).first?.first { $0.parentId == 0 })
        #expect(root.metrics["_sampling_priority_v1"] == 1)
        #expect(root.meta["_dd.p.dm"] == "-0")
        tracer.shutdown()
    }

    @Test("a manual keep or drop overrides the sampler, before inject and at flush")
    func manualDecision() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        var keptHeaders: [String: String] = [:]
        tracer.trace("kept") { span in
            span.setSamplingPriority(.userKeep)
            tracer.inject(span, into: &keptHeaders)
        }
        tracer.trace("dropped") { span in
            tracer.trace("child") { child in child.setSamplingPriority(.userReject) }
        }
        #expect(keptHeaders["x-datadog-sampling-priority"] == "2")
        #expect(keptHeaders["x-datadog-tags"]?.contains("_dd.p.dm=-4") == true)
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let chunks = try agent.traces(token)
        let kept = try #require(chunks.first { $0.contains { $0.name == "kept" } })
        let dropped = try #require(chunks.first { $0.contains { $0.name == "dropped" } })
        #expect(kept[0].metrics["_sampling_priority_v1"] == 2)
        #expect(kept[0].meta["_dd.p.dm"] == "-4")
        #expect(dropped[0].metrics["_sampling_priority_v1"] == -1)
        #expect(tracer.counters.spansSampledOut == 2, "dropped traces are still sent, for the agent's stats")
        tracer.shutdown()
    }

    @Test("the agent's rate_by_service changes decisions")
    func agentRates() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        try agent.startSession(token, rates: ["service:swift-test,env:ci": 0.0, "service:,env:": 1.0])
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.agentURL = agent.unixURL
        configuration.service = "swift-test"
        configuration.env = "ci"
        let tracer = try DDTracer(
            configuration: configuration, additionalHeaders: [("X-Datadog-Test-Session-Token", token)])
        // The first trace goes out before any rates are known: kept by default.
        tracer.trace("first") { _ in }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        // Now the rate for service:swift-test,env:ci is 0: the sampler rejects, and says so downstream.
        var headers: [String: String] = [:]
        tracer.trace("second") { span in tracer.inject(span, into: &headers) }
        tracer.trace("other.service", service: "billing") { _ in }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        #expect(headers["x-datadog-sampling-priority"] == "0")
        let chunks = try agent.traces(token)
        let first = try #require(chunks.first { $0[0].name == "first" })
        let second = try #require(chunks.first { $0[0].name == "second" })
        let other = try #require(chunks.first { $0[0].name == "other.service" })
        #expect(first[0].metrics["_sampling_priority_v1"] == 1)
        #expect(first[0].meta["_dd.p.dm"] == "-0")
        #expect(second[0].metrics["_sampling_priority_v1"] == 0)
        #expect(second[0].metrics["_dd.agent_psr"] == 0)
        #expect(other[0].metrics["_sampling_priority_v1"] == 1, "billing falls back to the default rate 1.0")
        #expect(other[0].metrics["_dd.agent_psr"] == 1)
        #expect(other[0].meta["_dd.p.dm"] == "-1")
        tracer.shutdown()
    }

    @Test("an upstream decision, origin and trace tags are adopted as they are")
    func upstreamDecision() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: false)
        let incoming = [
            "X-Datadog-Trace-Id": "1234567890123456789", "x-datadog-parent-id": "987654321",
            "x-datadog-sampling-priority": "2", "x-datadog-origin": "synthetics",
            "x-datadog-tags": "_dd.p.dm=-3,_dd.p.tid=6b074e7d00000000,_dd.p.usr.id=42",
        ]
        let context = try #require(tracer.extract(from: incoming))
        var outgoing: [String: String] = [:]
        tracer.withActiveContext(context) {
            tracer.trace("server.request") { span in
                tracer.trace("downstream.call") { call in tracer.inject(call, into: &outgoing) }
            }
        }
        #expect(outgoing["x-datadog-sampling-priority"] == "2")
        #expect(outgoing["x-datadog-origin"] == "synthetics")
        #expect(outgoing["x-datadog-trace-id"] == "1234567890123456789")
        #expect(outgoing["x-datadog-tags"]?.contains("_dd.p.dm=-3") == true)
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let spans = try #require(try agent.traces(token).first)
        let server = try #require(spans.first { $0.name == "server.request" })
        #expect(server.traceId == 1_234_567_890_123_456_789)
        #expect(server.parentId == 987_654_321)
        #expect(server.metrics["_sampling_priority_v1"] == 2)
        #expect(server.meta["_dd.p.dm"] == "-3", "an upstream decision maker is kept")
        #expect(server.meta["_dd.p.tid"] == "6b074e7d00000000")
        #expect(server.meta["_dd.p.usr.id"] == "42")
        #expect(spans.allSatisfy { $0.meta["_dd.origin"] == "synthetics" }, "origin is on every span")
        tracer.shutdown()
    }
}
