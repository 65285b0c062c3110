// A tracer dropped without `shutdown()` must not leave its flusher thread running for the life of the process,
// and must not lose what had finished: its deinit stops the flusher, which sends first (DDTracer.deinit).

import Foundation
import Testing

@testable import DDTrace

@Suite("Tracer lifetime")
struct TracerLifetimeTests {
    @Test("a tracer dropped without shutdown() sends its finished spans, then its flusher stops and is freed")
    func droppedTracerStopsItsFlusher() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken("dropped-tracer")
        weak var flusher: Flusher?
        var leftOpen: DDSpan?
        do {
            let tracer = try agent.tracer(token: token, unixSocket: true)
            flusher = tracer.flusher
            let root = tracer.startSpan("dropped.root", ignoreActive: true)
            tracer.startSpan("dropped.child", childOf: root).finish()
            root.finish()
            leftOpen = tracer.startSpan("still.open", ignoreActive: true)
        }
        // The flusher thread keeps the flusher until its loop ends: it is freed once the thread has stopped.
        let deadline = Date().addingTimeInterval(10)
        while flusher != nil && Date() < deadline { usleep(10_000) }
        #expect(flusher == nil, "the flusher thread stopped after its tracer was dropped")

        let spans = try agent.traces(token).flatMap { $0 }
        #expect(Set(spans.map(\.name)) == ["dropped.root", "dropped.child"], "the finished trace was sent first")
        #expect(try agent.checkFailures(token).isEmpty)
        // A span handle that outlives its tracer stays safe to use; its span is not recorded.
        leftOpen?.setTag("after", "drop")
        leftOpen?.finish()
    }

    @Test("the flusher thread is named dd-trace-flush where ps -L, top -H and perf read it")
    func flusherThreadIsNamed() throws {
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.agentURL = "unix:///nonexistent/dd-trace-thread-name.sock"
        let tracer = try DDTracer(configuration: configuration)
        defer { _ = tracer.shutdown(timeout: .seconds(1)) }
        // The thread names itself when it starts; other tests' tracers may add more threads of the same name.
        func namedThreads() -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.filter { task in
                let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
                return comm?.trimmingCharacters(in: .whitespacesAndNewlines) == "dd-trace-flush"
            }.count
        }
        let deadline = Date().addingTimeInterval(5)
        while namedThreads() == 0 && Date() < deadline { usleep(1000) }
        #expect(namedThreads() >= 1)
    }
}
