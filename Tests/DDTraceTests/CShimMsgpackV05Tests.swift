// Tests for the v0.5 string table (ddtrace_strtab) and the v0.5 -> v0.4 conversion used when an agent does not
// accept /v0.5/traces, checked with an independent decoder (PyPI msgpack).

import CDDTraceShims
import Foundation
import Testing

@_spi(Benchmarks) @testable import DDTrace

@Suite("C shim: v0.5 string table and conversion")
struct CShimMsgpackV05Tests {
    private func withTable<T>(_ body: (UnsafeMutablePointer<ddtrace_strtab>) throws -> T) rethrows -> T {
        let table = UnsafeMutablePointer<ddtrace_strtab>.allocate(capacity: 1)
        #expect(ddtrace_strtab_init(table, 16) == 0)
        defer {
            ddtrace_strtab_destroy(table)
            table.deallocate()
        }
        return try body(table)
    }

    private func intern(_ table: UnsafeMutablePointer<ddtrace_strtab>, _ text: String) -> UInt32 {
        var text = text
        return text.withUTF8 { ddtrace_strtab_intern(table, $0.baseAddress, $0.count) }
    }

    @Test func emptyStringIsIndexZeroAndRepeatsShareAnIndex() {
        withTable { table in
            #expect(table.pointee.count == 1)
            #expect(intern(table, "") == 0)
            #expect(intern(table, "service") == 1)
            #expect(intern(table, "name") == 2)
            #expect(intern(table, "service") == 1)
            #expect(intern(table, "servic") == 3, "a prefix is a different string")
            #expect(table.pointee.count == 4)
            ddtrace_strtab_reset(table)
            #expect(table.pointee.count == 1)
            #expect(intern(table, "name") == 1, "reset starts the numbering again")
        }
    }

    /// Lookups compare short strings by machine words (overlapping loads up to 16 bytes) and hash them the same
    /// way: a difference in any single byte, at any length, must still make a different string.
    @Test func stringsDifferingInOneByteGetTheirOwnIndexes() {
        withTable { table in
            var expected: UInt32 = 1
            for length in 1...40 {
                let base = String(repeating: "a", count: length)
                #expect(intern(table, base) == expected, "length \(length)")
                let baseIndex = expected
                expected += 1
                for position in 0..<length {
                    var bytes = Array(base.utf8)
                    bytes[position] = UInt8(ascii: "b")
                    let variant = String(decoding: bytes, as: UTF8.self)
                    #expect(intern(table, variant) == expected, "length \(length), byte \(position)")
                    expected += 1
                }
                #expect(intern(table, base) == baseIndex, "length \(length) again")
            }
            #expect(table.pointee.failed == 0)
        }
    }

    @Test func manyStringsKeepDistinctIndexesAcrossGrowth() {
        withTable { table in
            for round in 0..<2 {
                for index in 0..<50_000 {
                    #expect(intern(table, "key.\(index)") == UInt32(index + 1), "round \(round)")
                }
                #expect(table.pointee.failed == 0)
                // The dictionary walks as one msgpack array of count strings.
                ddtrace_strtab_finish(table)
                let size = ddtrace_mp_object_size(table.pointee.strings.data, table.pointee.strings.size)
                #expect(size == table.pointee.strings.size)
                ddtrace_strtab_reset(table)
            }
        }
    }

    @Test func malformedInputIsRefusedByTheConverter() {
        let output = UnsafeMutablePointer<ddtrace_mpbuf>.allocate(capacity: 1)
        ddtrace_mpbuf_init(output, 256)
        defer {
            ddtrace_mpbuf_destroy(output)
            output.deallocate()
        }
        let dictionary: [UInt8] = [0x92, 0xa0, 0xa1, 0x61]  // ["", "a"]
        let cases: [[UInt8]] = [
            [],
            [0x91, 0x91, 0x9b] + [UInt8](repeating: 0, count: 11),  // a span of 11 elements
            [0x91, 0x91, 0x9c, 0x05] + [UInt8](repeating: 0, count: 11),  // index 5 outside the table
            [0x91, 0x91, 0x9c, 0x01],  // truncated
            [0x91, 0x90, 0x00],  // trailing bytes
        ]
        for traces in cases {
            output.pointee.size = 0
            let result = dictionary.withUnsafeBytes { d in
                traces.withUnsafeBytes { t in
                    ddtrace_mp_v05_to_v04(
                        d.baseAddress?.assumingMemoryBound(to: CChar.self), d.count,
                        t.baseAddress?.assumingMemoryBound(to: CChar.self), t.count, output)
                }
            }
            #expect(result == -1, "\(traces)")
        }
    }

