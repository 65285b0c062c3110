/// Carries a trace context over your own transport: RPC metadata, message-queue attributes, job payloads…
///
/// If your metadata is a string-to-string map with HTTP-like semantics, you do not need this protocol: conform
/// the map to ``DDHeaderCarrier`` and use ``DDHTTPPropagator``, which speaks every Datadog-compatible format. Write
/// a custom propagator when the format itself is yours (other key names, typed fields, binary ids).
///
/// Writing one takes two functions:
///
/// ```swift
/// /// Trace ids in a Kafka record's headers, as raw bytes.
/// struct KafkaPropagator: DDCustomPropagator {
///     func inject(_ context: DDTraceContext, into record: inout KafkaRecord) {
///         record.headers["dd-trace-id"] = withUnsafeBytes(of: context.traceId.low.bigEndian) { Array($0) }
///         record.headers["dd-span-id"] = withUnsafeBytes(of: context.spanId.bigEndian) { Array($0) }
///     }
///
///     func extract(from record: KafkaRecord) -> DDTraceContext? {
///         guard let traceId = record.headers["dd-trace-id"].flatMap(UInt64.init(bigEndianBytes:)),
///               let spanId = record.headers["dd-span-id"].flatMap(UInt64.init(bigEndianBytes:)),
///               traceId != 0
///         else { return nil }   // missing or malformed: start a new trace
///         return DDTraceContext(traceId: DDTraceID(high: 0, low: traceId), spanId: spanId)
///     }
/// }
/// ```
///
/// Rules that keep traces whole: `extract` must never trap on what the other side sent (return nil instead);
/// carry the full 128-bit `traceId` when you can, and the `samplingPriority`, so both sides keep or drop the
/// same traces; never return a context with a zero trace id. ``DDDictionaryPropagator`` is a complete example.
public protocol DDCustomPropagator: Sendable {
    /// What the context travels in.
    associatedtype Carrier

    /// Writes `context` into `carrier`.
    func inject(_ context: DDTraceContext, into carrier: inout Carrier)

    /// The context `carrier` holds, or nil when it holds none or only malformed data.
    func extract(from carrier: Carrier) -> DDTraceContext?
}

/// An example ``DDCustomPropagator`` for a `[String: String]` payload with its own keys:
///
/// | key | value |
/// |---|---|
/// | `trace_id` | the 128-bit trace id as 32 lowercase hex digits (1 to 32 hex digits are read) |
/// | `span_id` | the span id as 16 lowercase hex digits (1 to 16 hex digits are read) |
/// | `sampling_priority` | `-1`, `0`, `1` or `2`, when decided |
/// | `origin` | `_dd.origin`, when set |
///
/// ```swift
/// let propagator = DDDictionaryPropagator()
/// var payload: [String: String] = [:]
/// propagator.inject(span.context, into: &payload)   // ["trace_id": "6b07…", "span_id": "ef06…", ...]
/// let context = propagator.extract(from: payload)
/// ```
public struct DDDictionaryPropagator: DDCustomPropagator {
    /// The key of the trace id.
    public static let traceIdKey = "trace_id"
    /// The key of the span id.
    public static let spanIdKey = "span_id"
    /// The key of the sampling priority.
    public static let samplingPriorityKey = "sampling_priority"
    /// The key of the origin.
    public static let originKey = "origin"

    /// A propagator for the keys above.
    public init() {}

    /// Writes the keys above into `carrier`, leaving its other keys alone.
    public func inject(_ context: DDTraceContext, into carrier: inout [String: String]) {
        carrier[Self.traceIdKey] = PropagationText.hex32(context.traceId)
        carrier[Self.spanIdKey] = PropagationText.hex16(context.spanId)
        if let priority = context.samplingPriority { carrier[Self.samplingPriorityKey] = String(priority.rawValue) }
        if let origin = context.origin { carrier[Self.originKey] = origin }
    }

    /// The context in `carrier`, or nil when `trace_id` or `span_id` is missing or malformed, or the trace id is 0.
    public func extract(from carrier: [String: String]) -> DDTraceContext? {
        guard let traceId = carrier[Self.traceIdKey].flatMap({ PropagationText.hex($0.utf8, maxDigits: 32) }),
            traceId.high != 0 || traceId.low != 0,
            let spanId = carrier[Self.spanIdKey].flatMap({ PropagationText.hex($0.utf8, maxDigits: 16) })
        else { return nil }
        // An unknown priority is dropped rather than guessed: the receiving side will decide.
        let priority = carrier[Self.samplingPriorityKey].flatMap { Int($0) }.flatMap(DDSamplingPriority.init(rawValue:))
        let origin = carrier[Self.originKey].flatMap { $0.isEmpty ? nil : $0 }
        return DDTraceContext(traceId: traceId, spanId: spanId.low, samplingPriority: priority, origin: origin)
    }
}
