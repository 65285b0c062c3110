#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Resolves a `DDTracerConfiguration` one component at a time. Each setting's candidates are, in precedence
/// order: the programmatic property, the environment variable, then (for some) a tag or the filesystem, then
/// the default.
struct ConfigurationResolver {
    let configuration: DDTracerConfiguration
    let socketExists: (String) -> Bool
    private(set) var log = DiagnosticLog()

    init(configuration: DDTracerConfiguration, socketExists: @escaping (String) -> Bool) {
        self.configuration = configuration
        self.socketExists = socketExists
    }

    /// Resolves the components in registry order, so diagnostics come out in the README's order.
    mutating func resolveAll() -> ResolvedConfiguration {
        let c = configuration
        let tags = globalTags()
        let identity = identity(tags: tags)
        let enabled = boolean(.traceEnabled, .traceEnabled, property: "enabled", c.enabled)
        let debug = boolean(.traceDebug, .traceDebug, property: "debug", c.debug)
        let agent = agentEndpoint()
        let timeout = seconds(.agentTimeout, .agentTimeout, property: "agentTimeout", c.agentTimeout)
        let interval = seconds(.flushInterval, .flushInterval, property: "flushInterval", c.flushInterval)
        let spanPoolSize = integer(.spanPoolSize, .spanPoolSize, property: "spanPoolSize", c.spanPoolSize)
        let ringCapacity = integer(.ringCapacity, .ringCapacity, property: "ringCapacity", c.ringCapacity)
        let maxPayload = integer(.maxPayloadSize, .maxPayloadSize, property: "maxPayloadSize", c.maxPayloadSize)
        let bufferCap = integer(
            .bufferSize, .bufferSize, property: "bufferSize", c.bufferSize,
            atLeast: IntegerRule.Minimum(value: maxPayload, name: "max payload size"))
        let partialFlush = boolean(
            .partialFlushEnabled, .partialFlushEnabled, property: "partialFlushEnabled", c.partialFlushEnabled)
        let partialFlushMinSpans = integer(
            .partialFlushMinSpans, .partialFlushMinSpans, property: "partialFlushMinSpans", c.partialFlushMinSpans)
        let ioUring = boolean(.ioUringEnabled, .ioUringEnabled, property: "ioUringEnabled", c.ioUringEnabled)
        let apiVersion = log.settle(
            [
                fromProperty("apiVersion", c.apiVersion, allowed: TraceAPIVersionRule.allowed, TraceAPIVersionRule.parse),
                fromEnvironment(.apiVersion, TraceAPIVersionRule.parse),
            ], default: TraceAPIVersionRule.defaultValue)
        let healthMetricsEnabled = boolean(
            .healthMetricsEnabled, .healthMetricsEnabled, property: "healthMetricsEnabled", c.healthMetricsEnabled)
        let dogstatsdURL = log.settle(
            [
                fromProperty("dogstatsdURL", c.dogstatsdURL, allowed: DogStatsDAddressRule.urlAllowed,
                             DogStatsDAddressRule.parseURL),
                fromEnvironment(.dogstatsdURL, DogStatsDAddressRule.parseURL),
            ], otherwise: "using the agent host and DD_DOGSTATSD_PORT")
        let dogstatsdPort = integer(.dogstatsdPort, .dogstatsdPort, property: "dogstatsdPort", nil)
        let reportHostname = boolean(.reportHostname, .reportHostname, property: "reportHostname", c.reportHostname)
        return ResolvedConfiguration(
            service: identity.service, env: identity.env, version: identity.version,
            globalTags: tags.filter { !TagEntry.identityKeys.contains($0.key) }.map { ($0.key, $0.value) },
            enabled: enabled, debug: debug, agent: agent,
            agentTimeoutMilliseconds: Int((timeout * 1_000).rounded(.up)),
            flushIntervalNanoseconds: Int64((interval * 1_000_000_000).rounded()),
            spanPoolSize: spanPoolSize, ringCapacity: ringCapacity, maxPayloadBytes: maxPayload,
            bufferCapBytes: bufferCap, partialFlushEnabled: partialFlush, partialFlushMinSpans: partialFlushMinSpans,
            ioUringEnabled: ioUring, apiVersion: apiVersion, healthMetricsEnabled: healthMetricsEnabled,
            dogstatsdURL: dogstatsdURL, dogstatsdPort: dogstatsdPort, reportHostname: reportHostname,
            diagnostics: log.diagnostics)
    }
}

// MARK: - Settling candidates

extension ConfigurationResolver {
    /// A variable's value, trimmed; blank counts as unset (as `os.getenv(...) or default` in ddtrace).
    func environmentValue(_ variable: EnvironmentVariable) -> String? {
        configuration.environment[variable.name].flatMap(Self.nonBlank)
    }

    func fromEnvironment<Value>(
        _ variable: EnvironmentVariable, _ parse: @escaping (String) -> SettingCheck<Value>
    ) -> SettingCandidate<Value>? {
        environmentValue(variable).map { raw in
            SettingCandidate(source: variable.name, raw: raw, allowed: variable.allowed) { parse(raw) }
        }
    }

