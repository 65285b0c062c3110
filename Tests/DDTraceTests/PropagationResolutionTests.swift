import Testing

@testable import DDTrace

@Suite("Propagation: reconciling styles on extract")
struct PropagationResolutionTests {
    typealias F = PropagationFixture

    static let traceparent = "00-6b074e7d00000000946e73b2ef398fa8-00000000000000aa-01"

    /// Datadog headers of the fixture trace (128-bit through `_dd.p.tid`) with parent `parent`.
    static func datadog(parent: UInt64 = F.spanId, tags: String = "_dd.p.dm=-4,_dd.p.tid=6b074e7d00000000") -> [String: String] {
        [
            "x-datadog-trace-id": String(F.traceId.low), "x-datadog-parent-id": String(parent),
            "x-datadog-sampling-priority": "2", "x-datadog-origin": "rum", "x-datadog-tags": tags,
        ]
    }

    @Test func sameTraceInTracecontextContributesItsTracestateAndParent() throws {
        var headers = Self.datadog()
        headers["traceparent"] = Self.traceparent
        headers["tracestate"] = "dd=s:1;t.dm:-1,congo=t61,rojo=1"
        let context = try #require(F.propagator([.datadog, .tracecontext]).extract(from: headers))
        // The Datadog context is primary: its priority, origin and tags stay.
        #expect(context.traceId == F.traceId)
        #expect(context.samplingPriority == .userKeep)
        #expect(context.origin == "rum")
        #expect(context.propagatedTags == ["_dd.p.dm": "-4"])
        // From tracecontext: the other vendors, and its parent (a W3C-only hop may sit in between).
        #expect(context.tracestateOtherVendors == ["congo=t61", "rojo=1"])
        #expect(context.spanId == 0xaa)
        #expect(context.lastDatadogParentId == F.spanId)
        #expect(context.terminatedContexts.isEmpty)
    }

    @Test func theTracestateParentWinsOverTheDatadogHeader() throws {
        var headers = Self.datadog()
        headers["traceparent"] = Self.traceparent
        headers["tracestate"] = "dd=s:2;p:00000000000000bb"
        let context = try #require(F.propagator([.datadog, .tracecontext]).extract(from: headers))
        #expect(context.spanId == 0xaa)
        #expect(context.lastDatadogParentId == 0xbb)
    }

    @Test func sameParentChangesNothing() throws {
        var headers = Self.datadog(parent: 0xaa)
        headers["traceparent"] = Self.traceparent
        let context = try #require(F.propagator([.datadog, .tracecontext]).extract(from: headers))
        #expect(context.spanId == 0xaa)
        #expect(context.lastDatadogParentId == nil)
    }

    @Test func a64BitDatadogTraceDiffersFromThe128BitTraceparent() throws {
        // dd-trace-py compares full ids: without `_dd.p.tid` the Datadog trace id is another trace.
        var headers = Self.datadog(tags: "_dd.p.dm=-4")
        headers["traceparent"] = Self.traceparent
        headers["tracestate"] = "dd=s:1,congo=t61"
        let context = try #require(F.propagator([.datadog, .tracecontext]).extract(from: headers))
        #expect(context.traceId == DDTraceID(high: 0, low: F.traceId.low))
        #expect(context.spanId == F.spanId)
        #expect(context.tracestateOtherVendors.isEmpty)
        let terminated = try #require(context.terminatedContexts.first)
        #expect(terminated.traceId == F.traceId)
        #expect(terminated.spanId == 0xaa)
        #expect(terminated.tracestateOtherVendors == ["congo=t61"])
    }

    @Test func extractFirstStopsAtTheFirstStyleFound() throws {
        var headers = Self.datadog(tags: "_dd.p.dm=-4")
        headers["traceparent"] = Self.traceparent
        headers["tracestate"] = "dd=s:1,congo=t61"
        headers["baggage"] = "k=v"
        let styles: [DDPropagationStyle] = [.b3, .datadog, .tracecontext, .baggage]
        let context = try #require(F.propagator(styles, extractFirst: true).extract(from: headers))
        #expect(context.traceId == DDTraceID(high: 0, low: F.traceId.low))
        #expect(context.terminatedContexts.isEmpty)
        #expect(context.tracestateOtherVendors.isEmpty)
        #expect(context.baggage == ["k": "v"])
    }

    @Test func baggageJoinsWhicheverContextIsFound() throws {
        var headers = Self.datadog()
        headers["baggage"] = "user.id=42,team=a%20b"
        let context = try #require(F.propagator([.datadog, .baggage]).extract(from: headers))
        #expect(context.traceId == F.traceId)
        #expect(context.baggage == ["user.id": "42", "team": "a b"])
        // Without the baggage style the header is ignored.
        #expect(F.propagator([.datadog]).extract(from: headers)?.baggage.isEmpty == true)
    }

