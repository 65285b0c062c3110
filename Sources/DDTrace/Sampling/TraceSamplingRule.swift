/// The fields of a span that sampling rules look at. Implemented by slots (`SlotSamplingSubject`), by the
/// filters' `DDFinishedSpan`, and by test doubles.
protocol SamplingSubject {
    /// The effective service (the tracer's default when the span set none).
    var service: String { get }
    var name: String { get }
    /// The effective resource (the name when the span set none).
    var resource: String { get }
    /// A string tag.
    func tag(_ key: String) -> String?
    /// A numeric tag.
    func metric(_ key: String) -> Double?
}

extension DDFinishedSpan: SamplingSubject {}

/// A span in its slot, seen by the sampling rules (flusher thread, or the slot's owner).
struct SlotSamplingSubject: SamplingSubject {
    let slot: SlotPointer
    let defaultService: String
    /// Tags the encoder adds to every span (`env`, `version`, `DD_TAGS`), consulted when the span has no tag of
    /// that name: dd-trace-py sets them on the spans themselves, so its rules see them.
    let processTags: [String: String]

    init(slot: SlotPointer, defaultService: String, processTags: [String: String] = [:]) {
        self.slot = slot
        self.defaultService = defaultService
        self.processTags = processTags
    }

    var service: String { slot.pointee.service.isEmpty ? defaultService : slot.pointee.service }
    var name: String { slot.pointee.name }
    var resource: String { slot.pointee.resource.isEmpty ? slot.pointee.name : slot.pointee.resource }
    func tag(_ key: String) -> String? { SlotTags.meta(slot, key) ?? processTags[key] }
    func metric(_ key: String) -> Double? { SlotTags.metric(slot, key) }
}

/// One `DD_TRACE_SAMPLING_RULES` rule: dd-trace-py's `SamplingRule` (`_trace/sampling_rule.py`).
struct TraceSamplingRule: Sendable, Equatable {
    /// Where a rule came from; it orders the rules (customer, dynamic, then default) and picks the mechanism.
    enum Provenance: String, Sendable, CaseIterable {
        case customer, dynamic
        case local = "default"

        /// The `_dd.p.dm` mechanism: remote user rule 11, remote dynamic rule 12, local user rule 3.
        var mechanism: Int8 {
            switch self {
            case .customer: 11
            case .dynamic: 12
            case .local: 3
            }
        }
    }

    struct TagPattern: Sendable, Equatable {
        let key: String
        let pattern: SamplingGlob
    }

    var sampleRate: Double
    var service: SamplingGlob?
    var name: SamplingGlob?
    var resource: SamplingGlob?
    var tags: [TagPattern] = []
    var provenance: Provenance = .local
    /// dd-trace-py's `discard`: a chunk this rule rejects is dropped instead of sent with USER_REJECT.
    var discard = false

    /// Whether the span matches every pattern the rule has.
    func matches(_ span: some SamplingSubject) -> Bool {
        if let service, !service.matches(span.service) { return false }
        if let name, !name.matches(span.name) { return false }
        if let resource, !resource.matches(span.resource) { return false }
        return tags.allSatisfy { Self.tagMatches($0, span) }
    }

    /// dd-trace-py's `tags_match`: the string tag first; else the metric, as an integer when it is one
    /// (`str(int(value))`, so `200.0` matches `"200"` and `"2*"`), while a fractional metric only matches a
    /// wildcards-only pattern (so `23.*` does not match floats); a missing tag never matches.
    private static func tagMatches(_ tag: TagPattern, _ span: some SamplingSubject) -> Bool {
        if let value = span.tag(tag.key) { return tag.pattern.matches(value) }
        guard let number = span.metric(tag.key) else { return false }
        if let integer = integerText(number) { return tag.pattern.matches(integer) }
        return tag.pattern.isWildcardsOnly && tag.pattern.matches(number.description)
    }

    /// Python's `str(int(value))` for an integral, finite Double; nil otherwise.
    static func integerText(_ value: Double) -> String? {
        guard value.isFinite, value == value.rounded(.towardZero) else { return nil }
        if let exact = Int64(exactly: value) { return String(exact) }
        if let exact = UInt64(exactly: value) { return String(exact) }
        return bigIntegerText(value)
    }

    /// The exact decimal digits of an integral Double beyond 64 bits (a multiple of a power of two), as Python's
    /// arbitrary-precision `int` prints it.
    private static func bigIntegerText(_ value: Double) -> String {
        var digits: [UInt8] = [0]  // little-endian base 10
        let significand = UInt64(value.significandBitPattern) | (1 << 52)
        for bit in String(significand, radix: 2) { multiplyAdd(&digits, by: 2, adding: bit == "1" ? 1 : 0) }
        for _ in 0..<(Int(value.exponent) - 52) { multiplyAdd(&digits, by: 2, adding: 0) }
        let text = String(digits.reversed().map { Character(Unicode.Scalar($0 + 48)) })
        return value < 0 ? "-" + text : text
    }

    private static func multiplyAdd(_ digits: inout [UInt8], by factor: UInt8, adding carryIn: UInt8) {
        var carry = carryIn
        for index in digits.indices {
            let product = digits[index] * factor + carry
            digits[index] = product % 10
            carry = product / 10
        }
        if carry > 0 { digits.append(carry) }
    }

    /// The Knuth decision on the trace id's low 64 bits (dd-trace-py `SamplingRule.sample`).
    func samples(traceIdLow: UInt64) -> Bool {
        Sampling.keeps(traceIdLow: traceIdLow, rate: sampleRate)
    }
}
