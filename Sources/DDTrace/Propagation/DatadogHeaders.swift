/// The Datadog style (dd-trace-py `_DatadogMultiHeader`).
enum DatadogHeaders {
    static let traceId = "x-datadog-trace-id"
    static let parentId = "x-datadog-parent-id"
    static let samplingPriority = "x-datadog-sampling-priority"
    static let origin = "x-datadog-origin"
    static let tags = "x-datadog-tags"

    static let tagPrefix = "_dd.p."
    static let traceIdHighTag = "_dd.p.tid"
    static let decisionMakerTag = "_dd.p.dm"
    static let userIdTag = "_dd.p.usr.id"
    /// dd-trace-py `_X_DATADOG_TAGS_EXTRACT_REJECT`: a deprecated tag that must not be continued.
    static let rejectedOnExtract = "_dd.p.upstream_services"

    // MARK: Inject

    /// Writes the headers; returns the propagation error to record on the local root span, if any.
    static func inject(
        _ context: DDTraceContext, maxTagsLength: Int, into carrier: inout some DDHeaderCarrier
    ) -> String? {
        carrier.setHeader(traceId, String(context.traceId.low))
        carrier.setHeader(parentId, String(context.spanId))
        if let priority = context.samplingPriority { carrier.setHeader(samplingPriority, String(priority.rawValue)) }
        // An origin set in code may hold anything; a CR or LF in a header value would let it add headers.
        if let value = context.origin, !value.isEmpty, PropagationText.isPrintableASCII(value) {
            carrier.setHeader(origin, value)
        }
        return injectTags(context, maxLength: maxTagsLength, into: &carrier)
    }

    private static func injectTags(
        _ context: DDTraceContext, maxLength: Int, into carrier: inout some DDHeaderCarrier
    ) -> String? {
        // dd-trace-py: `if not config._x_datadog_tags_enabled: meta["_dd.propagation_error"] = "disabled"`.
        guard maxLength > 0 else { return "disabled" }
        // dd-trace-py: "Do not try to encode tags if we have already tried and received an error".
        guard context.propagationError == nil else { return nil }
        let tags = propagatedTags(of: context)
        guard !tags.isEmpty else { return nil }
        switch TagSet.encode(tags, maxLength: maxLength) {
        case .success(let value):
            carrier.setHeader(Self.tags, value)
            return nil
        case .failure(let failure):
            return failure.reason
        }
    }

    /// The `_dd.p.*` tags to send, sorted by key for a stable header, with `_dd.p.tid` last (where dd-trace-py's
    /// inject appends it) when the trace id has a high half.
    static func propagatedTags(of context: DDTraceContext) -> [(key: String, value: String)] {
        var tags = context.propagatedTags
            .filter { $0.key.hasPrefix(tagPrefix) && $0.key != traceIdHighTag }
            .sorted { $0.key < $1.key }
            .map { (key: $0.key, value: $0.value) }
        if context.traceId.high != 0 {
            tags.append((traceIdHighTag, PropagationText.hex16(context.traceId.high)))
        }
        return tags
    }

    // MARK: Extract

    /// The context, or nil when there is no usable trace id (absent, not a number, zero, or over 2^64-1) or a
    /// parent id or priority that is not an integer (dd-trace-py returns None for those too).
    static func extract(from carrier: some DDHeaderCarrier, maxTagsLength: Int) -> DDTraceContext? {
        guard let rawTraceId = carrier.header(named: traceId),
            case .value(let low) = PropagationText.decimal(rawTraceId),
            let spanId = parentSpanId(carrier.header(named: parentId) ?? "0")
        else { return nil }
        var priority: DDSamplingPriority?
        if let raw = carrier.header(named: samplingPriority) {
            guard let value = PropagationText.smallInteger(raw[...]) else { return nil }
            priority = DDSamplingPriority(clamping: value)
        }
        // Origins are short ASCII names (`synthetics`, `rum`); one with control characters would be re-sent
        // downstream as a header value, so it is dropped (found by Fuzz/FuzzPropagation).
        let receivedOrigin = carrier.header(named: origin).flatMap {
            $0.isEmpty || !PropagationText.isPrintableASCII($0) ? nil : $0
        }
        let decoded = decodeTags(carrier.header(named: tags) ?? "", maxLength: maxTagsLength)
        var context = DDTraceContext(
            traceId: DDTraceID(high: decoded.traceIdHigh, low: low), spanId: spanId, samplingPriority: priority,
            origin: receivedOrigin, propagatedTags: decoded.tags)
        context.propagationError = decoded.error
        return context
    }

    /// `int(value) or None`: zero and negative ids mean "no parent" (0); text that is not an integer, or an id
    /// that does not fit 64 bits, makes the headers unusable.
    private static func parentSpanId(_ raw: String) -> UInt64? {
        switch PropagationText.decimal(raw) {
        case .value(let value): value
        case .notPositive: 0
        case .overflow, nil: nil
        }
    }

    struct DecodedTags {
        var tags: [String: String] = [:]
        var traceIdHigh: UInt64 = 0
        var error: String?
    }

    /// `_dd.p.*` tags, the trace id's high half and the propagation error, as dd-trace-py's `_extract` and
    /// `validate_sampling_decision` leave them.
    static func decodeTags(_ value: String, maxLength: Int) -> DecodedTags {
        var result = DecodedTags()
        // A limit of 0 disables the header (DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH=0).
        guard !value.isEmpty, maxLength > 0 else { return result }
        switch TagSet.decode(value, maxLength: maxLength) {
        case .failure(let failure):
            // dd-trace-py replaces all tags with the error: nothing of a malformed header is trusted.
            result.error = failure.reason
            return result
        case .success(let tags):
            result.tags = tags.filter { $0.key.hasPrefix(tagPrefix) && $0.key != rejectedOnExtract }
        }
        if let high = result.tags.removeValue(forKey: traceIdHighTag) {
            if let parsed = validTraceIdHigh(high) {
                result.traceIdHigh = parsed
            } else {
                result.error = "malformed_tid \(high)"
            }
        }
        if let decision = result.tags[decisionMakerTag], !isValidDecisionMaker(decision) {
            result.tags.removeValue(forKey: decisionMakerTag)
            result.error = "decoding_error"
        }
        return result
    }

    /// 16 lowercase hex digits, not all zero (`_higher_order_is_valid`).
    private static func validTraceIdHigh(_ text: String) -> UInt64? {
        guard let id = PropagationText.lowercaseHex(text.utf8, count: 16), id.low != 0 else { return nil }
        return id.low
    }

    /// `-<mechanism>` with the mechanism written as a plain decimal in 0...255: dd-trace-py's
    /// `VALID_SAMPLING_DECISIONS` ("libdatadog encodes the sampling mechanism as a u8").
    static func isValidDecisionMaker(_ text: String) -> Bool {
        guard text.utf8.first == UInt8(ascii: "-") else { return false }
        let digits = text.utf8.dropFirst()
        guard (1...3).contains(digits.count), digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            digits.count == 1 || digits.first != UInt8(ascii: "0")
        else { return false }
        let mechanism = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return mechanism <= 255
    }
}

extension DDSamplingPriority {
    /// A received priority outside -1...2 keeps its meaning (drop or keep) at the nearest defined level.
    init(clamping value: Int) {
        self = value <= -1 ? .userReject : value == 0 ? .autoReject : value == 1 ? .autoKeep : .userKeep
    }
}
