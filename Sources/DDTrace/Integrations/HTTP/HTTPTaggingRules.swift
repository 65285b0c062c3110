#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation

/// A set of HTTP status codes, written as in `DD_TRACE_HTTP_SERVER_ERROR_STATUSES`: `500-599` or
/// `400-403,405,410-499`.
public struct DDHTTPStatusSet: Sendable, Equatable, CustomStringConvertible {
    /// The ranges, in the order given.
    public let ranges: [ClosedRange<Int>]

    /// A set of the given ranges.
    public init(_ ranges: [ClosedRange<Int>]) {
        self.ranges = ranges
    }

    /// ddtrace's default for server spans: 5xx.
    public static let defaultServer = DDHTTPStatusSet([500...599])
    /// ddtrace's default for client spans: 4xx.
    public static let defaultClient = DDHTTPStatusSet([400...499])

    /// Whether `status` is in one of the ranges.
    @inline(__always) public func contains(_ status: Int) -> Bool {
        // One or two ranges in practice: a linear scan beats any lookup structure.
        for range in ranges where range.contains(status) { return true }
        return false
    }

    /// The ranges in the variable's syntax: `500-599`, `404`.
    public var description: String {
        ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }
}

/// One entry of `DD_TRACE_HEADER_TAGS`: a header and the tag its value goes to.
public struct DDHeaderTag: Sendable, Equatable {
    /// The header name, lowercase.
    public let header: String
    /// The tag name given after the colon, or nil for ddtrace's default names.
    public let tagName: String?

    /// - Parameters:
    ///   - header: a header name (any case).
    ///   - tagName: the tag to set; nil for `http.request.headers.<header>` / `http.response.headers.<header>`.
    public init(header: String, tagName: String? = nil) {
        self.header = header.lowercased()
        self.tagName = tagName
    }

    /// The tag for this header's value on a request (`isRequest`) or a response.
    public func tag(isRequest: Bool) -> String {
        if let tagName { return tagName }
        return (isRequest ? "http.request.headers." : "http.response.headers.") + Self.normalized(header)
    }

    /// dd-trace-py's `_normalized_header_name`: lowercase, and every character other than `a-z0-9_-:/` becomes `_`.
    static func normalized(_ header: String) -> String {
        String(
            String.UnicodeScalarView(
                header.lowercased().unicodeScalars.map { scalar in
                    switch scalar {
                    case "a"..."z", "0"..."9", "_", "-", ":", "/": scalar
                    default: "_"
                    }
                }))
    }
}

/// `DD_TRACE_HEADER_TAGS`, parsed as dd-trace-py's `parse_tags_str`: items separated by commas, or by spaces when
/// there is no comma; each item is `header` or `header:tag.name`. Malformed items are reported and skipped.
enum HeaderTagRule {
    static let allowed =
        "header or header:tag.name items (headers in any case), separated by commas, or by spaces when there is no comma"

    static func parse(_ raw: String) -> SettingCheck<[DDHeaderTag]> {
        var tags: [DDHeaderTag] = []
        var rejected: [String] = []
        for item in TagListRule.items(raw) {
            guard let tag = headerTag(item) else {
                rejected.append(String(item))
                continue
            }
            tags.removeAll { $0.header == tag.header }
            tags.append(tag)
        }
        guard !rejected.isEmpty else { return .valid(tags) }
        let problem = SettingProblem(.invalidTag, "malformed item" + (rejected.count > 1 ? "s " : " ")
            + rejected.map(\.debugDescription).joined(separator: ", "))
        return tags.isEmpty ? .invalid(problem) : .corrected(tags, problem)
    }

    /// `header` or `header:tag`; nil when the header is empty or not an HTTP token (RFC 9110).
    private static func headerTag(_ item: Substring) -> DDHeaderTag? {
        let parts = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let header = String(SettingText.trim(parts[0]))
        guard !header.isEmpty, header.unicodeScalars.allSatisfy(isTokenCharacter) else { return nil }
        let tag = parts.count > 1 ? String(SettingText.trim(parts[1])) : ""
        if tag.contains(where: \.isWhitespace) { return nil }
        return DDHeaderTag(header: header, tagName: tag.isEmpty ? nil : tag)
    }

    private static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": true
        case "!", "#", "$", "%", "&", "'", "*", "+", "-", ".", "^", "_", "`", "|", "~": true
        default: false
        }
    }
}

/// `DD_TRACE_HTTP_*_ERROR_STATUSES`: comma-separated codes and `low-high` ranges (either order, as dd-trace-py's
/// `get_error_ranges` takes min and max), each within 100...599. Malformed items are reported and skipped.
enum StatusSetRule {
    static let allowed = "comma-separated status codes and low-high ranges within 100...599, e.g. 400-403,405,500-599"

