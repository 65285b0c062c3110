/// What is active in the current execution (task or thread): a local span, or a context received from elsewhere.
///
/// The default provider is task-local: child tasks and `async let` inherit the active value when they are
/// created, detached tasks and other threads do not (hand them `currentTraceContext()` instead).
enum ActiveContext: Sendable {
    case span(DDSpan)
    case context(DDTraceContext)

    @TaskLocal static var current: ActiveContext?

    var parentLink: ParentLink {
        switch self {
        case .span(let span): return span.parentLink
        case .context(let context): return context.parentLink
        }
    }

    var traceContext: DDTraceContext {
        switch self {
        case .span(let span): return span.context
        case .context(let context): return context
        }
    }
}
