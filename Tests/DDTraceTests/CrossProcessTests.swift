// Traces that cross a process boundary, with Python ddtrace (the reference implementation) as the other service:
// the agent must receive one trace with the right parentage, whichever side starts it.

import Foundation
import Testing

@testable import DDTrace

@Suite("Traces across processes")
struct CrossProcessTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Support/cross_process_ddtrace.py").path

    /// Spans of one trace as the agent received them, from every session (ddtrace sends no session token).
    func spans(agent: TestAgent, traceIdLow: UInt64, expected: Int) throws -> [ReceivedSpan] {
        let deadline = Date().addingTimeInterval(20)
        while true {
            let response = try agent.get("/test/traces?trace_ids=\(traceIdLow)")
            let chunks = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [[[String: Any]]]) ?? []
            let spans = chunks.flatMap { $0 }.map(ReceivedSpan.init).filter { $0.traceId == traceIdLow }
            if spans.count >= expected || Date() > deadline { return spans }
            usleep(100_000)
        }
    }

    func python(_ mode: String, agent: TestAgent, token: String) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = PythonScript.python
        process.arguments = [Self.script, mode]
        var environment = ProcessInfo.processInfo.environment
        environment["DD_TRACE_AGENT_URL"] = agent.tcpURL
        // ddtrace's writer sends this header with its traces. Without a session token the test agent counts the
        // Python spans in whichever session other tests running at the same time ask for.
        environment["_DD_TRACE_WRITER_ADDITIONAL_HEADERS"] = "X-Datadog-Test-Session-Token:\(token)"
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        return (process, input, output)
    }

    @Test("a Swift parent injects, a Python child process continues the trace")
    func swiftToPython() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: false)
        var headers: [String: String] = [:]
        let root = tracer.startSpan("swift.parent", resource: "GET /front")
        let call = tracer.startSpan("http.client", childOf: root)
        tracer.inject(call, into: &headers)
        let (process, input, _) = try python("child", agent: agent, token: token)
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: headers))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        call.finish()
        root.finish()
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let spans = try spans(agent: agent, traceIdLow: root.traceId.low, expected: 3)
        #expect(spans.count == 3)
        let child = try #require(spans.first { $0.name == "python.child" })
        #expect(child.parentId == call.spanId, "the Python span is a child of the span that injected")
        #expect(child.service == "py-svc")
        #expect(child.meta["_dd.p.tid"] == DDTraceID.hex(root.traceId.high), "all 128 bits crossed over")
        #expect(child.metrics["_sampling_priority_v1"] == 1)
        #expect(spans.first { $0.name == "http.client" }?.parentId == root.spanId)
        tracer.shutdown()
    }

    @Test("a Python parent injects, this process continues the trace")
    func pythonToSwift() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        let (process, input, output) = try python("parent", agent: agent, token: token)
        let line = try #require(output.fileHandleForReading.readLine())
        let headers = try #require(try JSONSerialization.jsonObject(with: line) as? [String: String])
        let context = try #require(tracer.extract(from: headers))
        tracer.withActiveContext(context) {
            tracer.trace("swift.handler", resource: "POST /python") { span in
                tracer.trace("swift.db") { _ in }
            }
        }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let spans = try spans(agent: agent, traceIdLow: context.traceId.low, expected: 3)
        #expect(spans.count == 3)
        let parent = try #require(spans.first { $0.name == "python.parent" })
        let handler = try #require(spans.first { $0.name == "swift.handler" })
        let database = try #require(spans.first { $0.name == "swift.db" })
        #expect(handler.parentId == parent.spanId)
        #expect(database.parentId == handler.spanId)
        #expect(handler.meta["_dd.p.tid"] == parent.meta["_dd.p.tid"], "the high 64 bits agree")
        #expect(handler.metrics["_sampling_priority_v1"] == parent.metrics["_sampling_priority_v1"])
        tracer.shutdown()
    }
}

extension FileHandle {
    /// Reads up to the next newline (the Python side prints one JSON line).
    func readLine() -> Data? {
        var line = Data()
        while true {
            let byte = readData(ofLength: 1)
            if byte.isEmpty { return line.isEmpty ? nil : line }
            if byte.first == UInt8(ascii: "\n") { return line }
            line.append(byte)
        }
    }
}
