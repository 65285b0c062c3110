// Runs the official Datadog test agent (`ddapm-test-agent`, from PyPI) for the integration tests and reads back
// what it received. One agent serves the whole test process; each test uses its own session token (sent by its
// tracer in `X-Datadog-Test-Session-Token`), so tests can run in parallel.

import CDDTraceShims
import Foundation
import Testing

@testable import DDTrace

#if canImport(Glibc)
    import Glibc
#endif

final class TestAgent: Sendable {
    let port: Int
    let socketPath: String
    private let process: Process
    let logPath: String

    static let checks = "trace_count_header,meta_tracer_version_header,trace_content_length"

    private static let started = LockedValue<Result<TestAgent, TestAgentError>?>(nil)

    /// The shared agent, started on first use.
    static func shared() throws -> TestAgent {
        try started.withLock { state in
            if let state { return try state.get() }
            let result = Result { () throws(TestAgentError) -> TestAgent in try TestAgent() }
            state = result
            return try result.get()
        }
    }

    struct TestAgentError: Error, CustomStringConvertible {
        let description: String
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The Python virtual environment made by `scripts/test.sh` (override with DDTRACE_TEST_VENV).
    static var venv: URL {
        if let path = ProcessInfo.processInfo.environment["DDTRACE_TEST_VENV"] { return URL(fileURLWithPath: path) }
        return repositoryRoot.appendingPathComponent(".venv")
    }

    private init() throws(TestAgentError) {
        let executable = Self.venv.appendingPathComponent("bin/ddapm-test-agent").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw TestAgentError(
                description: "ddapm-test-agent not found at \(executable): run scripts/test.sh, which installs it")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dd-test-agent-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        port = Self.freePort()
        socketPath = directory.appendingPathComponent("apm.socket").path
        logPath = directory.appendingPathComponent("agent.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        // A watchdog shell runs the agent and stops it as soon as this test process is gone, however it ends
        // (swift-testing does not reliably run atexit handlers, and a crashed run runs none).
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let watchdog = """
            parent=$1; shift
            "$@" &
            agent=$!
            # SIGKILL after a grace period: the agent sometimes ignores SIGTERM and would outlive the run.
            trap 'kill $agent 2>/dev/null; for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 $agent 2>/dev/null || exit 0; sleep 0.2; done; kill -9 $agent 2>/dev/null' EXIT INT TERM
            while kill -0 "$parent" 2>/dev/null && kill -0 "$agent" 2>/dev/null; do sleep 0.3; done
            """
        process.arguments = [
            "-c", watchdog, "watchdog", String(getpid()), executable,
            "--host", "127.0.0.1", "--port", String(port), "--trace-uds-socket", socketPath,
            "--otlp-http-port", String(Self.freePort()), "--otlp-grpc-port", String(Self.freePort()),
            "--snapshot-dir", directory.path,
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["ENABLED_CHECKS"] = Self.checks
        // These are parsed as booleans by presence: any value disables error responses. Keep them unset.
        environment.removeValue(forKey: "DD_DISABLE_ERROR_RESPONSES")
        environment.removeValue(forKey: "DD_POOL_TRACE_CHECK_FAILURES")
        process.environment = environment
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        do { try process.run() } catch { throw TestAgentError(description: "could not start the test agent: \(error)") }
        self.process = process
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? get("/info"))?.status == 200, FileManager.default.fileExists(atPath: socketPath) { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw TestAgentError(description: "the test agent did not start on port \(port):\n\(output.suffix(2000))")
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    var tcpURL: String { "http://127.0.0.1:\(port)" }
    var unixURL: String { "unix://\(socketPath)" }

    /// A GET against the agent's HTTP API (over TCP), through the tracer's own transport.
    func get(_ path: String) throws -> AgentResponse {
        let client = AgentClient(
            endpoint: .tcp(host: "127.0.0.1", port: port), timeoutMilliseconds: 10_000, tryIOUring: false)
        switch client.get(path) {
        case .success(let response): return response
        case .failure(let error): throw TestAgentError(description: "GET \(path): \(error)")
        }
    }

    /// Starts a session; `rates` are returned in `rate_by_service` to this session's trace requests.
    func startSession(_ token: String, rates: [String: Double]? = nil) throws {
        var path = "/test/session/start?test_session_token=\(token)"
        if let rates {
            let json = String(decoding: try JSONSerialization.data(withJSONObject: rates), as: UTF8.self)
            path += "&agent_sample_rate_by_service=" + json.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        }
        let response = try get(path)
        guard response.status == 200 else {
            throw TestAgentError(description: "session start answered \(response.status)")
        }
    }

    /// The traces received for a session: chunks of decoded spans.
    func traces(_ token: String) throws -> [[ReceivedSpan]] {
        let response = try get("/test/session/traces?test_session_token=\(token)")
        guard response.status == 200,
            let chunks = try JSONSerialization.jsonObject(with: Data(response.body)) as? [[[String: Any]]]
        else {
            throw TestAgentError(description: "bad traces answer \(response.status): \(String(decoding: response.body, as: UTF8.self))")
        }
        return chunks.map { $0.map(ReceivedSpan.init) }
    }

    /// The raw requests of a session (method, url, headers).
    func requests(_ token: String) throws -> [[String: Any]] {
        let response = try get("/test/session/requests?test_session_token=\(token)")
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]]) ?? []
    }