    /// A programmatic property, validated with the rules of its variable but reported under its own name.
    func fromProperty<Input, Value>(
        _ name: String, _ value: Input?, allowed: String, _ check: @escaping (Input) -> SettingCheck<Value>
    ) -> SettingCandidate<Value>? {
        value.map { value in
            SettingCandidate(source: name, raw: "\(value)", allowed: allowed) { check(value) }
        }
    }

    static func nonBlank(_ text: String?) -> String? {
        guard let text else { return nil }
        let trimmed = SettingText.trim(text)
        return trimmed.isEmpty ? nil : String(trimmed)
    }
}

// MARK: - Scalar settings

extension ConfigurationResolver {
    mutating func boolean(
        _ rule: BooleanRule, _ variable: EnvironmentVariable, property: String, _ value: Bool?
    ) -> Bool {
        log.settle(
            [
                fromProperty(property, value, allowed: variable.allowed) { .valid($0) },
                fromEnvironment(variable, BooleanRule.parse),
            ], default: rule.defaultValue)
    }

    /// - Parameter minimum: a lower limit set by another setting; smaller values, including the default, are
    ///   raised to it.
    mutating func integer(
        _ rule: IntegerRule, _ variable: EnvironmentVariable, property: String, _ value: Int?,
        atLeast minimum: IntegerRule.Minimum? = nil
    ) -> Int {
        let candidates = [
            fromProperty(property, value, allowed: variable.allowed) { rule.check($0, atLeast: minimum) },
            fromEnvironment(variable) { rule.parse($0, atLeast: minimum) },
        ]
        guard let minimum, minimum.value > rule.defaultValue else {
            return log.settle(candidates, default: rule.defaultValue)
        }
        // The raised default is not a user's mistake, so it is not itself reported.
        return log.settle(candidates, otherwise: "using \(minimum.value) (the \(minimum.name))") ?? minimum.value
    }

    mutating func seconds(
        _ rule: SecondsRule, _ variable: EnvironmentVariable, property: String, _ value: Duration?
    ) -> Double {
        log.settle(
            [
                fromProperty(property, value, allowed: variable.allowed) { rule.check($0.inSeconds) },
                fromEnvironment(variable, rule.parse),
            ], default: rule.defaultValue)
    }
}

extension Duration {
    fileprivate var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

// MARK: - Service, env, version and tags

/// One global tag and where it came from, so diagnostics about it can name its source.
struct TagEntry {
    /// Tags with their own resolved field; kept out of `globalTags` so a span never carries two values.
    static let identityKeys: Set<String> = ["service", "env", "version"]

    let key: String
    var value: String
    var source: String
}

extension ConfigurationResolver {
    /// `DD_TAGS` in order, then the programmatic tags (sorted by key for a stable order) merged over them:
    /// a repeated key keeps its first position and takes the last value.
    mutating func globalTags() -> [TagEntry] {
        var entries: [TagEntry] = []
        for item in environmentValue(.tags).map(TagListRule.items) ?? [] {
            add(TagListRule.pair(item), raw: String(item), source: EnvironmentVariable.tags.name, to: &entries)
        }
        for (key, value) in (configuration.tags ?? [:]).sorted(by: { $0.key < $1.key }) {
            add(TagListRule.check(key: key, value: value), raw: "\(key):\(value)", source: "tags", to: &entries)
        }
        return entries
    }

    /// Adds a valid tag or reports an invalid one; a bad tag never discards the others.
    private mutating func add(
        _ check: SettingCheck<(key: String, value: String)>, raw: String, source: String, to entries: inout [TagEntry]
    ) {
        switch check {
        case .valid(let tag), .corrected(let tag, _):
            let entry = TagEntry(key: tag.key, value: tag.value, source: source)
            if let index = entries.firstIndex(where: { $0.key == tag.key }) {
                entries[index] = entry
            } else {
                entries.append(entry)
            }
        case .invalid(let problem):
            let issue = PendingDiagnostic(source: source, value: raw, allowed: TagListRule.allowed, problem: problem)
            log.record([issue], fallback: "skipping this tag")
        }
    }

    mutating func identity(tags: [TagEntry]) -> (service: String, env: String?, version: String?) {
        let c = configuration
        let processName = Self.processName
        let service = text(
            .service, .service, property: "service", c.service, tags: tags,
            otherwise: "using the process name \"\(processName)\"")
        let env = text(.tagValue, .env, property: "env", c.env, tags: tags, otherwise: "leaving it unset")
        let version = text(
            .tagValue, .version, property: "version", c.version, tags: tags, otherwise: "leaving it unset")
        return (service ?? processName, env, version)
    }

