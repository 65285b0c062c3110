/// The environment variables read by the integrations (log correlation, HTTP tagging), described like
/// `EnvironmentVariable` entries so that they can move into that registry (and the README's generated table) when
/// the core resolver takes them over. Until then they have their own table, `IntegrationVariable.markdownTable()`,
/// and their own diagnostics, which `DDTracer.configurationDiagnostics` includes.
///
/// Names and defaults are ddtrace's (dd-trace-py 4.x; `DD_TRACE_HTTP_CLIENT_ERROR_STATUSES` as in dd-trace-java and
/// dd-trace-go).
enum IntegrationVariable: String, CaseIterable, Sendable {
    case logsInjection = "DD_LOGS_INJECTION"
    case headerTags = "DD_TRACE_HEADER_TAGS"
    case serverQueryString = "DD_HTTP_SERVER_TAG_QUERY_STRING"
    case clientQueryString = "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING"
    case queryObfuscation = "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP"
    case serverErrorStatuses = "DD_TRACE_HTTP_SERVER_ERROR_STATUSES"
    case clientErrorStatuses = "DD_TRACE_HTTP_CLIENT_ERROR_STATUSES"

    /// The name dd-trace-py 2.x used for `DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING`, still read when the new name is
    /// unset (dd-trace-java and dd-trace-php keep the same alias).
    static let legacyClientQueryString = "DD_HTTP_CLIENT_TAG_QUERY_STRING"

    var name: String { rawValue }

    var defaultValue: String {
        switch self {
        case .logsInjection: "true"
        case .headerTags: "none"
        case .serverQueryString, .clientQueryString: "true"
        case .queryObfuscation: "the ddtrace pattern (passwords, keys, tokens, signatures, JWTs, private keys)"
        case .serverErrorStatuses: DDHTTPStatusSet.defaultServer.description
        case .clientErrorStatuses: DDHTTPStatusSet.defaultClient.description
        }
    }

    var allowed: String {
        switch self {
        case .logsInjection, .serverQueryString, .clientQueryString: BooleanRule.allowed
        case .headerTags: HeaderTagRule.allowed
        case .queryObfuscation: "a regular expression (ICU syntax); an empty value turns obfuscation off"
        case .serverErrorStatuses, .clientErrorStatuses: StatusSetRule.allowed
        }
    }

    var summary: String {
        switch self {
        case .logsInjection:
            "Add `dd.trace_id`, `dd.span_id`, `dd.service`, `dd.env` and `dd.version` to swift-log records made "
                + "inside a span (`DDLogCorrelation.metadataProvider`)."
        case .headerTags:
            "HTTP headers recorded by an instrumented library (`http.request.header.*`, `http.response.header.*` "
                + "attributes) to tag as `header:tag.name`, or under `http.request.headers.<header>` and "
                + "`http.response.headers.<header>`."
        case .serverQueryString:
            "Keep the query string in `http.url` of server spans (obfuscated)."
        case .clientQueryString:
            "Keep the query string in `http.url` of client spans (obfuscated); `\(Self.legacyClientQueryString)` "
                + "is read when unset."
        case .queryObfuscation:
            "Matches in query strings are replaced with `<redacted>` before they reach `http.url`."
        case .serverErrorStatuses:
            "Response statuses that mark a server span as an error."
        case .clientErrorStatuses:
            "Response statuses that mark a client span as an error."
        }
    }

    /// The integrations' configuration table, in the README's format.
    static func markdownTable() -> String {
        let header = ["| Variable | Default | Allowed | Description |", "|---|---|---|---|"]
        let rows = allCases.map { variable in
            let cells = ["`\(variable.name)`", variable.defaultValue, variable.allowed, variable.summary]
            return "| " + cells.map { $0.replacing("|", with: "\\|") }.joined(separator: " | ") + " |"
        }
        return (header + rows).joined(separator: "\n")
    }
}
