// Faults at the agent, with a purpose-built agent: refusals, errors, garbage, silence, absence. The service's
// threads never wait, and every span ends up sent or counted under a drop reason.

import Foundation
import Testing

@testable import DDTrace

@Suite("Agent faults")
struct AgentFaultTests {
    func tracer(agentURL: String, configure: (inout DDTracerConfiguration) -> Void = { _ in }) throws -> DDTracer {
        try makeTestTracer(agentURL: agentURL, service: "fault-test", configure: configure)
    }

    func traceMany(_ tracer: DDTracer, _ count: Int) {
        for index in 0..<count {
            tracer.trace("op", resource: "resource number \(index) with some padding to make it longer") { span in
                span.setTag("http.url", "http://example.test/items/\(index)?page=\(index % 7)")
            }
        }
    }

    @Test("413: payloads are split at chunk boundaries and resent until the agent accepts them")
    func payloadTooLarge() throws {
        let agent = try FakeAgent { size, _ in size > 20_000 ? .status(413) : .status(200) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url) { $0.maxPayloadSize = 65536 }
        traceMany(tracer, 2000)
        #expect(tracer.flush(timeout: .seconds(20)).succeeded)
        let counters = tracer.counters
        #expect(agent.received.spans == 2000)
        #expect(counters.spansSent == 2000)
        #expect(counters.droppedRejectedByAgent == 0)
        #expect(counters.responseErrors > 0, "the 413s are counted as response errors")
        ReliabilityReport.record(
            area: "Agent responses", fault: "413 for any request over 20 kB (max payload 64 KiB)",
            outcome: "payloads are split at chunk boundaries and resent; the payload limit is halved for what follows",
            figures: [("spans received / started", "\(agent.received.spans) / \(counters.spansStarted)"),
                      ("413 responses", "\(counters.responseErrors)")])
        tracer.shutdown()
    }

