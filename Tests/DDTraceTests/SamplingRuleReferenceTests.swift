// dd-trace-py 4.x as the reference for sampling rules and FilterRequestsOnUrl: the cases run through
// Support/sampling_ddtrace.py in the test virtual environment (made by scripts/setup.sh), which answers with
// ddtrace's own GlobMatcher, SamplingRule, SpanSamplingRule, RateLimiter and format_rate, and Python's `re`.

import Foundation
import Synchronization
import Testing

@testable import DDTrace

/// Runs batches of cases through dd-trace-py.
enum SamplingReference {
    struct SpanFields: Encodable {
        var service: String
        var name: String
        var resource: String
        var meta: [String: String] = [:]
        var metrics: [String: Double] = [:]
    }

    struct Case: Encodable {
        var op: String
        var traceId: String?
        var spanId: String?
        var rate: Double?
        var pattern: String?
        var subject: String?
        var ruleJSON: String?
        var span: SpanFields?
        var json: String?
        var rateLimit: Int?
        var start: Int64?
        var calls: [Int64]?

        enum CodingKeys: String, CodingKey {
            case op, rate, pattern, subject, span, json, start, calls
            case traceId = "trace_id", spanId = "span_id", ruleJSON = "rule_json", rateLimit = "rate_limit"
        }

        static func knuth(traceId: UInt64, rate: Double) -> Case {
            Case(op: "knuth", traceId: String(traceId), rate: rate)
        }
        static func spanKnuth(spanId: UInt64, rate: Double) -> Case {
            Case(op: "span_knuth", spanId: String(spanId), rate: rate)
        }
        static func glob(_ pattern: String, _ subject: String) -> Case {
            Case(op: "glob", pattern: pattern, subject: subject)
        }
        static func ruleMatch(_ ruleJSON: String, _ span: SpanFields) -> Case {
            Case(op: "rule_match", ruleJSON: ruleJSON, span: span)
        }
        static func parseRules(_ json: String) -> Case { Case(op: "parse_rules", json: json) }
        static func spanRules(_ json: String) -> Case { Case(op: "span_rules", json: json) }
        static func limiter(rateLimit: Int, start: Int64, calls: [Int64]) -> Case {
            Case(op: "limiter", rateLimit: rateLimit, start: start, calls: calls)
        }
        static func formatRate(_ rate: Double) -> Case { Case(op: "format_rate", rate: rate) }
        static func reMatch(_ pattern: String, _ subject: String) -> Case {
            Case(op: "re_match", pattern: pattern, subject: subject)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/sampling_ddtrace.py")
    }

    /// One Python process per batch; returns one JSON value per case.
    static func run(_ cases: [Case]) throws -> [Any] {
        let output = try PythonScript.run(script.path, input: try JSONEncoder().encode(["cases": cases]), reference: true)
        guard let object = try JSONSerialization.jsonObject(with: output, options: [.fragmentsAllowed]) as? [String: Any],
            let results = object["results"] as? [Any], results.count == cases.count
        else { throw Failure(description: "unexpected output: \(String(decoding: output.prefix(500), as: UTF8.self))") }
        return results
    }

    /// The results of a batch whose answers are all booleans.
    static func booleans(_ cases: [Case]) throws -> [Bool] {
        try run(cases).map { result in
            guard let flag = result as? Bool else { throw Failure(description: "not a boolean: \(result)") }
            return flag
        }
    }
}

/// Trace ids (and span ids) around the interesting points of the Knuth hash, plus pseudo-random ones.
enum KnuthVectors {
    static let ids: [UInt64] = {
        var ids: [UInt64] = [0, 1, 2, 3, 7, 1_000, 12_345, 1 << 32, 1 << 62, 1 << 63, .max, .max - 1, .max / 2]
        // Ids whose hash lands right at a threshold: inverse of the Knuth factor modulo 2^64, times targets.
        let inverse = modularInverse(Sampling.knuthFactor)
        for rate in rates where rate > 0 && rate < 1 {
            let threshold = UInt64(rate * Double(UInt64.max))
            for delta: UInt64 in [0, 1] {
                ids.append((threshold &- delta) &* inverse)
                ids.append((threshold &+ 1 &+ delta) &* inverse)
            }
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<40 {
            // splitmix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            ids.append(z ^ (z >> 31))
        }
        return ids
    }()

    static let rates: [Double] = [0, 0.000001, 0.1, 0.25, 0.3333, 0.5, 0.75, 0.9, 0.999999, 1]

    /// Newton's iteration for the inverse of an odd number modulo 2^64.
    static func modularInverse(_ value: UInt64) -> UInt64 {
        var inverse = value
        for _ in 0..<6 { inverse = inverse &* (2 &- value &* inverse) }
        return inverse
    }
}

@Suite("SamplingRule reference (dd-trace-py)")
struct SamplingRuleReferenceTests {
    @Test("Knuth trace sampling agrees with SamplingRule.sample for every (trace id, rate)")
    func knuthTraceSampling() throws {
        let pairs = KnuthVectors.ids.flatMap { id in KnuthVectors.rates.map { (id, $0) } }
        let expected = try SamplingReference.booleans(pairs.map { .knuth(traceId: $0.0, rate: $0.1) })
        for ((id, rate), keep) in zip(pairs, expected) {
            let rule = TraceSamplingRule(sampleRate: rate)
            #expect(rule.samples(traceIdLow: id) == keep, "trace id \(id), rate \(rate)")
        }
        // The vectors do straddle the thresholds: both outcomes occur for every fractional rate.
        for rate in KnuthVectors.rates where rate > 0 && rate < 1 {
            let outcomes = Set(zip(pairs, expected).filter { $0.0.1 == rate }.map(\.1))
            #expect(outcomes == [true, false], "rate \(rate)")
        }
    }

