// Tests for the agent stand-ins' payload checker (ddtrace_mp_count_spans): it must count what the encoder writes,
// in both formats, and refuse anything an agent would not read as a trace payload.

import CDDTraceShims
import Testing

@_spi(Benchmarks) @testable import DDTrace

@Suite("C shim: payload checker for agent stand-ins")
struct CShimPayloadCheckTests {
    private func count(_ bytes: [UInt8], v05: Bool = false) -> Int? {
        bytes.withUnsafeBytes { DDBenchmarkSupport.countSpans($0, v05: v05) }
    }

    /// `"key"` as a fixstr.
    private func str(_ text: String) -> [UInt8] { [0xa0 | UInt8(text.utf8.count)] + Array(text.utf8) }

    /// A v0.4 span map with the given keys, each mapped to 1.
    private func span(_ keys: [String]) -> [UInt8] {
        [0x80 | UInt8(keys.count)] + keys.flatMap { str($0) + [0x01] }
    }

    private let required = ["trace_id", "span_id", "start", "duration"]

    @Test(arguments: [DDEncoderBenchmark.Format.v04, .v05])
    func countsEveryPayloadTheEncoderWrites(format: DDEncoderBenchmark.Format) {
        for spansPerTrace in [1, 7, 10] {
            let encoder = DDEncoderBenchmark(spanCount: 500, spansPerTrace: spansPerTrace, format: format)
            encoder.encodePayload()
            #expect(count(encoder.lastPayload, v05: format == .v05) == 500)
            // Any truncation is refused, and so is a byte too many.
            let payload = encoder.lastPayload
            for cut in [1, 2, 17, payload.count / 2, payload.count - 1] {
                #expect(count(Array(payload.prefix(cut)), v05: format == .v05) == nil, "cut at \(cut)")
            }
            #expect(count(payload + [0xc0], v05: format == .v05) == nil)
        }
    }

    /// The encoder patches each span's meta and metrics counts into headers written before the tags, through the
    /// buffer's data pointer: a buffer that grows in between (here, from 64 bytes, many times in the middle of
    /// spans) must still get every count right. The first payload grows the buffer; the second, of the same spans,
    /// fits in it: both must read back span for span, byte for byte the same. (Not compared with another encoder's
    /// payload: in v0.5 its size depends on how many distinct `_dd.p.tid` values, a trace's start second, the
    /// string table holds.)
    @Test(arguments: [DDEncoderBenchmark.Format.v04, .v05])
    func countsSurviveTheBufferGrowingInsideSpans(format: DDEncoderBenchmark.Format) {
        let encoder = DDEncoderBenchmark(spanCount: 300, format: format, initialCapacity: 64)
        encoder.encodePayload()
        let grown = encoder.lastPayload
        #expect(count(grown, v05: format == .v05) == 300)
        encoder.encodePayload()
        #expect(encoder.lastPayload == grown)
    }

    @Test func v04ShapesTheAgentWouldRefuse() {
        let good = span(required + ["service"])
        #expect(count([0x91, 0x91] + good) == 1)
        #expect(count([0x92, 0x91] + good + [0x92] + good + good) == 3)
        #expect(count([0x90]) == 0, "an empty payload is valid")
        #expect(count([]) == nil)
        #expect(count([0x91, 0x91] + span(["trace_id", "span_id", "start"])) == nil, "duration missing")
        #expect(count([0x91, 0x91, 0x81, 0x01, 0x01]) == nil, "an integer key")
        #expect(count([0x91, 0x81] + good) == nil, "a chunk that is a map")
        #expect(count([0x91, 0x91, 0x92, 0x01, 0x02]) == nil, "a span that is an array")
        // Deep nesting in a value is refused rather than followed without bound.
        let deep = [UInt8](repeating: 0x91, count: 100) + [0x01]
        #expect(count([0x91, 0x91, 0x85] + required.flatMap { str($0) + [0x01] } + str("meta") + deep) == nil)
    }

