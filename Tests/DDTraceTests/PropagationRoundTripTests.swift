import Testing

@testable import DDTrace

/// Shared fixtures for the Propagation*Tests files.
enum PropagationFixture {
    /// The ids ddtrace 4.16 produced in the reference document's observed headers.
    static let traceId = DDTraceID(high: 0x6b07_4e7d_0000_0000, low: 0x946e_73b2_ef39_8fa8)
    static let spanId: UInt64 = 0xef06_8b1a_daed_9c3a

    static func propagator(
        _ styles: [DDPropagationStyle], extractFirst: Bool = false, maxLength: Int = 512
    ) -> DDHTTPPropagator {
        DDHTTPPropagator(inject: styles, extract: styles, extractFirst: extractFirst, xDatadogTagsMaxLength: maxLength)
    }

    /// A context with every field a style can carry.
    static func fullContext(priority: DDSamplingPriority? = .userKeep) -> DDTraceContext {
        var context = DDTraceContext(
            traceId: traceId, spanId: spanId, samplingPriority: priority, origin: "synthetics",
            propagatedTags: ["_dd.p.dm": "-4", "_dd.p.usr.id": "dXNlcg", "_dd.p.team": "checkout"],
            baggage: ["user.id": "42", "session": "a b,c;d=é"])
        context.tracestateOtherVendors = ["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"]
        context.lastDatadogParentId = 0x00f0_67aa_0ba9_02b7
        return context
    }

    static func headers(
        _ context: DDTraceContext, _ styles: [DDPropagationStyle], maxLength: Int = 512
    ) -> [String: String] {
        var headers: [String: String] = [:]
        propagator(styles, maxLength: maxLength).inject(context, into: &headers)
        return headers
    }

    /// Every header name with its first letters upper-cased, as HTTP/1.1 clients often send them.
    static func capitalized(_ headers: [String: String]) -> [String: String] {
        Dictionary(
            uniqueKeysWithValues: headers.map { name, value in
                (name.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: "-"), value)
            })
    }
}

/// A carrier that records every write in order.
struct RecordingCarrier: DDHeaderCarrier {
    var writes: [(name: String, value: String)] = []

    func header(named name: String) -> String? {
        writes.last { $0.name == name }?.value
    }

    mutating func setHeader(_ name: String, _ value: String) {
        writes.append((name, value))
    }
}

@Suite("Propagation: inject and extract round trips")
struct PropagationRoundTripTests {
    typealias F = PropagationFixture

    static let priorities: [DDSamplingPriority?] = [nil, .userReject, .autoReject, .autoKeep, .userKeep]

    @Test("datadog keeps all 128 bits, parent, priority, origin and _dd.p.* tags", arguments: priorities)
    func datadog(_ priority: DDSamplingPriority?) throws {
        let context = F.fullContext(priority: priority)
        let extracted = try #require(F.propagator([.datadog]).extract(from: F.headers(context, [.datadog])))
        #expect(extracted.traceId == F.traceId)
        #expect(extracted.spanId == F.spanId)
        #expect(extracted.samplingPriority == priority)
        #expect(extracted.origin == "synthetics")
        #expect(extracted.propagatedTags == context.propagatedTags)
        #expect(extracted.propagationError == nil)
    }

    @Test("tracecontext keeps ids, priority, origin, tags, last parent and other vendors", arguments: priorities)
    func tracecontext(_ priority: DDSamplingPriority?) throws {
        let context = F.fullContext(priority: priority)
        let extracted = try #require(F.propagator([.tracecontext]).extract(from: F.headers(context, [.tracecontext])))
        #expect(extracted.traceId == F.traceId)
        #expect(extracted.spanId == F.spanId)
        // Without a priority only the sampled flag (00) travels: it reads back as AUTO_REJECT.
        #expect(extracted.samplingPriority == (priority ?? .autoReject))
        #expect(extracted.origin == "synthetics")
        #expect(extracted.propagatedTags == context.propagatedTags)
        #expect(extracted.lastDatadogParentId == context.lastDatadogParentId)
        #expect(extracted.tracestateOtherVendors == context.tracestateOtherVendors)
    }

