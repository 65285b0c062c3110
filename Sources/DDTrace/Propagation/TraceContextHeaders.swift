/// W3C Trace Context (dd-trace-py `_TraceContext`, `internal/utils/http.py` and the native `Context`).
enum TraceContextHeaders {
    static let traceparent = "traceparent"
    static let tracestate = "tracestate"

    // MARK: Inject

    static func inject(_ context: DDTraceContext, into carrier: inout some DDHeaderCarrier) {
        let sampled = (context.samplingPriority?.rawValue ?? 0) > 0
        let parent = "00-\(PropagationText.hex32(context.traceId))-\(PropagationText.hex16(context.spanId))-"
        carrier.setHeader(traceparent, parent + (sampled ? "01" : "00"))
        // Received members are already printable ASCII (W3C); members set in code may not be, and a CR or LF in
        // the header value would let them add headers, so those are left out.
        let vendors = context.tracestateOtherVendors.filter(PropagationText.isPrintableASCII)
        let members = Tracestate.membersAfterLimits(
            (vendors + [Tracestate.datadogMember(of: context)].compactMap { $0 }).map { $0[...] })
        // dd-trace-py would send an empty `tracestate`; an absent header means the same and costs nothing.
        if !members.isEmpty { carrier.setHeader(tracestate, members.joined(separator: ",")) }
    }

    // MARK: Extract

    /// The context, or nil when `traceparent` is absent or invalid (then `tracestate` is ignored too).
    static func extract(from carrier: some DDHeaderCarrier) -> DDTraceContext? {
        guard let header = carrier.header(named: traceparent), let parent = Traceparent(header) else { return nil }
        var context = DDTraceContext(
            traceId: parent.traceId, spanId: parent.spanId,
            samplingPriority: parent.sampled ? .autoKeep : .autoReject)
        if let state = carrier.header(named: tracestate), !state.isEmpty {
            apply(tracestate: state, sampled: parent.sampled, to: &context)
        }
        return context
    }

    /// Keeps the other vendors' members and reads the `dd=` member, as `_TraceContext._get_context` does: a
    /// `tracestate` with characters outside 0x20–0x7E is ignored whole; an unreadable `dd=` member is ignored
    /// but the other members are still kept.
    private static func apply(tracestate header: String, sampled: Bool, to context: inout DDTraceContext) {
        let members = Tracestate.membersAfterLimits(header: header)
        guard members.allSatisfy(PropagationText.isPrintableASCII) else { return }
        context.tracestateOtherVendors = members.filter { !PropagationText.hasPrefix($0[...], Tracestate.datadogKey) }
        guard let member = members.first(where: { PropagationText.hasPrefix($0[...], Tracestate.datadogKey) }),
            let datadog = Tracestate.DatadogMember(member.dropFirst(Tracestate.datadogKey.count))
        else { return }
        context.origin = datadog.origin
        context.propagatedTags = datadog.tags
        context.lastDatadogParentId = datadog.lastParentId
        context.samplingPriority = samplingPriority(sampled: sampled, tracestate: datadog.priority, origin: datadog.origin)
            .map(DDSamplingPriority.init(clamping:))
    }

    /// `_TraceContext._get_sampling_priority`: the sampled flag wins unless `s` agrees with it (both keep or both
    /// drop). `s:0` counts as missing there (Python's `not 0`), and RUM without `s` keeps no priority.
    static func samplingPriority(sampled: Bool, tracestate priority: Int?, origin: String?) -> Int? {
        let missing = priority == nil || priority == 0
        let rumWithoutPriority = missing && origin == "rum"
        if !rumWithoutPriority, !sampled, missing || priority! >= 0 { return 0 }
        if !rumWithoutPriority, sampled, missing || priority! < 0 { return 1 }
        return priority
    }
}

/// A parsed `traceparent`: `version-traceid(32 hex)-parentid(16 hex)-flags(2 hex)[-future]`, lowercase hex only
/// (`_TRACEPARENT_HEX_REGEX`).
struct Traceparent {
    let traceId: DDTraceID
    let spanId: UInt64
    let sampled: Bool

    init?(_ header: String) {
        let bytes = Array(PropagationText.trimmed(header[...]).utf8)
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"),
            bytes[52] == UInt8(ascii: "-"),
            let version = PropagationText.lowercaseHex(bytes[0..<2], count: 2),
            let traceId = PropagationText.lowercaseHex(bytes[3..<35], count: 32),
            let spanId = PropagationText.lowercaseHex(bytes[36..<52], count: 16),
            let flags = PropagationText.lowercaseHex(bytes[53..<55], count: 2),
            Self.futureFieldsAreValid(bytes[55...], version: version.low)
        else { return nil }
        // "All 0s are invalid values."
        guard traceId.high != 0 || traceId.low != 0, spanId.low != 0 else { return nil }
        self.traceId = traceId
        self.spanId = spanId.low
        self.sampled = flags.low & 1 == 1
    }

    /// Version `ff` is forbidden; version `00` has exactly four fields; later versions may append `-<anything>`
    /// (the regex's `(-.+)?$`, where `.` does not match a newline).
    private static func futureFieldsAreValid(_ rest: ArraySlice<UInt8>, version: UInt64) -> Bool {
        if version == 0xFF { return false }
        if rest.isEmpty { return true }
        guard version != 0, rest.first == UInt8(ascii: "-"), rest.count > 1 else { return false }
        return !rest.contains(UInt8(ascii: "\n"))
    }
}
