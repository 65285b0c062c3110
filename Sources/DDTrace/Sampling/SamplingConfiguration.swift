/// The sampling environment variables, described like `EnvironmentVariable` entries so they can move into that
/// registry (and the README table) once the tracer configuration resolves them.
enum SamplingVariable: String, CaseIterable, Sendable {
    case traceSamplingRules = "DD_TRACE_SAMPLING_RULES"
    case traceSampleRate = "DD_TRACE_SAMPLE_RATE"
    case traceRateLimit = "DD_TRACE_RATE_LIMIT"
    case spanSamplingRules = "DD_SPAN_SAMPLING_RULES"

    /// dd-trace-py's `DEFAULT_SAMPLING_RATE_LIMIT` (traces per second).
    static let rateLimitRule = IntegerRule(defaultValue: 100, range: 0...1_000_000_000)
    /// Longest excerpt of a value quoted in a diagnostic.
    static let excerptLength = 160

    var name: String { rawValue }

    var defaultValue: String {
        switch self {
        case .traceSamplingRules, .traceSampleRate, .spanSamplingRules: "none"
        case .traceRateLimit: "\(Self.rateLimitRule.defaultValue)"
        }
    }

    var allowed: String {
        switch self {
        case .traceSamplingRules:
            "a JSON array of {\"sample_rate\": 0...1, \"service\", \"name\", \"resource\": glob, \"tags\": "
                + "{key: glob}, \"provenance\", \"discard\"}"
        case .traceSampleRate: "a number in 0...1"
        case .traceRateLimit: Self.rateLimitRule.allowed
        case .spanSamplingRules:
            "a JSON array of {\"service\", \"name\": glob, \"sample_rate\": 0...1, \"max_per_second\": number}"
        }
    }

    var summary: String {
        switch self {
        case .traceSamplingRules:
            "Trace sampling rules, tried in order on the local root span; the first match decides (priority 2 or "
                + "-1). Globs take `*` and `?` and ignore case. Invalid rules are skipped."
        case .traceSampleRate: "A catch-all rule with this rate, tried after `DD_TRACE_SAMPLING_RULES`."
        case .traceRateLimit:
            "Most traces per second kept by sampling rules (0 keeps none); traces no rule matches are not limited."
        case .spanSamplingRules:
            "Rules that keep single spans of traces that are dropped. `sample_rate` defaults to 1, "
                + "`max_per_second` to no limit."
        }
    }

    /// A diagnostic about this variable, quoting at most `excerptLength` characters of `value`.
    func diagnostic(
        _ code: DDConfigurationDiagnostic.Code, _ value: String, _ message: String, fallback: String
    ) -> DDConfigurationDiagnostic {
        let excerpt = value.count > Self.excerptLength ? value.prefix(Self.excerptLength) + "…" : value
        return DDConfigurationDiagnostic(
            code: code, source: name, value: excerpt, message: message, allowed: allowed, fallback: fallback)
    }
}

/// Trace and span sampling rules, and the rate limiter, read from the environment.
///
/// `DD_TRACE_SAMPLE_RATE` becomes a catch-all rule appended after the parsed `DD_TRACE_SAMPLING_RULES`, as
/// dd-trace-cpp does (dd-trace-py 3.0 removed the variable): it gets the rule mechanism, priorities 2/-1 and the
/// rate limiter. Problems are reported as diagnostics; the usable rules are kept.
struct SamplingConfiguration: Sendable {
    /// The trace rules in evaluation order, the catch-all last.
    let traceRules: [TraceSamplingRule]
    /// `DD_TRACE_RATE_LIMIT`: traces per second the rules may keep.
    let rateLimit: Int
    let spanRules: [SpanSamplingRule]
    let diagnostics: [DDConfigurationDiagnostic]
    /// Nil when there is no trace rule.
    let traceSampler: TraceRuleSampler?
    /// Nil when there is no span rule.
    let spanSampler: SpanSamplingRules?

    /// Reads the variables from `environment` (blank values count as unset). `clock` (monotonic nanoseconds)
    /// drives the limiters.
    init(environment: [String: String], clock: @escaping @Sendable () -> Int64 = SamplingClock.monotonic) {
        var diagnostics: [DDConfigurationDiagnostic] = []
        func value(_ variable: SamplingVariable) -> String? {
            ConfigurationResolver.nonBlank(environment[variable.name])
        }
        var traceRules = value(.traceSamplingRules).map {
            SamplingRulesParser.traceRules($0, diagnostics: &diagnostics)
        } ?? []
        if let raw = value(.traceSampleRate), let rate = Self.sampleRate(raw, &diagnostics) {
            traceRules.append(TraceSamplingRule(sampleRate: rate))
        }
        let rateLimit = Self.rateLimit(value(.traceRateLimit), hasRules: !traceRules.isEmpty, &diagnostics)
        let spanRules = value(.spanSamplingRules).map {
            SamplingRulesParser.spanRules($0, diagnostics: &diagnostics)
        } ?? []
        self.traceRules = traceRules
        self.rateLimit = rateLimit
        self.spanRules = spanRules
        self.diagnostics = diagnostics
        traceSampler = traceRules.isEmpty
            ? nil
            : TraceRuleSampler(
                rules: traceRules, limiter: SamplingRateLimiter(rateLimit: Double(rateLimit), clock: clock))
        spanSampler = spanRules.isEmpty ? nil : SpanSamplingRules(rules: spanRules, clock: clock)
    }

    private static func sampleRate(_ raw: String, _ diagnostics: inout [DDConfigurationDiagnostic]) -> Double? {
        guard let rate = Double(raw), rate.isFinite else {
            diagnostics.append(SamplingVariable.traceSampleRate.diagnostic(.invalidNumber, raw, "not a number", fallback: "ignoring it"))
            return nil
        }
        guard rate >= 0 && rate <= 1 else {
            diagnostics.append(SamplingVariable.traceSampleRate.diagnostic(.outOfRange, raw, "out of range", fallback: "ignoring it"))
            return nil
        }
        return rate
    }

    private static func rateLimit(
        _ raw: String?, hasRules: Bool, _ diagnostics: inout [DDConfigurationDiagnostic]
    ) -> Int {
        let rule = SamplingVariable.rateLimitRule
        guard let raw else { return rule.defaultValue }
        switch rule.parse(raw) {
        case .valid(let limit), .corrected(let limit, _):
            // dd-trace-py warns about this too: the limit would apply to no trace.
            if !hasRules && limit != rule.defaultValue {
                diagnostics.append(
                    SamplingVariable.traceRateLimit.diagnostic(
                        .inconsistent, raw,
                        "has no effect without DD_TRACE_SAMPLING_RULES or DD_TRACE_SAMPLE_RATE: only rule-matched "
                            + "traces are rate limited (the agent limits the others)",
                        fallback: "no trace is rate limited"))
            }
            return limit
        case .invalid(let problem):
            diagnostics.append(
                SamplingVariable.traceRateLimit.diagnostic(
                    problem.code, raw, problem.message, fallback: "using the default \(rule.defaultValue)"))
            return rule.defaultValue
        }
    }
}
