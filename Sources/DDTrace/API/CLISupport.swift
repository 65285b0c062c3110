// What `dd-trace info` needs from the library and the public API does not give: the effective value and source of
// every environment variable, every diagnostic, and a one-shot `GET /info` against the configured agent.
// Everything here is `@_spi(CLI)`: import it with `@_spi(CLI) import DDTrace`. It is not part of the supported API.

import Foundation

/// The tracer's configuration as resolved from an environment, for display.
@_spi(CLI) public struct DDConfigurationReport: Sendable {
    /// One environment variable: its effective value and where that came from.
    public struct Entry: Sendable, Equatable {
        public let name: String
        /// The value from the environment, else the documented default.
        public let value: String
        /// `env` when the variable is set (non-blank), `default` otherwise.
        public let source: String
        public let summary: String
    }

    /// Every variable the tracer reads: the core registry, then the propagation, sampling and integration variables.
    public let entries: [Entry]
    /// Every invalid value, with what is used instead (or why the configuration is rejected).
    public let diagnostics: [DDConfigurationDiagnostic]
    /// Whether the configuration is rejected as a whole (an https agent URL in code), not only corrected.
    public let isRejected: Bool
    /// Header styles written on outgoing requests, in the configured order.
    public let injectStyles: [DDPropagationStyle]
    /// Header styles read from incoming requests, first match first.
    public let extractStyles: [DDPropagationStyle]
    /// `DD_TRACE_PROPAGATION_EXTRACT_FIRST`.
    public let extractFirst: Bool
    /// The agent address in URL form, nil when the configuration is rejected.
    public let agentURL: String?
    let endpoint: AgentEndpoint?
    let timeoutMilliseconds: Int

    /// Resolves `environment` exactly as `DDTracer(configuration: DDTracerConfiguration(environment:))` would.
    public init(environment: [String: String]) {
        entries = Self.entries(environment)
        let propagator = DDHTTPPropagator(environment: environment)
        let integrations = DDIntegrationSettings(environment: environment)
        let sampling = SamplingConfiguration(environment: environment)
        // The same order as DDTracer.configurationDiagnostics.
        let components = propagator.diagnostics + integrations.diagnostics + sampling.diagnostics
        injectStyles = propagator.injectStyles
        extractStyles = propagator.extractStyles
        extractFirst = propagator.extractFirst
        do {
            let resolved = try DDTracerConfiguration(environment: environment).resolve()
            diagnostics = resolved.diagnostics + components
            isRejected = false
            endpoint = resolved.agent
            timeoutMilliseconds = resolved.agentTimeoutMilliseconds
        } catch {
            diagnostics = error.diagnostics + components
            isRejected = true
            endpoint = nil
            timeoutMilliseconds = 0
        }
        agentURL = endpoint?.description
    }

    private static func entries(_ environment: [String: String]) -> [Entry] {
        func entry(_ name: String, _ defaultValue: String, _ summary: String) -> Entry {
            let raw = ConfigurationResolver.nonBlank(environment[name])
            return Entry(name: name, value: raw ?? defaultValue, source: raw == nil ? "default" : "env", summary: summary)
        }
        return EnvironmentVariable.allCases.map { entry($0.name, $0.defaultValue, $0.summary) }
            + PropagationVariable.allCases.map { entry($0.name, $0.defaultValue, $0.summary) }
            + SamplingVariable.allCases.map { entry($0.name, $0.defaultValue, $0.summary) }
            + IntegrationVariable.allCases.map { entry($0.name, $0.defaultValue, $0.summary) }
    }

    /// Asks the configured agent for `GET /info` (over plain sockets, within the configured agent timeout).
    public func checkAgent() -> DDAgentCheck {
        guard let endpoint else { return .unreachable("not checked: the configuration is rejected") }
        let client = AgentClient(endpoint: endpoint, timeoutMilliseconds: timeoutMilliseconds, tryIOUring: false)
        switch client.get("/info") {
        case .failure(let error):
            return .unreachable("\(error)")
        case .success(let response) where response.status != 200:
            return .unreachable("GET /info answered HTTP \(response.status)")
        case .success(let response):
            return .reachable(DDAgentInfo(json: response.body))
        }
    }
}

/// The outcome of `DDConfigurationReport.checkAgent()`.
@_spi(CLI) public enum DDAgentCheck: Sendable {
    case reachable(DDAgentInfo)
    /// Why the agent could not be asked (connection error, timeout, an HTTP error status).
    case unreachable(String)
}

/// What the agent's `GET /info` says about itself.
@_spi(CLI) public struct DDAgentInfo: Sendable, Equatable {
    /// The agent's version (`version`), if given.
    public let version: String?
    /// The API endpoints it serves (`endpoints`).
    public let endpoints: [String]
    /// The largest request it accepts (`config.max_request_bytes`), if given.
    public let maxRequestBytes: Int?

    init(json body: [UInt8]) {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        version = object["version"] as? String
        endpoints = object["endpoints"] as? [String] ?? []
        let config = object["config"] as? [String: Any]
        maxRequestBytes = (config?["max_request_bytes"] as? NSNumber)?.intValue
    }
}