    @Test func baggageIsPercentDecodedAsUnquoteDoes() throws {
        let headers = ["baggage": " k%C3%A9 = a%2Cb%3Dc+d%zz% , x=%FF "]
        let context = try #require(F.propagator([.baggage]).extract(from: headers))
        #expect(context.baggage == ["k\u{e9}": "a,b=c+d%zz%", "x": "\u{fffd}"])
    }

    @Test func noConfiguredStyleExtractsNothing() {
        let headers = Self.datadog()
        #expect(DDHTTPPropagator(inject: [.datadog], extract: []).extract(from: headers) == nil)
        #expect(DDHTTPPropagator(inject: [], extract: [.none]).extract(from: headers) == nil)
        var out: [String: String] = [:]
        DDHTTPPropagator(inject: [.none], extract: []).inject(F.fullContext(), into: &out)
        #expect(out.isEmpty)
    }

    struct PriorityRow: Sendable, CustomTestStringConvertible {
        let sampled: Bool
        let tracestate: String
        let expected: DDSamplingPriority?
        var testDescription: String { "sampled=\(sampled) \(tracestate) → \(expected.map { "\($0.rawValue)" } ?? "nil")" }
    }

    /// `_TraceContext._get_sampling_priority`, including its quirks (`s:0` counts as missing).
    static let priorityRows: [PriorityRow] = [
        PriorityRow(sampled: true, tracestate: "dd=s:2", expected: .userKeep),
        PriorityRow(sampled: true, tracestate: "dd=s:1", expected: .autoKeep),
        PriorityRow(sampled: true, tracestate: "dd=o:x", expected: .autoKeep),
        PriorityRow(sampled: true, tracestate: "dd=s:-1", expected: .autoKeep),
        PriorityRow(sampled: true, tracestate: "dd=s:0", expected: .autoKeep),
        PriorityRow(sampled: false, tracestate: "dd=s:-1", expected: .userReject),
        PriorityRow(sampled: false, tracestate: "dd=s:0", expected: .autoReject),
        PriorityRow(sampled: false, tracestate: "dd=s:2", expected: .autoReject),
        PriorityRow(sampled: false, tracestate: "dd=o:x", expected: .autoReject),
        PriorityRow(sampled: true, tracestate: "other=1", expected: .autoKeep),
        PriorityRow(sampled: false, tracestate: "dd=s:x", expected: .autoReject),
        PriorityRow(sampled: true, tracestate: "dd=o:rum", expected: nil),
        PriorityRow(sampled: false, tracestate: "dd=o:rum", expected: nil),
        PriorityRow(sampled: true, tracestate: "dd=s:0;o:rum", expected: .autoReject),
        PriorityRow(sampled: false, tracestate: "dd=s:1;o:rum", expected: .autoReject),
        PriorityRow(sampled: true, tracestate: "dd=s:2;o:rum", expected: .userKeep),
    ]

    @Test(arguments: priorityRows)
    func w3cPriorityReconciliation(_ row: PriorityRow) throws {
        let headers = [
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0" + (row.sampled ? "1" : "0"),
            "tracestate": row.tracestate,
        ]
        let context = try #require(F.propagator([.tracecontext]).extract(from: headers))
        #expect(context.samplingPriority == row.expected)
    }

    @Test func onlyTheSampledBitOfTheFlagsCounts() throws {
        let base = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
        #expect(F.propagator([.tracecontext]).extract(from: ["traceparent": base + "03"])?.samplingPriority == .autoKeep)
        #expect(F.propagator([.tracecontext]).extract(from: ["traceparent": base + "02"])?.samplingPriority == .autoReject)
    }

    @Test func theDatadogMemberIsDecoded() throws {
        let headers = [
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "foo=1, dd=s:2;o:syn~x;p:00000000000000ff;t.dm:-4;t.usr.id:ab~c;t.tid:4bf92f3577b34da6 ,bar=2",
        ]
        let context = try #require(F.propagator([.tracecontext]).extract(from: headers))
        #expect(context.origin == "syn=x")
        #expect(context.propagatedTags == ["_dd.p.dm": "-4", "_dd.p.usr.id": "ab=c"])
        #expect(context.lastDatadogParentId == 0xff)
        // The dd= member moves first and is rebuilt on inject; the others keep their order.
        #expect(context.tracestateOtherVendors == ["foo=1", "bar=2"])
    }
}

