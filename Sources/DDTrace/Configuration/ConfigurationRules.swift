/// Validation rules shared by environment variables and their programmatic counterparts.
///
/// Each rule owns its default and limits once; the registry (`EnvironmentVariable`) renders its user-facing
/// text from the same values, so documentation and behaviour cannot drift apart.

/// The result of checking one raw value against a rule.
enum SettingCheck<Value> {
    case valid(Value)
    /// Usable after a correction (e.g. rounded up to a power of two), which is still reported.
    case corrected(Value, SettingProblem)
    case invalid(SettingProblem)
}

/// What is wrong with a value; the resolver adds where it came from and what is used instead.
struct SettingProblem: Sendable {
    let code: DDConfigurationDiagnostic.Code
    let message: String
    /// Fatal problems make `resolve()` throw even in lenient mode.
    var isFatal = false

    init(_ code: DDConfigurationDiagnostic.Code, _ message: String, isFatal: Bool = false) {
        self.code = code
        self.message = message
        self.isFatal = isFatal
    }
}

struct BooleanRule: Sendable {
    let defaultValue: Bool

    static let traceEnabled = BooleanRule(defaultValue: true)
    static let traceDebug = BooleanRule(defaultValue: false)
    static let partialFlushEnabled = BooleanRule(defaultValue: true)
    static let ioUringEnabled = BooleanRule(defaultValue: true)
    static let healthMetricsEnabled = BooleanRule(defaultValue: false)
    static let reportHostname = BooleanRule(defaultValue: false)

    static let allowed = "true/false, 1/0, yes/no, on/off (any case)"

    static func parse(_ raw: String) -> SettingCheck<Bool> {
        switch raw.lowercased() {
        case "true", "1", "yes", "on": .valid(true)
        case "false", "0", "no", "off": .valid(false)
        default: .invalid(SettingProblem(.invalidBoolean, "not a boolean"))
        }
    }
}

struct IntegerRule: Sendable {
    /// A lower limit that depends on another setting (the buffer must hold the largest payload).
    struct Minimum {
        let value: Int
        let name: String
    }

    let defaultValue: Int
    let range: ClosedRange<Int>
    /// The rings index with a mask, so their capacity must be a power of two.
    var roundsUpToPowerOfTwo = false
    /// A constraint beyond the range, for the `allowed` text.
    var requirement: String?

    static let agentPort = IntegerRule(defaultValue: 8126, range: 1...65_535)
    static let dogstatsdPort = IntegerRule(defaultValue: 8125, range: 1...65_535)
    static let spanPoolSize = IntegerRule(defaultValue: 16_384, range: 64...1_048_576)
    static let ringCapacity = IntegerRule(defaultValue: 16_384, range: 256...1_048_576, roundsUpToPowerOfTwo: true)
    /// dd-trace-py's default payload limit (20 MiB).
    static let maxPayloadSize = IntegerRule(defaultValue: 20_971_520, range: 65_536...52_428_800)
    static let bufferSize = IntegerRule(
        defaultValue: 41_943_040, range: 65_536...4_294_967_296,
        requirement: "at least \(EnvironmentVariable.maxPayloadSize.name)")
    static let partialFlushMinSpans = IntegerRule(defaultValue: 300, range: 1...1_000_000)

    var allowed: String {
        let base = roundsUpToPowerOfTwo ? "a power of two in \(range)" : "an integer in \(range)"
        return requirement.map { "\(base), \($0)" } ?? base
    }

    func parse(_ raw: String, atLeast minimum: Minimum? = nil) -> SettingCheck<Int> {
        guard let value = Int(raw) else { return .invalid(SettingProblem(.invalidNumber, "not an integer")) }
        return check(value, atLeast: minimum)
    }

    func check(_ value: Int, atLeast minimum: Minimum? = nil) -> SettingCheck<Int> {
        guard range.contains(value) else { return .invalid(SettingProblem(.outOfRange, "out of range")) }
        if roundsUpToPowerOfTwo, value.nonzeroBitCount != 1 {
            // The range's upper bound is a power of two, so rounding up stays in range.
            let rounded = 1 << (Int.bitWidth - (value - 1).leadingZeroBitCount)
            return .corrected(rounded, SettingProblem(.notPowerOfTwo, "not a power of two"))
        }
        if let minimum, value < minimum.value {
            return .corrected(
                minimum.value, SettingProblem(.inconsistent, "smaller than the \(minimum.name) \(minimum.value)"))
        }
        return .valid(value)
    }
}

struct SecondsRule: Sendable {
    let defaultValue: Double
    let range: ClosedRange<Double>
    /// The agent timeout only has to be positive: its lower bound 0 itself is rejected.
    var excludesLowerBound = false

    /// The upper bound keeps the conversion to milliseconds finite; an hour is far beyond any useful timeout.
    static let agentTimeout = SecondsRule(defaultValue: 2.0, range: 0...3600, excludesLowerBound: true)
    static let flushInterval = SecondsRule(defaultValue: 1.0, range: 0.01...60)

    var allowed: String {
        excludesLowerBound
            ? "a number of seconds > \(range.lowerBound) and ≤ \(range.upperBound)"
            : "a number of seconds in \(range)"
    }

    func parse(_ raw: String) -> SettingCheck<Double> {
        // `Double(_:)` also accepts "inf" and "nan"; neither is a duration.
        guard let seconds = Double(raw), seconds.isFinite else {
            return .invalid(SettingProblem(.invalidNumber, "not a number"))
        }
        return check(seconds)
    }