    /// A property, else its variable, else the tag named like the property (as dd-trace-py does for
    /// `DD_TAGS=env:prod`).
    private mutating func text(
        _ rule: TextRule, _ variable: EnvironmentVariable, property: String, _ value: String?, tags: [TagEntry],
        otherwise fallback: String
    ) -> String? {
        let tag = tags.first { $0.key == property }
        return log.settle(
            [
                fromProperty(property, Self.nonBlank(value), allowed: variable.allowed, rule.check),
                fromEnvironment(variable, rule.check),
                tag.map { tag in
                    SettingCandidate(source: tag.source, raw: "\(tag.key):\(tag.value)", allowed: rule.allowed) {
                        rule.check(tag.value)
                    }
                },
            ], otherwise: fallback)
    }

    /// The default service name. An empty name (argv[0] unavailable) would make spans unqueryable.
    static var processName: String {
        let name = ProcessInfo.processInfo.processName
        return name.isEmpty ? "unnamed-swift-service" : name
    }
}

// MARK: - Agent endpoint

extension ConfigurationResolver {
    /// dd-trace-py's order, with programmatic settings first: agentURL > unixSocketPath > hostname/port >
    /// DD_TRACE_AGENT_URL > DD_AGENT_HOST/DD_TRACE_AGENT_PORT > the default socket if it exists > localhost:8126.
    mutating func agentEndpoint() -> AgentEndpoint {
        rejectHTTPSFlag()
        let c = configuration
        return log.settle(
            [
                fromProperty("agentURL", Self.nonBlank(c.agentURL), allowed: AgentAddressRule.urlAllowed) {
                    AgentAddressRule.parseURL($0, httpsIsFatal: true)
                },
                fromProperty(
                    "unixSocketPath", Self.nonBlank(c.unixSocketPath), allowed: AgentAddressRule.socketPathAllowed
                ) { AgentAddressRule.checkSocketPath($0, code: .invalidValue) },
                programmaticHostAndPort(),
                fromEnvironment(.agentURL) { AgentAddressRule.parseURL($0, httpsIsFatal: false) },
                hostAndPort(
                    host: [agentHostVariable], port: [agentPortVariable],
                    provenance: "from DD_AGENT_HOST/DD_TRACE_AGENT_PORT"),
                existingDefaultSocket(),
            ], default: AgentEndpoint.defaultTCP)
    }

    /// `https: true` can never be honoured; it fails resolution even in lenient mode.
    private mutating func rejectHTTPSFlag() {
        guard configuration.https == true else { return }
        let problem = SettingProblem(.unsupportedScheme, AgentAddressRule.httpsMessage, isFatal: true)
        let issue = PendingDiagnostic(
            source: "https", value: "true", allowed: AgentAddressRule.httpsAllowed, problem: problem)
        log.record([issue], fallback: "")
    }

    /// `hostname` and `port` from code; a part left unset comes from its variable (as ddtrace's `configure`
    /// keeps the previous host when only the port changes).
    private func programmaticHostAndPort() -> SettingCandidate<AgentEndpoint>? {
        let hostname = Self.nonBlank(configuration.hostname)
        guard hostname != nil || configuration.port != nil else { return nil }
        return hostAndPort(
            host: [
                fromProperty("hostname", hostname, allowed: AgentAddressRule.hostAllowed, AgentAddressRule.parseHost),
                agentHostVariable,
            ],
            port: [
                fromProperty("port", configuration.port, allowed: IntegerRule.agentPort.allowed) {
                    IntegerRule.agentPort.check($0)
                },
                agentPortVariable,
            ],
            provenance: "from hostname/port")
    }

    private var agentHostVariable: SettingCandidate<String>? {
        fromEnvironment(.agentHost, AgentAddressRule.parseHost)
    }

    private var agentPortVariable: SettingCandidate<Int>? {
        fromEnvironment(.agentPort) { IntegerRule.agentPort.parse($0) }
    }

    /// An endpoint from host and port parts, each defaulted on its own; nil when no part is set, and
    /// invalid (falling through) when every part that is set is invalid.
    private func hostAndPort(
        host: [SettingCandidate<String>?], port: [SettingCandidate<Int>?], provenance: String
    ) -> SettingCandidate<AgentEndpoint>? {
        guard host.contains(where: { $0 != nil }) || port.contains(where: { $0 != nil }) else { return nil }
        return SettingCandidate(provenance: provenance) {
            let host = SettingSelection(host)
            let port = SettingSelection(port)
            let issues = host.allIssues + port.allIssues
            guard host.value != nil || port.value != nil else { return SettingAttempt(value: nil, issues: issues) }
            let endpoint = AgentEndpoint.tcp(
                host: host.value ?? AgentEndpoint.defaultHost, port: port.value ?? AgentEndpoint.defaultPort)
            return SettingAttempt(value: endpoint, issues: issues)
        }
    }

    private func existingDefaultSocket() -> SettingCandidate<AgentEndpoint> {
        let path = AgentEndpoint.defaultSocketPath
        let socketExists = socketExists
        return SettingCandidate(provenance: "(\(path) exists)") {
            SettingAttempt(value: socketExists(path) ? .unix(path: path) : nil)
        }
    }
}