    @Test("b3multi and b3 keep ids and the keep/drop decision", arguments: [DDPropagationStyle.b3multi, .b3], priorities)
    func b3(_ style: DDPropagationStyle, _ priority: DDSamplingPriority?) throws {
        let context = F.fullContext(priority: priority)
        let extracted = try #require(F.propagator([style]).extract(from: F.headers(context, [style])))
        #expect(extracted.traceId == F.traceId)
        #expect(extracted.spanId == F.spanId)
        // B3 has no "user reject": -1 travels as sampled=0.
        #expect(extracted.samplingPriority == (priority == .userReject ? .autoReject : priority))
        #expect(extracted.origin == nil)
        #expect(extracted.propagatedTags.isEmpty)
    }

    @Test("64-bit ids stay 64-bit in every style", arguments: [DDPropagationStyle.datadog, .tracecontext, .b3multi, .b3])
    func sixtyFourBitIds(_ style: DDPropagationStyle) throws {
        let context = DDTraceContext(traceId: DDTraceID(high: 0, low: 1), spanId: 2, samplingPriority: .autoKeep)
        let headers = F.headers(context, [style])
        let extracted = try #require(F.propagator([style]).extract(from: headers))
        #expect(extracted.traceId == DDTraceID(high: 0, low: 1))
        #expect(extracted.spanId == 2)
        #expect(headers["x-datadog-tags"] == nil)
        if style == .b3multi { #expect(headers["x-b3-traceid"] == "0000000000000001") }
    }

    @Test func baggageRoundTripsAlone() throws {
        let context = F.fullContext()
        let extracted = try #require(F.propagator([.baggage]).extract(from: F.headers(context, [.baggage])))
        #expect(extracted.baggage == context.baggage)
        #expect(!extracted.hasTrace)
    }

    @Test func defaultStylesRoundTripEverything() throws {
        let propagator = DDHTTPPropagator(environment: [:])
        var headers: [String: String] = [:]
        let context = F.fullContext()
        #expect(propagator.inject(context, into: &headers) == DDInjectionResult())
        let extracted = try #require(propagator.extract(from: headers))
        #expect(extracted.traceId == F.traceId)
        #expect(extracted.spanId == F.spanId)
        #expect(extracted.samplingPriority == .userKeep)
        #expect(extracted.origin == "synthetics")
        #expect(extracted.propagatedTags == context.propagatedTags)
        #expect(extracted.baggage == context.baggage)
        #expect(extracted.tracestateOtherVendors == context.tracestateOtherVendors)
        #expect(extracted.terminatedContexts.isEmpty)
    }

    @Test("header names match in any case", arguments: [DDPropagationStyle.datadog, .tracecontext, .b3multi, .b3, .baggage])
    func caseInsensitiveNames(_ style: DDPropagationStyle) throws {
        let context = F.fullContext()
        let headers = F.headers(context, [style])
        let upper = Dictionary(uniqueKeysWithValues: headers.map { ($0.key.uppercased(), $0.value) })
        for variant in [upper, F.capitalized(headers)] {
            #expect(F.propagator([style]).extract(from: variant) == F.propagator([style]).extract(from: headers))
        }
    }
}

@Suite("Propagation: exact injected headers")
struct PropagationInjectTests {
    typealias F = PropagationFixture

    /// The headers the reference document observed from ddtrace 4.16 for this trace.
    @Test func datadogHeadersMatchTheObservedReference() {
        let context = DDTraceContext(
            traceId: F.traceId, spanId: F.spanId, samplingPriority: .autoKeep, propagatedTags: ["_dd.p.dm": "-0"])
        #expect(
            F.headers(context, [.datadog]) == [
                "x-datadog-trace-id": "10695613377406406568", "x-datadog-parent-id": "17223606772383456314",
                "x-datadog-sampling-priority": "1", "x-datadog-tags": "_dd.p.dm=-0,_dd.p.tid=6b074e7d00000000",
            ])
    }

