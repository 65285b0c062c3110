// Trace sampling decisions: made once per trace, at the first inject or when the trace's first chunk is flushed.
//
// Precedence, as in the reference tracers: a manual decision (USER_KEEP / USER_REJECT) wins; then a decision
// inherited from an upstream service, adopted as it is; then the first matching sampling rule
// (`DD_TRACE_SAMPLING_RULES`, `DD_TRACE_SAMPLE_RATE`; USER_KEEP/USER_REJECT, rate-limited by
// `DD_TRACE_RATE_LIMIT`); then the agent's rate for the root's service and env (from `rate_by_service`,
// deterministic by trace id so that every service agrees); then keep.
//
// The agent's rates are written by the flusher and read by app threads (at inject) through an atomic reference
// to an immutable snapshot, so a reader never takes a lock.

import Atomics

struct SamplingDecision: Equatable {
    /// -1, 0, 1 or 2.
    var priority: Int8
    /// The `_dd.p.dm` mechanism: 0 default, 1 agent rate, 4 manual; -1 for an inherited decision.
    var mechanism: Int8
    /// The agent rate (mechanism 1) or the rule's rate (3, 11, 12) used.
    var rate: Double
    /// The rate limiter's effective rate, when a rule matched and the limiter was consulted (`_dd.limit_psr`).
    var limitRate: Double?
    /// A matching rule asked for rejected traces to be discarded rather than sent with USER_REJECT.
    var discard = false

    static let inheritedMechanism: Int8 = -1

    /// `_dd.p.dm` for this decision, or nil when none is written (inherited decisions keep the upstream value;
    /// dropped traces carry none, as dd-trace-cpp does).
    var decisionMaker: StaticString? {
        guard priority > 0 else { return nil }
        switch mechanism {
        case 0: return "-0"
        case 1: return "-1"
        case 3: return "-3"
        case 4: return "-4"
        case 11: return "-11"
        case 12: return "-12"
        default: return nil
        }
    }

    /// Packed for `SlotHeader.presetDecision`: bit 15 marks a decision as present.
    var packed: UInt16 {
        0x8000 | UInt16(UInt8(bitPattern: priority)) | (UInt16(UInt8(bitPattern: mechanism) & 0x7f) << 8)
    }

    init(priority: Int8, mechanism: Int8, rate: Double = 1) {
        self.priority = priority
        self.mechanism = mechanism
        self.rate = rate
    }

    init?(packed: UInt16, rate: Double) {
        guard packed & 0x8000 != 0 else { return nil }
        let mechanismBits = UInt8((packed >> 8) & 0x7f)
        self.init(
            priority: Int8(bitPattern: UInt8(packed & 0xff)),
            mechanism: mechanismBits == 0x7f ? Self.inheritedMechanism : Int8(mechanismBits), rate: rate)
    }
}

final class TraceSampler: Sendable {
    final class Rates: AtomicReference, Sendable {
        let byService: [String: Double]
        let defaultRate: Double?
        init(byService: [String: Double], defaultRate: Double?) {
            self.byService = byService
            self.defaultRate = defaultRate
        }
    }

    private let rates = ManagedAtomic(Rates(byService: [:], defaultRate: nil))
    private let env: String
    let defaultService: String
    /// `DD_TRACE_SAMPLING_RULES` / `DD_TRACE_SAMPLE_RATE` with the `DD_TRACE_RATE_LIMIT` limiter, if any rule.
    let rules: TraceRuleSampler?
    /// `DD_SPAN_SAMPLING_RULES`, applied to spans of dropped traces.
    let spanRules: SpanSamplingRules?
    /// Tags the encoder puts on every span (`env`, `version`, `DD_TAGS`): rules can match them, as in ddtrace.
    let processTags: [String: String]

    init(
        env: String?, defaultService: String, rules: TraceRuleSampler? = nil, spanRules: SpanSamplingRules? = nil,
        processTags: [String: String] = [:]
    ) {
        self.env = env ?? ""
        self.defaultService = defaultService
        self.rules = rules
        self.spanRules = spanRules
        self.processTags = processTags
    }

    /// Takes the agent's `rate_by_service`: keys are exactly `service:<service>,env:<env>`, and `service:,env:`
    /// is the default for services without a key of their own. Keys of other envs are ignored.
    func update(rateByService: [String: Double]) {
        var byService: [String: Double] = [:]
        for (key, rate) in rateByService {
            guard key.hasPrefix("service:"), let comma = key.range(of: ",env:") else { continue }
            let service = String(key[key.index(key.startIndex, offsetBy: 8)..<comma.lowerBound])
            let keyEnv = String(key[comma.upperBound...])
            if service.isEmpty && keyEnv.isEmpty { continue }
            if keyEnv == env { byService[service] = rate }
        }
        rates.store(Rates(byService: byService, defaultRate: rateByService["service:,env:"]), ordering: .releasing)
    }

    func agentRate(service: String) -> Double? {
        let current = rates.load(ordering: .acquiring)
        return current.byService[service.isEmpty ? defaultService : service] ?? current.defaultRate
    }

    /// Decides for a trace whose local root is `root` (nil for a context without a local span: no rule can
    /// match it). `manual` and `inherited` are `unsetSamplingPriority` when absent.
    func decide(root: SlotPointer?, traceIdLow: UInt64, manual: Int8, inherited: Int8, service: String)
        -> SamplingDecision
    {
        if manual != unsetSamplingPriority {
            return SamplingDecision(priority: manual, mechanism: 4)
        }
        if inherited != unsetSamplingPriority {
            return SamplingDecision(priority: inherited, mechanism: SamplingDecision.inheritedMechanism)
        }
        if let rules, let root,
            let matched = rules.decide(
                SlotSamplingSubject(slot: root, defaultService: defaultService, processTags: processTags),
                traceIdLow: traceIdLow)
        {
            var decision = SamplingDecision(priority: matched.priority, mechanism: matched.mechanism, rate: matched.ruleRate)
            decision.limitRate = matched.limitRate
            decision.discard = matched.discard
            return decision
        }
        if let rate = agentRate(service: service) {
            return SamplingDecision(
                priority: Sampling.keeps(traceIdLow: traceIdLow, rate: rate) ? 1 : 0, mechanism: 1, rate: rate)
        }
        return SamplingDecision(priority: 1, mechanism: 0)
    }
}

/// Deterministic trace sampling, shared by every Datadog tracer so that distributed services agree.
enum Sampling {
    static let knuthFactor: UInt64 = 1_111_111_111_111_111_111

    /// Keeps the trace when `(traceIdLow * KNUTH) mod 2^64 <= rate * (2^64 - 1)`.
    static func keeps(traceIdLow: UInt64, rate: Double) -> Bool {
        if rate >= 1 { return true }
        if rate <= 0 { return false }
        let threshold = UInt64(rate * Double(UInt64.max))
        return traceIdLow &* knuthFactor <= threshold
    }
}
