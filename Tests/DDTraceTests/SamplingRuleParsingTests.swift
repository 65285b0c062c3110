import Testing

@testable import DDTrace

@Suite("SamplingRule parsing and configuration")
struct SamplingRuleParsingTests {
    /// Checked against dd-trace-py's `DatadogSampler.set_sampling_rules` by `SamplingRuleReferenceTests`.
    static let validTraceRules: [String] = [
        "[]",
        #"[{"sample_rate": 0.5}]"#,
        #"[{"sample_rate": 1, "service": "billing-*"}]"#,
        #"[{"sample_rate": 0, "name": "http.request", "resource": "GET /health*"}]"#,
        #"[{"sample_rate": "0.25", "service": "a"}]"#,
        #"[{"sample_rate": 0.1, "tags": {"http.status_code": "5??", "code": 200, "f": 2.0, "b": true, "n": null}}]"#,
        #"[{"sample_rate": 0.1, "service": "Mixed-Case"}, {"sample_rate": 0.2, "name": "Q?"}]"#,
        #"[{"sample_rate": 0.3, "resource": ""}]"#,
        #"[{"sample_rate": 0.1}, {"sample_rate": 0.2, "provenance": "dynamic"}, {"sample_rate": 0.3, "provenance": "customer"}, {"sample_rate": 0.4, "provenance": "default"}]"#,
        #"[{"sample_rate": 0.5, "service": null, "name": null, "tags": null}]"#,
        #"  [ {"sample_rate": 1e-1, "service": "caf\u00e9", "name": "a\"b\\c"} ]  "#,
        #"[{"sample_rate": 0.5, "service": "first", "service": "second"}]"#,
    ]

    /// Checked against dd-trace-py's `get_span_sampling_rules` by `SamplingRuleReferenceTests`.
    static let validSpanRules: [String] = [
        "[]",
        #"[{"service": "billing-*"}]"#,
        #"[{"name": "db.query", "sample_rate": 0.5}]"#,
        #"[{"service": "a", "name": "b", "sample_rate": 0, "max_per_second": 10}]"#,
        #"[{"service": "a", "max_per_second": 2.5}, {"name": "*", "sample_rate": 1}]"#,
        #"[{"service": "a", "max_per_second": -1}]"#,
    ]

    static func parseTrace(_ json: String) -> (rules: [TraceSamplingRule], diagnostics: [DDConfigurationDiagnostic]) {
        var diagnostics: [DDConfigurationDiagnostic] = []
        let rules = SamplingRulesParser.traceRules(json, diagnostics: &diagnostics)
        return (rules, diagnostics)
    }

    static func parseSpan(_ json: String) -> (rules: [SpanSamplingRule], diagnostics: [DDConfigurationDiagnostic]) {
        var diagnostics: [DDConfigurationDiagnostic] = []
        let rules = SamplingRulesParser.spanRules(json, diagnostics: &diagnostics)
        return (rules, diagnostics)
    }

    @Test("Every rule form", arguments: validTraceRules)
    func validForms(_ json: String) {
        let parsed = Self.parseTrace(json)
        #expect(parsed.diagnostics.isEmpty, "\(parsed.diagnostics)")
    }

