/// Every environment variable the tracer reads, in the order the README documents them.
///
/// This registry is the single source of truth: the resolver takes its rules (defaults, ranges) from
/// here, diagnostics quote its `allowed` text, the README table is rendered from it and the tests
/// iterate over it. Adding a variable anywhere else is a bug.
enum EnvironmentVariable: String, CaseIterable, Sendable {
    case service = "DD_SERVICE"
    case env = "DD_ENV"
    case version = "DD_VERSION"
    case tags = "DD_TAGS"
    case traceEnabled = "DD_TRACE_ENABLED"
    case traceDebug = "DD_TRACE_DEBUG"
    case agentURL = "DD_TRACE_AGENT_URL"
    case agentHost = "DD_AGENT_HOST"
    case agentPort = "DD_TRACE_AGENT_PORT"
    case agentTimeout = "DD_TRACE_AGENT_TIMEOUT_SECONDS"
    case flushInterval = "DD_TRACE_WRITER_INTERVAL_SECONDS"
    case spanPoolSize = "DD_TRACE_SPAN_POOL_SIZE"
    case ringCapacity = "DD_TRACE_RING_CAPACITY"
    case maxPayloadSize = "DD_TRACE_WRITER_MAX_PAYLOAD_SIZE_BYTES"
    case bufferSize = "DD_TRACE_WRITER_BUFFER_SIZE_BYTES"
    case partialFlushEnabled = "DD_TRACE_PARTIAL_FLUSH_ENABLED"
    case partialFlushMinSpans = "DD_TRACE_PARTIAL_FLUSH_MIN_SPANS"
    case ioUringEnabled = "DD_TRACE_IO_URING_ENABLED"
    case apiVersion = "DD_TRACE_API_VERSION"
    case healthMetricsEnabled = "DD_TRACE_HEALTH_METRICS_ENABLED"
    case dogstatsdURL = "DD_DOGSTATSD_URL"
    case dogstatsdPort = "DD_DOGSTATSD_PORT"
    case reportHostname = "DD_TRACE_REPORT_HOSTNAME"

    /// How a variable's text is interpreted.
    enum Kind: Sendable {
        case text, tagList, boolean, integer, seconds, url, host, choice
    }

    /// Everything the registry knows about one variable.
    struct Info: Sendable {
        let kind: Kind
        /// The default as shown to users.
        let defaultValue: String
        /// The accepted values, as quoted by diagnostics.
        let allowed: String
        /// One-line description.
        let summary: String
    }

    var name: String { rawValue }
    var kind: Kind { info.kind }
    var defaultValue: String { info.defaultValue }
    var allowed: String { info.allowed }
    var summary: String { info.summary }

