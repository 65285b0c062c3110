// Tests for the encoder's growable output buffer (ddtrace_mpbuf): it keeps every byte while it grows, and from
// DDTRACE_MPBUF_MAP_MIN bytes on it is a mapping of its own, whose pages go back to the kernel when it is destroyed
// (the flusher's 1 MiB payload buffers: resident memory falls again after the send queue filled up).

import CDDTraceShims
import Foundation
import Testing

@Suite("C shim: the growable msgpack buffer")
struct CShimBufferTests {
    /// The byte at `offset` of the test pattern: not periodic in any power of two, so a block copied to the wrong
    /// place shows.
    static func patternByte(_ offset: Int) -> UInt8 { UInt8(truncatingIfNeeded: offset &* 31 &+ offset >> 9) }

    static func appendPattern(_ buffer: UnsafeMutablePointer<ddtrace_mpbuf>, count: Int) {
        var chunk = [UInt8](repeating: 0, count: 1000)
        var written = buffer.pointee.size
        let end = written + count
        while written < end {
            let length = min(chunk.count, end - written)
            for index in 0..<length { chunk[index] = patternByte(written + index) }
            let status = chunk.withUnsafeBytes {
                ddtrace_mpbuf_append_slow(buffer, $0.baseAddress!.assumingMemoryBound(to: CChar.self), length)
            }
            precondition(status == 0, "append failed")
            written += length
        }
    }

    static func patternIntact(_ buffer: UnsafeMutablePointer<ddtrace_mpbuf>) -> Bool {
        let bytes = UnsafeRawBufferPointer(start: buffer.pointee.data, count: buffer.pointee.size)
        return bytes.indices.allSatisfy { bytes[$0] == patternByte($0) }
    }

    @Test("grows from malloc memory into a mapping of its own and on, keeping every byte")
    func growsAcrossTheMappingThreshold() {
        let buffer = UnsafeMutablePointer<ddtrace_mpbuf>.allocate(capacity: 1)
        defer { buffer.deallocate() }
        ddtrace_mpbuf_init(buffer, 1000)
        defer { ddtrace_mpbuf_destroy(buffer) }
        #expect(buffer.pointee.capacity == 1000)
        // Below the threshold (realloc), across it (a new mapping and a copy), then beyond it (mremap, which may
        // move the mapping).
        for target in [100_000, 300_000, 1 << 20, 3 << 20 + 12_345] {
            Self.appendPattern(buffer, count: target - buffer.pointee.size)
            #expect(buffer.pointee.failed == 0)
            #expect(buffer.pointee.size == target)
            #expect(buffer.pointee.capacity >= target)
            #expect(Self.patternIntact(buffer), "the bytes survived growing to \(buffer.pointee.capacity)")
            if buffer.pointee.capacity >= DDTRACE_MPBUF_MAP_MIN {
                // A mapping starts on a page and spans whole pages; a malloc block of this size starts 16 bytes
                // into one (glibc's chunk header).
                #expect(Int(bitPattern: buffer.pointee.data) % 4096 == 0)
                #expect(buffer.pointee.capacity % 4096 == 0)
            }
        }
    }

    @Test("a large buffer is created as a mapping, and destroying it unmaps its pages")
    func destroyingAMappedBufferReturnsItsPages() throws {
        let buffer = UnsafeMutablePointer<ddtrace_mpbuf>.allocate(capacity: 1)
        defer { buffer.deallocate() }
        ddtrace_mpbuf_init(buffer, 1 << 20)
        #expect(buffer.pointee.capacity == 1 << 20)
        let data = try #require(buffer.pointee.data)
        #expect(Int(bitPattern: data) % 4096 == 0)
        Self.appendPattern(buffer, count: 1 << 20)
        var resident = [UInt8](repeating: 0, count: (1 << 20) / 4096)
        #expect(mincore(data, 1 << 20, &resident) == 0)
        #expect(resident.allSatisfy { $0 & 1 == 1 }, "every page written is resident")
        ddtrace_mpbuf_destroy(buffer)
        #expect(buffer.pointee.data == nil && buffer.pointee.capacity == 0)
        // mincore fails with ENOMEM on a range that is no longer mapped. Freed malloc memory stays mapped (and, for
        // glibc's arenas, usually resident), which is what made resident memory stay at its peak.
        let status = mincore(data, 1 << 20, &resident)
        let error = errno
        #expect(status == -1 && error == ENOMEM, "the buffer's pages were given back (mincore: \(status), errno \(error))")
    }

    /// The encoder's string writer (`ddtrace_put_str`): for every length of each size class, the msgpack header
    /// (fixstr up to 31, str8 to 255, str16 to 65535, str32 beyond), the bytes themselves, the returned position,
    /// and not one byte written past the string (the short copies overlap inside it, never outside).
    @Test("the string writer: every header class, the exact bytes, nothing written past the string")
    func stringWriterWritesExactlyTheString() {
        let lengths = Array(0...300) + [65_535, 65_536, 70_000]
        let source = (0..<70_000).map { Self.patternByte($0) }
        var out = [UInt8](repeating: 0, count: 70_000 + 5 + 64)
        for length in lengths {
            let checked = min(out.count, length + 5 + 64)  // the header, the string and 64 bytes past it
            for index in 0..<checked { out[index] = 0xEE }
            let written = out.withUnsafeMutableBytes { raw in
                source.withUnsafeBytes { bytes in
                    let start = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
                    return ddtrace_put_str(start, bytes.baseAddress!, length) - start
                }
            }
            let header: [UInt8] =
                length < 32 ? [0xa0 | UInt8(length)]
                : length < 256 ? [0xd9, UInt8(length)]
                : length < 65_536 ? [0xda, UInt8(length >> 8), UInt8(length & 0xff)]
                : [0xdb] + withUnsafeBytes(of: UInt32(length).bigEndian, Array.init)
            #expect(written == header.count + length, "length \(length)")
            #expect(Array(out[0..<header.count]) == header, "length \(length)")
            #expect(out[header.count..<written].elementsEqual(source[0..<length]), "length \(length)")
            #expect(out[written..<checked].allSatisfy { $0 == 0xEE }, "a byte past the string of length \(length)")
        }
    }
}
