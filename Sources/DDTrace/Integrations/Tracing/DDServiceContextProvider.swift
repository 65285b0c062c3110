import Tracing

/// The `ServiceContext` key under which the Datadog active value (a span, or a context extracted from a request)
/// travels through swift-distributed-tracing.
///
/// `DDTracingSpan.context` is its parent's service context plus this key set to the span, so Tracing's `withSpan`,
/// which binds `ServiceContext.current` to `span.context`, makes the span the active one for both APIs when the
/// tracer uses `DDServiceContextProvider`.
public enum DDActiveContextKey: ServiceContextKey {
    public typealias Value = DDActive

    public static var nameOverride: String? { "dd.active" }
}

extension ServiceContext {
    /// The Datadog span or context carried by this service context, if any.
    public var ddActive: DDActive? {
        get { self[DDActiveContextKey.self] }
        set { self[DDActiveContextKey.self] = newValue }
    }
}

/// A context provider that keeps the active span inside `ServiceContext.current`, so that the native API and
/// swift-distributed-tracing share one innermost value:
///
/// - a native `trace` inside a Tracing `withSpan` is a child of that span, and a `withSpan` inside a native `trace`
///   is a child of it;
/// - libraries instrumented with Tracing (Hummingbird, AsyncHTTPClient) see native spans as their parents, and
///   propagate them.
///
/// ```swift
/// let tracer = try DDTracer.bootstrapForDistributedTracing()   // uses this provider
/// // or: DDTracer(configuration: configuration, contextProvider: DDServiceContextProvider())
/// ```
///
/// Activation writes a copy of the current service context with the key set (`ServiceContext.withValue`), which
/// costs a dictionary copy more than the default `DDTaskLocalContextProvider`: use it when Tracing is in play.
public struct DDServiceContextProvider: DDContextProvider {
    public init() {}

    /// The Datadog value of `ServiceContext.current`.
    @inline(__always) public func active() -> DDActive? {
        ServiceContext.current?[DDActiveContextKey.self]
    }

    /// Runs `body` with `ServiceContext.current` extended by `value` (the rest of the service context, such as
    /// baggage set by other instruments, is kept).
    public func withActive<T, Failure: Error>(_ value: DDActive?, _ body: () throws(Failure) -> T) throws(Failure)
        -> T
    {
        // ServiceContext.withValue is untyped `rethrows`: carry the typed error out in a Result.
        let outcome = ServiceContext.withValue(Self.context(with: value)) { () -> Result<T, Failure> in
            do throws(Failure) { return .success(try body()) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    /// The `async` form: the value stays active across suspension points and in child tasks.
    public func withActive<T, Failure: Error>(
        _ value: DDActive?, isolation: isolated (any Actor)? = #isolation, _ body: () async throws(Failure) -> T
    ) async throws(Failure) -> T {
        let outcome = await ServiceContext.withValue(Self.context(with: value), isolation: isolation) {
            () async -> Result<T, Failure> in
            do throws(Failure) { return .success(try await body()) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    @inline(__always) static func context(with value: DDActive?) -> ServiceContext {
        var context = ServiceContext.current ?? .topLevel
        context[DDActiveContextKey.self] = value
        return context
    }
}