    func check(_ seconds: Double) -> SettingCheck<Double> {
        let inRange = range.contains(seconds) && !(excludesLowerBound && seconds == range.lowerBound)
        return inRange ? .valid(seconds) : .invalid(SettingProblem(.outOfRange, "out of range"))
    }
}

/// Free text that ends up in span metadata (service, env, version).
struct TextRule: Sendable {
    let maxLength: Int

    /// Datadog truncates service names beyond 100 characters and tag values beyond 200.
    static let service = TextRule(maxLength: 100)
    static let tagValue = TextRule(maxLength: 200)

    var allowed: String { "text of at most \(maxLength) characters, without control characters" }

    func check(_ text: String) -> SettingCheck<String> {
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return .invalid(SettingProblem(.invalidValue, "contains control characters"))
        }
        if text.count > maxLength {
            return .invalid(SettingProblem(.invalidValue, "longer than \(maxLength) characters"))
        }
        return .valid(text)
    }
}

/// `DD_TAGS`, parsed as dd-trace-py's `parse_tags_str` does, except that items without a key, a colon or a
/// value are reported instead of being kept with an empty value.
enum TagListRule {
    static let allowed = "key:value pairs separated by commas, or by spaces when there is no comma"

    /// Splits on commas if there is one (so values may contain spaces), else on whitespace.
    static func items(_ raw: String) -> [Substring] {
        let separatedByCommas = raw.contains(",")
        return raw.split(omittingEmptySubsequences: true) { separatedByCommas ? $0 == "," : $0.isWhitespace }
            .map(SettingText.trim)
            .filter { !$0.isEmpty }
    }

    /// Splits one item at its first colon, so values may contain colons (`url:http://x`).
    static func pair(_ item: some StringProtocol) -> SettingCheck<(key: String, value: String)> {
        guard let colon = item.firstIndex(of: ":") else {
            return .invalid(SettingProblem(.invalidTag, "not a key:value pair"))
        }
        return check(key: item[..<colon], value: item[item.index(after: colon)...])
    }

    /// A tag's key and value, trimmed; both must be non-empty (an empty value is usually an unset shell
    /// variable, as in `team:$TEAM`).
    static func check(
        key: some StringProtocol, value: some StringProtocol
    ) -> SettingCheck<(key: String, value: String)> {
        let key = String(SettingText.trim(key))
        let value = String(SettingText.trim(value))
        if key.isEmpty { return .invalid(SettingProblem(.invalidTag, "empty tag key")) }
        if value.isEmpty { return .invalid(SettingProblem(.invalidTag, "empty tag value")) }
        return .valid((key, value))
    }
}

enum SettingText {
    /// The text without leading and trailing whitespace (no Foundation needed).
    static func trim<Text: StringProtocol>(_ text: Text) -> Text.SubSequence {
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text.lastIndex { !$0.isWhitespace }.map(text.index(after:)) ?? start
        return text[start..<end]
    }
}

/// `DD_TRACE_API_VERSION`: which trace endpoint the flusher posts to.
enum TraceAPIVersionRule {
    static let defaultValue = TraceAPIVersion.v04
    static let allowed = "v0.4 or v0.5"

    static func parse(_ raw: String) -> SettingCheck<TraceAPIVersion> {
        TraceAPIVersion(rawValue: raw.lowercased()).map { .valid($0) }
            ?? .invalid(SettingProblem(.invalidValue, "not a supported trace API version"))
    }
}

/// Where DogStatsD health metrics go.
enum DogStatsDEndpoint: Sendable, Equatable, CustomStringConvertible {
    case udp(host: String, port: Int)
    case unix(path: String)

    var description: String {
        switch self {
        case .udp(let host, let port) where host.contains(":"): "udp://[\(host)]:\(port)"
        case .udp(let host, let port): "udp://\(host):\(port)"
        case .unix(let path): "unix://\(path)"
        }
    }
}

/// `DD_DOGSTATSD_URL`: `udp://host[:port]` or `unix:///path` (a datagram socket), as the other Datadog tracers
/// and the agent's `dogstatsd_socket` accept.
enum DogStatsDAddressRule {
    static let urlAllowed = "udp://host[:port] (port defaults to \(IntegerRule.dogstatsdPort.defaultValue)) or "
        + "unix:///absolute/path"

    static func parseURL(_ raw: String) -> SettingCheck<DogStatsDEndpoint> {
        guard let separator = raw.firstRange(of: "://") else {
            return .invalid(SettingProblem(.invalidURL, "not a URL (expected udp:// or unix://)"))
        }
        let scheme = raw[..<separator.lowerBound].lowercased()
        let rest = raw[separator.upperBound...]
        switch scheme {
        case "udp":
            // The same authority rules as the agent's http:// URLs, with DogStatsD's default port.
            switch AgentAddressRule.parseURL("http://" + rest, httpsIsFatal: false) {
            case .valid(.tcp(let host, let port)):
                let explicitPort = rest.hasSuffix(":\(port)") || rest.hasSuffix(":\(port)/")
                return .valid(.udp(host: host, port: explicitPort ? port : IntegerRule.dogstatsdPort.defaultValue))
            case .invalid(let problem):
                return .invalid(problem)
            default:
                return .invalid(SettingProblem(.invalidURL, "not a udp:// URL"))
            }
        case "unix":
            switch AgentAddressRule.checkSocketPath(String(rest), code: .invalidURL) {
            case .valid(.unix(let path)): return .valid(.unix(path: path))
            case .invalid(let problem): return .invalid(problem)
            default: return .invalid(SettingProblem(.invalidURL, "not a socket path"))
            }
        default:
            return .invalid(SettingProblem(.unsupportedScheme, "unsupported scheme \"\(scheme)\"; use udp:// or unix://"))
        }
    }
}
