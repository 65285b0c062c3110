import Atomics
import CDDTraceShims
import Dispatch
import Foundation
import Logging

/// The Datadog tracer: creates spans and sends finished traces to the Datadog agent.
///
/// ```swift
/// let tracer = try DDTracer.bootstrap()          // reads DD_* environment variables, installs `DDTracer.shared`
/// try tracer.trace("web.request", resource: "GET /users") { span in
///     span.setTag("http.method", "GET")
///     tracer.trace("db.query") { _ in ... }        // a child of web.request
/// }
/// ```
///
/// Spans live in per-thread pools and finished spans travel through per-thread lock-free rings to one background
/// flusher thread, which assembles whole trace chunks, samples, encodes (msgpack) and sends them. Starting and
/// finishing a span takes no lock and allocates nothing once the thread's pool is warm.
public final class DDTracer: Sendable {
    @usableFromInline let engine: EngineHandle
    let flusher: Flusher
    let resolved: ResolvedConfiguration
    let logger: Logger
    private let isShutDown = ManagedAtomic<Bool>(false)
    /// Where the active span or context lives (ddtrace's context provider).
    public let contextProvider: any DDContextProvider
    /// The default provider is read directly, without an existential call, on every span start.
    @usableFromInline let usesTaskLocalProvider: Bool
    /// The HTTP header propagator, configured from `DD_TRACE_PROPAGATION_STYLE*` (see `inject`/`extract`).
    public let propagator: DDHTTPPropagator
    /// Settings of the integrations (log correlation, HTTP tagging of Tracing spans), from `DD_LOGS_INJECTION`,
    /// `DD_TRACE_HEADER_TAGS`, `DD_TRACE_HTTP_*` (see Sources/DDTrace/Integrations).
    public let integrations: DDIntegrationSettings

    /// Configuration problems found when the tracer was created (invalid environment values and what was used
    /// instead). Each was also logged once.
    public var configurationDiagnostics: [DDConfigurationDiagnostic] {
        resolved.diagnostics + componentDiagnostics
    }
    /// Diagnostics of the components configured outside `DDTracerConfiguration.resolve()`.
    private let componentDiagnostics: [DDConfigurationDiagnostic]

    /// Creates a tracer and starts its flusher thread.
    ///
    /// - Throws: `DDConfigurationError` when the configuration asks for something unsupported (https), or, in
    ///   strict mode, when any value is invalid. Otherwise invalid values are reported in
    ///   `configurationDiagnostics` and replaced by their defaults.
    ///
    /// - Parameter contextProvider: where the active span lives; the default is task-local (see
    ///   `DDContextProvider`).
    public convenience init(
        configuration: DDTracerConfiguration = DDTracerConfiguration(),
        contextProvider: any DDContextProvider = DDTaskLocalContextProvider()
    ) throws(DDConfigurationError) {
        try self.init(configuration: configuration, contextProvider: contextProvider, additionalHeaders: [])
    }