    @Test("Knuth sampling of 128-bit trace ids uses the low 64 bits")
    func knuthUsesLowBits() throws {
        // dd-trace-py hashes `_trace_id_64bits`; a 128-bit id is sent as a decimal string.
        let high: UInt64 = 0x6b07_4e7d_0000_0000
        let lows: [UInt64] = [12_345, 0x946e_73b2_ef39_8fa8, .max]
        let cases = lows.map { low in
            SamplingReference.Case(
                op: "knuth", traceId: String((UInt128(high) << 64) | UInt128(low)), rate: 0.5)
        }
        let expected = try SamplingReference.booleans(cases)
        for (low, keep) in zip(lows, expected) {
            #expect(TraceSamplingRule(sampleRate: 0.5).samples(traceIdLow: low) == keep)
        }
    }

    @Test("Knuth span sampling agrees with SpanSamplingRule._sample on span ids")
    func knuthSpanSampling() throws {
        let pairs = KnuthVectors.ids.flatMap { id in [0.1, 0.5, 0.9].map { (id, $0) } }
        let expected = try SamplingReference.booleans(pairs.map { .spanKnuth(spanId: $0.0, rate: $0.1) })
        for ((id, rate), keep) in zip(pairs, expected) {
            let rules = SpanSamplingRules(rules: [SpanSamplingRule(name: SamplingGlob("*"), sampleRate: rate)])
            let span = FakeSamplingSubject(service: "svc", name: "op")
            #expect((rules.sample(span, spanId: id) != nil) == keep, "span id \(id), rate \(rate)")
        }
    }

    @Test("Glob matching agrees with GlobMatcher.match")
    func globs() throws {
        let cases = SamplingRuleGlobTests.table.map { SamplingReference.Case.glob($0.pattern, $0.subject) }
        let expected = try SamplingReference.booleans(cases)
        for (row, match) in zip(SamplingRuleGlobTests.table, expected) {
            #expect(row.matches == match, "table row \(row) disagrees with ddtrace")
            #expect(SamplingGlob(row.pattern).matches(row.subject) == match, "\(row.pattern) ~ \(row.subject)")
        }
    }

    @Test("Rule matching agrees with SamplingRule.matches, tags against meta and metrics")
    func ruleMatching() throws {
        let rows = SamplingRuleSamplerTests.matchTable
        let cases = rows.map { SamplingReference.Case.ruleMatch($0.rule, $0.span.reference) }
        let expected = try SamplingReference.booleans(cases)
        for (row, match) in zip(rows, expected) {
            #expect(row.matches == match, "table row \(row.rule) disagrees with ddtrace")
            var diagnostics: [DDConfigurationDiagnostic] = []
            let rules = SamplingRulesParser.traceRules("[\(row.rule)]", diagnostics: &diagnostics)
            #expect(diagnostics.isEmpty)
            #expect(rules.first?.matches(row.span) == match, "\(row.rule) on \(row.span)")
        }
    }

    @Test("Valid DD_TRACE_SAMPLING_RULES parse as DatadogSampler.set_sampling_rules does")
    func traceRuleParsing() throws {
        let inputs = SamplingRuleParsingTests.validTraceRules
        let results = try SamplingReference.run(inputs.map { .parseRules($0) })
        for (input, result) in zip(inputs, results) {
            let python = try #require(result as? [[String: Any]], "\(input): \(result)")
            var diagnostics: [DDConfigurationDiagnostic] = []
            let rules = SamplingRulesParser.traceRules(input, diagnostics: &diagnostics)
            #expect(diagnostics.isEmpty, "\(input)")
            #expect(rules.map(Self.describe) == python.map(Self.normalize), "\(input)")
        }
    }

    @Test("Valid DD_SPAN_SAMPLING_RULES parse as get_span_sampling_rules does")
    func spanRuleParsing() throws {
        let inputs = SamplingRuleParsingTests.validSpanRules
        let results = try SamplingReference.run(inputs.map { .spanRules($0) })
        for (input, result) in zip(inputs, results) {
            let python = try #require(result as? [[String: Any]], "\(input): \(result)")
            var diagnostics: [DDConfigurationDiagnostic] = []
            let rules = SamplingRulesParser.spanRules(input, diagnostics: &diagnostics)
            #expect(diagnostics.isEmpty, "\(input)")
            #expect(rules.count == python.count, "\(input)")
            for (rule, reference) in zip(rules, python) {
                #expect(rule.service?.pattern.lowercased() == reference["service"] as? String)
                #expect(rule.name?.pattern.lowercased() == reference["name"] as? String)
                #expect(rule.sampleRate == (reference["sample_rate"] as? String).flatMap(Double.init))
                let limit = (reference["max_per_second"] as? String).flatMap(Double.init).flatMap { $0 < 0 ? nil : $0 }
                #expect(rule.maxPerSecond == limit, "\(input)")
            }
        }
    }

