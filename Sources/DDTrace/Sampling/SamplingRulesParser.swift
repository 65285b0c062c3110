/// Reads `DD_TRACE_SAMPLING_RULES` and `DD_SPAN_SAMPLING_RULES`.
///
/// dd-trace-py stops at the first bad trace rule (keeping the ones before it) and crashes on unknown properties;
/// here each bad rule is reported and skipped on its own, so one typo does not silently disable the rules after
/// it. Invalid JSON, or a top level that is not an array, ignores the whole variable.
enum SamplingRulesParser {
    /// A reason a rule is unusable.
    struct Problem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    static let traceRuleProperties = ["sample_rate", "service", "name", "resource", "tags", "provenance", "discard"]
    static let spanRuleProperties = ["service", "name", "sample_rate", "max_per_second"]

    // MARK: Trace rules

    /// The rules of `DD_TRACE_SAMPLING_RULES`, ordered by provenance as dd-trace-py does (customer, dynamic,
    /// then local rules, each group in written order).
    static func traceRules(_ raw: String, diagnostics: inout [DDConfigurationDiagnostic]) -> [TraceSamplingRule] {
        let rules = parseRules(raw, .traceSamplingRules, &diagnostics, traceRule)
        return TraceSamplingRule.Provenance.allCases.flatMap { provenance in
            rules.filter { $0.provenance == provenance }
        }
    }

    static func traceRule(_ json: SamplingJSON) throws(Problem) -> TraceSamplingRule {
        try checkProperties(json, allowed: traceRuleProperties)
        guard let rateValue = json["sample_rate"] else { throw Problem("no sample_rate") }
        var rule = TraceSamplingRule(sampleRate: try rate(rateValue, acceptsText: true))
        rule.service = try glob(json, "service")
        rule.name = try glob(json, "name")
        // dd-trace-py: `GlobMatcher(resource) if resource else None`, so "" matches any resource.
        rule.resource = try glob(json, "resource").flatMap { $0.pattern.isEmpty ? nil : $0 }
        rule.tags = try tagPatterns(json["tags"])
        rule.provenance = try provenance(json["provenance"])
        rule.discard = try flag(json["discard"], "discard")
        return rule
    }

    /// `tags`: an object of patterns. Non-string values are rendered as Python's `str()` renders what
    /// `json.loads` returns (`200` → "200", `2.0` → "2.0", `true` → "True", `null` → "None").
    private static func tagPatterns(_ json: SamplingJSON?) throws(Problem) -> [TraceSamplingRule.TagPattern] {
        switch json {
        case nil, .null?: return []
        case .object?:
            var patterns: [TraceSamplingRule.TagPattern] = []
            for member in json!.uniqueMembers {
                patterns.append(.init(key: member.key, pattern: SamplingGlob(try pythonText(member.value, member.key))))
            }
            return patterns
        case let other?: throw Problem("tags must be an object, not \(other.kindName)")
        }
    }

    private static func pythonText(_ json: SamplingJSON, _ key: String) throws(Problem) -> String {
        switch json {
        case .string(let text): return text
        case .number(let text, let value):
            let isInteger = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
            if isInteger { return text == "-0" ? "0" : text }
            return value.description
        case .bool(let flag): return flag ? "True" : "False"
        case .null: return "None"
        case .object, .array: throw Problem("tag \(key.debugDescription) must be a string, not \(json.kindName)")
        }
    }

    private static func provenance(_ json: SamplingJSON?) throws(Problem) -> TraceSamplingRule.Provenance {
        switch json {
        case nil, .null?: return .local
        case .string(let text)?:
            guard let provenance = TraceSamplingRule.Provenance(rawValue: text) else {
                throw Problem("provenance \(text.debugDescription) is not one of customer, dynamic, default")
            }
            return provenance
        case let other?: throw Problem("provenance must be a string, not \(other.kindName)")
        }
    }

    private static func flag(_ json: SamplingJSON?, _ key: String) throws(Problem) -> Bool {
        switch json {
        case nil, .null?: return false
        case .bool(let flag)?: return flag
        case let other?: throw Problem("\(key) must be a boolean, not \(other.kindName)")
        }
    }

    // MARK: Span rules

