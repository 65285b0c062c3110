import Testing

@testable import DDTrace

@Suite("SamplingRule trace sampler")
struct SamplingRuleSamplerTests {
    struct MatchRow: CustomStringConvertible, Sendable {
        let rule: String
        let span: FakeSamplingSubject
        let matches: Bool
        var description: String { "\(rule) on \(span) = \(matches)" }
    }

    static let web = FakeSamplingSubject(
        service: "billing-api", name: "http.request", resource: "GET /invoices/?",
        meta: ["http.method": "GET", "http.url": "http://x/invoices/1", "component": "vapor", "http.status_code": "200"],
        metrics: ["db.row_count": 200, "ratio": 0.25, "retries": 3, "big": 1e20, "negative": -4])

    /// Checked against dd-trace-py's SamplingRule.matches by `SamplingRuleReferenceTests.ruleMatching`.
    static let matchTable: [MatchRow] = [
        MatchRow(rule: #"{"sample_rate": 0.5}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "service": "billing-api"}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "service": "BILLING-*"}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "service": "billing"}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "name": "http.*"}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "name": "grpc.*"}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "resource": "GET /invoices/?"}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "resource": "POST *"}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "resource": ""}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "service": "", "name": "http.request"}"#, span: web, matches: false),
        MatchRow(
            rule: #"{"sample_rate": 0.5, "service": "billing-*", "name": "http.request", "resource": "GET *"}"#,
            span: web, matches: true),
        MatchRow(
            rule: #"{"sample_rate": 0.5, "service": "billing-*", "name": "http.request", "resource": "PUT *"}"#,
            span: web, matches: false),
        // Tags against meta.
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.method": "GET"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.method": "get"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.method": "POST"}}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.url": "*/invoices/*"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"missing": "*"}}"#, span: web, matches: false),
        MatchRow(
            rule: #"{"sample_rate": 0.5, "tags": {"http.method": "GET", "component": "vapor"}}"#, span: web,
            matches: true),
        MatchRow(
            rule: #"{"sample_rate": 0.5, "tags": {"http.method": "GET", "component": "nio"}}"#, span: web,
            matches: false),
        // Tags against meta (ddtrace stores http.status_code as a string).
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.status_code": "200"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.status_code": "2*"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.status_code": "2??"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.status_code": "200.0"}}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.status_code": 200}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"http.status_code": "5*"}}"#, span: web, matches: false),
        // Tags against metrics: integers as integers, fractions only with wildcard-only patterns.
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"db.row_count": "200"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"db.row_count": "2?0"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"db.row_count": "200.0"}}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"db.row_count": 200}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"db.row_count": 200.0}}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"retries": "3"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"negative": "-4"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"big": "100000000000000000000"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"ratio": "0.25"}}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"ratio": "0.*"}}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"ratio": "*"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"ratio": "????"}}"#, span: web, matches: true),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"ratio": "???"}}"#, span: web, matches: false),
        MatchRow(rule: #"{"sample_rate": 0.5, "tags": {"ratio": "?*"}}"#, span: web, matches: true),
    ]

    @Test("Rule matching table", arguments: matchTable)
    func matching(_ row: MatchRow) throws {
        var diagnostics: [DDConfigurationDiagnostic] = []
        let rule = try #require(SamplingRulesParser.traceRules("[\(row.rule)]", diagnostics: &diagnostics).first)
        #expect(diagnostics.isEmpty)
        #expect(rule.matches(row.span) == row.matches)
    }

    /// A trace id that the Knuth check keeps at rate 0.5 and one it drops (hash just below / above the threshold).
    static let keptAtHalf = (UInt64(0.5 * Double(UInt64.max)) - 1) &* KnuthVectors.modularInverse(Sampling.knuthFactor)
    static let droppedAtHalf = (UInt64(0.5 * Double(UInt64.max)) + 2) &* KnuthVectors.modularInverse(Sampling.knuthFactor)

    static func sampler(_ json: String, rateLimit: Double = 100, clock: ManualClock = ManualClock(0)) -> TraceRuleSampler {
        var diagnostics: [DDConfigurationDiagnostic] = []
        let rules = SamplingRulesParser.traceRules(json, diagnostics: &diagnostics)
        return TraceRuleSampler(rules: rules, limiter: SamplingRateLimiter(rateLimit: rateLimit, clock: clock.read))
    }

    @Test("The first matching rule decides: USER_KEEP with both rates, or USER_REJECT without a limiter rate")
    func decisions() {
        #expect(Sampling.keeps(traceIdLow: Self.keptAtHalf, rate: 0.5))
        #expect(!Sampling.keeps(traceIdLow: Self.droppedAtHalf, rate: 0.5))
        let sampler = Self.sampler(#"[{"service": "billing-*", "sample_rate": 0.5}, {"sample_rate": 1}]"#)
        let kept = sampler.decide(Self.web, traceIdLow: Self.keptAtHalf)
        #expect(kept == RuleSamplingDecision(priority: 2, mechanism: 3, ruleRate: 0.5, limitRate: 1))
        let rejected = sampler.decide(Self.web, traceIdLow: Self.droppedAtHalf)
        #expect(rejected == RuleSamplingDecision(priority: -1, mechanism: 3, ruleRate: 0.5, limitRate: nil))
        // Another service falls through to the catch-all.
        let other = FakeSamplingSubject(service: "search", name: "http.request")
        #expect(sampler.decide(other, traceIdLow: Self.droppedAtHalf)?.ruleRate == 1)
    }

    @Test("No matching rule leaves the decision to the agent rates")
    func noMatch() {
        let sampler = Self.sampler(#"[{"service": "search", "sample_rate": 1}]"#)
        #expect(sampler.decide(Self.web, traceIdLow: 1) == nil)
        #expect(sampler.limiter.effectiveRate == 1, "the limiter is not consulted")
    }

    @Test("The limiter turns kept traces into USER_REJECT once the budget is spent, and reports its rate")
    func limited() {
        let clock = ManualClock(1_000_000_000)
        let sampler = Self.sampler(#"[{"sample_rate": 1}]"#, rateLimit: 2, clock: clock)
        let decisions = (0..<4).map { _ in sampler.decide(Self.web, traceIdLow: 42)! }
        #expect(decisions.map(\.priority) == [2, 2, -1, -1])
        #expect(decisions.map(\.limitRate) == [1, 1, 2.0 / 3, 0.5])
        #expect(decisions.allSatisfy { $0.mechanism == 3 && $0.ruleRate == 1 })
        clock.advance(500_000_000)
        #expect(sampler.decide(Self.web, traceIdLow: 42)?.priority == 2, "one token back after half a second")
    }

    @Test("Rate limit 0 rejects every rule-matched trace the Knuth check keeps")
    func zeroLimit() {
        let sampler = Self.sampler(#"[{"sample_rate": 1}]"#, rateLimit: 0)
        let decision = sampler.decide(Self.web, traceIdLow: 7)
        #expect(decision?.priority == -1)
        #expect(decision?.limitRate == 0)
    }

    @Test("Rule rates 0 and 1 never and always keep")
    func extremeRates() {
        let never = Self.sampler(#"[{"sample_rate": 0}]"#)
        let always = Self.sampler(#"[{"sample_rate": 1}]"#, rateLimit: 1_000_000)
        for id in KnuthVectors.ids {
            #expect(never.decide(Self.web, traceIdLow: id)?.priority == -1)
            #expect(always.decide(Self.web, traceIdLow: id)?.priority == 2)
        }
    }

    @Test("Provenance picks the mechanism and the order; discard marks rejected chunks")
    func provenanceAndDiscard() {
        let sampler = Self.sampler(
            #"""
            [{"sample_rate": 0, "name": "http.*", "discard": true},
             {"sample_rate": 1, "provenance": "dynamic"},
             {"sample_rate": 1, "provenance": "customer", "service": "billing-api"}]
            """#)
        #expect(sampler.rules.map(\.provenance) == [.customer, .dynamic, .local])
        #expect(sampler.decide(Self.web, traceIdLow: 3)?.mechanism == 11)
        let other = FakeSamplingSubject(service: "search", name: "http.request")
        #expect(sampler.decide(other, traceIdLow: 3)?.mechanism == 12)
        let discarding = Self.sampler(#"[{"sample_rate": 0, "discard": true}]"#)
        #expect(discarding.decide(Self.web, traceIdLow: 3)?.discard == true)
        let kept = Self.sampler(#"[{"sample_rate": 1, "discard": true}]"#)
        #expect(kept.decide(Self.web, traceIdLow: 3)?.discard == false, "discard only applies to rejected traces")
    }

    @Test("_dd.p.ksr text")
    func knuthSampleRate() {
        #expect(RuleSamplingDecision(priority: 2, mechanism: 3, ruleRate: 0.5).knuthSampleRate == "0.5")
        #expect(RuleSamplingDecision.formatRate(1) == "1")
        #expect(RuleSamplingDecision.formatRate(0) == "0")
        #expect(RuleSamplingDecision.formatRate(0.0000005) == "0.000001")
        #expect(RuleSamplingDecision.formatRate(0.3333333) == "0.333333")
    }

    @Test("Python's str(int(x)) for integral metrics")
    func integerText() {
        #expect(TraceSamplingRule.integerText(200) == "200")
        #expect(TraceSamplingRule.integerText(-0.0) == "0")
        #expect(TraceSamplingRule.integerText(1e20) == "100000000000000000000")
        #expect(TraceSamplingRule.integerText(-3e19) == "-30000000000000000000")
        #expect(TraceSamplingRule.integerText(1.8446744073709552e19) == "18446744073709551616")
        #expect(TraceSamplingRule.integerText(1e300)?.count == 301)
        #expect(TraceSamplingRule.integerText(0.5) == nil)
        #expect(TraceSamplingRule.integerText(.infinity) == nil)
        #expect(TraceSamplingRule.integerText(.nan) == nil)
    }

    @Test("Rules read a real local root slot: default service, resource from the name, process tags")
    func slotSubject() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        let root = fixture.root("web.request", service: nil, resource: nil)
        root.setTag("http.method", "POST")
        root.setTag("http.status_code", "503")
        root.setMetric("retries", 2)
        let subject = SlotSamplingSubject(
            slot: try #require(root.openSlot), defaultService: SlotFixture.service, processTags: ["env": "prod"])
        #expect(subject.service == SlotFixture.service)
        #expect(subject.resource == "web.request")
        let sampler = Self.sampler(
            #"""
            [{"service": "filter-test", "name": "web.request", "resource": "web.*",
              "tags": {"http.method": "POST", "http.status_code": "5??", "retries": "2", "env": "prod"},
              "sample_rate": 1}]
            """#)
        #expect(sampler.decide(subject, traceIdLow: root.traceId.low)?.priority == 2)
        let staging = SlotSamplingSubject(
            slot: try #require(root.openSlot), defaultService: SlotFixture.service, processTags: ["env": "staging"])
        #expect(sampler.decide(staging, traceIdLow: root.traceId.low) == nil)
    }

    @Test("Concurrent deciders share one limiter budget")
    func concurrentLimiter() async {
        let clock = ManualClock(5_000_000_000)
        let sampler = Self.sampler(#"[{"sample_rate": 1}]"#, rateLimit: 50, clock: clock)
        let kept = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<100).reduce(0) { count, _ in count + (sampler.decide(Self.web, traceIdLow: 9)?.priority == 2 ? 1 : 0) }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(kept == 50)
    }
}
