/// Zipkin B3, multi-header and single-header (dd-trace-py `_B3MultiHeader`, `_B3SingleHeader`).
///
/// Ids are hex: the trace id as 32 digits when it has a high half, else 16; the span id as 16. Priority maps to
/// `sampled` 0 (≤ 0) or 1 (1), and to the debug flag for 2 (`x-b3-flags: 1`, or `d` in the single header).
enum B3Headers {
    static let traceId = "x-b3-traceid"
    static let spanId = "x-b3-spanid"
    static let sampled = "x-b3-sampled"
    static let flags = "x-b3-flags"
    static let single = "b3"

    static func traceIdText(_ id: DDTraceID) -> String {
        id.high != 0 ? PropagationText.hex32(id) : PropagationText.hex16(id.low)
    }

    // MARK: Multi

    static func injectMulti(_ context: DDTraceContext, into carrier: inout some DDHeaderCarrier) {
        carrier.setHeader(traceId, traceIdText(context.traceId))
        carrier.setHeader(spanId, PropagationText.hex16(context.spanId))
        guard let priority = context.samplingPriority else { return }
        if priority.rawValue > 1 {
            carrier.setHeader(flags, "1")
        } else {
            carrier.setHeader(sampled, priority.rawValue <= 0 ? "0" : "1")
        }
    }

    static func extractMulti(from carrier: some DDHeaderCarrier) -> DDTraceContext? {
        guard let rawTraceId = carrier.header(named: traceId) else { return nil }
        var priority: DDSamplingPriority?
        switch carrier.header(named: sampled) {
        case "0": priority = .autoReject
        case "1": priority = .autoKeep
        default: break
        }
        if carrier.header(named: flags) == "1" { priority = .userKeep }
        return context(traceId: rawTraceId[...], spanId: carrier.header(named: spanId)?[...], priority: priority)
    }

    // MARK: Single

    static func injectSingle(_ context: DDTraceContext, into carrier: inout some DDHeaderCarrier) {
        var value = traceIdText(context.traceId) + "-" + PropagationText.hex16(context.spanId)
        if let priority = context.samplingPriority {
            value += priority.rawValue <= 0 ? "-0" : priority.rawValue == 1 ? "-1" : "-d"
        }
        carrier.setHeader(single, value)
    }

    /// `{traceid}-{spanid}[-{sampled}[-{parentspanid}]]`; the parent part is ignored. A header with only the
    /// sampling state (`b3: 0`) has no trace to continue and yields nil.
    static func extractSingle(from carrier: some DDHeaderCarrier) -> DDTraceContext? {
        guard let header = carrier.header(named: single), !header.isEmpty else { return nil }
        let parts = header.utf8.split(separator: UInt8(ascii: "-"), maxSplits: 3, omittingEmptySubsequences: false)
            .map { Substring($0) }
        guard parts.count >= 2 else { return nil }
        var priority: DDSamplingPriority?
        if parts.count >= 3 {
            switch parts[2] {
            case "0": priority = .autoReject
            case "1": priority = .autoKeep
            case "d": priority = .userKeep
            default: break
            }
        }
        return context(traceId: parts[0], spanId: parts[1], priority: priority)
    }

    // MARK: Shared

    /// A context from B3 id texts: 1–32 (trace) or 1–16 (span) hex digits of either case, surrounding whitespace
    /// ignored, as Python's `int(value, 16)` reads them. A zero trace id means no trace (nil); a zero or absent span
    /// id means no parent (0).
    private static func context(
        traceId rawTraceId: Substring, spanId rawSpanId: Substring?, priority: DDSamplingPriority?
    ) -> DDTraceContext? {
        guard let traceId = PropagationText.hex(PropagationText.trimmed(rawTraceId.utf8), maxDigits: 32),
            traceId.high != 0 || traceId.low != 0
        else { return nil }
        var spanId: UInt64 = 0
        if let rawSpanId {
            guard let parsed = PropagationText.hex(PropagationText.trimmed(rawSpanId.utf8), maxDigits: 16) else {
                return nil
            }
            spanId = parsed.low
        }
        return DDTraceContext(traceId: traceId, spanId: spanId, samplingPriority: priority)
    }
}
