/// The decision of a matched trace sampling rule.
struct RuleSamplingDecision: Equatable, Sendable {
    /// USER_KEEP (2) or USER_REJECT (-1).
    var priority: Int8
    /// The `_dd.p.dm` mechanism: 3 (local rule), 11 (remote user rule) or 12 (remote dynamic rule).
    var mechanism: Int8
    /// The matched rule's sample rate: `_dd.rule_psr`.
    var ruleRate: Double
    /// The limiter's effective rate right after it was consulted: `_dd.limit_psr`. Nil when the Knuth check
    /// already rejected the trace, so the limiter was not consulted (dd-trace-py then writes no `_dd.limit_psr`).
    var limitRate: Double?
    /// The trace was rejected by a rule with `"discard": true`: dd-trace-py drops such chunks instead of sending
    /// them with USER_REJECT.
    var discard: Bool = false

    static let userKeep: Int8 = 2
    static let userReject: Int8 = -1

    /// `_dd.p.ksr`, which newer dd-trace-py writes (as meta) next to `_dd.rule_psr`.
    var knuthSampleRate: String { Self.formatRate(ruleRate) }

    /// dd-trace-py's `format_rate`: at most 6 decimals, rounded half up, trailing zeros and dot stripped.
    static func formatRate(_ rate: Double) -> String {
        let micros = Int64((rate * 1e6 + 0.5).rounded(.down))
        let whole = micros / 1_000_000
        var fraction = String(micros % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }
}

/// Trace sampling by `DD_TRACE_SAMPLING_RULES` (and `DD_TRACE_SAMPLE_RATE` as a last catch-all rule), as
/// dd-trace-py's `DatadogSampler.sample_or_discard`: the first matching rule decides with a Knuth check on the
/// trace id; a trace it keeps must also pass the rate limiter (`DD_TRACE_RATE_LIMIT`), which only rule-matched
/// traces consult. Traces no rule matches are left to the agent rates (nil).
///
/// Thread-safe: rules are immutable and the limiter locks.
final class TraceRuleSampler: Sendable {
    let rules: [TraceSamplingRule]
    let limiter: SamplingRateLimiter

    init(rules: [TraceSamplingRule], limiter: SamplingRateLimiter) {
        self.rules = rules
        self.limiter = limiter
    }

    /// The decision for the trace whose local root is `root`, or nil when no rule matches.
    func decide(_ root: some SamplingSubject, traceIdLow: UInt64) -> RuleSamplingDecision? {
        guard let rule = rules.first(where: { $0.matches(root) }) else { return nil }
        var decision = RuleSamplingDecision(
            priority: RuleSamplingDecision.userReject, mechanism: rule.provenance.mechanism,
            ruleRate: rule.sampleRate, limitRate: nil)
        if rule.samples(traceIdLow: traceIdLow) {
            let (allowed, effectiveRate) = limiter.allow()
            decision.limitRate = effectiveRate
            if allowed { decision.priority = RuleSamplingDecision.userKeep }
        }
        decision.discard = rule.discard && decision.priority < 0
        return decision
    }
}
