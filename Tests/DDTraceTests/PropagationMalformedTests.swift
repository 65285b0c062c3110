import Testing

@testable import DDTrace

/// What extracting one set of headers must give.
enum ExpectedExtraction: Sendable, Equatable {
    /// No context at all.
    case none
    /// A context with these ids, no propagation error, and this many terminated contexts.
    case ids(DDTraceID, UInt64, terminated: Int = 0)
    /// A context whose `propagationError` is exactly this.
    case error(String)
    /// A context without trace (baggage only) with this many items.
    case baggageOnly(items: Int)
}

struct MalformedRow: Sendable, CustomTestStringConvertible {
    let label: String
    let headers: [String: String]
    let styles: [DDPropagationStyle]
    let expected: ExpectedExtraction

    var testDescription: String { label }
}

private let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
private let w3cTrace = DDTraceID(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736)
private let w3cSpan: UInt64 = 0x00f0_67aa_0ba9_02b7
private let invalidUTF8 = String(decoding: [0x31, 0xFF, 0xFE, 0x32] as [UInt8], as: UTF8.self)
private let hundredKB = 100 * 1024

private func row(
    _ label: String, _ headers: [String: String], _ styles: [DDPropagationStyle], _ expected: ExpectedExtraction
) -> MalformedRow {
    MalformedRow(label: label, headers: headers, styles: styles, expected: expected)
}

private func dd(_ traceId: String, parent: String? = "2", _ extra: [String: String] = [:]) -> [String: String] {
    var headers = ["x-datadog-trace-id": traceId]
    if let parent { headers["x-datadog-parent-id"] = parent }
    return headers.merging(extra) { $1 }
}

private func ddTags(_ tags: String) -> [String: String] {
    dd("1", ["x-datadog-tags": tags])
}

private let one = DDTraceID(high: 0, low: 1)

@Suite("Propagation: malformed headers")
struct PropagationMalformedTests {
    static let datadogRows: [MalformedRow] = [
        row("dd: trace id not digits", dd("abc"), [.datadog], .none),
        row("dd: trace id hex", dd("0x1f"), [.datadog], .none),
        row("dd: trace id zero", dd("0"), [.datadog], .none),
        row("dd: trace id negative", dd("-5"), [.datadog], .none),
        row("dd: trace id 2^64 overflows", dd("18446744073709551616"), [.datadog], .none),
        row("dd: trace id 2^64-1 is valid", dd("18446744073709551615"), [.datadog], .ids(DDTraceID(high: 0, low: .max), 2)),
        row("dd: trace id with spaces (Python int)", dd(" 42 "), [.datadog], .ids(DDTraceID(high: 0, low: 42), 2)),
        row("dd: trace id empty", dd(""), [.datadog], .none),
        row("dd: trace id with NUL", dd("12\u{0}3"), [.datadog], .none),
        row("dd: trace id invalid UTF-8", dd(invalidUTF8), [.datadog], .none),
        row("dd: trace id 100 KB of digits", dd(String(repeating: "9", count: hundredKB)), [.datadog], .none),
        row("dd: parent id missing means no parent", dd("1", parent: nil), [.datadog], .ids(one, 0)),
        row("dd: parent id zero", dd("1", parent: "0"), [.datadog], .ids(one, 0)),
        row("dd: parent id negative", dd("1", parent: "-5"), [.datadog], .ids(one, 0)),
        row("dd: parent id not digits", dd("1", parent: "abc"), [.datadog], .none),
        row("dd: parent id overflows", dd("1", parent: "18446744073709551616"), [.datadog], .none),
        row("dd: priority not a number", dd("1", ["x-datadog-sampling-priority": "x"]), [.datadog], .none),
        row("dd: priority empty", dd("1", ["x-datadog-sampling-priority": ""]), [.datadog], .none),
        row("dd: priority 1.0", dd("1", ["x-datadog-sampling-priority": "1.0"]), [.datadog], .none),
        row("dd: tags garbage", ddTags("garbage"), [.datadog], .error("decoding_error")),
        row("dd: tags double comma", ddTags("_dd.p.a=1,,_dd.p.b=2"), [.datadog], .error("decoding_error")),
        row("dd: tags empty value", ddTags("_dd.p.a="), [.datadog], .error("decoding_error")),
        row("dd: tags empty key", ddTags("=1"), [.datadog], .error("decoding_error")),
        row("dd: tags space in key", ddTags("_dd.p.a b=1"), [.datadog], .error("decoding_error")),
        row("dd: tags control character", ddTags("_dd.p.a=1\u{1}"), [.datadog], .error("decoding_error")),
        row("dd: tags non-ASCII", ddTags("_dd.p.a=\u{e9}"), [.datadog], .error("decoding_error")),
        row("dd: tags invalid UTF-8", ddTags("_dd.p.a=" + invalidUTF8), [.datadog], .error("decoding_error")),
        row("dd: tags over 512", ddTags("_dd.p.a=" + String(repeating: "x", count: 600)), [.datadog], .error("extract_max_size")),
        row("dd: tags of 100 KB", ddTags(String(repeating: "_dd.p.a=1,", count: hundredKB / 10)), [.datadog], .error("extract_max_size")),
        row("dd: dm without dash", ddTags("_dd.p.dm=4"), [.datadog], .error("decoding_error")),
        row("dd: dm not a number", ddTags("_dd.p.dm=-x"), [.datadog], .error("decoding_error")),
        row("dd: dm over 255", ddTags("_dd.p.dm=-256"), [.datadog], .error("decoding_error")),
        row("dd: dm with a leading zero", ddTags("_dd.p.dm=-01"), [.datadog], .error("decoding_error")),
        row("dd: tid upper case", ddTags("_dd.p.tid=ABCDEF0000000000"), [.datadog], .error("malformed_tid ABCDEF0000000000")),
        row("dd: tid zero", ddTags("_dd.p.tid=0000000000000000"), [.datadog], .error("malformed_tid 0000000000000000")),
        row("dd: tid short", ddTags("_dd.p.tid=abc"), [.datadog], .error("malformed_tid abc")),
        row("dd: tid not hex", ddTags("_dd.p.tid=zzzzzzzzzzzzzzzz"), [.datadog], .error("malformed_tid zzzzzzzzzzzzzzzz")),
        row("dd: tid with 17 digits", ddTags("_dd.p.tid=0123456789abcdef0"), [.datadog], .error("malformed_tid 0123456789abcdef0")),
        row("dd: invalid dm wins over a bad tid", ddTags("_dd.p.tid=abc,_dd.p.dm=4"), [.datadog], .error("decoding_error")),
    ]

