// `dd-trace info`: the report the command prints (DDConfigurationReport, tested directly), and the built
// executable run against the test agent for its output and exit codes (0 valid and reachable, 1 agent
// unreachable, 2 invalid configuration).

import Foundation
import Testing

@_spi(CLI) @testable import DDTrace

@Suite("CLI: dd-trace info")
struct CLIInfoTests {
    @Test func reportListsEveryVariableWithItsSource() {
        let report = DDConfigurationReport(environment: ["DD_SERVICE": "checkout", "DD_ENV": "  "])
        let names = report.entries.map(\.name)
        #expect(names.count == EnvironmentVariable.allCases.count + PropagationVariable.allCases.count
            + SamplingVariable.allCases.count + IntegrationVariable.allCases.count)
        #expect(
            Set(names).isSuperset(of: [
                "DD_SERVICE", "DD_TRACE_PROPAGATION_STYLE", "DD_TRACE_SAMPLING_RULES", "DD_TRACE_HEADER_TAGS",
            ]))
        let service = report.entries.first { $0.name == "DD_SERVICE" }
        #expect(service?.value == "checkout" && service?.source == "env")
        let env = report.entries.first { $0.name == "DD_ENV" }
        #expect(env?.source == "default", "blank counts as unset")
        #expect(report.diagnostics.isEmpty)
        #expect(report.injectStyles == [.datadog, .tracecontext, .baggage])
    }

    @Test func reportCollectsDiagnosticsOfEveryComponent() {
        let report = DDConfigurationReport(environment: [
            "DD_TRACE_SPAN_POOL_SIZE": "abc", "DD_TRACE_PROPAGATION_STYLE": "bogus",
            "DD_TRACE_HTTP_SERVER_ERROR_STATUSES": "5xx", "DD_TRACE_SAMPLE_RATE": "2",
        ])
        #expect(
            report.diagnostics.map(\.source)
                == [
                    "DD_TRACE_SPAN_POOL_SIZE", "DD_TRACE_PROPAGATION_STYLE", "DD_TRACE_HTTP_SERVER_ERROR_STATUSES",
                    "DD_TRACE_SAMPLE_RATE",
                ])
        #expect(!report.isRejected)
        let rejected = DDConfigurationReport(environment: ["DD_TRACE_AGENT_URL": "https://agent:8126"])
        #expect(rejected.diagnostics.first?.code == .unsupportedScheme)
        #expect(rejected.agentURL == "http://localhost:8126", "https in the environment falls back, it is not fatal")
    }

    @Test func agentCheckReadsInfo() throws {
        let agent = try TestAgent.shared()
        let report = DDConfigurationReport(environment: ["DD_TRACE_AGENT_URL": agent.tcpURL])
        guard case .reachable(let info) = report.checkAgent() else {
            Issue.record("the test agent did not answer")
            return
        }
        #expect(info.endpoints.contains("/v0.4/traces"))
        let unreachable = DDConfigurationReport(
            environment: ["DD_TRACE_AGENT_URL": "http://127.0.0.1:\(TestAgent.freePort())"])
        guard case .unreachable(let reason) = unreachable.checkAgent() else {
            Issue.record("a closed port answered")
            return
        }
        #expect(reason.contains("refused"))
    }

    // MARK: The executable

    /// The `dd-trace` executable built next to the test bundle (`swift build --build-tests` builds it).
    static var executable: URL? {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [directory, directory.deletingLastPathComponent()].map { $0.appendingPathComponent("dd-trace") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    func runInfo(_ environment: [String: String]) throws -> (status: Int32, output: String) {
        let executable = try #require(Self.executable, "dd-trace not built next to \(CommandLine.arguments[0])")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["info"]
        var base = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("DD_") }
        base.merge(environment) { $1 }
        process.environment = base
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func validConfigurationAndReachableAgentExitZero() throws {
        let agent = try TestAgent.shared()
        let (status, output) = try runInfo(["DD_TRACE_AGENT_URL": agent.tcpURL, "DD_SERVICE": "cli-test"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("DD_SERVICE"))
        #expect(output.contains("\"cli-test\"  (env)"))
        #expect(output.contains("DD_TRACE_SPAN_POOL_SIZE"))
        #expect(output.contains("\"16384\"  (default)"))
        #expect(output.contains("Invalid values: none"))
        #expect(output.contains("inject:  datadog,tracecontext,baggage"))
        #expect(output.contains("Agent: \(agent.tcpURL)"))
        #expect(output.contains("reachable: version"))
        #expect(output.contains("/v0.4/traces"))
        #expect(output.contains("Status: 0"))
    }

    @Test func unreachableAgentExitsOne() throws {
        let (status, output) = try runInfo(["DD_TRACE_AGENT_URL": "http://127.0.0.1:\(TestAgent.freePort())"])
        #expect(status == 1, "\(output)")
        #expect(output.contains("unreachable: connection refused"))
    }

    @Test func invalidValuesExitTwo() throws {
        let agent = try TestAgent.shared()
        let (status, output) = try runInfo([
            "DD_TRACE_AGENT_URL": agent.tcpURL, "DD_TRACE_SPAN_POOL_SIZE": "abc", "DD_TRACE_HEADER_TAGS": "x-a,:tag",
        ])
        #expect(status == 2, "\(output)")
        #expect(output.contains("Invalid values (2):"))
        #expect(output.contains(#"DD_TRACE_SPAN_POOL_SIZE="abc": not an integer"#))
        #expect(output.contains("DD_TRACE_HEADER_TAGS"))
        #expect(output.contains("reachable: version"), "the agent is still checked")
    }
}
