// A minimal msgpack reader that validates a `/v0.4/traces` payload (an array of chunks, each an array of span
// maps) and counts its spans. Independent of the tracer's encoder (msgpack-c), so that the pipeline benchmark
// checks what actually arrived instead of trusting the sender.

public enum MsgpackV04 {
    /// The number of spans in a v0.4 payload, or nil if it is not one (malformed msgpack, wrong shape, a span map
    /// without the `trace_id`, `span_id`, `start` and `duration` keys, or trailing bytes).
    public static func countSpans(_ payload: UnsafeRawBufferPointer) -> Int? {
        var reader = Reader(bytes: payload)
        guard let chunks = reader.arrayHeader() else { return nil }
        var spans = 0
        for _ in 0..<chunks {
            guard let count = reader.arrayHeader() else { return nil }
            for _ in 0..<count {
                guard reader.spanMap() else { return nil }
            }
            spans += count
        }
        return reader.offset == payload.count ? spans : nil
    }

    /// The spans in a `/v0.5/traces` payload (`[strings, chunks]`, spans as 12-element arrays whose string fields
    /// are indexes into `strings`), or nil if it is malformed or an index is out of range.
    public static func countSpansV05(_ payload: UnsafeRawBufferPointer) -> Int? {
        var reader = Reader(bytes: payload)
        guard reader.arrayHeader() == 2, let strings = reader.arrayHeader() else { return nil }
        for _ in 0..<strings {
            guard reader.string() != nil else { return nil }
        }
        guard let chunks = reader.arrayHeader() else { return nil }
        var spans = 0
        for _ in 0..<chunks {
            guard let count = reader.arrayHeader() else { return nil }
            for _ in 0..<count {
                guard reader.arrayHeader() == 12 else { return nil }
                // service, name, resource: indexes into the table.
                for _ in 0..<3 {
                    guard let index = reader.unsigned(), index < strings else { return nil }
                }
                for _ in 0..<9 {
                    guard reader.skipValue() else { return nil }
                }
            }
            spans += count
        }
        return reader.offset == payload.count ? spans : nil
    }

    struct Reader {
        /// A msgpack unsigned integer.
        mutating func unsigned() -> Int? {
            guard let tag = byte() else { return nil }
            switch tag {
            case 0x00...0x7f: return Int(tag)
            case 0xcc: return bigEndian(1)
            case 0xcd: return bigEndian(2)
            case 0xce: return bigEndian(4)
            default: return nil
            }
        }

        let bytes: UnsafeRawBufferPointer
        var offset = 0

        mutating func byte() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func bigEndian(_ size: Int) -> Int? {
            guard offset + size <= bytes.count else { return nil }
            var value = 0
            for index in 0..<size { value = value << 8 | Int(bytes[offset + index]) }
            offset += size
            return value
        }

        mutating func arrayHeader() -> Int? {
            guard let tag = byte() else { return nil }
            switch tag {
            case 0x90...0x9f: return Int(tag & 0x0f)
            case 0xdc: return bigEndian(2)
            case 0xdd: return bigEndian(4)
            default: return nil
            }
        }

        mutating func mapHeader() -> Int? {
            guard let tag = byte() else { return nil }
            switch tag {
            case 0x80...0x8f: return Int(tag & 0x0f)
            case 0xde: return bigEndian(2)
            case 0xdf: return bigEndian(4)
            default: return nil
            }
        }

        /// Reads a string and returns its bytes' range.
        mutating func string() -> Range<Int>? {
            guard let tag = byte() else { return nil }
            let length: Int?
            switch tag {
            case 0xa0...0xbf: length = Int(tag & 0x1f)
            case 0xd9: length = bigEndian(1)
            case 0xda: length = bigEndian(2)
            case 0xdb: length = bigEndian(4)
            default: return nil
            }
            guard let length, offset + length <= bytes.count else { return nil }
            defer { offset += length }
            return offset..<(offset + length)
        }

        /// A span map: every key a string, and the four keys every span must carry present.
        mutating func spanMap() -> Bool {
            guard let count = mapHeader() else { return false }
            var required = 0
            for _ in 0..<count {
                guard let key = string() else { return false }
                if matches(key, "trace_id") || matches(key, "span_id") || matches(key, "start")
                    || matches(key, "duration")
                {
                    required += 1
                }
                guard skipValue() else { return false }
            }
            return required == 4
        }

        func matches(_ range: Range<Int>, _ name: StaticString) -> Bool {
            guard range.count == name.utf8CodeUnitCount else { return false }
            for index in 0..<range.count where bytes[range.lowerBound + index] != name.utf8Start[index] {
                return false
            }
            return true
        }

        /// Skips any msgpack value.
        mutating func skipValue() -> Bool {
            guard let tag = byte() else { return false }
            var skip = 0
            switch tag {
            case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3: return true
            case 0x80...0x8f: return skipEntries(Int(tag & 0x0f) * 2)
            case 0x90...0x9f: return skipEntries(Int(tag & 0x0f))
            case 0xa0...0xbf: skip = Int(tag & 0x1f)
            case 0xcc, 0xd0: skip = 1
            case 0xcd, 0xd1: skip = 2
            case 0xca, 0xce, 0xd2: skip = 4
            case 0xcb, 0xcf, 0xd3: skip = 8
            case 0xd9, 0xc4: guard let length = bigEndian(1) else { return false }; skip = length
            case 0xda, 0xc5: guard let length = bigEndian(2) else { return false }; skip = length
            case 0xdb, 0xc6: guard let length = bigEndian(4) else { return false }; skip = length
            case 0xdc: guard let count = bigEndian(2) else { return false }; return skipEntries(count)
            case 0xdd: guard let count = bigEndian(4) else { return false }; return skipEntries(count)
            case 0xde: guard let count = bigEndian(2) else { return false }; return skipEntries(count * 2)
            case 0xdf: guard let count = bigEndian(4) else { return false }; return skipEntries(count * 2)
            case 0xd4: skip = 2
            case 0xd5: skip = 3
            case 0xd6: skip = 5
            case 0xd7: skip = 9
            case 0xd8: skip = 17
            case 0xc7: guard let length = bigEndian(1) else { return false }; skip = length + 1
            case 0xc8: guard let length = bigEndian(2) else { return false }; skip = length + 1
            case 0xc9: guard let length = bigEndian(4) else { return false }; skip = length + 1
            default: return false
            }
            guard offset + skip <= bytes.count else { return false }
            offset += skip
            return true
        }

        mutating func skipEntries(_ count: Int) -> Bool {
            for _ in 0..<count where !skipValue() { return false }
            return true
        }
    }
}
