import Synchronization

/// The integrations' settings (log correlation and HTTP tagging), resolved from the environment when the tracer is
/// created (see `IntegrationVariable` for the variables). Available as `DDTracer.integrations`.
public final class DDIntegrationSettings: Sendable {
    /// Whether `DDLogCorrelation` adds the `dd.*` keys to log records (`DD_LOGS_INJECTION`, default true).
    public let logsInjection: Bool
    /// How HTTP attributes of Tracing spans become Datadog tags.
    public let http: DDHTTPTaggingSettings
    /// Problems found in the integrations' variables, each with what is used instead.
    public let diagnostics: [DDConfigurationDiagnostic]

    /// Settings read from `environment` (the tracer passes `DDTracerConfiguration.environment`).
    public convenience init(environment: [String: String]) {
        var resolver = IntegrationResolver(environment: environment)
        let logsInjection = resolver.boolean(.logsInjection, default: true)
        let http = DDHTTPTaggingSettings(resolver: &resolver)
        self.init(logsInjection: logsInjection, http: http, diagnostics: resolver.log.diagnostics)
    }

    init(logsInjection: Bool, http: DDHTTPTaggingSettings, diagnostics: [DDConfigurationDiagnostic]) {
        self.logsInjection = logsInjection
        self.http = http
        self.diagnostics = diagnostics
    }
}

/// The HTTP libraries a header-tag override applies to: server spans (for example Hummingbird's
/// `TracingMiddleware`) or client spans (AsyncHTTPClient). ddtrace's per-integration header configuration
/// (`config.flask.http.trace_headers([...])` in dd-trace-py) overrides the global `DD_TRACE_HEADER_TAGS`; spans
/// only tell their kind, so the integrations here are the two directions.
public enum DDHTTPIntegration: String, Sendable, CaseIterable {
    case server
    case client
}

/// How HTTP attributes of spans started through swift-distributed-tracing become Datadog tags (see
/// `DDTracingSpan`): `http.method`, `http.url` (query string captured per direction and obfuscated),
/// `http.status_code`, `http.route`, header tags, and the `error` flag from the status code.
public final class DDHTTPTaggingSettings: Sendable {
    /// Statuses that make a server span an error (`DD_TRACE_HTTP_SERVER_ERROR_STATUSES`, default 500-599).
    public let serverErrorStatuses: DDHTTPStatusSet
    /// Statuses that make a client span an error (`DD_TRACE_HTTP_CLIENT_ERROR_STATUSES`, default 400-499).
    public let clientErrorStatuses: DDHTTPStatusSet
    /// Whether server spans keep the query string in `http.url` (`DD_HTTP_SERVER_TAG_QUERY_STRING`, default true).
    public let serverQueryString: Bool
    /// Whether client spans keep the query string in `http.url` (`DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING`, default
    /// true).
    public let clientQueryString: Bool
    /// Applied to every captured query string (`DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`).
    public let queryObfuscator: DDQueryObfuscator
    /// The global header tags (`DD_TRACE_HEADER_TAGS`).
    public let headerTags: [DDHeaderTag]
    /// Per-integration header tags set in code; they replace `headerTags` for that integration.
    private let overrides = Mutex<[DDHTTPIntegration: [DDHeaderTag]]>([:])

    /// Explicit settings (tests, or code that does not read the environment).
    public init(
        serverErrorStatuses: DDHTTPStatusSet = .defaultServer, clientErrorStatuses: DDHTTPStatusSet = .defaultClient,
        serverQueryString: Bool = true, clientQueryString: Bool = true,
        queryObfuscator: DDQueryObfuscator = .default, headerTags: [DDHeaderTag] = []
    ) {
        self.serverErrorStatuses = serverErrorStatuses
        self.clientErrorStatuses = clientErrorStatuses
        self.serverQueryString = serverQueryString
        self.clientQueryString = clientQueryString
        self.queryObfuscator = queryObfuscator
        self.headerTags = headerTags
    }