    /// `additionalHeaders` are sent with every request to the agent (tests use them for test-agent sessions).
    init(
        configuration: DDTracerConfiguration, contextProvider: any DDContextProvider = DDTaskLocalContextProvider(),
        additionalHeaders: [(String, String)], staleTraceTimeout: Duration = Flusher.defaultStaleTraceTimeout
    ) throws(DDConfigurationError) {
        self.contextProvider = contextProvider
        self.usesTaskLocalProvider = contextProvider is DDTaskLocalContextProvider
        let propagator = DDHTTPPropagator(environment: configuration.environment)
        let integrations = DDIntegrationSettings(environment: configuration.environment)
        let sampling = SamplingConfiguration(environment: configuration.environment)
        let resolved = try configuration.resolve()
        let componentDiagnostics = propagator.diagnostics + integrations.diagnostics + sampling.diagnostics
        if configuration.strict && !componentDiagnostics.isEmpty {
            throw DDConfigurationError(diagnostics: componentDiagnostics)
        }
        self.componentDiagnostics = componentDiagnostics
        self.propagator = propagator
        self.integrations = integrations
        var logger = Logger(label: "dd-trace")
        logger.logLevel = resolved.debug ? .debug : .info
        for diagnostic in resolved.diagnostics + componentDiagnostics {
            logger.warning("\(diagnostic)")
        }
        var processTags = Dictionary(resolved.globalTags.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        if let env = resolved.env { processTags["env"] = env }
        if let version = resolved.version { processTags["version"] = version }
        let sampler = TraceSampler(
            env: resolved.env, defaultService: resolved.service, rules: sampling.traceSampler,
            spanRules: sampling.spanSampler, processTags: processTags)
        self.resolved = resolved
        self.logger = logger
        let engine = UnsafeMutablePointer<EngineCore>.make(configuration: resolved)
        self.engine = EngineHandle(engine)
        flusher = Flusher(
            engine: engine, configuration: resolved, logger: logger, additionalHeaders: additionalHeaders,
            sampler: sampler, staleTraceTimeout: staleTraceTimeout)
        if resolved.enabled {
            flusher.start()
        }
    }

    /// A tracer dropped without `shutdown()` stops its flusher the same way, without waiting for it: the thread
    /// sends what has finished, then exits and frees its payload buffers, agent connection and io_uring instance.
    /// Before, the thread (which keeps the flusher) ran on for the life of the process. The engine's memory stays:
    /// span handles that outlive the tracer still point into its pools, and their spans count as dropped after
    /// shutdown.
    deinit {
        shutdown(timeout: .zero)
    }

    // MARK: The shared tracer

    private static let sharedTracer = LockedValue<DDTracer?>(nil)

    /// The process-wide tracer: the one installed by `bootstrap()`, or else one created from the environment on
    /// first use.
    public static var shared: DDTracer {
        sharedTracer.withLock { tracer in
            if let tracer { return tracer }
            // Without https in the environment (a diagnostic, not an error) this cannot throw in lenient mode.
            let created = (try? DDTracer(configuration: DDTracerConfiguration())) ?? disabledTracer()
            tracer = created
            return created
        }
    }

    /// Creates a tracer from the environment (and `configuration`), installs it as `DDTracer.shared` and returns
    /// it. A previously installed tracer is shut down.
    ///
    /// - Parameter contextProvider: where the active span lives (see `DDTracer(configuration:contextProvider:)`).
    @discardableResult
    public static func bootstrap(
        configuration: DDTracerConfiguration = DDTracerConfiguration(),
        contextProvider: any DDContextProvider = DDTaskLocalContextProvider()
    ) throws(DDConfigurationError) -> DDTracer {
        let tracer = try DDTracer(configuration: configuration, contextProvider: contextProvider)
        let previous = sharedTracer.withLock { shared in
            let previous = shared
            shared = tracer
            return previous
        }
        previous?.shutdown(timeout: .seconds(2))
        return tracer
    }

    private static func disabledTracer() -> DDTracer {
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.enabled = false
        return try! DDTracer(configuration: configuration)
    }

    // MARK: Scoped spans

    /// Runs `body` in a new span that is a child of the active span (or a root), active while `body` runs.
    /// An error thrown by `body` is recorded on the span and rethrown. The span is finished when `body` returns.
    ///
    /// Inlinable, with `withActiveSpan`: see `DDTaskLocalContextProvider.withActive`.
    @discardableResult @inlinable
    public func trace<T, Failure: Error>(
        _ name: String, service: String? = nil, resource: String? = nil, spanType: String? = nil,
        _ body: (DDSpan) throws(Failure) -> T
    ) throws(Failure) -> T {
        let span = startSpan(name, service: service, resource: resource, spanType: spanType)
        return try withActiveSpan(span, finishOnClose: true) { () throws(Failure) -> T in try body(span) }
    }

    /// The `async` form of `trace(_:service:resource:spanType:_:)`. The span stays active across suspension
    /// points and thread hops, and child tasks created in `body` inherit it.
    @discardableResult
    public func trace<T, Failure: Error>(
        _ name: String, service: String? = nil, resource: String? = nil, spanType: String? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (DDSpan) async throws(Failure) -> T
    ) async throws(Failure) -> T {
        let span = startSpan(name, service: service, resource: resource, spanType: spanType)
        return try await withActiveSpan(span, finishOnClose: true) { () async throws(Failure) -> T in
            try await body(span)
        }
    }

    /// Runs `body` with `span` active, so that spans started inside are its children (ddtrace's
    /// `start_active_span` / `activate`). With `finishOnClose` the span is finished when `body` returns, and an
    /// error thrown by `body` is recorded on it first.
    ///
    /// Activating a finished span is allowed: new spans then parent on its closest unfinished ancestor, or start
    /// a new trace when there is none.
    @discardableResult @inlinable
    public func withActiveSpan<T, Failure: Error>(
        _ span: DDSpan, finishOnClose: Bool = false, _ body: () throws(Failure) -> T
    ) throws(Failure) -> T {
        do throws(Failure) {
            // The default provider is called directly (a concrete, specializable call) rather than through the
            // existential.
            let value =
                usesTaskLocalProvider
                ? try DDTaskLocalContextProvider().withActive(.span(span), body)
                : try contextProvider.withActive(.span(span), body)
            if finishOnClose { span.finish() }
            return value
        } catch {
            if finishOnClose {
                span.setError(error)
                span.finish()
            }
            throw error
        }
    }

    /// The `async` form of `withActiveSpan(_:finishOnClose:_:)`.
    @discardableResult
    public func withActiveSpan<T, Failure: Error>(
        _ span: DDSpan, finishOnClose: Bool = false, isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws(Failure) -> T
    ) async throws(Failure) -> T {
        do throws(Failure) {
            let value = try await contextProvider.withActive(.span(span), isolation: isolation, body)
            if finishOnClose { span.finish() }
            return value
        } catch {
            if finishOnClose {
                span.setError(error)
                span.finish()
            }
            throw error
        }
    }

    // MARK: Manual spans

    /// Starts a span without activating it; finish it with `finish()`.
    ///
    /// - Parameters:
    ///   - childOf: the parent context; by default the active span or context.
    ///   - tags: string tags set at creation.
    ///   - startTime: an explicit start, in nanoseconds since the Unix epoch (default: now).
    ///   - ignoreActive: start a new trace even if a span is active (when `childOf` is nil).
    public func startSpan(
        _ name: consuming String, childOf parent: DDTraceContext? = nil, service: consuming String? = nil,
        resource: consuming String? = nil, spanType: consuming String? = nil, tags: [String: String] = [:],
        startTime: Int64? = nil, ignoreActive: Bool = false
    ) -> DDSpan {
        let link: ParentLink?
        if let parent {
            link = parent.parentLink
        } else if !ignoreActive {
            link = activeParentLink()
        } else {
            link = nil
        }
        let span = engine.pointer.startSpan(
            name: name, service: service, resource: resource, type: spanType, parent: link,
            startWallClockNanoseconds: startTime)
        for (key, value) in tags { span.setTag(key, value) }
        return span
    }

    /// Starts a child of `parent` without activating it.
    @inlinable @inline(__always) public func startSpan(
        _ name: consuming String, childOf parent: DDSpan, service: consuming String? = nil,
        resource: consuming String? = nil, spanType: consuming String? = nil
    ) -> DDSpan {
        engine.pointer.startChild(name: name, service: service, resource: resource, type: spanType, of: parent)
    }

    @inline(__always) private var activeValue: DDActive? {
        usesTaskLocalProvider ? DDTaskLocalContextProvider.current : contextProvider.active()
    }

    @inline(__always) private func activeParentLink() -> ParentLink? {
        switch activeValue {
        case .span(let span)?: return span.openSlot != nil ? span.parentLink : span.nearestOpen?.parentLink
        case .context(let context)?: return context.parentLink
        case nil: return nil
        }
    }

    /// The active span of the current task or thread, or nil. When the active span has finished, its closest
    /// unfinished ancestor is the active span; with none left, nil.
    public func currentSpan() -> DDSpan? {
        if case .span(let span)? = activeValue { return span.nearestOpen }
        return nil
    }

    /// The active context (of the active span, or an activated remote context), to hand to another thread or
    /// detached task, or to propagate.
    public func currentTraceContext() -> DDTraceContext? {
        switch activeValue {
        case .span(let span)?: return span.nearestOpen?.context
        case .context(let context)?: return context
        case nil: return nil
        }
    }

    /// Runs `body` with `context` active, so that spans started inside are its children (ddtrace's
    /// `context_provider.activate(context)`). Pass nil to run `body` with nothing active: a task that opts out of
    /// the trace it was created in.
    @discardableResult
    public func withActiveContext<T, Failure: Error>(
        _ context: DDTraceContext?, _ body: () throws(Failure) -> T
    ) throws(Failure) -> T {
        try contextProvider.withActive(context.map { .context($0) }, body)
    }

    /// The `async` form of `withActiveContext(_:_:)`.
    @discardableResult
    public func withActiveContext<T, Failure: Error>(
        _ context: DDTraceContext?, isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws(Failure) -> T
    ) async throws(Failure) -> T {
        try await contextProvider.withActive(context.map { .context($0) }, isolation: isolation, body)
    }

    // MARK: Trace filters

    /// Sets the trace filters (ddtrace's `tracer.configure(trace_processors=[...])`): each finished trace chunk
    /// goes through them in order on the flusher thread, each seeing the previous one's output, before it is
    /// sampled and sent; a dropped chunk is counted in `counters.droppedByFilters`. Safe to call at any time,
    /// with spans in flight: it applies from the next chunk.
    public func configure(traceFilters: [any DDTraceFilter]) {
        flusher.setFilters(traceFilters)
    }

    // MARK: Flushing and shutdown

    /// Sends every trace finished so far and waits for the agent's answers (at most `timeout`).
    ///
    /// Traces with spans still open are not sent (unless partial flushing applies to them). Returns whether
    /// everything was accepted; on a timeout or an unreachable agent the data stays queued (within the buffer
    /// cap) for the next attempt. Blocks the calling thread: from `async` code prefer `flush(timeout:) async`.
    @available(*, noasync, message: "from async code, use the async flush(timeout:)")
    @discardableResult
    public func flush(timeout: Duration = .seconds(5)) -> DDFlushResult {
        guard resolved.enabled, !isShutDown.load(ordering: .acquiring) else {
            return DDFlushResult(succeeded: !resolved.enabled, payloadsPending: 0)
        }
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedValue<DDFlushResult?>(nil)
        flusher.requestFlush { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        _ = done.wait(timeout: .now() + .nanoseconds(Int(clamping: timeout.nanoseconds)))
        return outcome.withLock { $0 } ?? DDFlushResult(succeeded: false, payloadsPending: -1)
    }

    /// The `async` form of `flush(timeout:)`; it does not block a thread of the cooperative pool.
    @discardableResult
    public func flush(timeout: Duration = .seconds(5)) async -> DDFlushResult {
        guard resolved.enabled, !isShutDown.load(ordering: .acquiring) else {
            return DDFlushResult(succeeded: !resolved.enabled, payloadsPending: 0)
        }
        return await withCheckedContinuation { continuation in
            let once = ManagedAtomic<Bool>(false)
            let resume: @Sendable (DDFlushResult) -> Void = { result in
                if !once.exchange(true, ordering: .acquiringAndReleasing) { continuation.resume(returning: result) }
            }
            flusher.requestFlush(resume)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(clamping: timeout.nanoseconds))) {
                resume(DDFlushResult(succeeded: false, payloadsPending: -1))
            }
        }
    }

