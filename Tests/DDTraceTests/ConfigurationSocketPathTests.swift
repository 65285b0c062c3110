import Testing

@testable import DDTrace

@Suite("Unix socket paths")
struct ConfigurationSocketPathTests {
    @Test("a unix socket path too long for sockaddr_un is a diagnostic and the next source is used")
    func tooLongSocketPath() throws {
        let path = "/" + String(repeating: "a", count: 120)
        let configuration = DDTracerConfiguration(environment: ["DD_TRACE_AGENT_URL": "unix://\(path)"])
        let resolved = try configuration.resolve(socketExists: { _ in false })
        #expect(resolved.agent == .tcp(host: "localhost", port: 8126))
        let diagnostic = try #require(resolved.diagnostics.first { $0.source == "DD_TRACE_AGENT_URL" })
        #expect(diagnostic.message.contains("107 bytes"))
    }

    @Test("an unusable endpoint makes requests fail with an error instead of crashing")
    func unusableEndpoint() {
        let client = AgentClient(
            endpoint: .unix(path: "/" + String(repeating: "b", count: 200)), timeoutMilliseconds: 100, tryIOUring: false)
        guard case .failure(.unusableEndpoint) = client.get("/info") else {
            Issue.record("expected an unusable-endpoint failure")
            return
        }
    }
}
