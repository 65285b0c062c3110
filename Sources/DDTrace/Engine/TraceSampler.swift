// Trace sampling decisions: made once per trace, at the first inject or when the trace's first chunk is flushed.
//
// Precedence, as in the reference tracers: a manual decision (USER_KEEP / USER_REJECT) wins; then a decision
// inherited from an upstream service, adopted as it is; then the agent's rate for the root's service and env
// (from `rate_by_service`, deterministic by trace id so that every service agrees); then keep.
//
// The agent's rates are written by the flusher and read by app threads (at inject) through an atomic reference
// to an immutable snapshot, so a reader never takes a lock.

import Atomics

struct SamplingDecision: Equatable {
    /// -1, 0, 1 or 2.
    var priority: Int8
    /// The `_dd.p.dm` mechanism: 0 default, 1 agent rate, 4 manual; -1 for an inherited decision.
    var mechanism: Int8
    /// The agent rate used (mechanism 1).
    var rate: Double

    static let inheritedMechanism: Int8 = -1

    /// `_dd.p.dm` for this decision, or nil when none is written (inherited decisions keep the upstream value;
    /// dropped traces carry none, as dd-trace-cpp does).
    var decisionMaker: StaticString? {
        guard priority > 0 else { return nil }
        switch mechanism {
        case 0: return "-0"
        case 1: return "-1"
        case 4: return "-4"
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

    init(env: String?, defaultService: String) {
        self.env = env ?? ""
        self.defaultService = defaultService
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

    /// Decides for a trace. `manual` and `inherited` are `unsetSamplingPriority` when absent.
    func decide(traceIdLow: UInt64, manual: Int8, inherited: Int8, service: String) -> SamplingDecision {
        if manual != unsetSamplingPriority {
            return SamplingDecision(priority: manual, mechanism: 4)
        }
        if inherited != unsetSamplingPriority {
            return SamplingDecision(priority: inherited, mechanism: SamplingDecision.inheritedMechanism)
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
