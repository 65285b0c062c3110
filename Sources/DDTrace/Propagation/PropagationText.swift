/// Byte-level parsing and formatting shared by the header styles.
///
/// Header values come from the network: every function here works on the UTF-8 view, never traps (no arithmetic
/// overflow, no out-of-range index) and returns nil for anything malformed.
enum PropagationText {
    /// What a decimal header value (`x-datadog-trace-id`, `-parent-id`, `-sampling-priority`, W3C `s:`) holds.
    enum Decimal: Equatable {
        case value(UInt64)
        /// Zero or negative: dd-trace-py reads `int(value) or None`, i.e. "no id".
        case notPositive(Int64)
        /// Syntactically an integer, but larger than 2^64-1 (or smaller than -2^63).
        case overflow
    }

    /// Parses an integer as Python's `int(text)` does for ASCII input: surrounding whitespace and one sign allowed.
    ///
    /// Python also accepts `1_000` and non-ASCII digits; both are rejected here (no Datadog tracer sends them).
    static func decimal(_ text: String) -> Decimal? {
        decimal(text[...])
    }

    static func decimal(_ text: Substring) -> Decimal? {
        let bytes = trimmed(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var index = bytes.startIndex
        var negative = false
        if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            negative = bytes[index] == UInt8(ascii: "-")
            index = bytes.index(after: index)
        }
        guard index < bytes.endIndex else { return nil }
        var magnitude: UInt64 = 0
        var overflowed = false
        while index < bytes.endIndex {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
            overflowed = overflowed || o1 || o2
            magnitude = sum
            index = bytes.index(after: index)
        }
        if overflowed { return .overflow }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return .overflow }
            return .notPositive(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
        }
        return magnitude == 0 ? .notPositive(0) : .value(magnitude)
    }

    /// A small signed integer (sampling priorities), or nil when the text is not one.
    static func smallInteger(_ text: Substring) -> Int? {
        switch decimal(text) {
        case .value(let value): value <= UInt64(Int.max) ? Int(value) : nil
        case .notPositive(let value): Int(value)
        case .overflow, nil: nil
        }
    }

    /// 1 to `maxDigits` hex digits of either case, as one or two 64-bit halves (`high` is the part above the
    /// last 16 digits).
    static func hex(_ bytes: some Collection<UInt8>, maxDigits: Int = 32) -> DDTraceID? {
        let count = bytes.count
        guard count > 0, count <= maxDigits else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for byte in bytes {
            guard let nibble = nibble(byte) else { return nil }
            // Shifting the 128-bit value left by 4: the top nibble of `low` moves into `high`.
            high = (high << 4) | (low >> 60)
            low = (low << 4) | UInt64(nibble)
        }
        return DDTraceID(high: high, low: low)
    }

    /// Exactly `count` lowercase hex digits (W3C `traceparent` fields).
    static func lowercaseHex(_ bytes: some Collection<UInt8>, count: Int) -> DDTraceID? {
        guard bytes.count == count, bytes.allSatisfy(isLowercaseHexDigit) else { return nil }
        return hex(bytes, maxDigits: count)
    }

    static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `value` as exactly 16 lowercase hex digits, zero-padded.
    static func hex16(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            for position in 0..<16 {
                let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * position)) & 0xF
                buffer[position] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            }
            return 16
        }
    }

    /// 32 lowercase hex digits.
    static func hex32(_ id: DDTraceID) -> String {
        hex16(id.high) + hex16(id.low)
    }

    /// Python's `str.strip()` for the whitespace that can occur in header values.
    static func trimmed<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        guard let first = bytes.firstIndex(where: { !isWhitespace($0) }),
            let last = bytes.lastIndex(where: { !isWhitespace($0) })
        else { return bytes[bytes.endIndex...] }
        return bytes[first...last]
    }

    /// Python's `str.strip()`: ASCII whitespace is trimmed on the UTF-8 bytes; only text that starts or ends with
    /// a non-ASCII character (possibly Unicode whitespace) takes the slower `Character` path.
    static func trimmed(_ text: Substring) -> Substring {
        let utf8 = text.utf8
        guard let first = utf8.firstIndex(where: { !isWhitespace($0) }),
            let last = utf8.lastIndex(where: { !isWhitespace($0) }), utf8[first] < 0x80, utf8[last] < 0x80
        else { return SettingText.trim(text) }
        return Substring(utf8[first...last])
    }

    static func hasPrefix(_ text: Substring, _ prefix: String) -> Bool {
        text.utf8.starts(with: prefix.utf8)
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// Whether every byte is printable ASCII (0x20–0x7E), as W3C requires of `tracestate`.
    static func isPrintableASCII(_ text: some StringProtocol) -> Bool {
        text.utf8.allSatisfy { (0x20...0x7E).contains($0) }
    }
}