    /// The rules of `DD_SPAN_SAMPLING_RULES`, in written order.
    static func spanRules(_ raw: String, diagnostics: inout [DDConfigurationDiagnostic]) -> [SpanSamplingRule] {
        parseRules(raw, .spanSamplingRules, &diagnostics, spanRule)
    }

    static func spanRule(_ json: SamplingJSON) throws(Problem) -> SpanSamplingRule {
        try checkProperties(json, allowed: spanRuleProperties)
        var rule = SpanSamplingRule()
        rule.service = try glob(json, "service")
        rule.name = try glob(json, "name")
        // dd-trace-py: "Sampling rules must supply at least 'service' or 'name'".
        guard rule.service?.pattern.isEmpty == false || rule.name?.pattern.isEmpty == false else {
            throw Problem("a span rule needs a service or a name")
        }
        if let rateValue = json["sample_rate"], rateValue != .null {
            rule.sampleRate = try rate(rateValue, acceptsText: false)
        }
        rule.maxPerSecond = try maxPerSecond(json["max_per_second"])
        return rule
    }

    /// `max_per_second`: absent (or negative, dd-trace-py's -1 default) means no limit; 0 keeps no span.
    private static func maxPerSecond(_ json: SamplingJSON?) throws(Problem) -> Double? {
        switch json {
        case nil, .null?: return nil
        case .number(_, let value)?:
            guard value.isFinite else { throw Problem("max_per_second \(value) is not a finite number") }
            return value < 0 ? nil : value
        case let other?: throw Problem("max_per_second must be a number, not \(other.kindName)")
        }
    }

    // MARK: Shared pieces

    /// Parses a JSON array of rules, reporting each unusable rule (with its source text) and skipping it.
    private static func parseRules<Rule>(
        _ raw: String, _ variable: SamplingVariable, _ diagnostics: inout [DDConfigurationDiagnostic],
        _ makeRule: (SamplingJSON) throws(Problem) -> Rule
    ) -> [Rule] {
        let elements: [(value: SamplingJSON, source: String)]
        do {
            elements = try SamplingJSON.parseArray(raw)
        } catch {
            diagnostics.append(variable.diagnostic(.invalidValue, raw, error.description, fallback: "ignoring the rules"))
            return []
        }
        var rules: [Rule] = []
        for (position, element) in elements.enumerated() {
            do {
                rules.append(try makeRule(element.value))
            } catch {
                diagnostics.append(
                    variable.diagnostic(
                        .invalidValue, element.source, "rule \(position + 1): \(error.message)",
                        fallback: "ignoring the rule"))
            }
        }
        return rules
    }

    private static func checkProperties(_ json: SamplingJSON, allowed: [String]) throws(Problem) {
        guard case .object = json else { throw Problem("a rule must be an object, not \(json.kindName)") }
        for member in json.uniqueMembers where !allowed.contains(member.key) {
            throw Problem("unknown property \(member.key.debugDescription) (known: \(allowed.joined(separator: ", ")))")
        }
    }

    /// A string pattern property; absent or null means "any".
    private static func glob(_ json: SamplingJSON, _ key: String) throws(Problem) -> SamplingGlob? {
        switch json[key] {
        case nil, .null?: return nil
        case .string(let pattern)?: return SamplingGlob(pattern)
        case let other?: throw Problem("\(key) must be a string, not \(other.kindName)")
        }
    }

    /// A sample rate in 0...1. Trace rules also take numeric text, as dd-trace-py's `float(sample_rate)` does;
    /// out-of-range rates are rejected (dd-trace-py clamps them, dd-trace-cpp rejects them).
    private static func rate(_ json: SamplingJSON, acceptsText: Bool) throws(Problem) -> Double {
        let value: Double
        switch json {
        case .number(_, let number): value = number
        case .string(let text) where acceptsText:
            guard let number = Double(SettingText.trim(text)) else {
                throw Problem("sample_rate \(text.debugDescription) is not a number")
            }
            value = number
        default: throw Problem("sample_rate must be a number, not \(json.kindName)")
        }
        guard value >= 0 && value <= 1 else { throw Problem("sample_rate \(value) is outside 0...1") }
        return value
    }
}
