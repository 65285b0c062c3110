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
