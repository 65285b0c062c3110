import DDTrace
import ServiceLifecycle

/// Runs a tracer as a swift-service-lifecycle `Service`: on graceful shutdown (SIGTERM, or
/// `ServiceGroup.triggerGracefulShutdown()`), or when its task is cancelled, it sends every finished trace to the
/// agent and shuts the tracer down, so that a service stopping in a `ServiceGroup` loses no spans.
///
/// A `ServiceGroup` shuts its services down in reverse order: put the tracer **first**, so that it flushes after
/// the services that create spans (an HTTP server finishing its last requests) have stopped.
///
/// ```swift
/// let tracer = try DDTracer.bootstrap()
/// let group = ServiceGroup(
///     services: [DDTracerService(tracer: tracer), httpServer],
///     gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public struct DDTracerService: Service {
    /// The tracer flushed and shut down.
    public let tracer: DDTracer
    /// How long the final flush may wait for the agent.
    public let flushTimeout: Duration

    /// - Parameters:
    ///   - tracer: the tracer to flush and shut down (default: `DDTracer.shared`).
    ///   - flushTimeout: how long the final flush may wait for the agent's answer.
    public init(tracer: DDTracer = .shared, flushTimeout: Duration = .seconds(5)) {
        self.tracer = tracer
        self.flushTimeout = flushTimeout
    }

    /// Waits for graceful shutdown or cancellation, then flushes and shuts the tracer down. Returns normally in
    /// both cases: stopping is what this service is for.
    public func run() async throws {
        // CancellationError only tells why the wait ended; the spans still have to go out.
        try? await gracefulShutdown()
        await stopTracer()
    }

    /// The final flush runs without blocking a cooperative thread; `shutdown` then only stops the flusher thread,
    /// with nothing left to send.
    func stopTracer() async {
        await tracer.flush(timeout: flushTimeout)
        tracer.shutdown(timeout: .seconds(1))
    }
}
