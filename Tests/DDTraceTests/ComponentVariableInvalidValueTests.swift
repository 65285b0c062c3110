// Every environment variable outside the core registry (propagation, sampling, integrations) has invalid-value
// rows too: each produces one diagnostic naming the variable and the value, with the allowed values and what is
// used instead, and strict mode refuses it.

import Testing

@testable import DDTrace

struct ComponentInvalidRow: Sendable, CustomTestStringConvertible {
    let variable: String
    let value: String
    /// A fragment the diagnostic's fallback must contain.
    let fallback: String

    var testDescription: String { "\(variable)=\(value.debugDescription)" }
}

private func row(_ variable: String, _ value: String, _ fallback: String) -> ComponentInvalidRow {
    ComponentInvalidRow(variable: variable, value: value, fallback: fallback)
}

@Suite("Configuration: invalid propagation, sampling and integration values")
struct ComponentVariableInvalidValueTests {
    static let rows: [ComponentInvalidRow] = [
        row("DD_TRACE_PROPAGATION_STYLE", "zipkin", ""),
        row("DD_TRACE_PROPAGATION_STYLE_INJECT", "datadog,w3c-nope", ""),
        row("DD_TRACE_PROPAGATION_STYLE_EXTRACT", "b4", ""),
        row("DD_TRACE_PROPAGATION_EXTRACT_FIRST", "perhaps", ""),
        row("DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH", "-1", ""),
        row("DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH", "big", ""),
        row("DD_TRACE_SAMPLING_RULES", "[{\"sample_rate\": 2}]", ""),
        row("DD_TRACE_SAMPLING_RULES", "not json", ""),
        row("DD_TRACE_SAMPLE_RATE", "half", ""),
        row("DD_TRACE_SAMPLE_RATE", "1.5", ""),
        row("DD_TRACE_RATE_LIMIT", "fast", ""),
        row("DD_SPAN_SAMPLING_RULES", "{\"service\": 1}", ""),
        row("DD_LOGS_INJECTION", "sometimes", ""),
        row("DD_TRACE_HEADER_TAGS", "x(id):tag", ""),
        row("DD_HTTP_SERVER_TAG_QUERY_STRING", "maybe", ""),
        row("DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING", "2", ""),
        row("DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP", "([unclosed", ""),
        row("DD_TRACE_HTTP_SERVER_ERROR_STATUSES", "500-abc", ""),
        row("DD_TRACE_HTTP_CLIENT_ERROR_STATUSES", "700", ""),
    ]

    /// What each component reports for an environment.
    static func diagnostics(_ environment: [String: String]) -> [DDConfigurationDiagnostic] {
        DDHTTPPropagator(environment: environment).diagnostics
            + DDIntegrationSettings(environment: environment).diagnostics
            + SamplingConfiguration(environment: environment).diagnostics
    }

    @Test(arguments: rows)
    func invalidValueIsReported(_ row: ComponentInvalidRow) throws {
        let diagnostics = Self.diagnostics([row.variable: row.value])
        let diagnostic = try #require(diagnostics.first, "no diagnostic for \(row.variable)=\(row.value)")
        #expect(diagnostics.count == 1, "\(diagnostics)")
        #expect(diagnostic.source == row.variable)
        #expect(row.value.contains(diagnostic.value) || diagnostic.value.contains(row.value.prefix(20)))
        #expect(!diagnostic.allowed.isEmpty)
        #expect(!diagnostic.fallback.isEmpty)
        #expect(row.fallback.isEmpty || diagnostic.fallback.contains(row.fallback))
        #expect(!diagnostic.description.contains("\n"))
    }

    @Test(arguments: rows)
    func strictModeRefusesIt(_ row: ComponentInvalidRow) {
        var configuration = DDTracerConfiguration(environment: [row.variable: row.value])
        configuration.strict = true
        configuration.enabled = false
        #expect(throws: DDConfigurationError.self) { _ = try DDTracer(configuration: configuration) }
    }

    @Test func everyComponentVariableHasARow() {
        let variables = Set(
            PropagationVariable.allCases.map(\.rawValue) + SamplingVariable.allCases.map(\.rawValue)
                + IntegrationVariable.allCases.map(\.rawValue))
        #expect(Set(Self.rows.map(\.variable)) == variables)
        ReliabilityReport.record(
            area: "Hostile input", fault: "\(Self.rows.count) invalid values of the \(variables.count) propagation, sampling "
                + "and integration variables",
            outcome: "one diagnostic each naming the variable and value, with the allowed values and the fallback; "
                + "strict mode refuses the configuration",
            figures: [("rows", "\(Self.rows.count)")])
    }
}
