/// A small strict JSON (RFC 8259) reader for the sampling-rule variables.
///
/// Why not Foundation's: the rules must be read like dd-trace-py's `json.loads` plus `str(value)`, which needs
/// the number's text (`200` and `200.0` render differently), object members in order with the last duplicate
/// winning, and each rule's own source text for diagnostics. It also keeps Foundation out of this module's core.
indirect enum SamplingJSON: Equatable, Sendable {
    case object([Member])
    case array([SamplingJSON])
    case string(String)
    /// `text` is the number as written; `value` its Double.
    case number(text: String, value: Double)
    case bool(Bool)
    case null

    struct Member: Equatable, Sendable {
        let key: String
        let value: SamplingJSON
    }

    /// A syntax error, at a byte offset of the input.
    struct SyntaxError: Error, Equatable, CustomStringConvertible {
        let offset: Int
        let message: String
        var description: String { "invalid JSON at offset \(offset): \(message)" }
    }

    /// The value of member `key` of an object (the last one, as Python's `json.loads` keeps), or nil.
    subscript(key: String) -> SamplingJSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// Object members with duplicate keys collapsed to the last value, in first-appearance order.
    var uniqueMembers: [Member] {
        guard case .object(let members) = self else { return [] }
        var seen = Set<String>()
        return members.filter { seen.insert($0.key).inserted }.map { Member(key: $0.key, value: self[$0.key]!) }
    }

    /// What kind of value this is, for diagnostics.
    var kindName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }

    /// Parses a whole document.
    static func parse(_ text: String) throws(SyntaxError) -> SamplingJSON {
        var reader = SamplingJSONReader(Array(text.utf8))
        let value = try reader.document()
        return value
    }

    /// Parses a document whose top level must be an array; returns each element with its source text.
    static func parseArray(_ text: String) throws(SyntaxError) -> [(value: SamplingJSON, source: String)] {
        var reader = SamplingJSONReader(Array(text.utf8))
        return try reader.topLevelArray()
    }
}

/// The recursive-descent reader behind `SamplingJSON`.
struct SamplingJSONReader {
    private let bytes: [UInt8]
    private var offset = 0
    private var depth = 0
    /// Deep enough for any rule list; bounds the recursion on hostile input.
    static let maxDepth = 64

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    typealias SyntaxError = SamplingJSON.SyntaxError

    mutating func document() throws(SyntaxError) -> SamplingJSON {
        let value = try value()
        try end()
        return value
    }

    mutating func topLevelArray() throws(SyntaxError) -> [(value: SamplingJSON, source: String)] {
        skipSpace()
        guard peek == UInt8(ascii: "[") else { throw error("the value is not a JSON array") }
        var elements: [(SamplingJSON, String)] = []
        try sequence(close: "]") { reader throws(SyntaxError) in
            reader.skipSpace()
            let start = reader.offset
            let element = try reader.value()
            elements.append((element, String(decoding: reader.bytes[start..<reader.offset], as: UTF8.self)))
        }
        try end()
        return elements
    }

    private mutating func end() throws(SyntaxError) {
        skipSpace()
        guard offset == bytes.count else { throw error("unexpected text after the value") }
    }

    private var peek: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private func error(_ message: String) -> SyntaxError { SyntaxError(offset: offset, message: message) }

    private mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { offset += 1 }
    }

    private mutating func value() throws(SyntaxError) -> SamplingJSON {
        skipSpace()
        guard let byte = peek else { throw error("unexpected end of input, expected a value") }
        switch byte {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("unexpected character \(Unicode.Scalar(byte).escaped(asASCII: true))")
        }
    }

    private mutating func literal(_ word: String, _ value: SamplingJSON) throws(SyntaxError) -> SamplingJSON {
        for expected in word.utf8 {
            guard peek == expected else { throw error("invalid literal, expected \(word)") }
            offset += 1
        }
        return value
    }

    /// `open` has been seen; reads `element, element, ...` up to `close`.
    private mutating func sequence(
        close: Unicode.Scalar, _ element: (inout SamplingJSONReader) throws(SyntaxError) -> Void
    ) throws(SyntaxError) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        offset += 1
        skipSpace()
        if peek == UInt8(ascii: close) {
            offset += 1
            return
        }
        while true {
            try element(&self)
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: close):
                offset += 1
                return
            default: throw error("expected ',' or '\(close)'")
            }
        }
    }

    private mutating func array() throws(SyntaxError) -> SamplingJSON {
        var elements: [SamplingJSON] = []
        try sequence(close: "]") { reader throws(SyntaxError) in elements.append(try reader.value()) }
        return .array(elements)
    }

    private mutating func object() throws(SyntaxError) -> SamplingJSON {
        var members: [SamplingJSON.Member] = []
        try sequence(close: "}") { reader throws(SyntaxError) in
            reader.skipSpace()
            guard reader.peek == UInt8(ascii: "\"") else { throw reader.error("expected a string key") }
            let key = try reader.string()
            reader.skipSpace()
            guard reader.peek == UInt8(ascii: ":") else { throw reader.error("expected ':'") }
            reader.offset += 1
            members.append(SamplingJSON.Member(key: key, value: try reader.value()))
        }
        return .object(members)
    }

    private mutating func number() throws(SyntaxError) -> SamplingJSON {
        let start = offset
        if peek == UInt8(ascii: "-") { offset += 1 }
        if peek == UInt8(ascii: "0") {
            offset += 1
        } else {
            guard digits() > 0 else { throw error("invalid number") }
        }
        if peek == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw error("invalid number: expected digits after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            offset += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw error("invalid number: expected exponent digits") }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        guard let value = Double(text) else { throw error("invalid number") }
        return .number(text: text, value: value)
    }

    private mutating func digits() -> Int {
        let start = offset
        while let byte = peek, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { offset += 1 }
        return offset - start
    }

    /// At an opening quote; reads the string with its escapes.
    private mutating func string() throws(SyntaxError) -> String {
        offset += 1
        var scalars = String.UnicodeScalarView()
        var runStart = offset
        while true {
            guard let byte = peek else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                flushRun(from: runStart, into: &scalars)
                offset += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                flushRun(from: runStart, into: &scalars)
                offset += 1
                scalars.append(try escape())
                runStart = offset
            case 0..<0x20:
                throw error("control character in string")
            default:
                offset += 1
            }
        }
    }

    private func flushRun(from start: Int, into scalars: inout String.UnicodeScalarView) {
        guard start < offset else { return }
        scalars.append(contentsOf: String(decoding: bytes[start..<offset], as: UTF8.self).unicodeScalars)
    }

    /// After a backslash.
    private mutating func escape() throws(SyntaxError) -> Unicode.Scalar {
        guard let byte = peek else { throw error("unterminated escape") }
        offset += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"): return try unicodeEscape()
        default: throw error("invalid escape")
        }
    }

    /// After `\u`: four hex digits, combined with a following `\uDC00`-`\uDFFF` when it is a high surrogate.
    /// A lone surrogate becomes U+FFFD (Python would keep it, but a Swift String cannot hold one).
    private mutating func unicodeEscape() throws(SyntaxError) -> Unicode.Scalar {
        let first = try hex4()
        if (0xD800..<0xDC00).contains(first), bytes[offset...].starts(with: Array("\\u".utf8)) {
            let saved = offset
            offset += 2
            let second = try hex4()
            if (0xDC00..<0xE000).contains(second) {
                return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
            }
            offset = saved
        }
        return Unicode.Scalar(first) ?? "\u{FFFD}"
    }

    private mutating func hex4() throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek, let digit = Self.hexValue(byte) else { throw error("invalid \\u escape") }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
