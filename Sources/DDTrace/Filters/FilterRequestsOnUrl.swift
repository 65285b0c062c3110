/// Drops traces of HTTP requests whose URL matches one of a list of regular expressions, like dd-trace-py's
/// `FilterRequestsOnUrl` (removed from dd-trace-py in 3.0; upstream now recommends sampling rules).
///
/// A chunk is dropped when its local root span has an `http.url` tag that one of the patterns matches with
/// Python's `re.match` semantics: the match is anchored at the start of the URL but not at its end, so
/// `http://example\.com/healthcheck` also drops `http://example.com/healthcheck?full=1`. Matching is done on
/// Unicode scalars, as Python does on code points.
///
/// ```swift
/// // Calls to api.example.com:
/// try FilterRequestsOnUrl(#"http://api\.example\.com"#)
/// // Calls to both http://test.example.com and http://example.com/healthcheck:
/// try FilterRequestsOnUrl(#"http://test\.example\.com"#, #"http://example\.com/healthcheck"#)
/// ```
///
/// dd-trace-py's own example for "all first-level subdomains", `http://.*+\.example\.com`, uses a possessive
/// `.*+` that swallows the rest of the URL and so never matches (Python 3.11+ behaves the same; earlier versions
/// rejected the pattern); write `http://[^/]+\.example\.com` instead.
///
/// The original checks the span whose `parent_id` is None (the trace's root); this checks the local root, which
/// for a service called by another traced service is the span of the incoming request.
public struct FilterRequestsOnUrl: DDTraceFilter {
    /// A pattern that is not a valid regular expression.
    public struct InvalidPattern: Error, CustomStringConvertible {
        /// The pattern as given.
        public let pattern: String
        /// Why it was rejected.
        public let reason: String

        /// One line naming the pattern and the reason.
        public var description: String {
            "FilterRequestsOnUrl: invalid regular expression \(pattern.debugDescription): \(reason)"
        }
    }

    /// The patterns, as given.
    public let patterns: [String]
    private let regexes: [CompiledPattern]

    /// `Regex<AnyRegexOutput>` is not `Sendable` only because its output type can carry arbitrary captured values;
    /// the compiled program itself is immutable and safe to share (a `Regex<Substring>` is `Sendable`). The filter
    /// only asks whether a prefix matches and never hands captures across threads.
    private struct CompiledPattern: @unchecked Sendable {
        let regex: Regex<AnyRegexOutput>
    }

    /// Compiles `patterns`; throws ``InvalidPattern`` naming the first one that is not a valid regular expression.
    public init(patterns: [String]) throws {
        self.patterns = patterns
        regexes = try patterns.map(Self.compile)
    }

    /// Compiles `patterns`; throws ``InvalidPattern`` naming the first one that is not a valid regular expression.
    public init(_ patterns: String...) throws {
        try self.init(patterns: patterns)
    }

    private static func compile(_ pattern: String) throws -> CompiledPattern {
        do {
            return CompiledPattern(regex: try Regex(pattern).matchingSemantics(.unicodeScalar))
        } catch {
            throw InvalidPattern(pattern: pattern, reason: "\(error)")
        }
    }

    /// Whether `url` is one this filter drops (`re.match` on any pattern).
    public func matches(url: String) -> Bool {
        regexes.contains { (try? $0.regex.prefixMatch(in: url)) != nil }
    }

    /// Drops the chunk if its local root's `http.url` matches.
    public func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
        guard let url = trace.localRootSpan?.tag("http.url"), matches(url: url) else { return .keep }
        return .drop
    }
}