    /// The session's `/v0.4/traces` payloads as sent (chunk boundaries intact), decoded by an independent decoder
    /// (PyPI msgpack, `decode_payloads.py`), which also checks every span's keys and wire types.
    func payloads(_ token: String) throws -> (payloads: [[[ReceivedSpan]]], errors: [String]) {
        let response = try get("/test/session/requests?test_session_token=\(token)")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("decode_payloads.py")
        let output = try PythonScript.run(script.path, input: Data(response.body))
        guard let object = try JSONSerialization.jsonObject(with: output) as? [String: Any],
            let payloads = object["payloads"] as? [[[[String: Any]]]], let errors = object["errors"] as? [String]
        else { throw TestAgentError(description: "decoder output: \(String(decoding: output, as: UTF8.self).prefix(500))") }
        return (payloads.map { $0.map { $0.map(ReceivedSpan.init) } }, errors)
    }

    /// Runs Python `code` (written to a temporary script) like `PythonScript.run`. Needs no agent.
    static func python(code: String, input: Data) throws -> Data {
        let script = FileManager.default.temporaryDirectory
            .appendingPathComponent("ddtrace-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).py")
        try Data(code.utf8).write(to: script)
        defer { try? FileManager.default.removeItem(at: script) }
        return try PythonScript.run(script.path, input: input)
    }

    /// Failed checks for a session (empty when all passed).
    func checkFailures(_ token: String) throws -> String {
        let response = try get("/test/trace_check/failures?test_session_token=\(token)")
        return response.status == 200 ? "" : String(decoding: response.body, as: UTF8.self)
    }

    /// A tracer that reports to this agent under session `token`.
    func tracer(
        token: String, unixSocket: Bool, staleTraceTimeout: Duration = Flusher.defaultStaleTraceTimeout,
        configure: (inout DDTracerConfiguration) -> Void = { _ in }
    ) throws -> DDTracer {
        try startSession(token)
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.agentURL = unixSocket ? unixURL : tcpURL
        configuration.service = "swift-test"
        configuration.env = "ci"
        configuration.version = "1.2.3"
        configuration.strict = true
        configure(&configuration)
        return try DDTracer(
            configuration: configuration, additionalHeaders: [("X-Datadog-Test-Session-Token", token)],
            staleTraceTimeout: staleTraceTimeout)
    }
}

/// A span as the test agent decoded it.
struct ReceivedSpan {
    let raw: [String: Any]
    init(_ raw: [String: Any]) { self.raw = raw }

    var name: String { raw["name"] as? String ?? "" }
    var service: String { raw["service"] as? String ?? "" }
    var resource: String { raw["resource"] as? String ?? "" }
    var type: String { raw["type"] as? String ?? "" }
    var traceId: UInt64 { (raw["trace_id"] as? NSNumber)?.uint64Value ?? 0 }
    var spanId: UInt64 { (raw["span_id"] as? NSNumber)?.uint64Value ?? 0 }
    var parentId: UInt64 { (raw["parent_id"] as? NSNumber)?.uint64Value ?? 0 }
    var start: Int64 { (raw["start"] as? NSNumber)?.int64Value ?? 0 }
    var duration: Int64 { (raw["duration"] as? NSNumber)?.int64Value ?? 0 }
    var error: Int { (raw["error"] as? NSNumber)?.intValue ?? -1 }
    var meta: [String: String] { raw["meta"] as? [String: String] ?? [:] }
    var metrics: [String: Double] {
        (raw["metrics"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
}

/// A unique session token per test.
func sessionToken(_ name: String = #function) -> String {
    let cleaned = name.filter { $0.isLetter || $0.isNumber }
    return "\(cleaned.prefix(40))-\(UInt32.random(in: 0...UInt32.max))"
}