@Suite("Propagation: configuration from the environment")
struct PropagationConfigurationTests {
    @Test func defaults() {
        let propagator = DDHTTPPropagator(environment: [:])
        #expect(propagator.injectStyles == [.datadog, .tracecontext, .baggage])
        #expect(propagator.extractStyles == [.datadog, .tracecontext, .baggage])
        #expect(!propagator.extractFirst)
        #expect(propagator.xDatadogTagsMaxLength == 512)
        #expect(propagator.diagnostics.isEmpty)
    }

    @Test func theSpecificVariablesWinOverTheGeneralOne() {
        let propagator = DDHTTPPropagator(environment: [
            "DD_TRACE_PROPAGATION_STYLE": "b3multi", "DD_TRACE_PROPAGATION_STYLE_INJECT": " TraceContext , B3 ",
        ])
        #expect(propagator.injectStyles == [.tracecontext, .b3])
        #expect(propagator.extractStyles == [.b3multi])
        #expect(propagator.diagnostics.isEmpty)
    }

    @Test func validValues() {
        let propagator = DDHTTPPropagator(environment: [
            "DD_TRACE_PROPAGATION_STYLE_EXTRACT": "none", "DD_TRACE_PROPAGATION_STYLE_INJECT": "datadog,,datadog,none",
            "DD_TRACE_PROPAGATION_EXTRACT_FIRST": "TRUE", "DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH": "0",
        ])
        #expect(propagator.extractStyles.isEmpty)
        #expect(propagator.injectStyles == [.datadog])
        #expect(propagator.extractFirst)
        #expect(propagator.xDatadogTagsMaxLength == 0)
        #expect(propagator.diagnostics.isEmpty)
    }

    @Test func blankValuesCountAsUnset() {
        let environment = Dictionary(uniqueKeysWithValues: PropagationVariable.allCases.map { ($0.name, " ") })
        let propagator = DDHTTPPropagator(environment: environment)
        #expect(propagator.diagnostics.isEmpty)
        #expect(propagator.injectStyles == DDPropagationStyle.defaultStyles)
    }

    struct InvalidRow: Sendable, CustomTestStringConvertible {
        let environment: [String: String]
        let variable: PropagationVariable
        let value: String
        let message: String
        let fallback: String
        var inject: [DDPropagationStyle] = DDPropagationStyle.defaultStyles
        var extract: [DDPropagationStyle] = DDPropagationStyle.defaultStyles

        var testDescription: String { "\(variable.name)=\(value.debugDescription)" }
    }

    static let invalidRows: [InvalidRow] = [
        InvalidRow(
            environment: ["DD_TRACE_PROPAGATION_STYLE": "datadog,w3c"], variable: .style, value: "datadog,w3c",
            message: "unknown style w3c", fallback: "using datadog", inject: [.datadog], extract: [.datadog]),
        InvalidRow(
            environment: ["DD_TRACE_PROPAGATION_STYLE_INJECT": "jaeger"], variable: .styleInject, value: "jaeger",
            message: "unknown style jaeger", fallback: "using the default datadog,tracecontext,baggage"),
        InvalidRow(
            environment: ["DD_TRACE_PROPAGATION_STYLE_EXTRACT": "b3 single header, xray", "DD_TRACE_PROPAGATION_STYLE": "b3"],
            variable: .styleExtract, value: "b3 single header, xray", message: "unknown styles b3 single header, xray",
            fallback: "using b3 from DD_TRACE_PROPAGATION_STYLE", inject: [.b3], extract: [.b3]),
        InvalidRow(
            environment: ["DD_TRACE_PROPAGATION_STYLE_EXTRACT": "none,bogus"], variable: .styleExtract, value: "none,bogus",
            message: "unknown style bogus", fallback: "using none", extract: []),
        InvalidRow(
            environment: ["DD_TRACE_PROPAGATION_EXTRACT_FIRST": "first"], variable: .extractFirst, value: "first",
            message: "not a boolean", fallback: "using the default false"),
        InvalidRow(
            environment: ["DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH": "big"], variable: .xDatadogTagsMaxLength, value: "big",
            message: "not an integer", fallback: "using the default 512"),
        InvalidRow(
            environment: ["DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH": "-1"], variable: .xDatadogTagsMaxLength, value: "-1",
            message: "out of range", fallback: "using the default 512"),
        InvalidRow(
            environment: ["DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH": "65537"], variable: .xDatadogTagsMaxLength, value: "65537",
            message: "out of range", fallback: "using the default 512"),
    ]

