// `dd-trace info`: like `ddtrace-run --info`, prints the tracer configuration the environment gives, every invalid
// value, the propagation styles, and whether the agent answers.

import ArgumentParser
@_spi(CLI) import DDTrace
import Foundation

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the tracer configuration from the environment and check the agent connection.",
        discussion: """
            Every DD_* variable the tracer reads is listed with its effective value and its source (env or \
            default), then every invalid value with what is used instead, the propagation styles, and the answer \
            of the agent's GET /info (version, endpoints, config.max_request_bytes).

            Exit status: 0 when the configuration is valid and the agent answers; 1 when the agent cannot be \
            reached; 2 when the configuration has invalid values (whether or not the agent answers).
            """
    )

    /// The documented exit statuses.
    enum Status: Int32 {
        case ok = 0
        case agentUnreachable = 1
        case invalidConfiguration = 2
    }

    func run() throws {
        let report = DDConfigurationReport(environment: ProcessInfo.processInfo.environment)
        let check = report.checkAgent()
        print(Self.render(report, check), terminator: "")
        let status = Self.status(report, check)
        if status != .ok { throw ExitCode(status.rawValue) }
    }

    /// Invalid configuration wins over an unreachable agent: it is the first thing to fix.
    static func status(_ report: DDConfigurationReport, _ check: DDAgentCheck) -> Status {
        if !report.diagnostics.isEmpty { return .invalidConfiguration }
        if case .unreachable = check { return .agentUnreachable }
        return .ok
    }

    static func render(_ report: DDConfigurationReport, _ check: DDAgentCheck) -> String {
        var out = "dd-trace \(DDTraceVersion.current) (Swift \(DDTraceVersion.swiftLanguageVersion))\n\n"
        out += configurationSection(report)
        out += diagnosticsSection(report)
        out += propagationSection(report)
        out += agentSection(report, check)
        let status = status(report, check)
        out += "\nStatus: \(status.rawValue) (\(describe(status)))\n"
        return out
    }

    private static func configurationSection(_ report: DDConfigurationReport) -> String {
        let width = report.entries.map(\.name.count).max() ?? 0
        var out = "Configuration:\n"
        for entry in report.entries {
            let name = entry.name.padding(toLength: width, withPad: " ", startingAt: 0)
            out += "  \(name)  \(entry.value.debugDescription)  (\(entry.source))\n"
        }
        return out + "\n"
    }

    private static func diagnosticsSection(_ report: DDConfigurationReport) -> String {
        guard !report.diagnostics.isEmpty else { return "Invalid values: none\n\n" }
        var out = "Invalid values (\(report.diagnostics.count)):\n"
        for diagnostic in report.diagnostics { out += "  \(diagnostic)\n" }
        if report.isRejected { out += "  The configuration is rejected: the tracer cannot be created with it.\n" }
        return out + "\n"
    }

    private static func propagationSection(_ report: DDConfigurationReport) -> String {
        func styles(_ list: [DDPropagationStyle]) -> String {
            list.isEmpty ? "none" : list.map(\.rawValue).joined(separator: ",")
        }
        return "Propagation:\n  inject:  \(styles(report.injectStyles))\n"
            + "  extract: \(styles(report.extractStyles))\(report.extractFirst ? " (first style found only)" : "")\n\n"
    }

    private static func agentSection(_ report: DDConfigurationReport, _ check: DDAgentCheck) -> String {
        var out = "Agent: \(report.agentURL ?? "none")\n"
        switch check {
        case .unreachable(let reason):
            out += "  unreachable: \(reason)\n"
        case .reachable(let info):
            out += "  reachable: version \(info.version ?? "unknown")\n"
            out += "  endpoints: \(info.endpoints.isEmpty ? "none listed" : info.endpoints.joined(separator: ", "))\n"
            out += "  max request bytes: \(info.maxRequestBytes.map(String.init) ?? "not given")\n"
        }
        return out
    }

    private static func describe(_ status: Status) -> String {
        switch status {
        case .ok: "configuration valid, agent reachable"
        case .agentUnreachable: "agent unreachable"
        case .invalidConfiguration: "invalid configuration values"
        }
    }
}
