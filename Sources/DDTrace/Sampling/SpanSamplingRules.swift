/// One `DD_SPAN_SAMPLING_RULES` rule: dd-trace-py's `SpanSamplingRule` (`internal/sampling.py`).
struct SpanSamplingRule: Sendable, Equatable {
    var service: SamplingGlob?
    var name: SamplingGlob?
    var sampleRate: Double = 1
    /// Spans per second this rule keeps at most; nil for no limit.
    var maxPerSecond: Double?

    /// Whether the span's service and name match the patterns the rule has.
    func matches(_ span: some SamplingSubject) -> Bool {
        if let service, !service.matches(span.service) { return false }
        if let name, !name.matches(span.name) { return false }
        return true
    }
}

/// Single-span sampling: keeps chosen spans of traces that are dropped (priority ≤ 0).
///
/// As in dd-trace-py's `TraceSamplingProcessor`, each span is tried against the rules in order; the first rule
/// whose patterns match decides alone (a span it does not sample is not offered to later rules): a Knuth check
/// on the span id with the rule's rate, then the rule's own limiter (`max_per_second`).
///
/// The flusher calls this for every span of a chunk whose trace priority is ≤ 0, and tags each span it keeps
/// with the metrics `_dd.span_sampling.mechanism` = 8, `_dd.span_sampling.rule_rate` and, when the rule has a
/// limit, `_dd.span_sampling.max_per_second`.
final class SpanSamplingRules: Sendable {
    static let mechanism: Double = 8
    static let mechanismKey = "_dd.span_sampling.mechanism"
    static let ruleRateKey = "_dd.span_sampling.rule_rate"
    static let maxPerSecondKey = "_dd.span_sampling.max_per_second"

    let rules: [SpanSamplingRule]
    /// One limiter per rule; nil for rules without a limit.
    private let limiters: [SamplingRateLimiter?]

    init(rules: [SpanSamplingRule], clock: @escaping @Sendable () -> Int64 = SamplingClock.monotonic) {
        self.rules = rules
        limiters = rules.map { rule in
            rule.maxPerSecond.map { SamplingRateLimiter(rateLimit: $0, clock: clock) }
        }
    }

    /// Whether the span is kept on its own: the matched rule's rate and limit (for the span's tags), or nil.
    func sample(_ span: some SamplingSubject, spanId: UInt64) -> (ruleRate: Double, maxPerSecond: Double?)? {
        guard let index = rules.firstIndex(where: { $0.matches(span) }) else { return nil }
        let rule = rules[index]
        guard Sampling.keeps(traceIdLow: spanId, rate: rule.sampleRate) else { return nil }
        if let limiter = limiters[index], !limiter.allow().allowed { return nil }
        return (rule.sampleRate, rule.maxPerSecond)
    }

    /// For the flusher: samples the finished span in `slot` and, when it is kept, writes its three metrics into
    /// the slot (a new overflow slot from `newCarrier` if its tag areas are full). Metrics that fit nowhere are
    /// handed to `leftover`, for the encoder's extra tags. Returns whether the span was kept.
    @discardableResult
    func tagIfSampled(
        _ slot: SlotPointer, defaultService: String, newCarrier: () -> SlotPointer? = { nil },
        leftover: (_ key: String, _ value: Double) -> Void = { _, _ in }
    ) -> Bool {
        let span = SlotSamplingSubject(slot: slot, defaultService: defaultService)
        guard let (ruleRate, maxPerSecond) = sample(span, spanId: slot.pointee.spanId) else { return false }
        var metrics = [(Self.mechanismKey, Self.mechanism), (Self.ruleRateKey, ruleRate)]
        if let maxPerSecond { metrics.append((Self.maxPerSecondKey, maxPerSecond)) }
        for (key, value) in metrics where !SlotTags.setMetric(slot, key, value, newCarrier: newCarrier) {
            leftover(key, value)
        }
        return true
    }
}
