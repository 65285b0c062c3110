// DDTracerService in a swift-service-lifecycle ServiceGroup: spans finished before a graceful shutdown (or a
// cancellation) reach the agent, although the tracer's periodic flush would not have sent them yet.

import DDTraceServiceLifecycle
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import DDTrace

@Suite("Lifecycle: DDTracerService")
struct LifecycleServiceTests {
    /// Produces spans, then waits for graceful shutdown and produces one last span while stopping (as an HTTP server
    /// finishing its last request does). Listed after the tracer service, it stops first.
    struct SpanProducer: Service {
        let tracer: DDTracer
        let count: Int
        let ready: AsyncStream<Void>.Continuation

        func run() async throws {
            for index in 0..<count {
                tracer.trace("job", resource: "job \(index)") { span in span.setMetric("index", Double(index)) }
            }
            ready.yield()
            try? await gracefulShutdown()
            tracer.trace("shutdown.drain") { _ in }
        }
    }

    private func tracer(_ agent: TestAgent, token: String) throws -> DDTracer {
        // A flush interval far beyond the test: only the service's final flush can send these spans.
        try IntegrationTest.agentTracer(agent, token: token, provider: DDTaskLocalContextProvider()) {
            $0.flushInterval = .seconds(60)
        }
    }

    @Test func gracefulShutdownFlushesEverySpan() async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try tracer(agent, token: token)
        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
        let group = ServiceGroup(
            services: [DDTracerService(tracer: tracer), SpanProducer(tracer: tracer, count: 5, ready: readyContinuation)],
            logger: Logger(label: "lifecycle-test"))
        async let run: Void = group.run()
        for await _ in ready { break }
        #expect(try agent.traces(token).isEmpty, "nothing is sent before the shutdown")
        await group.triggerGracefulShutdown()
        try await run
        let names = try agent.traces(token).flatMap { $0 }.map(\.name)
        #expect(names.filter { $0 == "job" }.count == 5)
        #expect(names.contains("shutdown.drain"), "spans of services stopping before the tracer are sent too")
        #expect(tracer.counters.spansSent == 6)
        // The tracer is shut down: later spans are not recorded.
        tracer.trace("late") { _ in }
        #expect(tracer.counters.droppedAfterShutdown == 1)
    }

    @Test func cancellationFlushesToo() async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try tracer(agent, token: token)
        let task = Task { try await DDTracerService(tracer: tracer, flushTimeout: .seconds(10)).run() }
        tracer.trace("before.cancel") { _ in }
        task.cancel()
        try await task.value
        #expect(try agent.traces(token).flatMap { $0 }.map(\.name) == ["before.cancel"])
    }
}