    @Test("Rule fields")
    func fields() throws {
        let rule = try #require(
            Self.parseTrace(
                #"[{"sample_rate": 0.25, "service": "svc", "name": "op", "resource": "GET /", "tags": {"a": "x*", "b": 7}, "provenance": "customer", "discard": true}]"#
            ).rules.first)
        #expect(rule.sampleRate == 0.25)
        #expect(rule.service == SamplingGlob("svc"))
        #expect(rule.name == SamplingGlob("op"))
        #expect(rule.resource == SamplingGlob("GET /"))
        #expect(rule.tags == [.init(key: "a", pattern: SamplingGlob("x*")), .init(key: "b", pattern: SamplingGlob("7"))])
        #expect(rule.provenance == .customer)
        #expect(rule.discard)
    }

    struct InvalidRow: CustomStringConvertible, Sendable {
        let json: String
        /// Substring of the diagnostic's message.
        let message: String
        /// Rules still parsed from the other elements.
        let kept: Int
        var description: String { json }
    }

    static let invalidTraceRows: [InvalidRow] = [
        InvalidRow(json: #"[{"sample_rate": 0.5}"#, message: "invalid JSON", kept: 0),
        InvalidRow(json: #"{"sample_rate": 0.5}"#, message: "not a JSON array", kept: 0),
        InvalidRow(json: "sample_rate=0.5", message: "invalid JSON", kept: 0),
        InvalidRow(json: #"[{"sample_rate": 0.5,}]"#, message: "invalid JSON", kept: 0),
        InvalidRow(json: #"[{'sample_rate': 0.5}]"#, message: "invalid JSON", kept: 0),
        InvalidRow(json: #"[{"sample_rate": .5}]"#, message: "invalid JSON", kept: 0),
        InvalidRow(json: #"[{"sample_rate": 0.5}] trailing"#, message: "invalid JSON", kept: 0),
        InvalidRow(json: #"[{"service": "a"}, {"sample_rate": 1}]"#, message: "rule 1: no sample_rate", kept: 1),
        InvalidRow(json: #"[{"sample_rate": 1}, {"sample_rate": 1.5}]"#, message: "rule 2: sample_rate 1.5 is outside 0...1", kept: 1),
        InvalidRow(json: #"[{"sample_rate": -0.1}]"#, message: "is outside 0...1", kept: 0),
        InvalidRow(json: #"[{"sample_rate": "half"}]"#, message: #"sample_rate "half" is not a number"#, kept: 0),
        InvalidRow(json: #"[{"sample_rate": true}]"#, message: "sample_rate must be a number, not a boolean", kept: 0),
        InvalidRow(json: #"[{"sample_rate": 1, "service": 5}]"#, message: "service must be a string, not a number", kept: 0),
        InvalidRow(json: #"[{"sample_rate": 1, "tags": ["a"]}]"#, message: "tags must be an object, not an array", kept: 0),
        InvalidRow(json: #"[{"sample_rate": 1, "tags": {"a": {"b": 1}}}]"#, message: #"tag "a" must be a string"#, kept: 0),
        InvalidRow(json: #"[{"sample_rate": 1, "provenance": "remote"}]"#, message: "provenance \"remote\" is not one of", kept: 0),
        InvalidRow(json: #"[{"sample_rate": 1, "discard": "yes"}]"#, message: "discard must be a boolean", kept: 0),
        InvalidRow(json: #"[{"sample_rate": 1, "services": "a"}, {"sample_rate": 0.5}]"#, message: #"rule 1: unknown property "services""#, kept: 1),
        InvalidRow(json: #"[1, {"sample_rate": 0.5}, "x"]"#, message: "a rule must be an object, not a number", kept: 1),
    ]

    @Test("Invalid DD_TRACE_SAMPLING_RULES values are reported, keeping the valid rules", arguments: invalidTraceRows)
    func invalidTraceRules(_ row: InvalidRow) throws {
        let parsed = Self.parseTrace(row.json)
        #expect(parsed.rules.count == row.kept)
        let diagnostic = try #require(parsed.diagnostics.first)
        #expect(diagnostic.source == "DD_TRACE_SAMPLING_RULES")
        #expect(diagnostic.code == .invalidValue)
        #expect(diagnostic.message.contains(row.message), "\(diagnostic.message)")
        #expect(diagnostic.allowed == SamplingVariable.traceSamplingRules.allowed)
        let whole = row.message.contains("JSON")
        #expect(diagnostic.fallback == (whole ? "ignoring the rules" : "ignoring the rule"))
        // The value quoted is the whole variable for a JSON error, the rule's own text otherwise.
        #expect(whole ? diagnostic.value == row.json : row.json.contains(diagnostic.value))
    }

    @Test("Each bad rule gets its own diagnostic, quoting that rule")
    func perRuleDiagnostics() {
        let parsed = Self.parseTrace(#"[{"sample_rate": 2}, {"sample_rate": 0.5}, {"name": "x"}]"#)
        #expect(parsed.rules.map(\.sampleRate) == [0.5])
        #expect(parsed.diagnostics.map(\.value) == [#"{"sample_rate": 2}"#, #"{"name": "x"}"#])
        #expect(parsed.diagnostics.map(\.message) == ["rule 1: sample_rate 2.0 is outside 0...1", "rule 3: no sample_rate"])
        #expect(
            parsed.diagnostics[0].description
                == #"DD_TRACE_SAMPLING_RULES="{\"sample_rate\": 2}": rule 1: sample_rate 2.0 is outside 0...1; allowed: "#
                + SamplingVariable.traceSamplingRules.allowed + "; ignoring the rule")
    }

    @Test("Long values are quoted as an excerpt")
    func excerpt() throws {
        let long = "[" + String(repeating: " ", count: 500) + "x]"
        let diagnostic = try #require(Self.parseTrace(long).diagnostics.first)
        #expect(diagnostic.value.count == SamplingVariable.excerptLength + 1)
        #expect(diagnostic.value.hasSuffix("…"))
    }

    static let invalidSpanRows: [InvalidRow] = [
        InvalidRow(json: #"{"service": "a"}"#, message: "not a JSON array", kept: 0),
        InvalidRow(json: #"[{"service": "a"]"#, message: "invalid JSON", kept: 0),
        InvalidRow(json: #"[{"sample_rate": 0.5}, {"service": "a"}]"#, message: "rule 1: a span rule needs a service or a name", kept: 1),
        InvalidRow(json: #"[{"service": "", "name": ""}]"#, message: "needs a service or a name", kept: 0),
        InvalidRow(json: #"[{"service": "a", "sample_rate": 3}]"#, message: "sample_rate 3.0 is outside 0...1", kept: 0),
        InvalidRow(json: #"[{"service": "a", "sample_rate": "0.5"}]"#, message: "sample_rate must be a number, not a string", kept: 0),
        InvalidRow(json: #"[{"service": "a", "max_per_second": "10"}]"#, message: "max_per_second must be a number", kept: 0),
        InvalidRow(json: #"[{"service": "a", "resource": "x"}]"#, message: #"unknown property "resource""#, kept: 0),
    ]

    @Test("Invalid DD_SPAN_SAMPLING_RULES values are reported", arguments: invalidSpanRows)
    func invalidSpanRules(_ row: InvalidRow) throws {
        let parsed = Self.parseSpan(row.json)
        #expect(parsed.rules.count == row.kept)
        let diagnostic = try #require(parsed.diagnostics.first)
        #expect(diagnostic.source == "DD_SPAN_SAMPLING_RULES")
        #expect(diagnostic.message.contains(row.message), "\(diagnostic.message)")
        #expect(diagnostic.fallback.hasPrefix("ignoring the rule"))
    }

    @Test("Span rule defaults: sample_rate 1, no limit")
    func spanDefaults() throws {
        let rule = try #require(Self.parseSpan(#"[{"name": "db.*"}]"#).rules.first)
        #expect(rule.sampleRate == 1)
        #expect(rule.maxPerSecond == nil)
        #expect(rule.service == nil)
        #expect(Self.parseSpan(#"[{"name": "db.*", "max_per_second": 0}]"#).rules.first?.maxPerSecond == 0)
    }

    // MARK: The environment

    @Test("No variables: no samplers, default limit, no diagnostics")
    func emptyEnvironment() {
        let configuration = SamplingConfiguration(environment: ["DD_TRACE_SAMPLING_RULES": "  "])
        #expect(configuration.traceSampler == nil)
        #expect(configuration.spanSampler == nil)
        #expect(configuration.rateLimit == 100)
        #expect(configuration.diagnostics.isEmpty)
    }

    @Test("DD_TRACE_SAMPLE_RATE is a catch-all rule after the parsed rules")
    func sampleRateCatchAll() throws {
        let configuration = SamplingConfiguration(environment: [
            "DD_TRACE_SAMPLING_RULES": #"[{"service": "a", "sample_rate": 1}]"#, "DD_TRACE_SAMPLE_RATE": "0.25",
        ])
        #expect(configuration.traceRules.count == 2)
        let catchAll = try #require(configuration.traceRules.last)
        #expect(catchAll == TraceSamplingRule(sampleRate: 0.25))
        let sampler = try #require(configuration.traceSampler)
        let decision = sampler.decide(FakeSamplingSubject(service: "b", name: "x"), traceIdLow: 1)
        #expect(decision?.mechanism == 3)
        #expect(decision?.ruleRate == 0.25)
        #expect(SamplingConfiguration(environment: ["DD_TRACE_SAMPLE_RATE": "1"]).traceRules == [TraceSamplingRule(sampleRate: 1)])
    }

    @Test(
        "Invalid DD_TRACE_SAMPLE_RATE values are ignored with a diagnostic",
        arguments: [("abc", "not a number"), ("1.5", "out of range"), ("-1", "out of range"), ("nan", "not a number")])
    func invalidSampleRate(_ value: String, _ message: String) throws {
        let configuration = SamplingConfiguration(environment: ["DD_TRACE_SAMPLE_RATE": value])
        #expect(configuration.traceSampler == nil)
        let diagnostic = try #require(configuration.diagnostics.first)
        #expect(diagnostic.source == "DD_TRACE_SAMPLE_RATE")
        #expect(diagnostic.message == message)
        #expect(diagnostic.fallback == "ignoring it")
    }

    @Test("DD_TRACE_RATE_LIMIT builds the limiter of the rule sampler")
    func rateLimit() throws {
        let clock = ManualClock(0)
        let configuration = SamplingConfiguration(
            environment: ["DD_TRACE_SAMPLE_RATE": "1", "DD_TRACE_RATE_LIMIT": "3"], clock: clock.read)
        #expect(configuration.diagnostics.isEmpty)
        #expect(configuration.rateLimit == 3)
        let sampler = try #require(configuration.traceSampler)
        #expect(sampler.limiter.rateLimit == 3)
        let span = FakeSamplingSubject(service: "s", name: "n")
        #expect((0..<5).map { _ in sampler.decide(span, traceIdLow: 1)!.priority } == [2, 2, 2, -1, -1])
        let zero = SamplingConfiguration(environment: ["DD_TRACE_SAMPLE_RATE": "1", "DD_TRACE_RATE_LIMIT": "0"])
        #expect(zero.traceSampler?.decide(span, traceIdLow: 1)?.priority == -1)
    }

    @Test(
        "Invalid DD_TRACE_RATE_LIMIT values fall back to 100",
        arguments: [("ten", "not an integer"), ("-1", "out of range"), ("2.5", "not an integer"), ("99999999999", "out of range")])
    func invalidRateLimit(_ value: String, _ message: String) throws {
        let configuration = SamplingConfiguration(environment: ["DD_TRACE_SAMPLE_RATE": "1", "DD_TRACE_RATE_LIMIT": value])
        #expect(configuration.rateLimit == 100)
        let diagnostic = try #require(configuration.diagnostics.first)
        #expect(diagnostic.source == "DD_TRACE_RATE_LIMIT")
        #expect(diagnostic.message == message)
        #expect(diagnostic.allowed == "an integer in 0...1000000000")
        #expect(diagnostic.fallback == "using the default 100")
    }

    @Test("A rate limit without rules is reported, as dd-trace-py warns")
    func rateLimitWithoutRules() throws {
        let configuration = SamplingConfiguration(environment: ["DD_TRACE_RATE_LIMIT": "10"])
        let diagnostic = try #require(configuration.diagnostics.first)
        #expect(diagnostic.code == .inconsistent)
        #expect(diagnostic.message.contains("has no effect without DD_TRACE_SAMPLING_RULES"))
        #expect(SamplingConfiguration(environment: ["DD_TRACE_RATE_LIMIT": "100"]).diagnostics.isEmpty)
    }

    @Test("DD_SPAN_SAMPLING_RULES builds the span sampler; diagnostics keep registry order")
    func spanRulesFromEnvironment() throws {
        let configuration = SamplingConfiguration(environment: [
            "DD_SPAN_SAMPLING_RULES": #"[{"service": "a", "max_per_second": 5}, {"oops": 1}]"#,
            "DD_TRACE_SAMPLING_RULES": "[1]", "DD_TRACE_SAMPLE_RATE": "x",
        ])
        #expect(configuration.spanSampler?.rules.count == 1)
        #expect(configuration.diagnostics.map(\.source) == ["DD_TRACE_SAMPLING_RULES", "DD_TRACE_SAMPLE_RATE", "DD_SPAN_SAMPLING_RULES"])
    }

    @Test("The variables are described like registry entries")
    func variables() {
        for variable in SamplingVariable.allCases {
            #expect(variable.name.hasPrefix("DD_"))
            #expect(!variable.allowed.isEmpty && !variable.summary.isEmpty && !variable.defaultValue.isEmpty)
            #expect(EnvironmentVariable(rawValue: variable.name) == nil, "not in the tracer registry yet")
        }
    }

    // MARK: The JSON reader

    @Test("JSON values, escapes and numbers")
    func json() throws {
        let value = try SamplingJSON.parse(
            #"{"s": "a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "n": [0, -1, 2.5, 1e3, -0.0, 12345678901234567890], "t": true, "f": false, "z": null, "o": {}}"#
        )
        #expect(value["s"] == .string("a\"\\/\u{08}\u{0C}\n\r\té😀"))
        #expect(
            value["n"]
                == .array([
                    .number(text: "0", value: 0), .number(text: "-1", value: -1), .number(text: "2.5", value: 2.5),
                    .number(text: "1e3", value: 1000), .number(text: "-0.0", value: -0.0),
                    .number(text: "12345678901234567890", value: Double("12345678901234567890")!),
                ]))
        #expect(value["t"] == .bool(true))
        #expect(value["f"] == .bool(false))
        #expect(value["z"] == .null)
        #expect(value["o"] == .object([]))
        #expect(value["missing"] == nil)
        #expect(try SamplingJSON.parse(#""\ud800x""#) == .string("\u{FFFD}x"), "a lone surrogate")
    }

    @Test(
        "JSON syntax errors",
        arguments: [
            "", "[", "[1,]", "{\"a\" 1}", "{\"a\":}", "[01]", "[1.]", "[1e]", "[-]", "\"\u{01}\"", "\"\\x\"", "\"\\u12\"",
            "[tru]", "[nul]", "\"unterminated", "[1] [2]", "{1: 2}",
        ])
    func jsonErrors(_ text: String) {
        #expect(throws: SamplingJSON.SyntaxError.self) { try SamplingJSON.parse(text) }
    }

    @Test("JSON nesting is bounded")
    func jsonDepth() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: SamplingJSON.SyntaxError.self) { try SamplingJSON.parse(deep) }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try SamplingJSON.parse(fine) }
    }
}
