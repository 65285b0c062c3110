import Testing

@testable import DDTrace

/// One invalid environment value and the single diagnostic it must produce.
struct InvalidVariableRow: Sendable, CustomTestStringConvertible {
    let variable: EnvironmentVariable
    let value: String
    let code: DDConfigurationDiagnostic.Code
    let fallback: String
    /// The diagnostic's `value` when it is not the whole variable (one `DD_TAGS` item).
    var reportedValue: String?
    /// Settings that legitimately differ from the defaults (corrections, the valid rest of `DD_TAGS`).
    var changes: [String: String] = [:]

    var testDescription: String { "\(variable.name)=\(value.debugDescription)" }
}

private let defaultAgent = "using the default http://localhost:8126"

private func row(
    _ variable: EnvironmentVariable, _ value: String, _ code: DDConfigurationDiagnostic.Code, _ fallback: String,
    reported: String? = nil, changes: [String: String] = [:]
) -> InvalidVariableRow {
    InvalidVariableRow(
        variable: variable, value: value, code: code, fallback: fallback, reportedValue: reported, changes: changes)
}

@Suite("Configuration: invalid values")
struct ConfigurationInvalidValueTests {
    static let environmentRows: [InvalidVariableRow] = [
        row(.service, "check\nout", .invalidValue, ConfigTest.processNameFallback),
        row(.service, String(repeating: "s", count: 101), .invalidValue, ConfigTest.processNameFallback),
        row(.env, "prod\u{7}", .invalidValue, "leaving it unset"),
        row(.version, String(repeating: "v", count: 201), .invalidValue, "leaving it unset"),
        row(.tags, "novalue", .invalidTag, "skipping this tag"),
        row(.tags, "a:b,:c", .invalidTag, "skipping this tag", reported: ":c", changes: ["globalTags": "a:b"]),
        row(.tags, "team:,a:b", .invalidTag, "skipping this tag", reported: "team:", changes: ["globalTags": "a:b"]),
        row(.traceEnabled, "maybe", .invalidBoolean, "using the default true"),
        row(.traceDebug, "2", .invalidBoolean, "using the default false"),
        row(.agentURL, "localhost:8126", .invalidURL, defaultAgent),
        row(.agentURL, "https://agent:8126", .unsupportedScheme, defaultAgent),
        row(.agentURL, "ftp://agent", .unsupportedScheme, defaultAgent),
        row(.agentURL, "http://::1:8126", .invalidURL, defaultAgent),
        row(.agentURL, "http://[::1", .invalidURL, defaultAgent),
        row(.agentURL, "http://[not-v6]:8126", .invalidURL, defaultAgent),
        row(.agentURL, "http://:8126", .invalidURL, defaultAgent),
        row(.agentURL, "http://agent:0", .invalidURL, defaultAgent),
        row(.agentURL, "http://agent:http", .invalidURL, defaultAgent),
        row(.agentURL, "http://agent:8126/v0.4/traces", .invalidURL, defaultAgent),
        row(.agentURL, "http://user@agent:8126", .invalidURL, defaultAgent),
        row(.agentURL, "unix://relative/apm.socket", .invalidURL, defaultAgent),
        row(.agentHost, "my agent", .invalidValue, defaultAgent),
        row(.agentHost, "http://agent", .invalidValue, defaultAgent),
        row(.agentHost, "-agent", .invalidValue, defaultAgent),
        row(.agentPort, "abc", .invalidNumber, defaultAgent),
        row(.agentPort, "0", .outOfRange, defaultAgent),
        row(.agentPort, "65536", .outOfRange, defaultAgent),
        row(.agentTimeout, "0", .outOfRange, "using the default 2.0"),
        row(.agentTimeout, "-1", .outOfRange, "using the default 2.0"),
        row(.agentTimeout, "3601", .outOfRange, "using the default 2.0"),
        row(.agentTimeout, "fast", .invalidNumber, "using the default 2.0"),
        row(.agentTimeout, "inf", .invalidNumber, "using the default 2.0"),
        row(.agentTimeout, "nan", .invalidNumber, "using the default 2.0"),
        row(.flushInterval, "0.001", .outOfRange, "using the default 1.0"),
        row(.flushInterval, "61", .outOfRange, "using the default 1.0"),
        row(.flushInterval, "1s", .invalidNumber, "using the default 1.0"),
        row(.spanPoolSize, "abc", .invalidNumber, "using the default 16384"),
        row(.spanPoolSize, "4096.0", .invalidNumber, "using the default 16384"),
        row(.spanPoolSize, "63", .outOfRange, "using the default 16384"),
        row(.spanPoolSize, "1048577", .outOfRange, "using the default 16384"),
        row(.ringCapacity, "x", .invalidNumber, "using the default 16384"),
        row(.ringCapacity, "255", .outOfRange, "using the default 16384"),
        row(.ringCapacity, "1048577", .outOfRange, "using the default 16384"),
        row(.ringCapacity, "1000", .notPowerOfTwo, "using 1024", changes: ["ringCapacity": "1024"]),
        row(.ringCapacity, "257", .notPowerOfTwo, "using 512", changes: ["ringCapacity": "512"]),
        row(.maxPayloadSize, "20MB", .invalidNumber, "using the default 20971520"),
        row(.maxPayloadSize, "65535", .outOfRange, "using the default 20971520"),
        row(.maxPayloadSize, "52428801", .outOfRange, "using the default 20971520"),
        row(.bufferSize, "lots", .invalidNumber, "using the default 41943040"),
        row(.bufferSize, "65535", .outOfRange, "using the default 41943040"),
        row(.bufferSize, "4294967297", .outOfRange, "using the default 41943040"),
        row(.bufferSize, "100000", .inconsistent, "using 20971520", changes: ["bufferCapBytes": "20971520"]),
        row(.partialFlushEnabled, "enable", .invalidBoolean, "using the default true"),
        row(.partialFlushMinSpans, "0", .outOfRange, "using the default 300"),
        row(.partialFlushMinSpans, "-5", .outOfRange, "using the default 300"),
        row(.partialFlushMinSpans, "1000001", .outOfRange, "using the default 300"),
        row(.partialFlushMinSpans, "many", .invalidNumber, "using the default 300"),
        row(.ioUringEnabled, "y", .invalidBoolean, "using the default true"),
        row(.apiVersion, "v0.7", .invalidValue, "using the default v0.4"),
        row(.apiVersion, "0.5", .invalidValue, "using the default v0.4"),
        row(.healthMetricsEnabled, "sometimes", .invalidBoolean, "using the default false"),
        row(.dogstatsdURL, "statsd:8125", .invalidURL, "using the agent host and DD_DOGSTATSD_PORT"),
        row(.dogstatsdURL, "http://statsd:8125", .unsupportedScheme, "using the agent host and DD_DOGSTATSD_PORT"),
        row(.dogstatsdURL, "udp://statsd:99999", .invalidURL, "using the agent host and DD_DOGSTATSD_PORT"),
        row(.dogstatsdURL, "udp://stats d", .invalidURL, "using the agent host and DD_DOGSTATSD_PORT"),
        row(.dogstatsdURL, "unix://relative.sock", .invalidURL, "using the agent host and DD_DOGSTATSD_PORT"),
        row(.dogstatsdPort, "0", .outOfRange, "using the default 8125"),
        row(.dogstatsdPort, "statsd", .invalidNumber, "using the default 8125"),
        row(.reportHostname, "hostname", .invalidBoolean, "using the default false"),
    ]