    @Test func tracecontextHeadersMatchTheObservedReference() {
        var context = DDTraceContext(
            traceId: F.traceId, spanId: F.spanId, samplingPriority: .autoKeep, propagatedTags: ["_dd.p.dm": "-0"])
        context.lastDatadogParentId = F.spanId
        #expect(
            F.headers(context, [.tracecontext]) == [
                "traceparent": "00-6b074e7d00000000946e73b2ef398fa8-ef068b1adaed9c3a-01",
                "tracestate": "dd=p:ef068b1adaed9c3a;s:1;t.dm:-0;t.tid:6b074e7d00000000",
            ])
    }

    @Test func b3Headers() {
        let context = DDTraceContext(traceId: F.traceId, spanId: F.spanId, samplingPriority: .userKeep)
        #expect(
            F.headers(context, [.b3multi]) == [
                "x-b3-traceid": "6b074e7d00000000946e73b2ef398fa8", "x-b3-spanid": "ef068b1adaed9c3a", "x-b3-flags": "1",
            ])
        #expect(F.headers(context, [.b3]) == ["b3": "6b074e7d00000000946e73b2ef398fa8-ef068b1adaed9c3a-d"])
        var dropped = context
        dropped.samplingPriority = .userReject
        #expect(F.headers(dropped, [.b3multi])["x-b3-sampled"] == "0")
        #expect(F.headers(dropped, [.b3])["b3"]?.hasSuffix("-0") == true)
        dropped.samplingPriority = nil
        #expect(F.headers(dropped, [.b3]) == ["b3": "6b074e7d00000000946e73b2ef398fa8-ef068b1adaed9c3a"])
    }

    @Test func baggageIsPercentEncodedAsDDTracePyDoes() {
        let context = DDTraceContext(
            traceId: F.traceId, spanId: 1, baggage: [" a ": " b c ", "é/ü": "x=y;z,\"q\"%+", "k": " "])
        // dd-trace-py's safe sets keep `%` and `+`; `k` has an empty value and is skipped.
        #expect(F.headers(context, [.baggage]) == ["baggage": "a=b%20c,%C3%A9%2F%C3%BC=x%3Dy%3Bz%2C%22q%22%+"])
    }

    @Test func stylesAreWrittenInDDTracePyOrderWhateverTheConfiguredOrder() {
        var carrier = RecordingCarrier()
        let propagator = DDHTTPPropagator(
            inject: [.tracecontext, .b3, .b3multi, .datadog, .baggage, .none, .datadog], extract: [])
        propagator.inject(F.fullContext(), into: &carrier)
        let names = carrier.writes.map(\.name)
        #expect(
            names == [
                "baggage", "x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
                "x-datadog-origin", "x-datadog-tags", "x-b3-traceid", "x-b3-spanid", "x-b3-flags", "b3", "traceparent",
                "tracestate",
            ])
        #expect(propagator.injectStyles == [.tracecontext, .b3, .b3multi, .datadog, .baggage])
    }

    @Test func aContextWithoutTraceOnlyInjectsBaggage() {
        let context = DDTraceContext(traceId: DDTraceID(high: 0, low: 0), spanId: 0, baggage: ["k": "v"])
        let all: [DDPropagationStyle] = [.datadog, .tracecontext, .b3multi, .b3, .baggage]
        #expect(F.headers(context, all) == ["baggage": "k=v"])
        let noSpan = DDTraceContext(traceId: F.traceId, spanId: 0)
        #expect(F.headers(noSpan, all).isEmpty)
    }

    @Test func tagsOverTheLimitAreOmittedWithInjectMaxSize() {
        let tags = Dictionary(uniqueKeysWithValues: (0..<12).map { ("_dd.p.k\($0)", String(repeating: "v", count: 50)) })
        let context = DDTraceContext(traceId: F.traceId, spanId: 7, samplingPriority: .autoKeep, propagatedTags: tags)
        var headers: [String: String] = [:]
        let result = F.propagator([.datadog, .tracecontext]).inject(context, into: &headers)
        #expect(result.propagationError == "inject_max_size")
        #expect(headers["x-datadog-tags"] == nil)
        #expect(headers["x-datadog-trace-id"] == String(F.traceId.low))
        #expect(headers["traceparent"] != nil)
        // The same tags fit a larger limit.
        var large: [String: String] = [:]
        #expect(F.propagator([.datadog], maxLength: 4096).inject(context, into: &large).propagationError == nil)
        #expect(large["x-datadog-tags"]?.hasSuffix(",_dd.p.tid=6b074e7d00000000") == true)
    }

    @Test func untransportableTagsGiveEncodingError() {
        let context = DDTraceContext(traceId: F.traceId, spanId: 7, propagatedTags: ["_dd.p.a b": "1"])
        var headers: [String: String] = [:]
        #expect(F.propagator([.datadog]).inject(context, into: &headers).propagationError == "encoding_error")
        #expect(headers["x-datadog-tags"] == nil)
        // Values are trimmed of spaces; a comma inside a value cannot be sent.
        let trimmed = DDTraceContext(traceId: DDTraceID(high: 0, low: 5), spanId: 7, propagatedTags: ["_dd.p.a": " x "])
        #expect(F.headers(trimmed, [.datadog])["x-datadog-tags"] == "_dd.p.a=x")
        let comma = DDTraceContext(traceId: DDTraceID(high: 0, low: 5), spanId: 7, propagatedTags: ["_dd.p.a": "x,y"])
        #expect(F.propagator([.datadog]).inject(comma, into: &headers).propagationError == "encoding_error")
    }

    @Test func aZeroLimitDisablesTheTagsHeader() {
        var headers: [String: String] = [:]
        let result = F.propagator([.datadog], maxLength: 0).inject(F.fullContext(), into: &headers)
        #expect(result.propagationError == "disabled")
        #expect(headers["x-datadog-tags"] == nil)
        #expect(headers["x-datadog-trace-id"] != nil)
    }

    @Test func anEarlierPropagationErrorStopsTagInjection() {
        var context = F.fullContext()
        context.propagationError = "malformed_tid xyz"
        var headers: [String: String] = [:]
        #expect(F.propagator([.datadog]).inject(context, into: &headers).propagationError == nil)
        #expect(headers["x-datadog-tags"] == nil)
        #expect(headers["x-datadog-parent-id"] == String(F.spanId))
    }

    @Test func tracestateValuesAreSubstituted() {
        let context = DDTraceContext(
            traceId: DDTraceID(high: 0, low: 5), spanId: 7, origin: "synthetics;x=y,z",
            propagatedTags: ["_dd.p.a b": "1", "_dd.p.c=d": "x,y;z~w\u{e9}\u{e9}\t!"])
        #expect(F.headers(context, [.tracecontext])["tracestate"] == "dd=o:synthetics_x~y_z;t.a_b:1;t.c_d:x_y_z_w_!")
    }

    @Test func theDatadogMemberStaysWithin256Characters() throws {
        var tags = Dictionary(uniqueKeysWithValues: (0..<12).map { (String(format2: $0), String(repeating: "v", count: 20)) })
        tags["_dd.p.dm"] = "-4"
        let context = DDTraceContext(
            traceId: F.traceId, spanId: 7, samplingPriority: .userKeep, origin: "synthetics", propagatedTags: tags)
        let tracestate = try #require(F.headers(context, [.tracecontext])["tracestate"])
        // dd-trace-py's result for the same context: the tags that do not fit (k07...k11, then tid) are skipped.
        #expect(
            tracestate == "dd=s:2;o:synthetics;t.dm:-4;" + (0..<7).map { "t.k0\($0):" + String(repeating: "v", count: 20) }
                .joined(separator: ";"))
        #expect(tracestate.count <= 256)
    }

    @Test func otherVendorsAreKeptWithinTheW3CLimits() throws {
        var context = DDTraceContext(traceId: DDTraceID(high: 0, low: 5), spanId: 7, samplingPriority: .autoKeep)
        context.tracestateOtherVendors = (0..<40).map { "v\($0)=x" }
        let many = try #require(F.headers(context, [.tracecontext])["tracestate"])
        #expect(many == "dd=s:1," + (0..<31).map { "v\($0)=x" }.joined(separator: ","))
        context.tracestateOtherVendors = (0..<10).map { $0 % 2 == 1 ? "v\($0)=" + String(repeating: "y", count: 150) : "v\($0)=x" }
        let big = try #require(F.headers(context, [.tracecontext])["tracestate"])
        let long = String(repeating: "y", count: 150)
        // Byte budget 512: the oversized v7 and v9 do not fit and are skipped, the small v8 still fits.
        #expect(big == "dd=s:1,v0=x,v1=\(long),v2=x,v3=\(long),v4=x,v5=\(long),v6=x,v8=x")
        #expect(big.utf8.count <= 512)
    }

    @Test func theLastDatadogParentComesFromTheContextOrItsLocalSpan() throws {
        var remote = DDTraceContext(traceId: DDTraceID(high: 0, low: 5), spanId: 7)
        #expect(F.headers(remote, [.tracecontext])["tracestate"] == nil)
        remote.lastDatadogParentId = 0xab
        #expect(F.headers(remote, [.tracecontext])["tracestate"] == "dd=p:00000000000000ab")

        // A recording tracer; nothing listens on the discard port, so whatever it sends is refused at once.
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.agentURL = "http://127.0.0.1:9"
        configuration.ioUringEnabled = false
        let tracer = try DDTracer(configuration: configuration)
        defer { tracer.shutdown(timeout: .milliseconds(200)) }
        let span = tracer.startSpan("local", childOf: remote)
        defer { span.finish() }
        try #require(span.context.localSpan != nil)
        // A span of this process is the last Datadog parent itself (dd-trace-py `_is_remote is False`).
        #expect(F.headers(span.context, [.tracecontext])["tracestate"] == "dd=p:" + PropagationText.hex16(span.spanId))
    }

    @Test func baggageLimits() throws {
        let many = Dictionary(uniqueKeysWithValues: (0..<70).map { (String(format2: $0).replacing("_dd.p.", with: ""), "v") })
        let manyHeader = try #require(F.headers(DDTraceContext(traceId: F.traceId, spanId: 1, baggage: many), [.baggage])["baggage"])
        #expect(manyHeader.split(separator: ",").count == 64)
        let big = Dictionary(uniqueKeysWithValues: (0..<10).map { ("k\($0)", String(repeating: "x", count: 1000)) })
        let bigHeader = try #require(F.headers(DDTraceContext(traceId: F.traceId, spanId: 1, baggage: big), [.baggage])["baggage"])
        #expect(bigHeader.utf8.count <= 8192)
        #expect(bigHeader.split(separator: ",").count == 8)
    }
}

