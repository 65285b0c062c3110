/// Something that holds request headers (or any string metadata) a propagator reads and writes.
///
/// HTTP header names are case-insensitive, so `header(named:)` must find `X-Datadog-Trace-Id` when asked for
/// `x-datadog-trace-id`. The propagators always pass lowercase names.
///
/// Conform your framework's header type with a small extension, for example:
///
/// ```swift
/// extension HTTPHeaders: DDHeaderCarrier {
///     public func header(named name: String) -> String? { self.first(name: name) }
///     public mutating func setHeader(_ name: String, _ value: String) { self.replaceOrAdd(name: name, value: value) }
/// }
/// ```
public protocol DDHeaderCarrier {
    /// The value of the header `name` (lowercase), matched case-insensitively; nil if absent.
    func header(named name: String) -> String?
    /// Sets header `name` (lowercase) to `value`, replacing any header of that name in any case.
    mutating func setHeader(_ name: String, _ value: String)
}

/// A plain dictionary of headers. Lookups ignore ASCII case; writes use lowercase names and replace a key that
/// differs only in case, so the dictionary never holds the same header twice.
extension Dictionary: DDHeaderCarrier where Key == String, Value == String {
    /// The value of `name` or of a key that differs from it only in ASCII case.
    public func header(named name: String) -> String? {
        // Fast path: servers and clients usually hand over lowercase or canonical keys.
        if let value = self[name] { return value }
        return first { HeaderName.equalIgnoringASCIICase($0.key, name) }?.value
    }

    /// Stores `value` under the lowercase `name`, removing a key that differs from it only in ASCII case.
    public mutating func setHeader(_ name: String, _ value: String) {
        let lowercaseName = HeaderName.lowercased(name)
        if self[lowercaseName] == nil, let existing = keys.first(where: { HeaderName.equalIgnoringASCIICase($0, name) }) {
            removeValue(forKey: existing)
        }
        self[lowercaseName] = value
    }
}

/// ASCII-only case folding: header names are tokens (RFC 9110), and folding only ASCII avoids Unicode case
/// mapping, which allocates and could equate distinct names.
enum HeaderName {
    static func equalIgnoringASCIICase(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count && lhs.utf8.elementsEqual(rhs.utf8) { fold($0) == fold($1) }
    }

    static func lowercased(_ name: String) -> String {
        // Avoids building a new string when the name is already lowercase, as every propagator name is.
        guard name.utf8.contains(where: { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else { return name }
        return String(decoding: name.utf8.map(fold), as: UTF8.self)
    }

    @inline(__always) static func fold(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }
}