    @Test("404/415 on /v0.5/traces: the tracer switches to v0.4 and converts what it had encoded; nothing is lost",
          arguments: [404, 415])
    func v05FallsBackToV04(status: Int) throws {
        let agent = try FakeAgent { _, _ in .status(200) }
        agent.v05Status.withLock { $0 = status }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url) {
            $0.apiVersion = "v0.5"
            // Small payloads, so that several v0.5 payloads are queued when the first 404 arrives.
            $0.maxPayloadSize = 65536
        }
        #expect(tracer.counters.traceAPIVersion == "v0.5")
        traceMany(tracer, 3000)
        #expect(tracer.flush(timeout: .seconds(20)).succeeded)
        traceMany(tracer, 100)
        #expect(tracer.flush(timeout: .seconds(20)).succeeded)
        let counters = tracer.counters
        let received = agent.received
        #expect(counters.traceAPIVersion == "v0.4")
        #expect(received.spans == 3100, "every span arrives, in v0.4")
        #expect(counters.spansSent == 3100)
        #expect(counters.droppedRejectedByAgent == 0)
        #expect(received.paths.filter { $0.hasPrefix("/v0.5/") }.count == 1, "one v0.5 attempt: \(received.paths)")
        #expect(received.paths.dropFirst().allSatisfy { $0 == "/v0.4/traces" })
        ReliabilityReport.record(
            area: "Agent responses", fault: "\(status) to /v0.5/traces (an agent without v0.5)",
            outcome: "switches to /v0.4/traces for good and converts the payloads already encoded; nothing lost "
                + "(dd-trace-py drops that payload)",
            figures: [("spans sent / started", "\(counters.spansSent) / \(counters.spansStarted)"),
                      ("v0.5 attempts", "\(received.paths.filter { $0.hasPrefix("/v0.5/") }.count)")])
        tracer.shutdown()
    }

    @Test("v0.5: a 413 splits the payload (each half keeps the string table) and everything arrives")
    func v05PayloadTooLarge() throws {
        let agent = try FakeAgent { size, _ in size > 20_000 ? .status(413) : .status(200) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url) {
            $0.apiVersion = "v0.5"
            $0.maxPayloadSize = 65536
        }
        traceMany(tracer, 2000)
        #expect(tracer.flush(timeout: .seconds(20)).succeeded)
        #expect(agent.received.spans == 2000)
        #expect(tracer.counters.spansSent == 2000)
        // The refused payload is resent as v0.4 halves (each half of a v0.5 payload would need the whole string
        // table); the tracer itself stays on v0.5.
        #expect(agent.received.paths.first == "/v0.5/traces")
        #expect(tracer.counters.traceAPIVersion == "v0.5")
        tracer.shutdown()
    }

    @Test("5xx and 429: retried with a bound, and nothing is lost when the agent recovers", arguments: [503, 500, 429])
    func serverErrorsThenRecovery(status: Int) throws {
        let agent = try FakeAgent { _, number in number <= 2 ? .status(status) : .status(200) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url)
        traceMany(tracer, 100)
        _ = tracer.flush(timeout: .seconds(5))
        let deadline = Date().addingTimeInterval(10)
        while tracer.counters.spansSent < 100 && Date() < deadline {
            _ = tracer.flush(timeout: .seconds(5))
        }
        #expect(tracer.counters.spansSent == 100)
        #expect(tracer.counters.responseErrors == 2)
        #expect(agent.received.spans == 100)
        ReliabilityReport.record(
            area: "Agent responses", fault: "\(status) twice, then 200",
            outcome: "retried (at most 3 attempts per payload, one flush interval apart); nothing lost",
            figures: [("spans sent / started", "\(tracer.counters.spansSent) / \(tracer.counters.spansStarted)")])
        tracer.shutdown()
    }

    @Test("5xx for good: a payload is dropped after 3 attempts and counted")
    func serverErrorsForever() throws {
        let agent = try FakeAgent { _, _ in .status(503) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url)
        traceMany(tracer, 20)
        for _ in 0..<Flusher.maxSendAttempts { _ = tracer.flush(timeout: .seconds(5)) }
        let counters = tracer.counters
        #expect(agent.received.requests == Flusher.maxSendAttempts)
        #expect(counters.droppedSendFailed == 20)
        #expect(unaccounted(counters) == 0)
        ReliabilityReport.record(
            area: "Agent responses", fault: "503 on every attempt",
            outcome: "3 attempts, then the payload is dropped and its spans counted as send failures",
            figures: [("requests", "\(agent.received.requests)"), ("dropped (by reason)", dropSummary(counters))])
        tracer.shutdown()
    }

    @Test("400: the payload is dropped and counted, not retried")
    func badRequest() throws {
        let agent = try FakeAgent { _, _ in .status(400) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url)
        traceMany(tracer, 10)
        #expect(!tracer.flush(timeout: .seconds(5)).succeeded)
        #expect(tracer.counters.droppedRejectedByAgent == 10)
        #expect(agent.received.requests == 1)
        ReliabilityReport.record(
            area: "Agent responses", fault: "400 (the agent refuses the payload)",
            outcome: "dropped without retry, counted as rejected, logged once",
            figures: [("requests", "\(agent.received.requests)"), ("dropped (by reason)", dropSummary(tracer.counters))])
        tracer.shutdown()
    }

    @Test("garbage responses: no crash, bounded retries, then the spans are counted as send failures")
    func garbageResponses() throws {
        let agent = try FakeAgent { _, _ in .garbage }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url)
        traceMany(tracer, 10)
        for _ in 0..<Flusher.maxSendAttempts { _ = tracer.flush(timeout: .seconds(5)) }
        let counters = tracer.counters
        #expect(counters.requestErrors == UInt64(Flusher.maxSendAttempts))
        #expect(counters.droppedSendFailed == 10)
        #expect(counters.lastError.contains("malformed HTTP response"))
        ReliabilityReport.record(
            area: "Agent responses", fault: "bytes that are not HTTP in answer to every request",
            outcome: "no crash; each attempt fails as a malformed response; after 3 attempts the spans are counted "
                + "as send failures",
            figures: [("request errors", "\(counters.requestErrors)"), ("dropped (by reason)", dropSummary(counters))])
        tracer.shutdown()
    }

    @Test("a silent agent times out; the service's threads never wait for it")
    func silentAgent() throws {
        let agent = try FakeAgent { _, _ in .silent }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url) { $0.agentTimeout = .milliseconds(300) }
        traceMany(tracer, 10)
        let started = ContinuousClock.now
        let result = tracer.flush(timeout: .seconds(5))
        #expect(!result.succeeded)
        #expect(ContinuousClock.now - started < .seconds(2), "the request timed out after ~0.3 s")
        #expect(tracer.counters.lastError.contains("timed out"))
        // While the flusher is stuck in requests, spans still start and finish without waiting.
        let spansWhileStuck = ContinuousClock.now
        traceMany(tracer, 10_000)
        let tenThousand = ContinuousClock.now - spansWhileStuck
        #expect(tenThousand < .seconds(2))
        ReliabilityReport.record(
            area: "Agent faults", fault: "agent accepts and never answers (timeout 300 ms)",
            outcome: "the request times out; flush() returns; 10,000 spans started meanwhile do not wait",
            figures: [("10,000 spans while the flusher waits", "\(tenThousand.components.attoseconds / 1_000_000_000_000_000 + tenThousand.components.seconds * 1000) ms")])
        tracer.shutdown(timeout: .seconds(2))
    }

    @Test("agent absent at start: spans wait (within the buffer cap) and go out once it appears")
    func agentAppearsLater() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("late-agent-\(getpid()).sock").path
        let tracer = try tracer(agentURL: "unix://\(path)")
        traceMany(tracer, 50)
        #expect(!tracer.flush(timeout: .seconds(5)).succeeded)
        #expect(tracer.counters.lastError.contains("no such socket"))
        let agent = try FakeAgent.at(path) { _, _ in .status(200) }
        defer { agent.stop() }
        let deadline = Date().addingTimeInterval(5)
        while tracer.counters.spansSent < 50 && Date() < deadline { usleep(50_000) }
        #expect(tracer.counters.spansSent == 50, "reconnected within a few flush intervals, nothing lost")
        ReliabilityReport.record(
            area: "Agent faults", fault: "agent absent at start (no socket), appears later",
            outcome: "spans wait in the buffer and are sent once the agent appears; nothing lost",
            figures: [("spans sent / started", "\(tracer.counters.spansSent) / \(tracer.counters.spansStarted)")])
        tracer.shutdown()
    }
}
