/// The propagation environment variables, described like `EnvironmentVariable` entries so they can move into
/// that registry (and the README table) once the tracer configuration resolves them.
enum PropagationVariable: String, CaseIterable, Sendable {
    case style = "DD_TRACE_PROPAGATION_STYLE"
    case styleInject = "DD_TRACE_PROPAGATION_STYLE_INJECT"
    case styleExtract = "DD_TRACE_PROPAGATION_STYLE_EXTRACT"
    case extractFirst = "DD_TRACE_PROPAGATION_EXTRACT_FIRST"
    case xDatadogTagsMaxLength = "DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH"

    var name: String { rawValue }

    var defaultValue: String {
        switch self {
        case .style, .styleInject, .styleExtract: StyleListRule.describe(DDPropagationStyle.defaultStyles)
        case .extractFirst: "\(PropagationSettings.extractFirstRule.defaultValue)"
        case .xDatadogTagsMaxLength: "\(PropagationSettings.tagsMaxLengthRule.defaultValue)"
        }
    }

    var allowed: String {
        switch self {
        case .style, .styleInject, .styleExtract: StyleListRule.allowed
        case .extractFirst: BooleanRule.allowed
        case .xDatadogTagsMaxLength: PropagationSettings.tagsMaxLengthRule.allowed
        }
    }

    var summary: String {
        switch self {
        case .style: "Header styles injected and extracted, unless the direction's own variable is set."
        case .styleInject: "Header styles written on outgoing requests."
        case .styleExtract: "Header styles read from incoming requests; the first one found gives the trace."
        case .extractFirst: "Extract only the first style found instead of reconciling all of them."
        case .xDatadogTagsMaxLength: "Longest `x-datadog-tags` header sent or accepted; 0 disables it."
        }
    }
}

/// A comma-separated list of propagation styles, read as dd-trace-py's `_parse_propagation_styles` does (trimmed,
/// any case, empty items and `none` skipped), except that unknown styles are reported, and a list with no known
/// style at all falls back to the next setting instead of disabling propagation.
enum StyleListRule {
    static let allowed =
        "comma-separated styles from "
        + DDPropagationStyle.allCases.map(\.rawValue).joined(separator: ", ") + " (any case)"

    static func describe(_ styles: [DDPropagationStyle]) -> String {
        styles.isEmpty ? "none" : styles.map(\.rawValue).joined(separator: ",")
    }

    static func parse(_ raw: String) -> SettingCheck<[DDPropagationStyle]> {
        var styles: [DDPropagationStyle] = []
        var unknown: [String] = []
        var sawNone = false
        for item in raw.split(separator: ",").map({ SettingText.trim($0).lowercased() }) where !item.isEmpty {
            guard let style = DDPropagationStyle(rawValue: item) else {
                unknown.append(item)
                continue
            }
            sawNone = sawNone || style == .none
            styles.append(style)
        }
        let normalized = DDPropagationStyle.normalized(styles)
        guard !unknown.isEmpty else { return .valid(normalized) }
        let problem = SettingProblem(
            .invalidValue, "unknown style" + (unknown.count > 1 ? "s " : " ") + unknown.joined(separator: ", "))
        // Only an explicit `none` may leave no style: a typo must not silently turn propagation off.
        return normalized.isEmpty && !sawNone ? .invalid(problem) : .corrected(normalized, problem)
    }
}

/// The propagation settings resolved from the environment, with a diagnostic for every invalid value.
struct PropagationSettings {
    static let extractFirstRule = BooleanRule(defaultValue: false)
    /// dd-trace-py's default of 512; 64 KiB is far beyond what servers accept in one header.
    static let tagsMaxLengthRule = IntegerRule(defaultValue: 512, range: 0...65_536)

    private(set) var inject: [DDPropagationStyle] = DDPropagationStyle.defaultStyles
    private(set) var extract: [DDPropagationStyle] = DDPropagationStyle.defaultStyles
    private(set) var extractFirst = false
    private(set) var xDatadogTagsMaxLength = 512
    private var log = DiagnosticLog()

    /// One diagnostic per problem: `DD_TRACE_PROPAGATION_STYLE` is read for both directions but reported once.
    var diagnostics: [DDConfigurationDiagnostic] {
        log.diagnostics.reduce(into: []) { unique, diagnostic in
            if !unique.contains(diagnostic) { unique.append(diagnostic) }
        }
    }

    init(environment: [String: String]) {
        let general = candidate(.style, in: environment, StyleListRule.parse)
        inject = log.settle(
            [candidate(.styleInject, in: environment, StyleListRule.parse), general],
            default: DDPropagationStyle.defaultStyles, describe: StyleListRule.describe)
        extract = log.settle(
            [candidate(.styleExtract, in: environment, StyleListRule.parse), general],
            default: DDPropagationStyle.defaultStyles, describe: StyleListRule.describe)
        extractFirst = log.settle(
            [candidate(.extractFirst, in: environment, BooleanRule.parse)],
            default: Self.extractFirstRule.defaultValue)
        xDatadogTagsMaxLength = log.settle(
            [candidate(.xDatadogTagsMaxLength, in: environment) { Self.tagsMaxLengthRule.parse($0) }],
            default: Self.tagsMaxLengthRule.defaultValue)
    }

    /// A variable's value; blank counts as unset, as for every other `DD_*` variable.
    private func candidate<Value>(
        _ variable: PropagationVariable, in environment: [String: String],
        _ parse: @escaping (String) -> SettingCheck<Value>
    ) -> SettingCandidate<Value>? {
        ConfigurationResolver.nonBlank(environment[variable.name]).map { raw in
            SettingCandidate(source: variable.name, raw: raw, allowed: variable.allowed) { parse(raw) }
        }
    }
}