extension String {
    /// `_dd.p.kNN` with two digits, so keys sort numerically.
    init(format2 index: Int) {
        self = "_dd.p.k" + (index < 10 ? "0" : "") + String(index)
    }
}

@Suite("Propagation: header carriers")
struct PropagationCarrierTests {
    @Test func dictionaryLookupsIgnoreCase() {
        let headers = ["X-Datadog-Trace-Id": "1", "traceparent": "tp"]
        #expect(headers.header(named: "x-datadog-trace-id") == "1")
        #expect(headers.header(named: "traceparent") == "tp")
        #expect(headers.header(named: "tracestate") == nil)
    }

    @Test func dictionaryWritesLowercaseAndReplacesOtherCases() {
        var headers = ["X-Datadog-Trace-Id": "1", "Other": "x"]
        headers.setHeader("x-datadog-trace-id", "2")
        headers.setHeader("X-B3-TraceId", "3")
        #expect(headers == ["x-datadog-trace-id": "2", "x-b3-traceid": "3", "Other": "x"])
    }

    @Test func nonASCIINamesAreNotCaseFolded() {
        let headers = ["\u{130}d": "1"]  // U+0130 lowercases to "i̇" in Unicode; header names are ASCII tokens.
        #expect(headers.header(named: "id") == nil)
        #expect(HeaderName.equalIgnoringASCIICase("ABC", "abc"))
        #expect(!HeaderName.equalIgnoringASCIICase("ABC", "abcd"))
    }
}