    @Test(arguments: invalidRows)
    func invalidValuesAreReportedOnceWithTheFallback(_ row: InvalidRow) throws {
        let propagator = DDHTTPPropagator(environment: row.environment)
        let diagnostic = try #require(propagator.diagnostics.count == 1 ? propagator.diagnostics.first : nil)
        #expect(diagnostic.source == row.variable.name)
        #expect(diagnostic.value == row.value)
        #expect(diagnostic.message == row.message)
        #expect(diagnostic.allowed == row.variable.allowed)
        #expect(diagnostic.fallback == row.fallback)
        #expect(propagator.injectStyles == row.inject)
        #expect(propagator.extractStyles == row.extract)
    }

    @Test func aDiagnosticNamesAllowedValuesInOneLine() throws {
        let propagator = DDHTTPPropagator(environment: ["DD_TRACE_PROPAGATION_STYLE_INJECT": "jaeger"])
        let diagnostic = try #require(propagator.diagnostics.first)
        #expect(diagnostic.code == .invalidValue)
        #expect(
            diagnostic.description
                == "DD_TRACE_PROPAGATION_STYLE_INJECT=\"jaeger\": unknown style jaeger; allowed: comma-separated styles "
                + "from datadog, tracecontext, b3multi, b3, baggage, none (any case); using the default "
                + "datadog,tracecontext,baggage")
    }

    @Test func everyVariableIsDescribed() {
        for variable in PropagationVariable.allCases {
            #expect(variable.name.hasPrefix("DD_"))
            #expect(!variable.defaultValue.isEmpty)
            #expect(!variable.allowed.isEmpty)
            #expect(!variable.summary.isEmpty)
        }
        #expect(PropagationVariable.style.defaultValue == "datadog,tracecontext,baggage")
        #expect(PropagationVariable.xDatadogTagsMaxLength.allowed == "an integer in 0...65536")
    }

    @Test func programmaticSettingsNormalize() {
        let propagator = DDHTTPPropagator(
            inject: [.b3, .none, .b3], extract: [.tracecontext, .tracecontext], xDatadogTagsMaxLength: -5)
        #expect(propagator.injectStyles == [.b3])
        #expect(propagator.extractStyles == [.tracecontext])
        #expect(propagator.xDatadogTagsMaxLength == 0)
    }
}

@Suite("Propagation: custom propagators")
struct PropagationCustomTests {
    @Test func dictionaryPropagatorRoundTrip() throws {
        let propagator = DDDictionaryPropagator()
        let context = DDTraceContext(
            traceId: PropagationFixture.traceId, spanId: PropagationFixture.spanId, samplingPriority: .userReject,
            origin: "rum")
        var payload: [String: String] = ["unrelated": "kept"]
        propagator.inject(context, into: &payload)
        #expect(
            payload == [
                "unrelated": "kept", "trace_id": "6b074e7d00000000946e73b2ef398fa8", "span_id": "ef068b1adaed9c3a",
                "sampling_priority": "-1", "origin": "rum",
            ])
        let extracted = try #require(propagator.extract(from: payload))
        #expect(extracted == context)
    }

    @Test(arguments: [
        [:], ["trace_id": "1"], ["span_id": "1"], ["trace_id": "0", "span_id": "1"], ["trace_id": "xyz", "span_id": "1"],
        ["trace_id": String(repeating: "f", count: 33), "span_id": "1"], ["trace_id": "1", "span_id": "fffffffffffffffff"],
    ])
    func dictionaryPropagatorRejectsMalformedPayloads(_ payload: [String: String]) {
        #expect(DDDictionaryPropagator().extract(from: payload) == nil)
    }

    @Test func unknownPriorityIsDropped() throws {
        let context = try #require(
            DDDictionaryPropagator().extract(from: ["trace_id": "a", "span_id": "b", "sampling_priority": "7"]))
        #expect(context.traceId == DDTraceID(high: 0, low: 10))
        #expect(context.spanId == 11)
        #expect(context.samplingPriority == nil)
    }

    /// Custom propagators are usable generically, e.g. by a middleware that takes any of them.
    @Test func customPropagatorsWorkGenerically() throws {
        func roundTrip<P: DDCustomPropagator>(_ propagator: P, _ context: DDTraceContext, _ carrier: P.Carrier) -> DDTraceContext? {
            var carrier = carrier
            propagator.inject(context, into: &carrier)
            return propagator.extract(from: carrier)
        }
        let context = DDTraceContext(traceId: DDTraceID(high: 0, low: 99), spanId: 5)
        #expect(roundTrip(DDDictionaryPropagator(), context, [:]) == context)
    }
}