    @Test("The limiter allows and reports effective rates as RateLimiter does", arguments: [1, 2, 5, 100, 0])
    func limiter(rateLimit: Int) throws {
        let second: Int64 = 1_000_000_000
        let start = 10 * second
        // A burst at one instant, then a trickle over three windows.
        let burst: [Int64] = Array(repeating: start, count: 8)
        let trickleStart: Int64 = start + second / 10
        let trickleEnd: Int64 = start + 3 * second
        let trickle: [Int64] = Array(stride(from: trickleStart, to: trickleEnd, by: Int(second / 7)))
        // Exactly at window boundaries.
        let boundaries: [Int64] = [0, second - 1, second, 2 * second, 2 * second + 1, 5 * second].map { start + $0 }
        // Dense calls: 3 per millisecond for 1.2 s.
        let dense: [Int64] = Array(stride(from: start, to: start + 1_200_000_000, by: 333_333))
        let sequences = [burst + trickle, boundaries, dense]
        let results = try SamplingReference.run(sequences.map { .limiter(rateLimit: rateLimit, start: start, calls: $0) })
        for (calls, result) in zip(sequences, results) {
            let python = try #require(result as? [[Any]])
            let clock = ManualClock(start)
            let limiter = SamplingRateLimiter(rateLimit: Double(rateLimit), clock: clock.read)
            for (call, reference) in zip(calls, python) {
                clock.set(call)
                let (allowed, rate) = limiter.allow()
                #expect(allowed == reference[0] as? Bool, "limit \(rateLimit) at \(call - start) ns")
                #expect(rate == (reference[1] as? String).flatMap(Double.init), "limit \(rateLimit) at \(call - start) ns")
            }
        }
    }

    @Test("_dd.p.ksr formatting agrees with format_rate")
    func formatRate() throws {
        let rates = [0, 1, 0.5, 0.1, 0.25, 0.3333333, 0.0000005, 0.0000004999, 0.123456789, 0.9999996, 0.7, 1e-7]
        let results = try SamplingReference.run(rates.map { .formatRate($0) })
        for (rate, result) in zip(rates, results) {
            #expect(RuleSamplingDecision.formatRate(rate) == result as? String, "rate \(rate)")
        }
    }

    /// A Swift rule in the shape the script reports Python's.
    static func describe(_ rule: TraceSamplingRule) -> [String: String] {
        var fields = ["sample_rate": "\(rule.sampleRate)", "provenance": rule.provenance.rawValue]
        fields["service"] = rule.service?.pattern.lowercased()
        fields["name"] = rule.name?.pattern.lowercased()
        fields["resource"] = rule.resource?.pattern.lowercased()
        for tag in rule.tags { fields["tag:" + tag.key] = tag.pattern.pattern.lowercased() }
        return fields
    }

    static func normalize(_ python: [String: Any]) -> [String: String] {
        var fields = [
            "sample_rate": python["sample_rate"] as? String ?? "?", "provenance": python["provenance"] as? String ?? "?",
        ]
        fields["service"] = python["service"] as? String
        fields["name"] = python["name"] as? String
        fields["resource"] = python["resource"] as? String
        for (key, value) in python["tags"] as? [String: String] ?? [:] { fields["tag:" + key] = value }
        return fields
    }
}

/// A settable clock for limiters.
final class ManualClock: Sendable {
    private let now: Mutex<Int64>

    init(_ start: Int64) {
        now = Mutex(start)
    }

    func set(_ value: Int64) { now.withLock { $0 = value } }
    func advance(_ nanoseconds: Int64) { now.withLock { $0 += nanoseconds } }
    var read: @Sendable () -> Int64 { { [self] in now.withLock { $0 } } }
}

/// A span for sampling rules without a tracer.
struct FakeSamplingSubject: SamplingSubject, CustomStringConvertible {
    var service: String
    var name: String
    var resource: String = ""
    var meta: [String: String] = [:]
    var metrics: [String: Double] = [:]

    init(service: String, name: String, resource: String? = nil, meta: [String: String] = [:], metrics: [String: Double] = [:]) {
        self.service = service
        self.name = name
        self.resource = resource ?? name
        self.meta = meta
        self.metrics = metrics
    }

    func tag(_ key: String) -> String? { meta[key] }
    func metric(_ key: String) -> Double? { metrics[key] }

    var reference: SamplingReference.SpanFields {
        SamplingReference.SpanFields(service: service, name: name, resource: resource, meta: meta, metrics: metrics)
    }

    var description: String { "\(service)/\(name)/\(resource) meta=\(meta) metrics=\(metrics)" }
}
