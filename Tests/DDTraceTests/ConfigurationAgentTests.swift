import Testing

@testable import DDTrace

@Suite("Configuration: agent endpoint")
struct ConfigurationAgentTests {
    private static let socket = AgentEndpoint.unix(path: "/var/run/datadog/apm.socket")

    // MARK: Resolution order: URL > host/port > socket if it exists > default

    @Test func defaultsToLocalhostWithoutSocket() throws {
        #expect(try ConfigTest.resolve(socketExists: false).agent == .tcp(host: "localhost", port: 8126))
    }

    @Test func usesTheDefaultSocketWhenItExists() throws {
        let checked = PathRecorder()
        let resolved = try DDTracerConfiguration(environment: [:]).resolve { checked.record($0) }
        #expect(resolved.agent == Self.socket)
        #expect(resolved.agent.description == "unix:///var/run/datadog/apm.socket")
        #expect(checked.paths == ["/var/run/datadog/apm.socket"])
    }

    @Test(arguments: [["DD_AGENT_HOST": "agent"], ["DD_TRACE_AGENT_PORT": "8126"]])
    func hostOrPortWinsOverTheSocket(_ environment: [String: String]) throws {
        let resolved = try ConfigTest.resolve(environment, socketExists: true)
        #expect(resolved.agent != Self.socket)
    }

    @Test func hostAndPortCombine() throws {
        let resolved = try ConfigTest.resolve(["DD_AGENT_HOST": "agent", "DD_TRACE_AGENT_PORT": "9000"])
        #expect(resolved.agent == .tcp(host: "agent", port: 9000))
        #expect(resolved.agent.description == "http://agent:9000")
    }

    @Test func urlWinsOverHostPortAndSocket() throws {
        let environment = [
            "DD_TRACE_AGENT_URL": "http://url-agent:1234", "DD_AGENT_HOST": "host-agent", "DD_TRACE_AGENT_PORT": "1",
        ]
        let resolved = try ConfigTest.resolve(environment, socketExists: true)
        #expect(resolved.agent == .tcp(host: "url-agent", port: 1234))
        #expect(resolved.diagnostics.isEmpty)
    }

    @Test func socketIsNotCheckedWhenAnAddressIsConfigured() throws {
        let checked = PathRecorder()
        _ = try DDTracerConfiguration(environment: ["DD_AGENT_HOST": "agent"]).resolve { checked.record($0) }
        #expect(checked.paths.isEmpty)
    }

    // MARK: URL forms

