/// Injects a trace context into outgoing request headers and extracts it from incoming ones, in the Datadog,
/// W3C Trace Context, B3 and W3C baggage formats, with dd-trace-py's rules (`ddtrace/propagation/http.py`).
///
/// ```swift
/// let propagator = DDHTTPPropagator(environment: ProcessInfo.processInfo.environment)
///
/// // Server: continue the caller's trace.
/// let parent = propagator.extract(from: request.headers)       // nil: start a new trace
///
/// // Client: let the callee continue ours.
/// var headers: [String: String] = [:]
/// let result = propagator.inject(span.context, into: &headers)
/// if let error = result.propagationError { rootSpan.setTag("_dd.propagation_error", error) }
/// ```
///
/// Extraction never throws and never traps: malformed headers give nil, or a context whose `propagationError`
/// says what was discarded, as the reference tracers do.
public struct DDHTTPPropagator: Sendable {
    /// The styles written by `inject`, in the configured order (they are written in dd-trace-py's fixed order).
    public let injectStyles: [DDPropagationStyle]
    /// The styles read by `extract`, in priority order: the first one found gives the trace.
    public let extractStyles: [DDPropagationStyle]
    /// Whether `extract` stops at the first style found, ignoring the others (`DD_TRACE_PROPAGATION_EXTRACT_FIRST`).
    ///
    /// dd-trace-py 4.16 only ever tries the first configured style in this mode (its loop breaks unconditionally);
    /// this propagator tries them in order until one is found, as the setting's documentation describes.
    public let extractFirst: Bool
    /// The longest `x-datadog-tags` value sent or accepted; 0 disables the header.
    public let xDatadogTagsMaxLength: Int
    /// Problems found in the environment by `init(environment:)`; empty otherwise.
    public let diagnostics: [DDConfigurationDiagnostic]

    /// A propagator with explicit settings.
    ///
    /// - Parameters:
    ///   - inject: styles to write; `.none` and repeated styles are ignored.
    ///   - extract: styles to read, first match first; `.none` and repeated styles are ignored.
    ///   - extractFirst: stop at the first style found instead of reconciling all of them.
    ///   - xDatadogTagsMaxLength: limit of `x-datadog-tags` in both directions; 0 (or less) disables it.
    public init(
        inject: [DDPropagationStyle], extract: [DDPropagationStyle], extractFirst: Bool = false,
        xDatadogTagsMaxLength: Int = 512
    ) {
        self.init(
            inject: inject, extract: extract, extractFirst: extractFirst, xDatadogTagsMaxLength: xDatadogTagsMaxLength,
            diagnostics: [])
    }

    /// A propagator configured from `DD_TRACE_PROPAGATION_STYLE`, `DD_TRACE_PROPAGATION_STYLE_INJECT`,
    /// `DD_TRACE_PROPAGATION_STYLE_EXTRACT` (default `datadog,tracecontext,baggage`; a direction's own variable
    /// wins over the general one), `DD_TRACE_PROPAGATION_EXTRACT_FIRST` (default false) and
    /// `DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH` (default 512).
    ///
    /// Invalid values never fail: each is reported in ``diagnostics`` with the value, what is allowed and what is
    /// used instead.
    public init(environment: [String: String]) {
        let settings = PropagationSettings(environment: environment)
        self.init(
            inject: settings.inject, extract: settings.extract, extractFirst: settings.extractFirst,
            xDatadogTagsMaxLength: settings.xDatadogTagsMaxLength, diagnostics: settings.diagnostics)
    }

    private init(
        inject: [DDPropagationStyle], extract: [DDPropagationStyle], extractFirst: Bool, xDatadogTagsMaxLength: Int,
        diagnostics: [DDConfigurationDiagnostic]
    ) {
        self.injectStyles = DDPropagationStyle.normalized(inject)
        self.extractStyles = DDPropagationStyle.normalized(extract)
        self.extractFirst = extractFirst
        // dd-trace-py turns a negative limit into 0 (disabled).
        self.xDatadogTagsMaxLength = max(0, xDatadogTagsMaxLength)
        self.diagnostics = diagnostics
    }
}

/// What `inject` could not propagate.
public struct DDInjectionResult: Sendable, Equatable {
    /// `_dd.propagation_error` to set on the local root span, as dd-trace-py sets it on the context's meta:
    /// `inject_max_size` (the `_dd.p.*` tags exceed `xDatadogTagsMaxLength`), `encoding_error` (a tag key or value
    /// that `x-datadog-tags` cannot carry) or `disabled` (a limit of 0). In each case `x-datadog-tags` was not
    /// written; the other headers were.
    public var propagationError: String?

    /// A result without error.
    public init(propagationError: String? = nil) {
        self.propagationError = propagationError
    }
}