    var info: Info {
        switch self {
        case .service:
            .text(.service, default: "the process name", "Service name reported on every span.")
        case .env:
            .text(.tagValue, default: "none", "Environment (`env` tag), e.g. `prod`.")
        case .version:
            .text(.tagValue, default: "none", "Application version (`version` tag).")
        case .tags:
            Info(
                kind: .tagList, defaultValue: "none", allowed: TagListRule.allowed,
                summary: "Tags added to every span; `service`, `env` and `version` keys are used when the "
                    + "dedicated variables are unset. Malformed items are skipped.")
        case .traceEnabled:
            .boolean(.traceEnabled, "Whether spans are recorded and sent at all.")
        case .traceDebug:
            .boolean(.traceDebug, "Verbose tracer logging.")
        case .agentURL:
            Info(
                kind: .url, defaultValue: "none", allowed: AgentAddressRule.urlAllowed,
                summary: "Agent address; takes precedence over `DD_AGENT_HOST` and `DD_TRACE_AGENT_PORT`. "
                    + "https is not supported.")
        case .agentHost:
            Info(
                kind: .host, defaultValue: AgentEndpoint.defaultHost, allowed: AgentAddressRule.hostAllowed,
                summary: "Agent host, used when `DD_TRACE_AGENT_URL` is unset. Without host, port and URL the "
                    + "tracer uses `\(AgentEndpoint.defaultSocketPath)` if it exists, else "
                    + "`\(AgentEndpoint.defaultTCP)`.")
        case .agentPort:
            .integer(.agentPort, "Agent trace port, used when `DD_TRACE_AGENT_URL` is unset.")
        case .agentTimeout:
            .seconds(.agentTimeout, "Timeout of one request to the agent.")
        case .flushInterval:
            .seconds(.flushInterval, "How often buffered traces are encoded and sent to the agent.")
        case .spanPoolSize:
            .integer(
                .spanPoolSize,
                "Span slots per thread (704 bytes each, allocated in chunks of 256 as needed); a span started "
                    + "while all are in use is not recorded, and counted. The default covers 16 ms of a thread's "
                    + "spans at 1 M spans/s while the writer waits for a CPU.")
        case .ringCapacity:
            .integer(
                .ringCapacity,
                "Entries of each thread's ring of finished spans awaiting the writer (a span finished while it is "
                    + "full goes to a shared overflow stack, not lost); a value that is not a power of two is rounded "
                    + "up.")
        case .maxPayloadSize:
            .integer(
                .maxPayloadSize,
                "Largest payload sent in one request; bigger batches are split, a single span larger than this is "
                    + "dropped.")
        case .bufferSize:
            .integer(
                .bufferSize,
                "Memory cap for encoded data waiting to be sent; when full, the oldest payloads are dropped. Raised "
                    + "to the max payload size if smaller.")
        case .partialFlushEnabled:
            .boolean(.partialFlushEnabled, "Send the finished spans of a large trace before its root span ends.")
        case .partialFlushMinSpans:
            .integer(.partialFlushMinSpans, "Finished spans in one trace that trigger a partial flush.")
        case .ioUringEnabled:
            .boolean(.ioUringEnabled, "Try io_uring for agent I/O; plain sockets are used if it is unavailable.")
        case .apiVersion:
            Info(
                kind: .choice, defaultValue: TraceAPIVersionRule.defaultValue.rawValue,
                allowed: TraceAPIVersionRule.allowed,
                summary: "Agent endpoint for traces. With v0.5, an agent that answers 404 or 415 is used with v0.4 "
                    + "from then on (the payloads already encoded are converted, not dropped).")
        case .healthMetricsEnabled:
            .boolean(
                .healthMetricsEnabled,
                "Send the tracer's health counters as `datadog.tracer.*` DogStatsD metrics every flush interval.")
        case .dogstatsdURL:
            Info(
                kind: .url, defaultValue: "none", allowed: DogStatsDAddressRule.urlAllowed,
                summary: "DogStatsD address for health metrics; without it, the agent's host (or `localhost` when "
                    + "the agent is a unix socket) and `DD_DOGSTATSD_PORT` over UDP.")
        case .dogstatsdPort:
            .integer(.dogstatsdPort, "DogStatsD UDP port, used when `DD_DOGSTATSD_URL` is unset.")
        case .reportHostname:
            .boolean(
                .reportHostname,
                "Tag each trace with the system hostname (`_dd.hostname`), if it is a valid hostname.")
        }
    }

    /// The README's configuration table: one row per variable, in registry order.
    static func markdownTable() -> String {
        let header = ["| Variable | Default | Allowed | Description |", "|---|---|---|---|"]
        let rows = allCases.map { variable in
            let cells = [
                "`\(variable.name)`", variable.defaultValue, variable.allowed, variable.summary,
            ].map(escapeTableCell)
            return "| " + cells.joined(separator: " | ") + " |"
        }
        return (header + rows).joined(separator: "\n")
    }

    /// A `|` inside a cell would start a new column.
    private static func escapeTableCell(_ text: String) -> String {
        text.replacing("|", with: "\\|")
    }
}

// MARK: - Info factories

extension EnvironmentVariable.Info {
    fileprivate static func text(_ rule: TextRule, default defaultValue: String, _ summary: String) -> Self {
        Self(kind: .text, defaultValue: defaultValue, allowed: rule.allowed, summary: summary)
    }

    fileprivate static func boolean(_ rule: BooleanRule, _ summary: String) -> Self {
        Self(kind: .boolean, defaultValue: "\(rule.defaultValue)", allowed: BooleanRule.allowed, summary: summary)
    }

    fileprivate static func integer(_ rule: IntegerRule, _ summary: String) -> Self {
        Self(kind: .integer, defaultValue: "\(rule.defaultValue)", allowed: rule.allowed, summary: summary)
    }

    fileprivate static func seconds(_ rule: SecondsRule, _ summary: String) -> Self {
        Self(kind: .seconds, defaultValue: "\(rule.defaultValue)", allowed: rule.allowed, summary: summary)
    }
}
