import Logging
import Tracing

/// Log correlation: puts the active trace and span ids (and the service, env and version) on swift-log records, so
/// that Datadog links logs to traces, as ddtrace's `DD_LOGS_INJECTION` does for Python's `logging`.
///
/// ```swift
/// let tracer = try DDTracer.bootstrap()
/// LoggingSystem.bootstrap(StreamLogHandler.standardOutput, metadataProvider: tracer.logMetadataProvider)
/// // or per logger: Logger(label: "app", metadataProvider: tracer.logMetadataProvider)
///
/// tracer.trace("web.request") { _ in
///     logger.info("handled")   // dd.trace_id=… dd.span_id=… dd.service=… dd.env=… dd.version=…
/// }
/// ```
///
/// Keys (ddtrace's): `dd.trace_id` (32 lowercase hex digits when the trace id has high bits, as every trace this
/// tracer starts does, else decimal), `dd.span_id` (decimal), `dd.service`, `dd.env`, `dd.version`. Records made
/// outside any span get nothing. With `DD_LOGS_INJECTION=false` the provider adds nothing.
///
/// For text logs, `DDLogCorrelation.format(_:)` renders dd-trace-py's format,
/// `[dd.service=checkout dd.env=prod dd.version=1.2 dd.trace_id=… dd.span_id=…]`, which Datadog's log pipeline
/// parses.
public enum DDLogCorrelation {
    /// The keys, in the order of the text format.
    public static let keys = ["dd.service", "dd.env", "dd.version", "dd.trace_id", "dd.span_id"]

    /// A metadata provider adding the correlation keys of `tracer`'s active span to every record.
    public static func metadataProvider(tracer: DDTracer) -> Logger.MetadataProvider {
        let enabled = tracer.integrations.logsInjection
        return Logger.MetadataProvider {
            guard enabled, let ids = tracer.activeIdentifiers() else { return [:] }
            return [
                "dd.trace_id": .string(traceIdText(ids.traceId)), "dd.span_id": .string(String(ids.spanId)),
                "dd.service": .string(tracer.resolved.service), "dd.env": .string(tracer.resolved.env ?? ""),
                "dd.version": .string(tracer.resolved.version ?? ""),
            ]
        }
    }

    /// dd-trace-py's text form of a correlation context (`DD_LOG_FORMAT`'s bracket):
    /// `[dd.service=… dd.env=… dd.version=… dd.trace_id=… dd.span_id=…]`.
    public static func format(_ context: [String: String]) -> String {
        "[" + keys.map { "\($0)=\(context[$0] ?? "")" }.joined(separator: " ") + "]"
    }

    /// dd-trace-py's `format_trace_id`: 32 lowercase hex digits for a 128-bit id, decimal for a 64-bit one.
    public static func traceIdText(_ traceId: DDTraceID) -> String {
        traceId.high != 0 ? traceId.hexString : String(traceId.low)
    }
}

extension DDTracer {
    /// `DDLogCorrelation.metadataProvider(tracer: self)`.
    public var logMetadataProvider: Logger.MetadataProvider {
        DDLogCorrelation.metadataProvider(tracer: self)
    }

    /// ddtrace's `get_log_correlation_context()`: the five correlation keys of the active span, with `"0"` ids and
    /// empty service, env and version when no span is active. Not affected by `DD_LOGS_INJECTION`.
    public func logCorrelationContext() -> [String: String] {
        guard let ids = activeIdentifiers() else {
            return ["dd.trace_id": "0", "dd.span_id": "0", "dd.service": "", "dd.env": "", "dd.version": ""]
        }
        return [
            "dd.trace_id": DDLogCorrelation.traceIdText(ids.traceId), "dd.span_id": String(ids.spanId),
            "dd.service": resolved.service, "dd.env": resolved.env ?? "", "dd.version": resolved.version ?? "",
        ]
    }

    /// The trace and span ids of the active span or context: the tracer's own, else the one a Tracing `withSpan`
    /// put in `ServiceContext.current` (which the default task-local provider does not see).
    func activeIdentifiers() -> (traceId: DDTraceID, spanId: UInt64)? {
        if let span = currentSpan() { return (span.traceId, span.spanId) }
        if let context = currentTraceContext(), context.hasTrace { return (context.traceId, context.spanId) }
        switch ServiceContext.current?[DDActiveContextKey.self] {
        case .span(let span)?: return span.nearestOpen.map { ($0.traceId, $0.spanId) }
        case .context(let context)? where context.hasTrace: return (context.traceId, context.spanId)
        default: return nil
        }
    }
}