    /// Flushes, then stops the flusher thread. Spans started afterwards are not recorded, and spans still open
    /// are lost when they finish (both counted in `counters.droppedAfterShutdown`). Calling it again does nothing.
    /// Returns whether the final flush completed within `timeout`.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(5)) -> Bool {
        if isShutDown.exchange(true, ordering: .acquiringAndReleasing) { return true }
        engine.pointer.pointee.isShutDown.store(true, ordering: .releasing)
        guard resolved.enabled else { return true }
        return flusher.stop(timeout: timeout)
    }

    // MARK: Health

    /// The tracer's health counters, summed over all threads.
    public var counters: DDTracerCounters {
        DDTracerCounters(engine: engine.pointer, flusher: flusher.currentStatistics)
    }
}

extension DDTracerCounters {
    /// The app threads' counters summed, with the flusher's (also used by the flusher for health metrics).
    init(engine: UnsafeMutablePointer<EngineCore>, flusher: FlusherStatistics) {
        var counters = DDTracerCounters()
        for state in engine.pointee.registry.takeUnretainedValue().all {
            counters.spansStarted += state.read(.spansStarted)
            counters.spansFinished += state.read(.spansFinished)
            counters.droppedPoolExhausted += state.read(.droppedPoolExhausted)
            counters.droppedAfterShutdown += state.read(.droppedAfterShutdown)
            counters.tagsDroppedPoolExhausted += state.read(.tagsDroppedPoolExhausted)
            counters.ringOverflows += state.read(.ringOverflows)
        }
        counters.spansSent = flusher.spansSent
        counters.chunksSent = flusher.chunksSent
        counters.payloadsSent = flusher.payloadsSent
        counters.bytesSent = flusher.bytesSent
        counters.requestErrors = flusher.requestErrors
        counters.responseErrors = flusher.responseErrors
        counters.partialFlushes = flusher.partialFlushes
        counters.staleTraceFlushes = flusher.staleTraceFlushes
        counters.droppedBufferFull = flusher.spansDroppedBufferFull
        counters.droppedSendFailed = flusher.spansDroppedSendFailed
        counters.droppedRejectedByAgent = flusher.spansDroppedRejected
        counters.droppedEncodingFailed = flusher.spansDroppedEncoding
        counters.spansSampledOut = flusher.spansSampledOut
        counters.droppedByFilters = flusher.spansDroppedByFilters
        counters.droppedBySampling = flusher.spansDroppedBySampling
        counters.flusherCPUNanoseconds = flusher.flusherCPUNanoseconds
        counters.usesIOUring = flusher.usesIOUring
        counters.lastError = flusher.lastError
        counters.stringsTruncated = flusher.stringsTruncated
        counters.traceAPIVersion = flusher.apiVersion.rawValue
        counters.bufferedBytes = flusher.bufferedBytes
        counters.peakBufferedBytes = flusher.peakBufferedBytes
        counters.drainsWhileWaitingForAgent = flusher.drainsWhileWaiting
        counters.spanSlotsAllocated = UInt64(engine.pointee.slotsAllocated.load(ordering: .relaxed))
        counters.spareBufferBytes = flusher.spareBufferBytes
        self = counters
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? .max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// The tracer's health counters. Spans are counted by what happened to them; every span that was started and
/// not sent shows up under one `dropped*` reason (or is still in flight).
public struct DDTracerCounters: Sendable, Equatable, CustomStringConvertible {
    /// Spans recorded (given a pooled slot).
    public var spansStarted: UInt64 = 0
    /// Recorded spans finished.
    public var spansFinished: UInt64 = 0
    /// Spans accepted by the agent.
    public var spansSent: UInt64 = 0
    /// Trace chunks accepted by the agent.
    public var chunksSent: UInt64 = 0
    /// Requests accepted by the agent.
    public var payloadsSent: UInt64 = 0
    /// Bytes written to the agent connection.
    public var bytesSent: UInt64 = 0
    /// Requests that failed in transport (connect, write, timeout, bad response).
    public var requestErrors: UInt64 = 0
    /// Requests the agent answered with an error status.
    public var responseErrors: UInt64 = 0
    /// Partial flushes of long traces.
    public var partialFlushes: UInt64 = 0
    /// Partial flushes of traces whose finished spans waited over 60 s for an unfinished one (a leaked span).
    public var staleTraceFlushes: UInt64 = 0
    /// Spans not recorded because the calling thread's span pool was exhausted (`DD_TRACE_SPAN_POOL_SIZE`).
    public var droppedPoolExhausted: UInt64 = 0
    /// Spans started after `shutdown()`, or finished after it.
    public var droppedAfterShutdown: UInt64 = 0
    /// Tags lost because no overflow slot was free for a span with many tags.
    public var tagsDroppedPoolExhausted: UInt64 = 0
    /// Finished spans that went through the slower overflow path because their thread's ring was full (not lost).
    public var ringOverflows: UInt64 = 0
    /// Encoded spans dropped because the send buffer was full (`DD_TRACE_WRITER_BUFFER_SIZE_BYTES`).
    public var droppedBufferFull: UInt64 = 0
    /// Encoded spans dropped after the agent could not be reached in `3` attempts.
    public var droppedSendFailed: UInt64 = 0
    /// Spans in payloads the agent rejected (4xx), or single spans larger than the maximum payload.
    public var droppedRejectedByAgent: UInt64 = 0
    /// Spans dropped because memory for encoding could not be allocated.
    public var droppedEncodingFailed: UInt64 = 0
    /// Spans of chunks dropped by a trace filter, or removed from their chunk by one.
    public var droppedByFilters: UInt64 = 0
    /// Spans of traces rejected by a sampling rule with `"discard": true` (not sent at all).
    public var droppedBySampling: UInt64 = 0
    /// Spans sent with a sampling priority <= 0 (the agent uses them for stats and drops them).
    public var spansSampledOut: UInt64 = 0
    /// CPU time used by the flusher thread.
    public var flusherCPUNanoseconds: UInt64 = 0
    /// Whether the agent connection uses io_uring (false: plain sockets).
    public var usesIOUring: Bool = false
    /// The last send error, "" after a success.
    public var lastError: String = ""
    /// Span names, services, resources, types, tag keys and values cut to the agent's limits when encoded
    /// (name/service/type 100 bytes, resource 5,000, tag key 200, tag value 25,000).
    public var stringsTruncated: UInt64 = 0
    /// The trace endpoint in use: "v0.4", or "v0.5" until an agent that does not support it is met.
    public var traceAPIVersion: String = ""
    /// Encoded bytes waiting to be sent, and the most there has been (never above `DD_TRACE_WRITER_BUFFER_SIZE_BYTES`).
    public var bufferedBytes: UInt64 = 0
    public var peakBufferedBytes: UInt64 = 0
    /// Times the flusher drained the span rings while a request waited for the agent's answer (every 200 µs of
    /// waiting), which keeps slots flowing back to application threads when the agent is slow to answer.
    public var drainsWhileWaitingForAgent: UInt64 = 0
    /// Span slots the threads' pools have grown to, over all threads (each pool grows by 256 as its thread needs,
    /// up to `DD_TRACE_SPAN_POOL_SIZE`, and never shrinks: a stale span handle must still find valid memory).
    /// Each slot is `spanSlotBytes` bytes.
    public var spanSlotsAllocated: UInt64 = 0
    /// Payload buffers kept empty for reuse by the flusher (capacity, bytes): after a backlog up to four are kept,
    /// and the rest are freed once the queue has been short for a second.
    public var spareBufferBytes: UInt64 = 0
    /// The size of one span slot.
    public static var spanSlotBytes: Int { SpanSlot.stride }

    public var description: String {
        "started=\(spansStarted) finished=\(spansFinished) sent=\(spansSent) chunks=\(chunksSent) "
            + "payloads=\(payloadsSent) bytes=\(bytesSent) dropped{pool=\(droppedPoolExhausted) "
            + "shutdown=\(droppedAfterShutdown) buffer=\(droppedBufferFull) send=\(droppedSendFailed) "
            + "rejected=\(droppedRejectedByAgent) encoding=\(droppedEncodingFailed) filters=\(droppedByFilters) "
            + "sampling=\(droppedBySampling)} tagsDropped=\(tagsDroppedPoolExhausted) "
            + "ringOverflows=\(ringOverflows) requestErrors=\(requestErrors) responseErrors=\(responseErrors) "
            + "truncated=\(stringsTruncated) transport=\(usesIOUring ? "io_uring" : "plain") "
            + "api=\(traceAPIVersion)"
    }
}