    @Test("a real v0.5 payload converts to the same spans in v0.4 (decoded by PyPI msgpack)")
    func conversionMatchesTheV05Payload() throws {
        let benchmark = DDEncoderBenchmark(spanCount: 300, spansPerTrace: 10, format: .v05)
        benchmark.encodePayload()
        let payload = benchmark.lastPayload
        #expect(payload.first == 0x92)
        let dictionarySize = payload.withUnsafeBytes {
            ddtrace_mp_object_size($0.baseAddress!.assumingMemoryBound(to: CChar.self) + 1, $0.count - 1)
        }
        try #require(dictionarySize > 0)
        let output = UnsafeMutablePointer<ddtrace_mpbuf>.allocate(capacity: 1)
        ddtrace_mpbuf_init(output, 1 << 16)
        defer {
            ddtrace_mpbuf_destroy(output)
            output.deallocate()
        }
        let result = payload.withUnsafeBytes { raw in
            let base = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            return ddtrace_mp_v05_to_v04(
                base + 1, dictionarySize, base + 1 + dictionarySize, raw.count - 1 - dictionarySize, output)
        }
        try #require(result == 0)
        let v04 = Array(UnsafeRawBufferPointer(start: output.pointee.data, count: output.pointee.size))
        let script = """
            import json, sys, msgpack
            data = json.load(sys.stdin)
            v05 = msgpack.unpackb(bytes(data["v05"]), raw=False, strict_map_key=False)
            v04 = msgpack.unpackb(bytes(data["v04"]), raw=False)
            strings, chunks = v05
            fields = ["service", "name", "resource", "trace_id", "span_id", "parent_id", "start", "duration",
                      "error", "meta", "metrics", "type"]
            expected = []
            for chunk in chunks:
                spans = []
                for span in chunk:
                    d = dict(zip(fields, span))
                    for f in ("service", "name", "resource", "type"):
                        d[f] = strings[d[f]]
                    d["meta"] = {strings[k]: strings[v] for k, v in d["meta"].items()}
                    d["metrics"] = {strings[k]: v for k, v in d["metrics"].items()}
                    spans.append(d)
                expected.append(spans)
            print(json.dumps({"equal": expected == v04, "spans": sum(len(c) for c in v04),
                              "keys": sorted(v04[0][0]) if v04 and v04[0] else []}))
            """
        let input = try JSONSerialization.data(withJSONObject: ["v05": payload.map(Int.init), "v04": v04.map(Int.init)])
        let output2 = try TestAgent.python(code: script, input: input)
        let answer = try #require(try JSONSerialization.jsonObject(with: output2) as? [String: Any])
        #expect(answer["equal"] as? Bool == true)
        #expect(answer["spans"] as? Int == 300)
        #expect(
            answer["keys"] as? [String]
                == ["duration", "error", "meta", "metrics", "name", "parent_id", "resource", "service", "span_id",
                    "start", "trace_id", "type"])
    }

    @Test("v0.5 payloads are smaller than v0.4 for the same spans")
    func v05IsSmaller() {
        let v04 = DDEncoderBenchmark(spanCount: 1000, format: .v04).encodePayload()
        let v05 = DDEncoderBenchmark(spanCount: 1000, format: .v05).encodePayload()
        #expect(v05 < v04 * 3 / 4, "v0.4 \(v04) bytes, v0.5 \(v05) bytes")
    }
}
