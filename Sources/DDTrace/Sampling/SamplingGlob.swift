/// A glob pattern of sampling rules, matched as dd-trace-py's `GlobMatcher` does (`internal/glob_matching.py`):
/// `*` matches any run of characters (including none), `?` exactly one character, there are no escapes, and
/// "the match is case insensitive" (pattern and subject are compared after `lower()`).
///
/// Matching allocates nothing for ASCII subjects: bytes are compared with ASCII case folding, and the common
/// shapes (only `*`, a literal, a literal followed by `*`) skip the backtracking loop. A subject with non-ASCII
/// characters is lowercased into a temporary array of scalars (Python compares code points).
struct SamplingGlob: Sendable, Equatable, CustomStringConvertible {
    /// The pattern as written.
    let pattern: String
    /// UTF-8 of the lowercased pattern.
    private let bytes: [UInt8]
    private let shape: Shape
    /// Only `*` and `?` (dd-trace-py's `wildcards_only`): such a pattern may match a non-integer metric.
    let isWildcardsOnly: Bool

    private enum Shape: Equatable {
        /// Only `*`s (at least one): matches everything.
        case anything
        /// No wildcard.
        case literal
        /// A literal followed by one or more `*`: the literal's byte count.
        case prefix(Int)
        case general
    }

    static let star = UInt8(ascii: "*")
    static let question = UInt8(ascii: "?")

    init(_ pattern: String) {
        self.pattern = pattern
        let lowered = pattern.lowercased()
        bytes = Array(lowered.utf8)
        isWildcardsOnly = bytes.allSatisfy { $0 == Self.star || $0 == Self.question }
        shape = Self.shape(of: bytes)
    }

    private static func shape(of bytes: [UInt8]) -> Shape {
        if !bytes.isEmpty && bytes.allSatisfy({ $0 == star }) { return .anything }
        guard let firstWildcard = bytes.firstIndex(where: { $0 == star || $0 == question }) else { return .literal }
        let trailingStars = bytes[firstWildcard...].allSatisfy { $0 == star }
        return trailingStars ? .prefix(firstWildcard) : .general
    }

    var description: String { pattern }

    static func == (lhs: SamplingGlob, rhs: SamplingGlob) -> Bool { lhs.bytes == rhs.bytes }

    /// Whether `subject` matches the whole pattern, ignoring case.
    func matches(_ subject: String) -> Bool {
        if shape == .anything { return true }
        let fast = subject.utf8.withContiguousStorageIfAvailable { matchesASCII($0) }
        if let fast, let result = fast { return result }
        return matchesScalars(subject)
    }

    /// The match on UTF-8 bytes, or nil when the subject is not ASCII.
    private func matchesASCII(_ subject: UnsafeBufferPointer<UInt8>) -> Bool? {
        for byte in subject where byte >= 0x80 { return nil }
        return bytes.withUnsafeBufferPointer { pattern -> Bool in
            switch shape {
            case .anything:
                return true
            case .literal:
                return pattern.count == subject.count && Self.equalFolding(pattern, subject, count: pattern.count)
            case .prefix(let length):
                return subject.count >= length && Self.equalFolding(pattern, subject, count: length)
            case .general:
                return Self.backtrack(
                    patternCount: pattern.count, subjectCount: subject.count,
                    patternAt: { UInt32(pattern[$0]) }, subjectAt: { UInt32(Self.lowerASCII(subject[$0])) })
            }
        }
    }

    /// The general case on Unicode scalars, for non-ASCII subjects (allocates).
    private func matchesScalars(_ subject: String) -> Bool {
        let pattern = String(decoding: bytes, as: UTF8.self).unicodeScalars.map(\.value)
        let lowered = subject.lowercased().unicodeScalars.map(\.value)
        return Self.backtrack(
            patternCount: pattern.count, subjectCount: lowered.count, patternAt: { pattern[$0] },
            subjectAt: { lowered[$0] })
    }

    @inline(__always) private static func lowerASCII(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    /// Compares the lowercased pattern's first `count` bytes with the subject's, folding the subject's case.
    @inline(__always) private static func equalFolding(
        _ pattern: UnsafeBufferPointer<UInt8>, _ subject: UnsafeBufferPointer<UInt8>, count: Int
    ) -> Bool {
        for index in 0..<count where pattern[index] != lowerASCII(subject[index]) { return false }
        return true
    }

    /// dd-trace-py's backtracking loop, verbatim: on a mismatch, retry from the last `*` with one more subject
    /// character swallowed by it.
    @inline(__always) private static func backtrack(
        patternCount: Int, subjectCount: Int, patternAt: (Int) -> UInt32, subjectAt: (Int) -> UInt32
    ) -> Bool {
        var px = 0
        var sx = 0
        var nextPx = 0
        var nextSx = 0
        while px < patternCount || sx < subjectCount {
            if px < patternCount {
                let char = patternAt(px)
                if char == UInt32(question) {
                    if sx < subjectCount {
                        px += 1
                        sx += 1
                        continue
                    }
                } else if char == UInt32(star) {
                    nextPx = px
                    nextSx = sx + 1
                    px += 1
                    continue
                } else if sx < subjectCount && subjectAt(sx) == char {
                    px += 1
                    sx += 1
                    continue
                }
            }
            if 0 < nextSx && nextSx <= subjectCount {
                px = nextPx
                sx = nextSx
                continue
            }
            return false
        }
        return true
    }
}
