import CDDTraceShims

/// The monotonic clock sampling limiters use by default, in nanoseconds.
enum SamplingClock {
    static let monotonic: @Sendable () -> Int64 = { ddtrace_monotonic_ns() }
}

/// A token bucket, as dd-trace-py's `RateLimiter` (`internal/rate_limiter.py`), with its effective-rate
/// bookkeeping for `_dd.limit_psr`.
///
/// - The bucket holds `rateLimit` tokens and starts full; each allowed call takes one, and tokens come back at
///   `rateLimit` per window (one second) as time passes, up to the full bucket.
/// - A limit of 0 allows nothing; a negative limit allows everything ("disables rate limiting").
/// - The effective rate is allowed/seen over the current window, averaged with the previous window's rate once
///   there is one (a window restarts at the first call at least one window after its start).
///
/// Thread-safe: consulted by the flusher and by application threads deciding at inject time. A small mutex is
/// enough: this runs once per rule-matched trace, not per span.
final class SamplingRateLimiter: Sendable {
    /// Tokens per window; 0 allows nothing, negative allows everything.
    let rateLimit: Double
    let windowNanoseconds: Int64
    private let clock: @Sendable () -> Int64
    private let state: LockedValue<State>

    private struct State {
        var tokens: Double
        var lastUpdate: Int64
        var windowStart: Int64?
        var allowedInWindow = 0
        var totalInWindow = 0
        var previousWindowRate: Double?
    }

    init(rateLimit: Double, windowNanoseconds: Int64 = 1_000_000_000, clock: @escaping @Sendable () -> Int64) {
        self.rateLimit = rateLimit
        self.windowNanoseconds = windowNanoseconds
        self.clock = clock
        state = LockedValue(State(tokens: rateLimit, lastUpdate: clock()))
    }

    /// Takes a token if one is available, and returns the decision with the effective rate right after it (the
    /// value dd-trace-py writes as `_dd.limit_psr`).
    func allow() -> (allowed: Bool, effectiveRate: Double) {
        let now = clock()
        return state.withLock { state in
            let allowed = isAllowed(&state, now: now)
            count(&state, allowed: allowed, now: now)
            return (allowed, effectiveRate(state))
        }
    }

    /// The effective rate over the current and previous windows (1 before any call).
    var effectiveRate: Double { state.withLock { effectiveRate($0) } }

    private func isAllowed(_ state: inout State, now: Int64) -> Bool {
        if rateLimit == 0 { return false }
        if rateLimit < 0 { return true }
        replenish(&state, now: now)
        guard state.tokens >= 1 else { return false }
        state.tokens -= 1
        return true
    }

    private func replenish(_ state: inout State, now: Int64) {
        // dd-trace-py moves the timestamp even when the bucket is full, so a full bucket accrues nothing.
        defer { state.lastUpdate = now }
        guard state.tokens != rateLimit else { return }
        let elapsedWindows = Double(now - state.lastUpdate) / Double(windowNanoseconds)
        state.tokens = min(rateLimit, state.tokens + elapsedWindows * rateLimit)
    }

    private func count(_ state: inout State, allowed: Bool, now: Int64) {
        if let start = state.windowStart {
            if now - start >= windowNanoseconds {
                state.previousWindowRate = currentWindowRate(state)
                state.allowedInWindow = 0
                state.totalInWindow = 0
                state.windowStart = now
            }
        } else {
            state.windowStart = now
        }
        if allowed { state.allowedInWindow += 1 }
        state.totalInWindow += 1
    }

    private func currentWindowRate(_ state: State) -> Double {
        // No calls yet: effectively a 100% rate (and no division by zero).
        state.totalInWindow == 0 ? 1 : Double(state.allowedInWindow) / Double(state.totalInWindow)
    }

    private func effectiveRate(_ state: State) -> Double {
        guard let previous = state.previousWindowRate else { return currentWindowRate(state) }
        return (currentWindowRate(state) + previous) / 2
    }
}
