import Testing

@testable import DDTrace

/// Shared helpers for the Configuration*Tests files.
enum ConfigTest {
    /// Resolves with an explicit environment (never the process's) and a fake socket check.
    static func resolve(
        _ environment: [String: String] = [:], socketExists: Bool = false,
        _ configure: (inout DDTracerConfiguration) -> Void = { _ in }
    ) throws(DDConfigurationError) -> ResolvedConfiguration {
        var configuration = DDTracerConfiguration(environment: environment)
        configure(&configuration)
        return try configuration.resolve { _ in socketExists }
    }

    /// The resolved configuration with an empty environment.
    static let defaults: [String: String] = {
        do { return try resolve().fields } catch { fatalError("defaults must resolve: \(error)") }
    }()

    /// The single element, or nil when there are none or several.
    static func only<Element>(_ elements: [Element]) -> Element? {
        elements.count == 1 ? elements.first : nil
    }

    static let processNameFallback = "using the process name \"\(ConfigurationResolver.processName)\""
}

extension ResolvedConfiguration {
    /// Every setting as text, so tests can assert that a change touched only the expected fields.
    var fields: [String: String] {
        [
            "service": service, "env": env ?? "nil", "version": version ?? "nil",
            "globalTags": globalTags.map { "\($0.key):\($0.value)" }.joined(separator: ","),
            "enabled": "\(enabled)", "debug": "\(debug)", "agent": "\(agent)",
            "agentTimeoutMilliseconds": "\(agentTimeoutMilliseconds)",
            "flushIntervalNanoseconds": "\(flushIntervalNanoseconds)",
            "spanPoolSize": "\(spanPoolSize)", "ringCapacity": "\(ringCapacity)",
            "maxPayloadBytes": "\(maxPayloadBytes)", "bufferCapBytes": "\(bufferCapBytes)",
            "partialFlushEnabled": "\(partialFlushEnabled)", "partialFlushMinSpans": "\(partialFlushMinSpans)",
            "ioUringEnabled": "\(ioUringEnabled)", "apiVersion": "\(apiVersion)",
            "healthMetricsEnabled": "\(healthMetricsEnabled)", "dogstatsdURL": "\(dogstatsdURL.map(String.init(describing:)) ?? "nil")", "dogstatsdPort": "\(dogstatsdPort)",
            "reportHostname": "\(reportHostname)",
        ]
    }
}

@Suite("Configuration: defaults and valid values")
struct ConfigurationTests {
    @Test func defaultsWithAnEmptyEnvironment() throws {
        let resolved = try ConfigTest.resolve()
        #expect(resolved.diagnostics.isEmpty)
        #expect(resolved.service == ConfigurationResolver.processName)
        #expect(resolved.env == nil)
        #expect(resolved.version == nil)
        #expect(resolved.globalTags.isEmpty)
        #expect(resolved.enabled)
        #expect(!resolved.debug)
        #expect(resolved.agent == .tcp(host: "localhost", port: 8126))
        #expect(resolved.agentTimeoutMilliseconds == 2_000)
        #expect(resolved.flushIntervalNanoseconds == 1_000_000_000)
        #expect(resolved.spanPoolSize == 16_384)
        #expect(resolved.ringCapacity == 16_384)
        #expect(resolved.maxPayloadBytes == 20_971_520)
        #expect(resolved.bufferCapBytes == 41_943_040)
        #expect(resolved.partialFlushEnabled)
        #expect(resolved.partialFlushMinSpans == 300)
        #expect(resolved.ioUringEnabled)
    }

    /// The registry's documented defaults must be the values actually used.
    @Test func registryDefaultsMatchResolvedDefaults() throws {
        let documented: [EnvironmentVariable: String] = [
            .traceEnabled: "enabled", .traceDebug: "debug", .agentPort: "agent",
            .spanPoolSize: "spanPoolSize", .ringCapacity: "ringCapacity", .maxPayloadSize: "maxPayloadBytes",
            .bufferSize: "bufferCapBytes", .partialFlushEnabled: "partialFlushEnabled",
            .partialFlushMinSpans: "partialFlushMinSpans", .ioUringEnabled: "ioUringEnabled",
        ]
        for (variable, field) in documented {
            let resolved = try #require(ConfigTest.defaults[field])
            #expect(resolved.contains(variable.defaultValue), "\(variable.name)")
        }
        #expect(EnvironmentVariable.agentTimeout.defaultValue == "2.0")
        #expect(EnvironmentVariable.flushInterval.defaultValue == "1.0")
        #expect(EnvironmentVariable.agentHost.defaultValue == "localhost")
    }

    struct ValidRow: Sendable, CustomTestStringConvertible {
        let variable: EnvironmentVariable
        let value: String
        let field: String
        let expected: String
        var testDescription: String { "\(variable.name)=\(value.debugDescription)" }
    }