// MARK: - Inject

extension DDHTTPPropagator {
    /// Writes `context` into `carrier` in each configured style, in dd-trace-py's order: baggage, then datadog,
    /// b3multi, b3 and tracecontext.
    ///
    /// Baggage is written even for a context without a trace id; the trace styles need a non-zero trace id and
    /// span id. Sampling is not decided here: inject the context of a span whose trace has a priority, or
    /// downstream services decide on their own.
    @discardableResult
    public func inject(_ context: DDTraceContext, into carrier: inout some DDHeaderCarrier) -> DDInjectionResult {
        var result = DDInjectionResult()
        for style in DDPropagationStyle.injectionOrder where injectStyles.contains(style) {
            if style != .baggage, !context.hasTrace || context.spanId == 0 { break }
            switch style {
            case .baggage: BaggageHeader.inject(context.baggage, into: &carrier)
            case .datadog:
                result.propagationError = DatadogHeaders.inject(
                    context, maxTagsLength: xDatadogTagsMaxLength, into: &carrier)
            case .b3multi: B3Headers.injectMulti(context, into: &carrier)
            case .b3: B3Headers.injectSingle(context, into: &carrier)
            case .tracecontext: TraceContextHeaders.inject(context, into: &carrier)
            case .none: break
            }
        }
        return result
    }
}

// MARK: - Extract

extension DDHTTPPropagator {
    /// The context carried by `carrier`, or nil when it carries none.
    ///
    /// Each configured style is read in order; the first one found gives the trace (`extractFirst` stops there).
    /// A later style with a different trace id is kept in `terminatedContexts`; a `tracecontext` context of the
    /// same trace contributes its `tracestate` and, when its parent differs, its span id (the Datadog parent
    /// goes to `lastDatadogParentId`). Baggage is added to whichever context is found; with baggage alone the
    /// context has a zero trace id (`hasTrace` is false) and only carries `baggage`.
    public func extract(from carrier: some DDHeaderCarrier) -> DDTraceContext? {
        var found: [(style: DDPropagationStyle, context: DDTraceContext)] = []
        for style in extractStyles {
            guard let context = extract(style, from: carrier) else { continue }
            found.append((style, context))
            if extractFirst { break }
        }
        var context = Self.resolve(found)
        if extractStyles.contains(.baggage) {
            let baggage = BaggageHeader.extract(from: carrier)
            if !baggage.isEmpty {
                if context == nil { context = DDTraceContext(traceId: DDTraceID(high: 0, low: 0), spanId: 0) }
                context?.baggage = baggage
            }
        }
        return context
    }

    private func extract(_ style: DDPropagationStyle, from carrier: some DDHeaderCarrier) -> DDTraceContext? {
        switch style {
        case .datadog: DatadogHeaders.extract(from: carrier, maxTagsLength: xDatadogTagsMaxLength)
        case .tracecontext: TraceContextHeaders.extract(from: carrier)
        case .b3multi: B3Headers.extractMulti(from: carrier)
        case .b3: B3Headers.extractSingle(from: carrier)
        // Baggage is not trace identity: it is merged into the result afterwards.
        case .baggage, .none: nil
        }
    }

    /// dd-trace-py `HTTPPropagator._resolve_contexts`.
    static func resolve(_ found: [(style: DDPropagationStyle, context: DDTraceContext)]) -> DDTraceContext? {
        guard var primary = found.first?.context else { return nil }
        for (style, context) in found.dropFirst() {
            if context.traceId != primary.traceId {
                // `_context_to_span_link` needs both ids.
                if context.spanId != 0 { primary.terminatedContexts.append(context) }
            } else if style == .tracecontext {
                merge(tracecontext: context, into: &primary, datadog: found.first { $0.style == .datadog }?.context)
            }
        }
        return primary
    }

    /// The same trace seen through `traceparent`: its `tracestate` is kept for re-injection, and its parent wins
    /// because a W3C-only service may sit between the last Datadog span and us.
    private static func merge(
        tracecontext context: DDTraceContext, into primary: inout DDTraceContext, datadog: DDTraceContext?
    ) {
        primary.tracestateOtherVendors = context.tracestateOtherVendors
        guard primary.spanId != context.spanId else { return }
        if let lastParent = context.lastDatadogParentId {
            primary.lastDatadogParentId = lastParent
        } else if let datadog, datadog.spanId != 0 {
            primary.lastDatadogParentId = datadog.spanId
        }
        primary.spanId = context.spanId
    }
}

extension DDTraceContext {
    /// Whether the context identifies a trace (a non-zero trace id). A context extracted from a `baggage` header
    /// alone has none: start a new trace and keep its `baggage`.
    public var hasTrace: Bool {
        traceId.high != 0 || traceId.low != 0
    }
}
