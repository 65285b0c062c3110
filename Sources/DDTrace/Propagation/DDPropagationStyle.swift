/// A distributed-tracing header format, named as in `DD_TRACE_PROPAGATION_STYLE` (dd-trace-py's values).
public enum DDPropagationStyle: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `x-datadog-trace-id`, `x-datadog-parent-id`, `x-datadog-sampling-priority`, `x-datadog-origin`,
    /// `x-datadog-tags`.
    case datadog
    /// W3C Trace Context: `traceparent` and `tracestate` (with Datadog's `dd=` list member).
    case tracecontext
    /// Zipkin B3, one header per field: `x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`, `x-b3-flags`.
    case b3multi
    /// Zipkin B3, single header: `b3: {traceid}-{spanid}-{sampled}`.
    case b3
    /// W3C `baggage` (key/value pairs that travel with the request, not trace identity).
    case baggage
    /// No propagation; ignored inside a list that has other styles (as in dd-trace-py).
    case none

    /// The name used in `DD_TRACE_PROPAGATION_STYLE`.
    public var description: String { rawValue }

    /// dd-trace-py's default for both directions (`_PROPAGATION_STYLE_DEFAULT`).
    public static let defaultStyles: [DDPropagationStyle] = [.datadog, .tracecontext, .baggage]

    /// The order dd-trace-py's `HTTPPropagator.inject` writes styles in, whatever the configured order.
    static let injectionOrder: [DDPropagationStyle] = [.baggage, .datadog, .b3multi, .b3, .tracecontext]

    /// Removes `none` and repeated styles, keeping the first occurrence's position.
    static func normalized(_ styles: [DDPropagationStyle]) -> [DDPropagationStyle] {
        var seen = Set<DDPropagationStyle>()
        return styles.filter { $0 != .none && seen.insert($0).inserted }
    }
}