    static let validRows: [ValidRow] = [
        ValidRow(variable: .service, value: "checkout", field: "service", expected: "checkout"),
        ValidRow(variable: .service, value: "  padded  ", field: "service", expected: "padded"),
        ValidRow(variable: .env, value: "prod", field: "env", expected: "prod"),
        ValidRow(variable: .version, value: "1.2.3", field: "version", expected: "1.2.3"),
        ValidRow(variable: .tags, value: "team:apm,region:eu", field: "globalTags", expected: "team:apm,region:eu"),
        ValidRow(variable: .traceEnabled, value: "false", field: "enabled", expected: "false"),
        ValidRow(variable: .traceDebug, value: "true", field: "debug", expected: "true"),
        ValidRow(variable: .agentURL, value: "http://agent:9126", field: "agent", expected: "http://agent:9126"),
        ValidRow(variable: .agentURL, value: "unix:///tmp/apm.sock", field: "agent", expected: "unix:///tmp/apm.sock"),
        ValidRow(variable: .agentHost, value: "agent.local", field: "agent", expected: "http://agent.local:8126"),
        ValidRow(variable: .agentPort, value: "9000", field: "agent", expected: "http://localhost:9000"),
        ValidRow(variable: .agentTimeout, value: "0.5", field: "agentTimeoutMilliseconds", expected: "500"),
        ValidRow(variable: .agentTimeout, value: "0.0001", field: "agentTimeoutMilliseconds", expected: "1"),
        ValidRow(variable: .agentTimeout, value: "3600", field: "agentTimeoutMilliseconds", expected: "3600000"),
        ValidRow(variable: .flushInterval, value: "0.25", field: "flushIntervalNanoseconds", expected: "250000000"),
        ValidRow(variable: .flushInterval, value: "0.01", field: "flushIntervalNanoseconds", expected: "10000000"),
        ValidRow(variable: .flushInterval, value: "60", field: "flushIntervalNanoseconds", expected: "60000000000"),
        ValidRow(variable: .spanPoolSize, value: "64", field: "spanPoolSize", expected: "64"),
        ValidRow(variable: .spanPoolSize, value: "1048576", field: "spanPoolSize", expected: "1048576"),
        ValidRow(variable: .ringCapacity, value: "256", field: "ringCapacity", expected: "256"),
        ValidRow(variable: .ringCapacity, value: "1048576", field: "ringCapacity", expected: "1048576"),
        ValidRow(variable: .maxPayloadSize, value: "65536", field: "maxPayloadBytes", expected: "65536"),
        ValidRow(variable: .bufferSize, value: "4294967296", field: "bufferCapBytes", expected: "4294967296"),
        ValidRow(variable: .bufferSize, value: "20971520", field: "bufferCapBytes", expected: "20971520"),
        ValidRow(variable: .partialFlushEnabled, value: "off", field: "partialFlushEnabled", expected: "false"),
        ValidRow(variable: .partialFlushMinSpans, value: "1", field: "partialFlushMinSpans", expected: "1"),
        ValidRow(variable: .partialFlushMinSpans, value: "1000000", field: "partialFlushMinSpans", expected: "1000000"),
        ValidRow(variable: .ioUringEnabled, value: "0", field: "ioUringEnabled", expected: "false"),
        ValidRow(variable: .apiVersion, value: "v0.5", field: "apiVersion", expected: "v0.5"),
        ValidRow(variable: .apiVersion, value: "V0.4", field: "apiVersion", expected: "v0.4"),
        ValidRow(variable: .healthMetricsEnabled, value: "yes", field: "healthMetricsEnabled", expected: "true"),
        ValidRow(variable: .dogstatsdURL, value: "udp://statsd:9125", field: "dogstatsdURL", expected: "udp://statsd:9125"),
        ValidRow(variable: .dogstatsdURL, value: "udp://statsd", field: "dogstatsdURL", expected: "udp://statsd:8125"),
        ValidRow(variable: .dogstatsdURL, value: "udp://[::1]:9125", field: "dogstatsdURL", expected: "udp://[::1]:9125"),
        ValidRow(
            variable: .dogstatsdURL, value: "unix:///var/run/datadog/dsd.socket", field: "dogstatsdURL",
            expected: "unix:///var/run/datadog/dsd.socket"),
        ValidRow(variable: .dogstatsdPort, value: "9125", field: "dogstatsdPort", expected: "9125"),
        ValidRow(variable: .reportHostname, value: "true", field: "reportHostname", expected: "true"),
    ]

    @Test(arguments: validRows)
    func validValueChangesOnlyItsSetting(_ row: ValidRow) throws {
        let resolved = try ConfigTest.resolve([row.variable.name: row.value])
        #expect(resolved.diagnostics.isEmpty)
        var expected = ConfigTest.defaults
        expected[row.field] = row.expected
        #expect(resolved.fields == expected)
    }

    @Test func everyVariableHasAValidRow() {
        let covered = Set(Self.validRows.map(\.variable))
        #expect(covered == Set(EnvironmentVariable.allCases))
    }

