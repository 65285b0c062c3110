/// The `x-datadog-tags` value: `key=value` pairs separated by commas (dd-trace-py `internal/_tagset.pyx`).
///
///     tagset = tag, { ",", tag };   tag = key, "=", value;
///     key    = { ASCII 33-126 except "," and "=" };   value = { ASCII 32-126 except "," }
///
/// Values are trimmed of spaces; empty keys and values are errors.
enum TagSet {
    /// A propagation error (`_dd.propagation_error`) as dd-trace-py names it.
    struct Failure: Error, Equatable {
        let reason: String

        static let decodingError = Failure(reason: "decoding_error")
        static let encodingError = Failure(reason: "encoding_error")
        static let extractMaxSize = Failure(reason: "extract_max_size")
        static let injectMaxSize = Failure(reason: "inject_max_size")
    }

    /// Works on UTF-8 bytes: every valid character is ASCII, so a byte of a multi-byte character is invalid just
    /// as the character is.
    static func isKeyByte(_ byte: UInt8) -> Bool {
        (33...126).contains(byte) && byte != UInt8(ascii: ",") && byte != UInt8(ascii: "=")
    }

    static func isValueByte(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "=") || isKeyByte(byte)
    }

    /// Parses a header value in one pass, as `decode_tagset_string` does. Duplicate keys: the last one wins.
    static func decode(_ text: String, maxLength: Int) -> Result<[String: String], Failure> {
        // dd-trace-py compares the length in code points before looking at the content.
        guard text.utf8.count <= maxLength || text.unicodeScalars.count <= maxLength else {
            return .failure(.extractMaxSize)
        }
        var items = text.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        // The parser accepts one trailing comma after a complete pair (it ends with no key pending).
        if items.count > 1, items.last?.isEmpty == true { items.removeLast() }
        var tags: [String: String] = [:]
        for item in items {
            guard let equals = item.firstIndex(of: UInt8(ascii: "=")), equals != item.startIndex else {
                return .failure(.decodingError)
            }
            let key = item[..<equals]
            let value = trimmingSpaces(item[item.index(after: equals)...])
            guard key.allSatisfy(isKeyByte), !value.isEmpty, value.allSatisfy(isValueByte) else {
                return .failure(.decodingError)
            }
            tags[String(Substring(key))] = String(Substring(value))
        }
        return .success(tags)
    }

    /// Joins `tags` in order, as `encode_tagset_values` does: the first invalid pair or the first pair that would
    /// pass `maxLength` fails the whole header.
    static func encode(_ tags: [(key: String, value: String)], maxLength: Int) -> Result<String, Failure> {
        var encoded: [UInt8] = []
        for (key, value) in tags {
            let key = trimmingSpaces(key.utf8[...])
            let value = trimmingSpaces(value.utf8[...])
            guard !key.isEmpty, key.allSatisfy(isKeyByte), !value.isEmpty, value.allSatisfy(isValueByte) else {
                return .failure(.encodingError)
            }
            // Valid pairs are ASCII, so bytes are characters.
            let itemLength = key.count + 1 + value.count + (encoded.isEmpty ? 0 : 1)
            guard encoded.count + itemLength <= maxLength else { return .failure(.injectMaxSize) }
            if !encoded.isEmpty { encoded.append(UInt8(ascii: ",")) }
            encoded.append(contentsOf: key)
            encoded.append(UInt8(ascii: "="))
            encoded.append(contentsOf: value)
        }
        return .success(String(decoding: encoded, as: UTF8.self))
    }

    /// Python's `.strip(" ")`: spaces only, not other whitespace.
    private static func trimmingSpaces<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        guard let first = bytes.firstIndex(where: { $0 != UInt8(ascii: " ") }),
            let last = bytes.lastIndex(where: { $0 != UInt8(ascii: " ") })
        else { return bytes[bytes.endIndex...] }
        return bytes[first...last]
    }
}