    static let traceContextRows: [MalformedRow] = [
        row("w3c: valid", ["traceparent": tp], [.tracecontext], .ids(w3cTrace, w3cSpan)),
        row("w3c: surrounding whitespace", ["traceparent": "  \(tp)\t"], [.tracecontext], .ids(w3cTrace, w3cSpan)),
        row("w3c: version ff", ["traceparent": "ff" + tp.dropFirst(2)], [.tracecontext], .none),
        row("w3c: upper-case hex", ["traceparent": tp.uppercased()], [.tracecontext], .none),
        row("w3c: trace id zero", ["traceparent": "00-\(String(repeating: "0", count: 32))-00f067aa0ba902b7-01"], [.tracecontext], .none),
        row("w3c: span id zero", ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"], [.tracecontext], .none),
        row("w3c: trace id 31 digits", ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"], [.tracecontext], .none),
        row("w3c: span id 17 digits", ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b70-01"], [.tracecontext], .none),
        row("w3c: flags missing", ["traceparent": String(tp.dropLast(3))], [.tracecontext], .none),
        row("w3c: flags not hex", ["traceparent": tp.dropLast(2) + "0g"], [.tracecontext], .none),
        row("w3c: version 00 with a fifth field", ["traceparent": tp + "-what"], [.tracecontext], .none),
        row("w3c: trailing dash", ["traceparent": tp + "-"], [.tracecontext], .none),
        row("w3c: version 01 with a fifth field", ["traceparent": "01" + tp.dropFirst(2) + "-what"], [.tracecontext], .ids(w3cTrace, w3cSpan)),
        row("w3c: version not hex", ["traceparent": "0g" + tp.dropFirst(2)], [.tracecontext], .none),
        row("w3c: empty", ["traceparent": ""], [.tracecontext], .none),
        row("w3c: control character", ["traceparent": tp.replacing("-01", with: "-\u{1}1")], [.tracecontext], .none),
        row("w3c: invalid UTF-8", ["traceparent": "00-" + invalidUTF8], [.tracecontext], .none),
        row("w3c: 100 KB", ["traceparent": tp + "-" + String(repeating: "a", count: hundredKB)], [.tracecontext], .none),
        row("w3c: tracestate of 100 KB", ["traceparent": tp, "tracestate": String(repeating: "k=v,", count: hundredKB / 4)], [.tracecontext], .ids(w3cTrace, w3cSpan)),
        row("w3c: tracestate with control characters", ["traceparent": tp, "tracestate": "dd=s:2,a=\u{7}"], [.tracecontext], .ids(w3cTrace, w3cSpan)),
        row("w3c: tracestate unreadable dd member", ["traceparent": tp, "tracestate": "dd=junk,a=1"], [.tracecontext], .ids(w3cTrace, w3cSpan)),
        row("w3c: tracestate with invalid UTF-8", ["traceparent": tp, "tracestate": "dd=o:" + invalidUTF8], [.tracecontext], .ids(w3cTrace, w3cSpan)),
    ]

    static let b3Rows: [MalformedRow] = [
        row("b3multi: trace id not hex", ["x-b3-traceid": "xyz", "x-b3-spanid": "1"], [.b3multi], .none),
        row("b3multi: trace id 33 digits", ["x-b3-traceid": String(repeating: "1", count: 33), "x-b3-spanid": "1"], [.b3multi], .none),
        row("b3multi: trace id zero", ["x-b3-traceid": "0000000000000000", "x-b3-spanid": "1"], [.b3multi], .none),
        row("b3multi: trace id empty", ["x-b3-traceid": "", "x-b3-spanid": "1"], [.b3multi], .none),
        row("b3multi: span id not hex", ["x-b3-traceid": "1", "x-b3-spanid": "xyz"], [.b3multi], .none),
        row("b3multi: span id 17 digits", ["x-b3-traceid": "1", "x-b3-spanid": String(repeating: "1", count: 17)], [.b3multi], .none),
        row("b3multi: span id missing", ["x-b3-traceid": "1"], [.b3multi], .ids(one, 0)),
        row("b3multi: upper-case hex is read", ["x-b3-traceid": "ABC", "x-b3-spanid": "DEF"], [.b3multi], .ids(DDTraceID(high: 0, low: 0xabc), 0xdef)),
        row("b3multi: invalid UTF-8", ["x-b3-traceid": invalidUTF8], [.b3multi], .none),
        row("b3: sampling state only", ["b3": "0"], [.b3], .none),
        row("b3: empty", ["b3": ""], [.b3], .none),
        row("b3: empty span id", ["b3": "abc-"], [.b3], .none),
        row("b3: trace id not hex", ["b3": "zz-01-1"], [.b3], .none),
        row("b3: parent span id ignored", ["b3": "1-2-1-zzzz"], [.b3], .ids(one, 2)),
        row("b3: 100 KB", ["b3": String(repeating: "a", count: hundredKB) + "-1"], [.b3], .none),
        row("b3: control character", ["b3": "1-\u{0}2"], [.b3], .none),
    ]

    static let baggageRows: [MalformedRow] = [
        row("baggage: item without =", ["baggage": "a=1,b"], [.baggage], .none),
        row("baggage: empty key", ["baggage": "=1"], [.baggage], .none),
        row("baggage: empty value", ["baggage": "a= "], [.baggage], .none),
        row("baggage: empty header", ["baggage": ""], [.baggage], .none),
        row("baggage: one item", ["baggage": "k=v"], [.baggage], .baggageOnly(items: 1)),
        row("baggage: 100 KB keeps 8192 bytes", ["baggage": (0..<10_000).map { "k\($0)=v" }.joined(separator: ",")], [.baggage], .baggageOnly(items: 64)),
        row("baggage: 100 KB in one item is dropped", ["baggage": "k=" + String(repeating: "v", count: hundredKB)], [.baggage], .none),
        row("baggage: malformed past the limits is ignored", ["baggage": (0..<64).map { "k\($0)=v" }.joined(separator: ",") + ",bad"], [.baggage], .baggageOnly(items: 64)),
    ]

    static let disagreementRows: [MalformedRow] = [
        row("styles: datadog and traceparent disagree", dd("1", ["traceparent": tp]), [.datadog, .tracecontext], .ids(one, 2, terminated: 1)),
        row("styles: traceparent first", dd("1", ["traceparent": tp]), [.tracecontext, .datadog], .ids(w3cTrace, w3cSpan, terminated: 1)),
        row("styles: b3 disagrees with datadog", dd("1", ["b3": "2-3-1", "x-b3-traceid": "3", "x-b3-spanid": "4"]), [.datadog, .b3, .b3multi], .ids(one, 2, terminated: 2)),
        row("styles: a malformed style is skipped", dd("abc", ["traceparent": tp]), [.datadog, .tracecontext], .ids(w3cTrace, w3cSpan)),
        row("styles: all agree", dd("1", ["x-b3-traceid": "1", "x-b3-spanid": "2", "b3": "1-2"]), [.datadog, .b3multi, .b3], .ids(one, 2)),
        row("styles: a disagreeing context without span id is dropped", dd("1", ["x-b3-traceid": "5"]), [.datadog, .b3multi], .ids(one, 2)),
        row("styles: nothing but garbage", dd("x", ["traceparent": "x", "b3": "x", "x-b3-traceid": "x", "baggage": "x"]), [.datadog, .tracecontext, .b3, .b3multi, .baggage], .none),
    ]

    static let allRows = datadogRows + traceContextRows + b3Rows + baggageRows + disagreementRows

    @Test func recordForTheReliabilityReport() {
        ReliabilityReport.record(
            area: "Hostile input", fault: "\(Self.allRows.count) malformed or conflicting propagation headers (datadog, "
                + "tracecontext, b3, baggage)",
            outcome: "each gives its documented result: a new trace, or the valid part kept; never a crash",
            figures: [("rows", "\(Self.allRows.count)")])
    }

    @Test(arguments: allRows)
    func extractionGivesTheExpectedResult(_ row: MalformedRow) {
        let context = PropagationFixture.propagator(row.styles).extract(from: row.headers)
        #expect(Self.outcome(context) == row.expected)
    }

    static func outcome(_ context: DDTraceContext?) -> ExpectedExtraction {
        guard let context else { return .none }
        if let error = context.propagationError { return .error(error) }
        if !context.hasTrace { return .baggageOnly(items: context.baggage.count) }
        return .ids(context.traceId, context.spanId, terminated: context.terminatedContexts.count)
    }

    @Test func hugeTracestateIsLimited() throws {
        let headers = ["traceparent": tp, "tracestate": String(repeating: "k=v,", count: hundredKB / 4)]
        let context = try #require(PropagationFixture.propagator([.tracecontext]).extract(from: headers))
        #expect(context.tracestateOtherVendors.count == 32)
        #expect(context.tracestateOtherVendors.joined(separator: ",").utf8.count <= 512)
    }

    @Test func anUnprintableTracestateIsIgnoredWhole() throws {
        let headers = ["traceparent": tp, "tracestate": "dd=s:2;o:rum,a=\u{7}"]
        let context = try #require(PropagationFixture.propagator([.tracecontext]).extract(from: headers))
        #expect(context.tracestateOtherVendors.isEmpty)
        #expect(context.origin == nil)
        #expect(context.samplingPriority == .autoKeep)
    }

    @Test func invalidTagsDropEveryTagButInvalidDmOnlyItself() throws {
        let propagator = PropagationFixture.propagator([.datadog])
        let garbage = try #require(propagator.extract(from: ddTags("_dd.p.a=1,bad")))
        #expect(garbage.propagatedTags.isEmpty)
        let badDm = try #require(propagator.extract(from: ddTags("_dd.p.dm=4,_dd.p.a=1,_dd.p.upstream_services=x,other=y")))
        #expect(badDm.propagatedTags == ["_dd.p.a": "1"])
        let badTid = try #require(propagator.extract(from: ddTags("_dd.p.tid=XYZ,_dd.p.a=1")))
        #expect(badTid.propagatedTags == ["_dd.p.a": "1"])
        #expect(badTid.traceId == one)
    }

    @Test func tagsAreTrimmedAndKeepEqualsInValues() throws {
        let context = try #require(PropagationFixture.propagator([.datadog]).extract(from: ddTags("_dd.p.a= 1=2 ,_dd.p.b=x y,")))
        #expect(context.propagatedTags == ["_dd.p.a": "1=2", "_dd.p.b": "x y"])
        #expect(context.propagationError == nil)
    }

    @Test func unknownPrioritiesKeepTheirDecision() throws {
        let propagator = PropagationFixture.propagator([.datadog])
        #expect(propagator.extract(from: dd("1", ["x-datadog-sampling-priority": "5"]))?.samplingPriority == .userKeep)
        #expect(propagator.extract(from: dd("1", ["x-datadog-sampling-priority": "-3"]))?.samplingPriority == .userReject)
    }

    @Test func aZeroLimitIgnoresReceivedTags() throws {
        let context = try #require(
            PropagationFixture.propagator([.datadog], maxLength: 0).extract(from: ddTags("_dd.p.dm=-4,_dd.p.tid=0000000000000001")))
        #expect(context.propagatedTags.isEmpty)
        #expect(context.propagationError == nil)
        #expect(context.traceId == one)
    }
}
