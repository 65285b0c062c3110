// What the tracer reads of `String`'s in-memory representation, and why it may.
//
// A `String` is two words. The standard library marks, in the top byte of the second word, whether the runtime
// reference-counts it (bit 63, `isImmortal`: never for literals and small strings) and whether it is a small
// string (bit 61; bit 60 clear): up to 15 UTF-8 bytes stored in the value itself, the count in the low nibble of
// the last byte (StringObject.swift, "Discriminator"). Span names, tag keys and most tag values are literals or
// small strings, so two hot loops of the flusher use these bits:
// - `StringStorage.destroy` skips the release calls for strings that own nothing;
// - the encoder writes a small string with one fixed-size copy of the value (`SmallString`).
// Each assumption is checked once against strings of known form; if the running standard library disagrees, the
// tracer uses the ordinary `move()` and `withUTF8` paths.

/// Destroys `String`s in place without a runtime call for the ones that own no storage (releasing a literal or a
/// small string is a no-op that still costs `swift_bridgeObjectRelease` and `swift_release`: ~24 instructions).
enum StringStorage {
    static let canSkipUnowned: Bool = {
        #if arch(x86_64) || arch(arm64)
            guard MemoryLayout<String>.size == 16 else { return false }
            let literal = "a literal longer than fifteen bytes"
            let small = "small"
            let owned = String(repeating: "owned storage ", count: 8)
            return ownsNoStorage(literal) && ownsNoStorage(small) && !ownsNoStorage(owned)
        #else
            return false
        #endif
    }()

    /// Bit 63 of the object word (the stdlib's `isImmortal`) of the string value at `value`.
    @inline(__always) static func ownsNoStorage(at value: UnsafeRawPointer) -> Bool {
        value.load(fromByteOffset: 8, as: UInt64.self) >> 63 == 1
    }

    static func ownsNoStorage(_ string: String) -> Bool {
        withUnsafeBytes(of: string) { ownsNoStorage(at: $0.baseAddress!) }
    }

    /// Ends the lifetime of the string at `string`, leaving the memory uninitialized. `checked` is
    /// `canSkipUnowned`, read once by the caller for a batch of strings.
    @inline(__always) static func destroy(_ string: UnsafeMutablePointer<String>, checked: Bool) {
        if checked && ownsNoStorage(at: string) { return }
        _ = string.move()
    }
}

/// Reading a small string's bytes straight out of the `String` value (64-bit little-endian layout: the code
/// units first, the flags-and-count byte last).
enum SmallString {
    /// Whether the layout above holds in this process.
    static let layoutVerified: Bool = {
        #if (arch(x86_64) || arch(arm64)) && _endian(little)
            guard MemoryLayout<String>.size == 16 else { return false }
            let samples = ["", "a", "GET", "swift-nio", "fifteen bytes!!", "caf\u{e9} \u{20ac}", String(12_345)]
            for sample in samples
            where length(of: sample) != sample.utf8.count || bytes(of: sample) != Array(sample.utf8) {
                return false
            }
            return length(of: "sixteen bytes!!!") == nil
                && length(of: String(repeating: "owned storage ", count: 8)) == nil
        #else
            return false
        #endif
    }()

    /// The UTF-8 length of the string at `value` if it is a small string, else nil.
    @inline(__always) static func length(at value: UnsafeRawPointer) -> Int? {
        let flags = value.load(fromByteOffset: 15, as: UInt8.self)
        // isImmortal (b7) and isSmall (b5) set, isForeign (b4) clear; b6 (isASCII) either way.
        return flags & 0xb0 == 0xa0 ? Int(flags & 0x0f) : nil
    }

    private static func length(of string: String) -> Int? {
        withUnsafeBytes(of: string) { length(at: $0.baseAddress!) }
    }

    private static func bytes(of string: String) -> [UInt8] {
        withUnsafeBytes(of: string) { Array($0.prefix(length(at: $0.baseAddress!) ?? 0)) }
    }
}
