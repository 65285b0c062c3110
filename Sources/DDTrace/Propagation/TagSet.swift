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

    static func isKeyCharacter(_ scalar: Unicode.Scalar) -> Bool {
        (33...126).contains(scalar.value) && scalar != "," && scalar != "="
    }

    static func isValueCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "=" || isKeyCharacter(scalar)
    }

    /// Parses a header value in one pass, as `decode_tagset_string` does. Duplicate keys: the last one wins.
    static func decode(_ text: String, maxLength: Int) -> Result<[String: String], Failure> {
        // dd-trace-py compares the length in code points before looking at the content.
        guard text.unicodeScalars.count <= maxLength else { return .failure(.extractMaxSize) }
        var items = text.unicodeScalars.split(separator: ",", omittingEmptySubsequences: false)
        // The parser accepts one trailing comma after a complete pair (it ends with no key pending).
        if items.count > 1, items.last?.isEmpty == true { items.removeLast() }
        var tags: [String: String] = [:]
        for item in items {
            guard let equals = item.firstIndex(of: "="), equals != item.startIndex else { return .failure(.decodingError) }
            let key = item[..<equals]
            let value = trimmingSpaces(item[item.index(after: equals)...])
            guard key.allSatisfy(isKeyCharacter), !value.isEmpty, value.allSatisfy(isValueCharacter) else {
                return .failure(.decodingError)
            }
            tags[String(Substring(key))] = String(Substring(value))
        }
        return .success(tags)
    }

    /// Joins `tags` in order, as `encode_tagset_values` does: the first invalid pair or the first pair that would
    /// pass `maxLength` fails the whole header.
    static func encode(_ tags: [(key: String, value: String)], maxLength: Int) -> Result<String, Failure> {
        var encoded = ""
        var length = 0
        for (key, value) in tags {
            let key = trimmingSpaces(Substring(key).unicodeScalars)
            let value = trimmingSpaces(Substring(value).unicodeScalars)
            guard !key.isEmpty, key.allSatisfy(isKeyCharacter), !value.isEmpty, value.allSatisfy(isValueCharacter)
            else { return .failure(.encodingError) }
            // Valid pairs are ASCII, so counting scalars counts bytes.
            let itemLength = key.count + 1 + value.count + (length == 0 ? 0 : 1)
            guard length + itemLength <= maxLength else { return .failure(.injectMaxSize) }
            if length > 0 { encoded.append(",") }
            encoded.unicodeScalars.append(contentsOf: key)
            encoded.append("=")
            encoded.unicodeScalars.append(contentsOf: value)
            length += itemLength
        }
        return .success(encoded)
    }

    /// Python's `.strip(" ")`: spaces only, not other whitespace.
    private static func trimmingSpaces(_ scalars: Substring.UnicodeScalarView) -> Substring.UnicodeScalarView {
        guard let first = scalars.firstIndex(where: { $0 != " " }), let last = scalars.lastIndex(where: { $0 != " " })
        else { return scalars[scalars.endIndex...] }
        return scalars[first...last]
    }
}
