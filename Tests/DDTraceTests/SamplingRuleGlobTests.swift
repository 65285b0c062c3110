import Testing

@testable import DDTrace

@Suite("SamplingRule globs")
struct SamplingRuleGlobTests {
    struct Row: CustomStringConvertible, Sendable {
        let pattern: String
        let subject: String
        let matches: Bool
        var description: String { "\(pattern.debugDescription) ~ \(subject.debugDescription) = \(matches)" }
    }

    /// Checked against dd-trace-py's GlobMatcher by `SamplingRuleReferenceTests.globs`.
    static let table: [Row] = [
        // Literals, compared ignoring case.
        Row(pattern: "web.request", subject: "web.request", matches: true),
        Row(pattern: "web.request", subject: "Web.Request", matches: true),
        Row(pattern: "WEB.REQUEST", subject: "web.request", matches: true),
        Row(pattern: "web.request", subject: "web.requests", matches: false),
        Row(pattern: "web.request", subject: "web.reques", matches: false),
        Row(pattern: "", subject: "", matches: true),
        Row(pattern: "", subject: "a", matches: false),
        // `*`: any run, including none.
        Row(pattern: "*", subject: "", matches: true),
        Row(pattern: "*", subject: "anything at all", matches: true),
        Row(pattern: "**", subject: "x", matches: true),
        Row(pattern: "web.*", subject: "web.request", matches: true),
        Row(pattern: "web.*", subject: "web.", matches: true),
        Row(pattern: "web.*", subject: "WEB.X", matches: true),
        Row(pattern: "web.*", subject: "web", matches: false),
        Row(pattern: "*.request", subject: "http.request", matches: true),
        Row(pattern: "*.request", subject: "http.requests", matches: false),
        Row(pattern: "a*b*c", subject: "abc", matches: true),
        Row(pattern: "a*b*c", subject: "aXXbYYc", matches: true),
        Row(pattern: "a*b*c", subject: "aXXbYYcZ", matches: false),
        Row(pattern: "a*b*c", subject: "acb", matches: false),
        Row(pattern: "*a*", subject: "banana", matches: true),
        Row(pattern: "*ana", subject: "banana", matches: true),
        Row(pattern: "b*na", subject: "banana", matches: true),
        Row(pattern: "*x*", subject: "banana", matches: false),
        // `?`: exactly one character.
        Row(pattern: "?", subject: "a", matches: true),
        Row(pattern: "?", subject: "", matches: false),
        Row(pattern: "?", subject: "ab", matches: false),
        Row(pattern: "a?c", subject: "abc", matches: true),
        Row(pattern: "a?c", subject: "ac", matches: false),
        Row(pattern: "??*", subject: "a", matches: false),
        Row(pattern: "??*", subject: "ab", matches: true),
        Row(pattern: "*?", subject: "", matches: false),
        Row(pattern: "2??", subject: "200", matches: true),
        Row(pattern: "2??", subject: "2000", matches: false),
        Row(pattern: "4*", subject: "404", matches: true),
        // No escapes and no classes: these are ordinary characters.
        Row(pattern: "[ab]", subject: "a", matches: false),
        Row(pattern: "[ab]", subject: "[AB]", matches: true),
        Row(pattern: "a\\*", subject: "a\\xyz", matches: true),
        Row(pattern: "a.c", subject: "abc", matches: false),
        // Non-ASCII: characters are code points, case folded with lower().
        Row(pattern: "café", subject: "CAFÉ", matches: true),
        Row(pattern: "caf?", subject: "café", matches: true),
        Row(pattern: "caf?", subject: "cafe\u{301}", matches: false),
        Row(pattern: "caf??", subject: "cafe\u{301}", matches: true),
        Row(pattern: "服务-*", subject: "服务-支付", matches: true),
        Row(pattern: "*ü*", subject: "MÜNCHEN", matches: true),
        Row(pattern: "straße", subject: "STRASSE", matches: false),
        Row(pattern: "k", subject: "\u{212A}", matches: true),
        Row(pattern: "?", subject: "😀", matches: true),
    ]

    @Test("Glob table", arguments: table)
    func glob(_ row: Row) {
        #expect(SamplingGlob(row.pattern).matches(row.subject) == row.matches)
    }

    @Test("Substrings and bridged strings take the same paths")
    func nonNativeSubjects() {
        let text = "prefix:web.request:suffix"
        let subject = String(text.split(separator: ":")[1])
        #expect(SamplingGlob("WEB.*").matches(subject))
        #expect(SamplingGlob("w?b.r*t").matches(subject))
    }

    @Test("Wildcards-only patterns are recognised (they may match fractional metrics)")
    func wildcardsOnly() {
        #expect(SamplingGlob("*").isWildcardsOnly)
        #expect(SamplingGlob("?*").isWildcardsOnly)
        #expect(SamplingGlob("").isWildcardsOnly)
        #expect(!SamplingGlob("0.*").isWildcardsOnly)
    }

    @Test("Equal patterns compare equal regardless of case, as GlobMatcher.__eq__ compares lowered patterns")
    func equality() {
        #expect(SamplingGlob("Web.*") == SamplingGlob("web.*"))
        #expect(SamplingGlob("web.*") != SamplingGlob("web.?"))
    }
}
