/// W3C `baggage` (dd-trace-py `_BaggageHeader`): `key=value` items separated by commas, percent-encoded.
enum BaggageHeader {
    static let name = "baggage"
    /// `DD_TRACE_BAGGAGE_MAX_ITEMS` and `DD_TRACE_BAGGAGE_MAX_BYTES`.
    static let maxItems = 64
    static let maxBytes = 8192

    /// The characters dd-trace-py leaves unencoded (`SAFE_CHARACTERS_KEY`, `SAFE_CHARACTERS_VALUE`): RFC 7230
    /// token characters for keys; values also keep `()/:<>?@[]{}`. `%` is in both sets, so a literal `%` is not
    /// escaped (as in dd-trace-py).
    private static let safeKeyCharacters = asciiSet("!#$%&'*+-.^_`|~")
    private static let safeValueCharacters = asciiSet("!#$%&'()*+-./:<>?@[]^_`{|}~")

    private static func asciiSet(_ punctuation: String) -> [Bool] {
        var set = [Bool](repeating: false, count: 128)
        for byte in punctuation.utf8 { set[Int(byte)] = true }
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { set[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { set[Int(byte)] = true }
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { set[Int(byte)] = true }
        return set
    }

    // MARK: Inject

    /// Writes at most 64 items (in key order, for a stable header) and 8192 bytes; items that would pass the byte
    /// limit are dropped. Items whose key or value is empty after trimming are skipped: dd-trace-py would send
    /// them, and then reject the whole header on the receiving side.
    static func inject(_ baggage: [String: String], into carrier: inout some DDHeaderCarrier) {
        guard !baggage.isEmpty else { return }
        var header = ""
        var bytes = 0
        for (key, value) in baggage.sorted(by: { $0.key < $1.key }).prefix(maxItems) {
            let key = SettingText.trim(key)
            let value = SettingText.trim(value)
            guard !key.isEmpty, !value.isEmpty else { continue }
            let item = percentEncoded(key, safe: safeKeyCharacters) + "=" + percentEncoded(value, safe: safeValueCharacters)
            let size = item.utf8.count + (header.isEmpty ? 0 : 1)
            guard bytes + size <= maxBytes else { break }
            header += header.isEmpty ? item : "," + item
            bytes += size
        }
        if !header.isEmpty { carrier.setHeader(name, header) }
    }

    /// `urllib.parse.quote`: UTF-8 bytes outside the safe set become `%XX` (uppercase hex).
    static func percentEncoded(_ text: some StringProtocol, safe: [Bool]) -> String {
        let hexDigits = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if byte < 128, safe[Int(byte)] {
                bytes.append(byte)
            } else {
                bytes.append(contentsOf: [UInt8(ascii: "%"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Extract

    /// The items, or none at all when any item within the limits is malformed (no `=`, empty key or value), as
    /// in dd-trace-py. Items past the 64th or past 8192 bytes are dropped.
    static func extract(from carrier: some DDHeaderCarrier) -> [String: String] {
        guard let header = carrier.header(named: name), !header.isEmpty else { return [:] }
        var baggage: [String: String] = [:]
        var bytes = 0
        for (index, item) in header.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            guard index < maxItems else { break }
            guard let equals = item.firstIndex(of: "=") else { return [:] }
            let size = item.utf8.count + (baggage.isEmpty ? 0 : 1)
            guard bytes + size <= maxBytes else { break }
            let key = percentDecoded(SettingText.trim(item[..<equals]))
            let value = percentDecoded(SettingText.trim(item[item.index(after: equals)...]))
            guard !key.isEmpty, !value.isEmpty else { return [:] }
            baggage[key] = value
            bytes += size
        }
        return baggage
    }

    /// `urllib.parse.unquote`: `%XX` becomes the byte, anything else (including a lone `%`) stays; the bytes are
    /// read as UTF-8 with invalid sequences replaced by U+FFFD. `+` stays `+`.
    static func percentDecoded(_ text: Substring) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        let input = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            if input[index] == UInt8(ascii: "%"), index + 2 < input.count,
                let byte = PropagationText.hex(input[(index + 1)...(index + 2)], maxDigits: 2)
            {
                output.append(UInt8(truncatingIfNeeded: byte.low))
                index += 3
            } else {
                output.append(input[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