    @Test(arguments: environmentRows)
    func invalidVariableIsReportedAndOtherSettingsAreUnaffected(_ row: InvalidVariableRow) throws {
        let resolved = try ConfigTest.resolve([row.variable.name: row.value])
        let diagnostic = try #require(ConfigTest.only(resolved.diagnostics))
        #expect(diagnostic.code == row.code)
        #expect(diagnostic.source == row.variable.name)
        #expect(diagnostic.value == (row.reportedValue ?? row.value))
        #expect(diagnostic.fallback == row.fallback)
        #expect(diagnostic.allowed == row.variable.allowed)
        var expected = ConfigTest.defaults
        expected.merge(row.changes) { $1 }
        #expect(resolved.fields == expected)
    }

    @Test(arguments: environmentRows)
    func strictModeThrowsForEachInvalidRow(_ row: InvalidVariableRow) {
        let error = #expect(throws: DDConfigurationError.self) {
            try ConfigTest.resolve([row.variable.name: row.value]) { $0.strict = true }
        }
        #expect(error?.diagnostics.map(\.code) == [row.code])
    }

    @Test func everyVariableHasAnInvalidRow() {
        #expect(Set(Self.environmentRows.map(\.variable)) == Set(EnvironmentVariable.allCases))
        ReliabilityReport.record(
            area: "Hostile input", fault: "\(Self.environmentRows.count) invalid values of the \(EnvironmentVariable.allCases.count) "
                + "core environment variables",
            outcome: "one diagnostic each naming the variable, the value, what is allowed and the value used; the "
                + "other settings unchanged; strict mode throws",
            figures: [("rows", "\(Self.environmentRows.count)")])
    }

    @Test func diagnosticDescriptionIsOneReadableLine() throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_SPAN_POOL_SIZE": "abc"])
        let diagnostic = try #require(ConfigTest.only(resolved.diagnostics))
        #expect(
            diagnostic.description
                == "DD_TRACE_SPAN_POOL_SIZE=\"abc\": not an integer; allowed: an integer in 64...1048576; "
                + "using the default 16384")
        let escaped = try ConfigTest.resolve(["DD_ENV": "a\nb"]).diagnostics.first?.description
        #expect(escaped?.contains("\n") == false)
    }

    @Test func allInvalidVariablesAreReportedTogether() throws {
        let environment = [
            "DD_TRACE_ENABLED": "maybe", "DD_TRACE_SPAN_POOL_SIZE": "abc", "DD_TAGS": "a:b,bad",
            "DD_TRACE_AGENT_PORT": "99999",
        ]
        let resolved = try ConfigTest.resolve(environment)
        // Registry order, whatever the order of the dictionary.
        #expect(
            resolved.diagnostics.map(\.source)
                == ["DD_TAGS", "DD_TRACE_ENABLED", "DD_TRACE_AGENT_PORT", "DD_TRACE_SPAN_POOL_SIZE"])
        let error = #expect(throws: DDConfigurationError.self) {
            try ConfigTest.resolve(environment) { $0.strict = true }
        }
        #expect(error?.diagnostics == resolved.diagnostics)
        #expect(error?.description.split(separator: "\n").count == 5)
    }

    @Test func strictModeWithValidValuesDoesNotThrow() throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_RING_CAPACITY": "1024", "DD_ENV": "prod"]) {
            $0.strict = true
        }
        #expect(resolved.ringCapacity == 1_024)
    }
}