    fileprivate convenience init(resolver: inout IntegrationResolver) {
        self.init(
            serverErrorStatuses: resolver.setting(.serverErrorStatuses, default: .defaultServer, StatusSetRule.parse),
            clientErrorStatuses: resolver.setting(.clientErrorStatuses, default: .defaultClient, StatusSetRule.parse),
            serverQueryString: resolver.boolean(.serverQueryString, default: true),
            clientQueryString: resolver.boolean(
                .clientQueryString, alias: IntegrationVariable.legacyClientQueryString, default: true),
            queryObfuscator: resolver.obfuscator(),
            headerTags: resolver.setting(.headerTags, default: [], HeaderTagRule.parse))
    }

    /// Replaces the header tags of one integration (nil: back to `DD_TRACE_HEADER_TAGS`), as dd-trace-py's
    /// `config.<integration>.http.trace_headers(...)`. Applies to attributes set afterwards.
    public func setHeaderTags(_ tags: [DDHeaderTag]?, for integration: DDHTTPIntegration) {
        overrides.withLock { $0[integration] = tags }
    }

    /// The header tags in force for `integration`.
    public func headerTags(for integration: DDHTTPIntegration) -> [DDHeaderTag] {
        // Only read when a span carries a header attribute, which instrumented libraries emit only when asked to.
        overrides.withLock { $0[integration] } ?? headerTags
    }

    /// Whether `status` marks a span of this direction as an error.
    @inline(__always) func isError(status: Int, client: Bool) -> Bool {
        (client ? clientErrorStatuses : serverErrorStatuses).contains(status)
    }
}

/// Resolves the integrations' variables with the core's precedence and diagnostics machinery: a blank value
/// counts as unset, an invalid one is reported with the value used instead.
struct IntegrationResolver {
    let environment: [String: String]
    private(set) var log = DiagnosticLog()

    init(environment: [String: String]) {
        self.environment = environment
    }

    mutating func boolean(_ variable: IntegrationVariable, alias: String? = nil, default value: Bool) -> Bool {
        var candidates = [candidate(variable.name, variable.allowed, BooleanRule.parse)]
        if let alias { candidates.append(candidate(alias, variable.allowed, BooleanRule.parse)) }
        return log.settle(candidates, default: value)
    }

    mutating func setting<Value>(
        _ variable: IntegrationVariable, default value: Value, _ parse: @escaping (String) -> SettingCheck<Value>
    ) -> Value where Value: CustomStringConvertible {
        log.settle([candidate(variable.name, variable.allowed, parse)], default: value)
    }

    mutating func setting(
        _ variable: IntegrationVariable, default value: [DDHeaderTag],
        _ parse: @escaping (String) -> SettingCheck<[DDHeaderTag]>
    ) -> [DDHeaderTag] {
        log.settle([candidate(variable.name, variable.allowed, parse)], default: value) { tags in
            tags.isEmpty ? "none" : tags.map { tag in tag.tagName.map { "\(tag.header):\($0)" } ?? tag.header }
                .joined(separator: ",")
        }
    }

    /// `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`: set but empty turns obfuscation off, as in ddtrace, so it is the
    /// one variable where a blank value is not "unset".
    mutating func obfuscator() -> DDQueryObfuscator {
        let variable = IntegrationVariable.queryObfuscation
        guard let raw = environment[variable.name] else { return .default }
        if SettingText.trim(raw).isEmpty { return (try? DDQueryObfuscator(pattern: "")) ?? .default }
        return log.settle(
            [candidate(variable.name, variable.allowed, DDQueryObfuscator.check)], default: .default,
            describe: { _ in "ddtrace pattern" })
    }

    private func candidate<Value>(
        _ name: String, _ allowed: String, _ parse: @escaping (String) -> SettingCheck<Value>
    ) -> SettingCandidate<Value>? {
        ConfigurationResolver.nonBlank(environment[name]).map { raw in
            SettingCandidate(source: name, raw: raw, allowed: allowed) { parse(raw) }
        }
    }
}