    static func parse(_ raw: String) -> SettingCheck<DDHTTPStatusSet> {
        var ranges: [ClosedRange<Int>] = []
        var rejected: [String] = []
        for item in raw.split(separator: ",").map(SettingText.trim) where !item.isEmpty {
            if let range = range(item) { ranges.append(range) } else { rejected.append(String(item)) }
        }
        guard !rejected.isEmpty else {
            return ranges.isEmpty
                ? .invalid(SettingProblem(.invalidValue, "no status code")) : .valid(DDHTTPStatusSet(ranges))
        }
        let problem = SettingProblem(
            .invalidValue, "not a status code or range: " + rejected.map(\.debugDescription).joined(separator: ", "))
        return ranges.isEmpty ? .invalid(problem) : .corrected(DDHTTPStatusSet(ranges), problem)
    }

    private static func range(_ item: Substring) -> ClosedRange<Int>? {
        let bounds = item.split(separator: "-", omittingEmptySubsequences: false).map { Int(SettingText.trim($0)) }
        guard bounds.count <= 2, let first = bounds.first ?? nil, let last = bounds.last ?? nil,
            (100...599).contains(first), (100...599).contains(last)
        else { return nil }
        return min(first, last)...max(first, last)
    }
}

/// Replaces sensitive parts of query strings with `<redacted>` (`DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`).
public struct DDQueryObfuscator: @unchecked Sendable {
    // @unchecked: NSRegularExpression is immutable after creation and documented as safe to share between threads.
    private let regex: NSRegularExpression?

    /// ddtrace's default pattern (dd-trace-py `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP_DEFAULT`): password, key,
    /// token, signature and auth parameters, bearer tokens, GitHub tokens, JWTs, PEM private keys and SSH keys.
    public static let defaultPattern =
        #"(?ix)(?:(?:"|%22)?)(?:(?:old[-_]?|new[-_]?)?p(?:ass)?w(?:or)?d(?:1|2)?|pass(?:[-_]?phrase)?|secret|"#
        + #"(?:api[-_]?|private[-_]?|public[-_]?|access[-_]?|secret[-_]?|app(?:lication)?[-_]?)key(?:[-_]?id)?|"#
        + #"token|consumer[-_]?(?:id|key|secret)|sign(?:ed|ature)?|auth(?:entication|orization)?)"#
        + #"(?:(?:\s|%20)*(?:=|%3D)[^&]+|(?:"|%22)(?:\s|%20)*(?::|%3A)(?:\s|%20)*(?:"|%22)(?:%2[^2]|%[^2]|[^"%])+"#
        + #"(?:"|%22))|(?: bearer(?:\s|%20)+[a-z0-9._\-]+|token(?::|%3A)[a-z0-9]{13}|gh[opsu]_[0-9a-zA-Z]{36}|"#
        + #"ey[I-L](?:[\w=-]|%3D)+\.ey[I-L](?:[\w=-]|%3D)+(?:\.(?:[\w.+/=-]|%3D|%2F|%2B)+)?|"#
        + #"-{5}BEGIN(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY-{5}[^\-]+-{5}END(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY"#
        + #"(?:-{5})?(?:\n|%0A)?|(?:ssh-(?:rsa|dss)|ecdsa-[a-z0-9]+-[a-z0-9]+)(?:\s|%20|%09)+(?:[a-z0-9/.+]|%2F|"#
        + #"%5C|%2B){100,}(?:=|%3D)*(?:(?:\s|%20|%09)+[a-z0-9._-]+)?)"#

    /// The replacement of every match.
    public static let redacted = "<redacted>"

    /// An obfuscator with `pattern`; an empty pattern turns obfuscation off (as in ddtrace).
    /// - Throws: the regular-expression compiler's error when `pattern` is not valid.
    public init(pattern: String) throws {
        regex = pattern.isEmpty ? nil : try NSRegularExpression(pattern: pattern)
    }

    /// ddtrace's default obfuscation.
    public static let `default` = try! DDQueryObfuscator(pattern: defaultPattern)  // a constant, valid pattern

    /// Whether matches are redacted at all.
    public var isEnabled: Bool { regex != nil }

    /// `query` with every match replaced by `<redacted>`.
    public func obfuscate(_ query: String) -> String {
        guard let regex, !query.isEmpty else { return query }
        let range = NSRange(query.startIndex..<query.endIndex, in: query)
        return regex.stringByReplacingMatches(in: query, range: range, withTemplate: Self.redacted)
    }

    static func check(_ raw: String) -> SettingCheck<DDQueryObfuscator> {
        do {
            return .valid(try DDQueryObfuscator(pattern: raw))
        } catch {
            return .invalid(SettingProblem(.invalidValue, "not a valid regular expression"))
        }
    }
}