/// One invalid programmatic value and the single diagnostic it must produce.
struct InvalidPropertyRow: Sendable, CustomTestStringConvertible {
    let property: String
    let value: String
    let code: DDConfigurationDiagnostic.Code
    let fallback: String
    var changes: [String: String] = [:]
    let configure: @Sendable (inout DDTracerConfiguration) -> Void

    var testDescription: String { "\(property) = \(value)" }
}

@Suite("Configuration: invalid programmatic values")
struct ConfigurationInvalidPropertyTests {
    static let rows: [InvalidPropertyRow] = [
        InvalidPropertyRow(property: "service", value: "a\tb", code: .invalidValue,
                           fallback: ConfigTest.processNameFallback) { $0.service = "a\tb" },
        InvalidPropertyRow(property: "tags", value: ":x", code: .invalidTag, fallback: "skipping this tag") {
            $0.tags = ["": "x"]
        },
        InvalidPropertyRow(property: "hostname", value: "bad host", code: .invalidValue,
                           fallback: "using http://localhost:9000",
                           changes: ["agent": "http://localhost:9000"]) {
            $0.hostname = "bad host"
            $0.port = 9000
        },
        InvalidPropertyRow(property: "port", value: "0", code: .outOfRange,
                           fallback: "using http://agent:8126",
                           changes: ["agent": "http://agent:8126"]) {
            $0.hostname = "agent"
            $0.port = 0
        },
        InvalidPropertyRow(property: "unixSocketPath", value: "apm.socket", code: .invalidValue,
                           fallback: defaultAgent) { $0.unixSocketPath = "apm.socket" },
        InvalidPropertyRow(property: "agentURL", value: "agent:8126", code: .invalidURL,
                           fallback: defaultAgent) { $0.agentURL = "agent:8126" },
        InvalidPropertyRow(property: "agentTimeout", value: "0.0 seconds", code: .outOfRange,
                           fallback: "using the default 2.0") { $0.agentTimeout = .zero },
        InvalidPropertyRow(property: "flushInterval", value: "0.005 seconds", code: .outOfRange,
                           fallback: "using the default 1.0") { $0.flushInterval = .milliseconds(5) },
        InvalidPropertyRow(property: "spanPoolSize", value: "10", code: .outOfRange,
                           fallback: "using the default 16384") { $0.spanPoolSize = 10 },
        InvalidPropertyRow(property: "ringCapacity", value: "3000", code: .notPowerOfTwo, fallback: "using 4096",
                           changes: ["ringCapacity": "4096"]) { $0.ringCapacity = 3000 },
        InvalidPropertyRow(property: "maxPayloadSize", value: "1", code: .outOfRange,
                           fallback: "using the default 20971520") { $0.maxPayloadSize = 1 },
        InvalidPropertyRow(property: "bufferSize", value: "65536", code: .inconsistent, fallback: "using 20971520",
                           changes: ["bufferCapBytes": "20971520"]) { $0.bufferSize = 65_536 },
        InvalidPropertyRow(property: "partialFlushMinSpans", value: "0", code: .outOfRange,
                           fallback: "using the default 300") { $0.partialFlushMinSpans = 0 },
    ]

    @Test(arguments: rows)
    func invalidPropertyIsReportedUnderItsOwnName(_ row: InvalidPropertyRow) throws {
        let resolved = try ConfigTest.resolve([:], row.configure)
        let diagnostic = try #require(ConfigTest.only(resolved.diagnostics))
        #expect(diagnostic.code == row.code)
        #expect(diagnostic.source == row.property)
        #expect(diagnostic.value == row.value)
        #expect(diagnostic.fallback == row.fallback)
        var expected = ConfigTest.defaults
        expected.merge(row.changes) { $1 }
        #expect(resolved.fields == expected)
    }
}
