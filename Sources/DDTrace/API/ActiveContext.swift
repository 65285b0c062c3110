/// What is active in an execution (a task, or a thread outside Swift concurrency): a local span, or a context
/// received from elsewhere (for example extracted from request headers). New spans are children of it.
public enum DDActive: Sendable {
    case span(DDSpan)
    case context(DDTraceContext)

    /// The active value's context.
    public var context: DDTraceContext {
        switch self {
        case .span(let span): return span.context
        case .context(let context): return context
        }
    }

    var parentLink: ParentLink {
        switch self {
        case .span(let span): return span.parentLink
        case .context(let context): return context.parentLink
        }
    }
}

/// Where the tracer keeps the active span or context: ddtrace's context provider.
///
/// The tracer asks its provider for the active value when a span starts without an explicit parent, and makes a
/// value active for the body of `trace`, `withActiveSpan` and `withActiveContext`. Activation is scoped, Swift's
/// equivalent of ddtrace's `activate(...)`: the previous value is active again when the body returns.
///
/// The default, `DDTaskLocalContextProvider`, keeps the value in a task-local: child tasks and `async let` inherit
/// it when they are created, detached tasks and other threads do not. Install another provider with
/// `DDTracer(configuration:contextProvider:)`, for example one that also mirrors the value into a framework's own
/// request context.
public protocol DDContextProvider: Sendable {
    /// The active value of the calling task or thread, or nil.
    func active() -> DDActive?

    /// Runs `body` with `value` active (nil: nothing active), then restores the previous value.
    func withActive<T, Failure: Error>(_ value: DDActive?, _ body: () throws(Failure) -> T) throws(Failure) -> T

    /// The `async` form: `value` stays active across suspension points, whatever thread `body` resumes on.
    func withActive<T, Failure: Error>(
        _ value: DDActive?, isolation: isolated (any Actor)?, _ body: () async throws(Failure) -> T
    ) async throws(Failure) -> T
}

/// The default context provider: a task-local value (see `DDContextProvider`).
public struct DDTaskLocalContextProvider: DDContextProvider {
    @TaskLocal static var current: DDActive?
    /// The task-local itself, for the inlinable `withActive` (the projected `$current` cannot be made visible to it).
    @usableFromInline static var currentTaskLocal: TaskLocal<DDActive?> { $current }

    public init() {}

    @inline(__always) public func active() -> DDActive? { Self.current }

    // `@inlinable` (with `DDTracer.trace` and `withActiveSpan`): specialized in the caller's module for its `T`,
    // instead of running generic code that looks up `Result<T, Failure>`'s metadata at run time on every span.
    @inlinable
    public func withActive<T, Failure: Error>(_ value: DDActive?, _ body: () throws(Failure) -> T) throws(Failure)
        -> T
    {
        // TaskLocal.withValue is untyped `rethrows`: carry the typed error out in a Result.
        let outcome = Self.currentTaskLocal.withValue(value) { () -> Result<T, Failure> in
            do throws(Failure) { return .success(try body()) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    public func withActive<T, Failure: Error>(
        _ value: DDActive?, isolation: isolated (any Actor)? = #isolation, _ body: () async throws(Failure) -> T
    ) async throws(Failure) -> T {
        let outcome = await Self.$current.withValue(value) { () async -> Result<T, Failure> in
            do throws(Failure) { return .success(try await body()) } catch { return .failure(error) }
        }
        return try outcome.get()
    }
}
