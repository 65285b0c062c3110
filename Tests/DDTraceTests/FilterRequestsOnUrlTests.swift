import Testing

@testable import DDTrace

@Suite("Filter FilterRequestsOnUrl")
struct FilterRequestsOnUrlTests {
    /// The patterns of dd-trace-py's FilterRequestsOnUrl docstring (written there as raw strings with doubled
    /// backslashes, which is how the docstring renders `\.`), plus a working subdomain pattern.
    static let patterns = [
        #"http://api\.example\.com"#, #"http://test\.example\.com"#, #"http://example\.com/healthcheck"#,
        #"http://.*+\.example\.com"#, #"http://[^/]+\.example\.com"#, #"/health"#, #"(?i)HTTPS?://"#,
    ]

    static let urls = [
        "http://api.example.com", "http://api.example.com/v1/users", "https://api.example.com", "http://apixexample.com",
        "http://test.example.com", "http://test.example.com.evil.org/", "http://example.com/healthcheck",
        "http://example.com/healthcheck?full=1", "http://example.com/health", "http://example.com/",
        "http://sub.example.com/x", "http://a.b.example.com", "http://example.com", "/health/live", "x/health",
        "HTTP://EXAMPLE.COM", "",
    ]

    @Test("Every (pattern, URL) pair matches as Python's re.match does")
    func pythonParity() throws {
        let pairs = Self.patterns.flatMap { pattern in Self.urls.map { (pattern, $0) } }
        let expected = try SamplingReference.booleans(pairs.map { .reMatch($0.0, $0.1) })
        for ((pattern, url), match) in zip(pairs, expected) {
            #expect(try FilterRequestsOnUrl(pattern).matches(url: url) == match, "\(pattern) ~ \(url)")
        }
    }

    @Test("The docstring's examples")
    func examples() throws {
        let api = try FilterRequestsOnUrl(#"http://api\.example\.com"#)
        #expect(api.matches(url: "http://api.example.com/users"))
        #expect(!api.matches(url: "https://api.example.com/users"))
        let both = try FilterRequestsOnUrl(#"http://test\.example\.com"#, #"http://example\.com/healthcheck"#)
        #expect(both.matches(url: "http://test.example.com"))
        #expect(both.matches(url: "http://example.com/healthcheck"))
        #expect(!both.matches(url: "http://example.com/"))
        #expect(!both.matches(url: "see http://test.example.com"), "anchored at the start, as re.match")
        // The possessive `.*+` swallows the rest of the URL, so this one never matches (in Python 3.11+ too).
        let subdomains = try FilterRequestsOnUrl(patterns: [#"http://.*+\.example\.com"#])
        #expect(!subdomains.matches(url: "http://api.example.com"))
        #expect(subdomains.patterns == [#"http://.*+\.example\.com"#])
    }

    @Test("An invalid pattern throws an error naming it")
    func invalid() {
        #expect {
            try FilterRequestsOnUrl(#"http://ok\.com"#, "http://(unclosed")
        } throws: { error in
            guard let invalid = error as? FilterRequestsOnUrl.InvalidPattern else { return false }
            return invalid.pattern == "http://(unclosed"
                && "\(invalid)".hasPrefix(#"FilterRequestsOnUrl: invalid regular expression "http://(unclosed": "#)
        }
    }

    @Test("Only the local root's http.url counts")
    func localRoot() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        let root = fixture.root("web.request")
        let client = fixture.child(of: root, "http.request")
        client.setTag("http.url", "http://example.com/healthcheck")
        let filter = try FilterRequestsOnUrl(#"http://example\.com/healthcheck"#)
        var trace = fixture.trace()
        #expect(try filter.process(&trace) == .keep, "a client span's URL does not drop the trace")
        root.setTag("http.url", "http://example.com/healthcheck?probe=k8s")
        trace = fixture.trace()
        #expect(try filter.process(&trace) == .drop)
        var withoutRoot = fixture.trace(localRoot: false)
        #expect(try filter.process(&withoutRoot) == .keep, "a later chunk without the root is kept")
    }

    @Test("In a chain, the filter sees the URL as earlier filters left it")
    func inChain() throws {
        struct Rewrite: DDTraceFilter {
            func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
                trace.setTag("http.url", "http://example.com/healthcheck", onSpanAt: 0)
                return .keep
            }
        }
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        fixture.root("web.request").setTag("http.url", "http://example.com/orders")
        var chain = TraceFilterChain(filters: [try FilterRequestsOnUrl(#"http://example\.com/healthcheck"#)])
        var trace = fixture.trace()
        #expect(chain.run(&trace) == .keep)
        chain = TraceFilterChain(filters: [Rewrite(), try FilterRequestsOnUrl(#"http://example\.com/healthcheck"#)])
        trace = fixture.trace()
        #expect(chain.run(&trace) == .drop)
        #expect(chain.statistics.chunksDropped == 1)
    }
}
