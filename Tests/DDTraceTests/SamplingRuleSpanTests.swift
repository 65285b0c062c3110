import Testing

@testable import DDTrace

@Suite("SamplingRule single-span rules")
struct SamplingRuleSpanTests {
    static func rules(_ json: String, clock: ManualClock = ManualClock(0)) throws -> SpanSamplingRules {
        let configuration = SamplingConfiguration(environment: ["DD_SPAN_SAMPLING_RULES": json], clock: clock.read)
        #expect(configuration.diagnostics.isEmpty)
        return try #require(configuration.spanSampler)
    }

    static let query = FakeSamplingSubject(service: "billing-db", name: "postgres.query")
    static let request = FakeSamplingSubject(service: "billing-api", name: "http.request")

    @Test("A matching rule keeps the span with its rate and limit; other spans are not kept")
    func matching() throws {
        let rules = try Self.rules(#"[{"service": "billing-db", "name": "postgres.*", "max_per_second": 50}]"#)
        let kept = try #require(rules.sample(Self.query, spanId: 1))
        #expect(kept.ruleRate == 1)
        #expect(kept.maxPerSecond == 50)
        #expect(rules.sample(Self.request, spanId: 1) == nil)
    }

    @Test("Service and name globs ignore case; either may be absent")
    func globs() throws {
        let byName = try Self.rules(#"[{"name": "HTTP.*"}]"#)
        #expect(byName.sample(Self.request, spanId: 5) != nil)
        #expect(byName.sample(Self.query, spanId: 5) == nil)
        let byService = try Self.rules(#"[{"service": "billing-??"}]"#)
        #expect(byService.sample(Self.query, spanId: 5) != nil)
        #expect(byService.sample(Self.request, spanId: 5) == nil)
    }

    @Test("The first matching rule decides alone, even when it does not keep the span")
    func firstMatchDecides() throws {
        let rules = try Self.rules(#"[{"service": "billing-*", "sample_rate": 0}, {"name": "*", "sample_rate": 1}]"#)
        #expect(rules.sample(Self.query, spanId: 77) == nil)
        let other = FakeSamplingSubject(service: "search", name: "es.query")
        #expect(rules.sample(other, spanId: 77)?.ruleRate == 1)
    }

    @Test("Knuth on the span id with the rule's rate")
    func knuth() throws {
        let rules = try Self.rules(#"[{"name": "*", "sample_rate": 0.5}]"#)
        #expect(rules.sample(Self.query, spanId: SamplingRuleSamplerTests.keptAtHalf)?.ruleRate == 0.5)
        #expect(rules.sample(Self.query, spanId: SamplingRuleSamplerTests.droppedAtHalf) == nil)
    }

    @Test("max_per_second limits each rule separately; no limit reports nil")
    func limits() throws {
        let clock = ManualClock(1_000_000_000)
        let rules = try Self.rules(
            #"[{"service": "billing-db", "max_per_second": 2}, {"service": "billing-api"}]"#, clock: clock)
        #expect((0..<4).map { _ in rules.sample(Self.query, spanId: 9) != nil } == [true, true, false, false])
        #expect((0..<100).allSatisfy { _ in rules.sample(Self.request, spanId: 9) != nil })
        #expect(rules.sample(Self.request, spanId: 9)?.maxPerSecond == nil)
        clock.advance(500_000_000)
        #expect(rules.sample(Self.query, spanId: 9) != nil)
    }

    @Test("The tags the flusher writes")
    func tagNames() {
        #expect(SpanSamplingRules.mechanism == 8)
        #expect(SpanSamplingRules.mechanismKey == "_dd.span_sampling.mechanism")
        #expect(SpanSamplingRules.ruleRateKey == "_dd.span_sampling.rule_rate")
        #expect(SpanSamplingRules.maxPerSecondKey == "_dd.span_sampling.max_per_second")
    }

    @Test("tagIfSampled writes the span sampling metrics into the slot, or hands over those that do not fit")
    func tagging() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        let roomy = fixture.root("db.query")
        let full = fixture.root("db.query")
        for index in 0..<(SpanSlot.metricCapacity - 1) { full.setMetric("m\(index)", 1) }
        let rules = try Self.rules(#"[{"name": "db.*", "max_per_second": 10}, {"name": "other"}]"#)
        let roomySlot = try #require(roomy.openSlot)
        #expect(rules.tagIfSampled(roomySlot, defaultService: SlotFixture.service))
        #expect(SlotTags.metric(roomySlot, "_dd.span_sampling.mechanism") == 8)
        #expect(SlotTags.metric(roomySlot, "_dd.span_sampling.rule_rate") == 1)
        #expect(SlotTags.metric(roomySlot, "_dd.span_sampling.max_per_second") == 10)
        var leftovers: [String] = []
        let fullSlot = try #require(full.openSlot)
        #expect(rules.tagIfSampled(fullSlot, defaultService: SlotFixture.service, leftover: { key, _ in leftovers.append(key) }))
        #expect(leftovers == ["_dd.span_sampling.rule_rate", "_dd.span_sampling.max_per_second"])
        let unmatched = fixture.root("http.request")
        #expect(!rules.tagIfSampled(try #require(unmatched.openSlot), defaultService: SlotFixture.service))
        #expect(SlotTags.metric(try #require(unmatched.openSlot), "_dd.span_sampling.mechanism") == nil)
    }

    @Test("Rules read real span slots, resolving the default service")
    func slots() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        let root = fixture.root("web.request", service: nil, resource: nil)
        let child = fixture.child(of: root, "redis.command", service: "cache")
        let rules = try Self.rules(#"[{"service": "filter-test", "name": "web.*"}, {"service": "cache"}]"#)
        for span in [root, child] {
            let subject = SlotSamplingSubject(slot: try #require(span.openSlot), defaultService: SlotFixture.service)
            #expect(rules.sample(subject, spanId: span.spanId) != nil)
        }
    }
}