    @Test(arguments: ["true", "TRUE", " True ", "1", "yes", "YES", "on", "On"])
    func booleanTrueSpellings(_ spelling: String) throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_DEBUG": spelling])
        #expect(resolved.debug)
        #expect(resolved.diagnostics.isEmpty)
    }

    @Test(arguments: ["false", "FALSE", " False ", "0", "no", "No", "off", "OFF"])
    func booleanFalseSpellings(_ spelling: String) throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_ENABLED": spelling])
        #expect(!resolved.enabled)
        #expect(resolved.diagnostics.isEmpty)
    }

    @Test func blankVariablesCountAsUnset() throws {
        let blank = Dictionary(uniqueKeysWithValues: EnvironmentVariable.allCases.map { ($0.name, "  ") })
        let resolved = try ConfigTest.resolve(blank)
        #expect(resolved.diagnostics.isEmpty)
        #expect(resolved.fields == ConfigTest.defaults)
    }
}

@Suite("Configuration: programmatic settings")
struct ConfigurationProgrammaticTests {
    static let environment = [
        "DD_SERVICE": "env-service", "DD_ENV": "staging", "DD_VERSION": "1", "DD_TRACE_DEBUG": "false",
        "DD_TRACE_SPAN_POOL_SIZE": "8192", "DD_TRACE_WRITER_INTERVAL_SECONDS": "5",
        "DD_TRACE_IO_URING_ENABLED": "true", "DD_TRACE_AGENT_URL": "http://env-agent:1",
    ]

    @Test func programmaticValuesOverrideTheEnvironment() throws {
        let resolved = try ConfigTest.resolve(Self.environment) {
            $0.service = "code-service"
            $0.env = "prod"
            $0.version = "2"
            $0.debug = true
            $0.spanPoolSize = 128
            $0.flushInterval = .milliseconds(20)
            $0.agentTimeout = .milliseconds(1500)
            $0.ioUringEnabled = false
            $0.agentURL = "http://code-agent:2"
            $0.ringCapacity = 512
            $0.maxPayloadSize = 1 << 20
            $0.bufferSize = 1 << 21
            $0.partialFlushEnabled = false
            $0.partialFlushMinSpans = 10
            $0.enabled = false
        }
        #expect(resolved.diagnostics.isEmpty)
        #expect(resolved.service == "code-service")
        #expect(resolved.env == "prod")
        #expect(resolved.version == "2")
        #expect(resolved.debug)
        #expect(!resolved.enabled)
        #expect(resolved.spanPoolSize == 128)
        #expect(resolved.flushIntervalNanoseconds == 20_000_000)
        #expect(resolved.agentTimeoutMilliseconds == 1_500)
        #expect(!resolved.ioUringEnabled)
        #expect(resolved.agent == .tcp(host: "code-agent", port: 2))
        #expect(resolved.ringCapacity == 512)
        #expect(resolved.maxPayloadBytes == 1 << 20)
        #expect(resolved.bufferCapBytes == 1 << 21)
        #expect(!resolved.partialFlushEnabled)
        #expect(resolved.partialFlushMinSpans == 10)
    }

    @Test func unsetPropertiesKeepTheEnvironment() throws {
        let resolved = try ConfigTest.resolve(Self.environment) { $0.service = "code-service" }
        #expect(resolved.service == "code-service")
        #expect(resolved.env == "staging")
        #expect(resolved.spanPoolSize == 8_192)
        #expect(resolved.flushIntervalNanoseconds == 5_000_000_000)
        #expect(resolved.agent == .tcp(host: "env-agent", port: 1))
    }

    @Test func blankProgrammaticStringsCountAsUnset() throws {
        let resolved = try ConfigTest.resolve(Self.environment) {
            $0.service = " "
            $0.agentURL = ""
        }
        #expect(resolved.service == "env-service")
        #expect(resolved.agent == .tcp(host: "env-agent", port: 1))
        #expect(resolved.diagnostics.isEmpty)
    }

    @Test func invalidProgrammaticValueFallsBackToTheEnvironment() throws {
        let resolved = try ConfigTest.resolve(Self.environment) { $0.spanPoolSize = 10 }
        #expect(resolved.spanPoolSize == 8_192)
        let diagnostic = try #require(ConfigTest.only(resolved.diagnostics))
        #expect(diagnostic.code == .outOfRange)
        #expect(diagnostic.source == "spanPoolSize")
        #expect(diagnostic.value == "10")
        #expect(diagnostic.fallback == "using 8192 from DD_TRACE_SPAN_POOL_SIZE")
    }

    @Test func shadowedEnvironmentValuesAreNotReported() throws {
        let resolved = try ConfigTest.resolve(["DD_TRACE_SPAN_POOL_SIZE": "lots"]) { $0.spanPoolSize = 128 }
        #expect(resolved.spanPoolSize == 128)
        #expect(resolved.diagnostics.isEmpty)
    }

    @Test func programmaticTagsMergeOverDDTags() throws {
        let resolved = try ConfigTest.resolve(["DD_TAGS": "team:apm,region:eu"]) {
            $0.tags = ["zone": "b", "region": "us", "app": "shop", "k8s:pod": " web-1 "]
        }
        let tags = resolved.globalTags.map { "\($0.key)=\($0.value)" }
        #expect(tags == ["team=apm", "region=us", "app=shop", "k8s:pod=web-1", "zone=b"])
        #expect(resolved.diagnostics.isEmpty)
    }
}
