/// The generic precedence machinery: a setting's candidates (property set in code, environment variable,
/// tag, socket on disk…) are tried in order, the first that yields a valid value wins, and every problem met
/// on the way becomes a diagnostic whose fallback names the value actually used.

/// A diagnostic whose fallback is not known yet: it depends on which source finally provides the value.
struct PendingDiagnostic {
    let source: String
    let value: String
    let allowed: String
    let problem: SettingProblem

    func settled(fallback: String) -> DDConfigurationDiagnostic {
        DDConfigurationDiagnostic(
            code: problem.code, source: source, value: value, message: problem.message, allowed: allowed,
            fallback: fallback)
    }
}

/// What one candidate yielded: a value (possibly corrected) and the problems found on the way.
struct SettingAttempt<Value> {
    var value: Value?
    var issues: [PendingDiagnostic] = []
}

/// One place a setting's value can come from.
struct SettingCandidate<Value> {
    /// How the winner is named in other diagnostics' fallbacks: `from DD_TRACE_SPAN_POOL_SIZE`.
    let provenance: String
    /// Run only when every candidate before this one failed, so a lower-precedence source that is shadowed
    /// is neither validated nor reported.
    let evaluate: () -> SettingAttempt<Value>
}

extension SettingCandidate {
    /// A single raw value from `source`, validated by `check`.
    init(source: String, raw: String, allowed: String, check: @escaping () -> SettingCheck<Value>) {
        self.init(provenance: "from \(source)") {
            func issue(_ problem: SettingProblem) -> PendingDiagnostic {
                PendingDiagnostic(source: source, value: raw, allowed: allowed, problem: problem)
            }
            switch check() {
            case .valid(let value): return SettingAttempt(value: value)
            case .corrected(let value, let problem): return SettingAttempt(value: value, issues: [issue(problem)])
            case .invalid(let problem): return SettingAttempt(value: nil, issues: [issue(problem)])
            }
        }
    }
}

/// The outcome of trying candidates in precedence order.
struct SettingSelection<Value> {
    private(set) var value: Value?
    private(set) var provenance: String?
    /// Problems of candidates that yielded nothing and fell through to the winner (or the default).
    private(set) var passedOver: [PendingDiagnostic] = []
    /// Problems the winner itself corrected.
    private(set) var corrected: [PendingDiagnostic] = []

    init(_ candidates: [SettingCandidate<Value>?]) {
        for candidate in candidates.compactMap({ $0 }) {
            let attempt = candidate.evaluate()
            guard let value = attempt.value else {
                passedOver += attempt.issues
                continue
            }
            self.value = value
            self.provenance = candidate.provenance
            self.corrected = attempt.issues
            return
        }
    }

    var allIssues: [PendingDiagnostic] { passedOver + corrected }
}

/// The diagnostics of one resolution, in the order they were found.
struct DiagnosticLog {
    private(set) var diagnostics: [DDConfigurationDiagnostic] = []
    /// Set by a problem that fails resolution even in lenient mode (https).
    private(set) var hasFatal = false

    mutating func record(_ issues: [PendingDiagnostic], fallback: String) {
        for issue in issues {
            hasFatal = hasFatal || issue.problem.isFatal
            // A fatal problem has no fallback: nothing is used instead, resolution fails.
            let used = issue.problem.isFatal ? "rejecting the configuration" : fallback
            diagnostics.append(issue.settled(fallback: used))
        }
    }

    /// Picks the first valid candidate and records every problem with the fallback actually used; nil (with
    /// `fallback` recorded) when no candidate is valid. The one wording of every resolver (core, propagation,
    /// integrations): "using <value> <provenance>" for a candidate passed over, "using <value>" for one corrected.
    mutating func settle<Value>(
        _ candidates: [SettingCandidate<Value>?], otherwise fallback: String,
        describe: (Value) -> String = { "\($0)" }
    ) -> Value? {
        let selection = SettingSelection(candidates)
        guard let value = selection.value, let provenance = selection.provenance else {
            record(selection.passedOver, fallback: fallback)
            return nil
        }
        record(selection.passedOver, fallback: "using \(describe(value)) \(provenance)")
        record(selection.corrected, fallback: "using \(describe(value))")
        return value
    }

    /// The first valid candidate, else the default ("using the default <value>").
    mutating func settle<Value>(
        _ candidates: [SettingCandidate<Value>?], default defaultValue: Value,
        describe: (Value) -> String = { "\($0)" }
    ) -> Value {
        settle(candidates, otherwise: "using the default \(describe(defaultValue))", describe: describe)
            ?? defaultValue
    }
}