    /// The checker skips most values through a table of marker sizes and a one-level loop over maps and arrays of
    /// scalars, and falls back to the general walk for the rest. Every kind of value must be skipped whole, by
    /// either path, and every truncation of it refused (msgpack is prefix-free, so no cut leaves a valid payload).
    @Test func skipsEveryKindOfValueAndRefusesEveryTruncation() {
        let eight = [UInt8](repeating: 0x01, count: 8)
        let abc = Array("abc".utf8)
        let values: [(String, [UInt8])] = [
            ("fixints, nil and booleans", [0x96, 0x00, 0x7f, 0xe0, 0xc0, 0xc2, 0xc3]),
            ("uint 8/16/32/64", [0x94, 0xcc, 1, 0xcd, 0, 1, 0xce, 0, 0, 0, 1, 0xcf] + eight),
            ("int 8/16/32/64", [0x94, 0xd0, 1, 0xd1, 0, 1, 0xd2, 0, 0, 0, 1, 0xd3] + eight),
            ("float 32/64", [0x92, 0xca, 0, 0, 0, 0, 0xcb] + eight),
            ("fixstr", str("abc")),
            ("str 8", [0xd9, 3] + abc),
            ("str 16", [0xda, 0, 3] + abc),
            ("str 32", [0xdb, 0, 0, 0, 3] + abc),
            ("bin 8/16/32", [0x93, 0xc4, 2, 1, 2, 0xc5, 0, 2, 1, 2, 0xc6, 0, 0, 0, 2, 1, 2]),
            ("fixext and ext 8", [0x93, 0xd4, 1, 1, 0xd7, 1] + eight + [0xc7, 1, 5, 9]),
            ("ext 16 and ext 32", [0x92, 0xc8, 0, 1, 5, 9, 0xc9, 0, 0, 0, 1, 5, 9]),
            ("fixmap of scalars", [0x82] + str("a") + [0x01] + str("b") + [0xcb] + eight),
            ("map 16 and map 32", [0x92, 0xde, 0, 1] + str("a") + str("b") + [0xdf, 0, 0, 0, 1] + str("a") + [0x01]),
            ("array 16 and array 32", [0x92, 0xdc, 0, 2, 1, 2, 0xdd, 0, 0, 0, 1, 0x01]),
            ("a map holding an array", [0x82] + str("a") + [0x01] + str("b") + [0x91, 0x01]),
            ("an array holding a map", [0x92, 0x01, 0x81] + str("a") + str("b")),
            ("empty containers", [0x92, 0x90, 0x80]),
        ]
        let head: [UInt8] = [0x91, 0x91, 0x85] + required.flatMap { str($0) + [0x01] } + str("x")
        for (name, value) in values {
            // Alone, and followed by another key so that the walk must land exactly on it.
            #expect(count(head + value) == 1, "\(name)")
            let followed: [UInt8] = [0x91, 0x91, 0x86] + Array(head.dropFirst(3)) + value + str("y") + [0x01]
            #expect(count(followed) == 1, "\(name), followed by a key")
            for cut in 1..<value.count {
                #expect(count(head + value.dropLast(cut)) == nil, "\(name) cut by \(cut)")
            }
        }
        #expect(count(head + [0xc1]) == nil, "0xc1 is never used")
        #expect(count(head + [0x82] + str("a") + [0xc1] + str("b") + [0x01]) == nil, "0xc1 inside a map")
    }

    @Test func v05IndexesMustFallInsideTheTable() {
        // [["", "web"], [[span]]]: service, name and resource indexes, six numbers, meta, metrics, type.
        func payload(_ indexes: [UInt8]) -> [UInt8] {
            [0x92, 0x92] + str("") + str("web") + [0x91, 0x91, 0x9c] + indexes + [UInt8](repeating: 0x00, count: 6)
                + [0x80, 0x80, 0x00]
        }
        #expect(count(payload([1, 1, 0]), v05: true) == 1)
        #expect(count(payload([1, 2, 0]), v05: true) == nil, "index 2 is outside a table of 2")
        #expect(count(payload([1, 1, 0]), v05: false) == nil, "not a v0.4 payload")
        #expect(count([0x92, 0x90, 0x90], v05: true) == nil, "the table must hold at least \"\"")
    }
}
