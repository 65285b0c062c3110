import Tracing

/// `DDTracer` as a swift-distributed-tracing `Tracer`: libraries instrumented with Tracing (Hummingbird,
/// AsyncHTTPClient, gRPC, ...) send Datadog spans once it is bootstrapped.
///
/// ```swift
/// let tracer = try DDTracer.bootstrapForDistributedTracing()   // DDTracer.shared + InstrumentationSystem
/// try await withSpan("checkout") { span in ... }               // Tracing's API: a Datadog span
/// ```
///
/// Spans are `DDTracingSpan`s over native spans. A span's parent is the Datadog value (`DDActiveContextKey`) of the
/// service context it starts in, or, when that has none, the tracer's own active span (`contextProvider`).
/// Propagation uses the tracer's `propagator` (`DD_TRACE_PROPAGATION_STYLE*`).
extension DDTracer: Tracer {
    public typealias Span = DDTracingSpan

    /// Starts a span (see `DDTracingSpan` for the mapping). Its parent is the Datadog value of `context`, else the
    /// tracer's active span; `instant` is its start time (wall clock).
    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> DDTracingSpan {
        var context = context()
        let parent = tracingParentLink(context[DDActiveContextKey.self] ?? contextProvider.active())
        // The Tracing name is the resource; the operation name is derived when the span ends (TracingConventions).
        let span = engine.pointer.startSpan(
            name: kind.tagValue, service: nil, resource: operationName, type: kind.spanType, parent: parent,
            startWallClockNanoseconds: Int64(clamping: instant().nanosecondsSinceEpoch))
        span.setTag("span.kind", kind.tagValue)
        context[DDActiveContextKey.self] = .span(span)
        return DDTracingSpan(span: span, kind: kind, context: context, http: integrations.http)
    }

    /// Injects the Datadog span or context of `context` (else the tracer's active one) into an outgoing request,
    /// with the configured propagation styles; the trace's sampling decision is made first (see `inject(_:into:)`).
    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let active = context[DDActiveContextKey.self] ?? contextProvider.active() else { return }
        let traceContext: DDTraceContext
        switch active {
        case .span(let span): traceContext = (span.nearestOpen ?? span).context
        case .context(let remote): traceContext = remote
        }
        // The adapter writes through a pointer: a copy of the carrier would make every write copy its storage.
        withUnsafeMutablePointer(to: &carrier) { pointer in
            var adapter = InjectorCarrier(carrier: pointer, injector: injector)
            inject(traceContext, into: &adapter)
        }
    }

    /// Extracts a Datadog context from an incoming request into `context`, so that spans started in it continue
    /// the caller's trace. Leaves `context` unchanged when the request carries none.
    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let extracted = extract(from: ExtractorCarrier(carrier: carrier, extractor: extractor)) else { return }
        context[DDActiveContextKey.self] = .context(extracted)
    }

    /// Sends finished traces now and waits for the agent (at most 5 seconds). Blocks the calling thread.
    public func forceFlush() {
        _ = flush(timeout: .seconds(5))
    }

    /// The parent of a span whose service context carries `active`: the native tracer's own rule (a finished span
    /// gives way to its closest open ancestor); a context without a trace id (baggage only) starts a new trace.
    func tracingParentLink(_ active: DDActive?) -> ParentLink? {
        switch active {
        case .span(let span)?: span.openSlot != nil ? span.parentLink : span.nearestOpen?.parentLink
        case .context(let context)?: context.hasTrace ? context.parentLink : nil
        case nil: nil
        }
    }
}

extension DDTracer {
    /// Creates a tracer for applications traced through swift-distributed-tracing, and installs it both as
    /// `DDTracer.shared` and as the process's instrument (`InstrumentationSystem.bootstrap`).
    ///
    /// The tracer keeps its active span in `ServiceContext` (`DDServiceContextProvider`), so that native `trace`
    /// blocks and Tracing `withSpan` blocks nest in each other. `InstrumentationSystem` can be bootstrapped only
    /// once per process: to combine instruments, create the tracer with
    /// `DDTracer.bootstrap(configuration:contextProvider: DDServiceContextProvider())` and bootstrap a
    /// `MultiplexInstrument` yourself.
    ///
    /// Call it before creating clients that capture the instrument (AsyncHTTPClient reads
    /// `InstrumentationSystem.tracer` when its configuration is created).
    @discardableResult
    public static func bootstrapForDistributedTracing(
        configuration: DDTracerConfiguration = DDTracerConfiguration()
    ) throws(DDConfigurationError) -> DDTracer {
        let tracer = try bootstrap(configuration: configuration, contextProvider: DDServiceContextProvider())
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }
}

/// A Tracing `Extractor` and its carrier, read as a `DDHeaderCarrier` (extraction only reads).
struct ExtractorCarrier<Extract: Extractor>: DDHeaderCarrier {
    let carrier: Extract.Carrier
    let extractor: Extract

    func header(named name: String) -> String? {
        extractor.extract(key: name, from: carrier)
    }

    func setHeader(_ name: String, _ value: String) {}
}

/// A Tracing `Injector` writing into a carrier it does not own, as a `DDHeaderCarrier` (injection only writes).
/// Valid only inside the `withUnsafeMutablePointer` scope that made it.
struct InjectorCarrier<Inject: Injector>: DDHeaderCarrier {
    let carrier: UnsafeMutablePointer<Inject.Carrier>
    let injector: Inject

    func header(named name: String) -> String? { nil }

    func setHeader(_ name: String, _ value: String) {
        injector.inject(value, forKey: name, into: &carrier.pointee)
    }
}