    @Test(arguments: [
        ("http://agent:8126", AgentEndpoint.tcp(host: "agent", port: 8126)),
        ("HTTP://Agent:9000/", .tcp(host: "Agent", port: 9000)),
        ("http://agent", .tcp(host: "agent", port: 8126)),
        ("http://10.0.0.7:8126", .tcp(host: "10.0.0.7", port: 8126)),
        ("http://[::1]:8126", .tcp(host: "::1", port: 8126)),
        ("http://[2001:db8::7]", .tcp(host: "2001:db8::7", port: 8126)),
        ("unix:///var/run/datadog/apm.socket", .unix(path: "/var/run/datadog/apm.socket")),
        ("unix:///tmp/apm.sock", .unix(path: "/tmp/apm.sock")),
    ])
    func urlForms(_ url: String, _ endpoint: AgentEndpoint) throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_AGENT_URL": url])
        #expect(resolved.agent == endpoint)
        #expect(resolved.diagnostics.isEmpty)
    }

    @Test(arguments: [
        (AgentEndpoint.tcp(host: "localhost", port: 8126), "http://localhost:8126"),
        (.tcp(host: "::1", port: 8126), "http://[::1]:8126"),
        (.tcp(host: "2001:db8::7", port: 9000), "http://[2001:db8::7]:9000"),
        (.unix(path: "/var/run/datadog/apm.socket"), "unix:///var/run/datadog/apm.socket"),
    ])
    func endpointDescriptionIsTheURLForm(_ endpoint: AgentEndpoint, _ url: String) {
        #expect(endpoint.description == url)
    }

    @Test(arguments: ["::1", "[::1]", "fe80::1:2", "::ffff:10.0.0.1"])
    func ipv6Hosts(_ host: String) throws {
        let resolved = try ConfigTest.resolve(["DD_AGENT_HOST": host, "DD_TRACE_AGENT_PORT": "9000"])
        let bare = host.filter { $0 != "[" && $0 != "]" }
        #expect(resolved.agent == .tcp(host: bare, port: 9000))
        #expect(resolved.agent.description == "http://[\(bare)]:9000")
        #expect(resolved.diagnostics.isEmpty)
    }

    // MARK: https

    @Test func httpsURLFromTheEnvironmentFallsThroughWithADiagnostic() throws {
        let environment = ["DD_TRACE_AGENT_URL": "https://agent:8126", "DD_AGENT_HOST": "fallback-agent"]
        let resolved = try ConfigTest.resolve(environment, socketExists: true)
        #expect(resolved.agent == .tcp(host: "fallback-agent", port: 8126))
        let diagnostic = try #require(ConfigTest.only(resolved.diagnostics))
        #expect(diagnostic.code == .unsupportedScheme)
        #expect(diagnostic.source == "DD_TRACE_AGENT_URL")
        #expect(diagnostic.message == "https is not supported by this tracer; use http:// or unix://")
        #expect(diagnostic.fallback == "using http://fallback-agent:8126 from DD_AGENT_HOST/DD_TRACE_AGENT_PORT")
    }

    @Test func httpsURLFromTheEnvironmentFallsThroughToTheSocket() throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_AGENT_URL": "https://agent"], socketExists: true)
        #expect(resolved.agent == Self.socket)
        #expect(
            resolved.diagnostics.first?.fallback
                == "using unix:///var/run/datadog/apm.socket (/var/run/datadog/apm.socket exists)")
    }

    @Test func httpsURLFromTheEnvironmentThrowsInStrictMode() {
        let error = #expect(throws: DDConfigurationError.self) {
            try ConfigTest.resolve(["DD_TRACE_AGENT_URL": "https://agent"]) { $0.strict = true }
        }
        #expect(error?.diagnostics.map(\.code) == [.unsupportedScheme])
    }

    @Test func programmaticHTTPSFlagAlwaysThrows() {
        let error = #expect(throws: DDConfigurationError.self) {
            try ConfigTest.resolve { $0.https = true }
        }
        let diagnostic = error?.diagnostics.first
        #expect(diagnostic?.source == "https")
        #expect(diagnostic?.message == "https is not supported by this tracer; use http:// or unix://")
        #expect(error?.description.contains("https is not supported by this tracer; use http:// or unix://") == true)
    }

    @Test func programmaticHTTPSURLAlwaysThrows() {
        let error = #expect(throws: DDConfigurationError.self) {
            try ConfigTest.resolve(["DD_TRACE_ENABLED": "maybe"]) { $0.agentURL = "HTTPS://agent:8126" }
        }
        // The error lists everything found, not only the https problem.
        #expect(error?.diagnostics.map(\.source) == ["DD_TRACE_ENABLED", "agentURL"])
        #expect(error?.diagnostics.last?.code == .unsupportedScheme)
        #expect(error?.diagnostics.last?.fallback == "rejecting the configuration")
    }

    @Test func httpsFalseIsAccepted() throws {
        let resolved = try ConfigTest.resolve { $0.https = false }
        #expect(resolved.diagnostics.isEmpty)
    }

    // MARK: Programmatic address

    @Test func programmaticURLWinsOverEverything() throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_AGENT_URL": "http://env:1"], socketExists: true) {
            $0.agentURL = "unix:///run/agent.sock"
            $0.unixSocketPath = "/other.sock"
            $0.hostname = "code-host"
        }
        #expect(resolved.agent == .unix(path: "/run/agent.sock"))
    }

    @Test func programmaticSocketPathWinsOverHostAndEnvironment() throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_AGENT_URL": "http://env:1"]) {
            $0.unixSocketPath = "/run/agent.sock"
            $0.hostname = "code-host"
        }
        #expect(resolved.agent == .unix(path: "/run/agent.sock"))
    }

    @Test func programmaticHostnameWinsOverTheEnvironmentURL() throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_AGENT_URL": "http://env:1"]) { $0.hostname = "code-host" }
        #expect(resolved.agent == .tcp(host: "code-host", port: 8126))
    }

    @Test func programmaticPartsCombineWithTheEnvironment() throws {
        let environment = ["DD_AGENT_HOST": "env-host", "DD_TRACE_AGENT_PORT": "9000"]
        #expect(try ConfigTest.resolve(environment) { $0.port = 7000 }.agent == .tcp(host: "env-host", port: 7000))
        #expect(
            try ConfigTest.resolve(environment) { $0.hostname = "[::1]" }.agent == .tcp(host: "::1", port: 9000))
    }

    @Test func invalidHostFromTheEnvironmentFallsThroughToTheSocket() throws {
        let resolved = try ConfigTest.resolve(["DD_AGENT_HOST": "not a host"], socketExists: true)
        #expect(resolved.agent == Self.socket)
        #expect(resolved.diagnostics.map(\.code) == [.invalidValue])
    }

    @Test func invalidPortKeepsAValidHost() throws {
        let resolved = try ConfigTest.resolve(["DD_AGENT_HOST": "agent", "DD_TRACE_AGENT_PORT": "http"])
        #expect(resolved.agent == .tcp(host: "agent", port: 8126))
        #expect(resolved.diagnostics.first?.fallback == "using http://agent:8126")
    }
}

/// Records the paths a socket check was asked about; the check runs synchronously inside `resolve`.
private final class PathRecorder {
    private(set) var paths: [String] = []

    func record(_ path: String) -> Bool {
        paths.append(path)
        return true
    }
}
