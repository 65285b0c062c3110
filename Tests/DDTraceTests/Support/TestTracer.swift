// The tracer the agent-fault, reliability and health-metrics tests use against their stand-in agents.

@testable import DDTrace

/// A tracer sending to `agentURL` with a strict configuration (a bad setting fails the test) and a short flush
/// interval, so that tests about sending do not wait for the default second.
func makeTestTracer(
    agentURL: String, service: String, flushInterval: Duration = .milliseconds(100),
    configure: (inout DDTracerConfiguration) -> Void = { _ in }
) throws -> DDTracer {
    var configuration = DDTracerConfiguration(environment: [:])
    configuration.agentURL = agentURL
    configuration.service = service
    configuration.strict = true
    configuration.flushInterval = flushInterval
    configure(&configuration)
    return try DDTracer(configuration: configuration)
}
