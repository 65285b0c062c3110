// Shared pieces of the benchmark targets: clocks, the tracer set-up, the workloads, and a pacing helper that keeps
// the measured threads from outrunning the flusher (which would turn the measurement into one of the
// pool-exhausted path).

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
@_spi(Benchmarks) import DDTrace
import Dispatch
import Foundation
import Synchronization

/// CLOCK_MONOTONIC in nanoseconds.
@inline(__always) public func monotonicNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// CPU time of the calling thread in nanoseconds.
@inline(__always) public func threadCPUNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// CPU time of the whole process in nanoseconds.
public func processCPUNanos() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Keeps the optimizer from deleting a computation.
@inline(never) public func consume<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

public enum BenchTracer {
    /// A tracer isolated from the process environment (reproducible), sending to `agentURL`.
    ///
    /// The pool and ring are large enough that a measured batch plus what the flusher has not yet released never
    /// exhausts them (see `Pacer`).
    public static func make(
        agentURL: String, spanPoolSize: Int = 1 << 16, ringCapacity: Int = 1 << 14,
        flushInterval: Duration = .seconds(1), environment: [String: String] = [:]
    ) throws -> DDTracer {
        var configuration = DDTracerConfiguration(environment: environment)
        configuration.service = "bench"
        configuration.env = "bench"
        configuration.agentURL = agentURL
        configuration.spanPoolSize = spanPoolSize
        configuration.ringCapacity = ringCapacity
        configuration.flushInterval = flushInterval
        return try DDTracer(configuration: configuration)
    }
}

/// The reference workload: a child span with 2 string tags and 1 metric, started and finished.
@inline(__always) public func childSpanWithTags(_ tracer: DDTracer, parent: DDSpan) {
    let span = tracer.startSpan("postgres.query", childOf: parent)
    span.setTag("db.system", "postgresql")
    span.setTag("db.name", "users")
    span.setMetric("db.row_count", 42)
    span.finish()
}

/// Flushes the tracer (outside the measured region) every `every` spans, so that the measured threads never
/// outrun the flusher, and checks that no span was dropped.
public final class Pacer: @unchecked Sendable {  // used from one benchmark thread at a time
    let tracer: DDTracer
    let every: Int
    private var sinceFlush = 0

    public init(tracer: DDTracer, every: Int = 16_384) {
        self.tracer = tracer
        self.every = every
    }

    /// Call after each measured batch of `spans` spans. Returns a failure description if spans were dropped.
    public func afterBatch(spans: Int) -> String? {
        sinceFlush += spans
        guard sinceFlush >= every else { return nil }
        sinceFlush = 0
        return flushAndCheck()
    }

    /// Flushes now; returns a failure description if spans were dropped.
    public func flushAndCheck() -> String? {
        let result = tracer.flush(timeout: .seconds(30))
        let counters = tracer.counters
        let dropped = counters.droppedPoolExhausted + counters.droppedBufferFull + counters.droppedSendFailed
            + counters.droppedRejectedByAgent + counters.droppedEncodingFailed
        if dropped > 0 { return "spans were dropped (\(counters)); the measurement is invalid" }
        if !result.succeeded { return "flush failed: \(counters.lastError)" }
        return nil
    }
}

/// A persistent helper thread that runs a job when told to and reports back: lets a benchmark put load on a
/// second thread without creating a thread per iteration.
public final class HelperThread: @unchecked Sendable {  // job and results are handed over through the semaphores
    private let go = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var job: (@Sendable () -> Void)?
    private let stopping = Atomic<Bool>(false)

    public init(name: String) {
        DDBenchmarkSupport.startThread(named: name) { [self] in loop() }
    }

    /// Starts `job` on the helper thread; pair with `wait()`.
    public func start(_ job: @escaping @Sendable () -> Void) {
        self.job = job
        go.signal()
    }

    public func wait() { done.wait() }

    public func stop() {
        stopping.store(true, ordering: .releasing)
        go.signal()
    }

    private func loop() {
        while true {
            go.wait()
            if stopping.load(ordering: .acquiring) { return }
            job?()
            done.signal()
        }
    }
}

/// A start line for threads that must run a measured phase at the same time: each arrives and spins until all
/// have arrived.
public final class SpinBarrier: Sendable {
    private let arrived = Atomic<Int>(0)
    private let parties: Int

    public init(parties: Int) { self.parties = parties }

    /// Arrive at round `round` (0, 1, 2, ...; every party must use the same sequence).
    public func arriveAndWait(round: Int) {
        arrived.wrappingAdd(1, ordering: .acquiringAndReleasing)
        let target = (round + 1) * parties
        var spins = 0
        while arrived.load(ordering: .acquiring) < target {
            spins += 1
            // 2 vCPUs shared with the flusher: let a descheduled party run rather than spin a whole time slice.
            if spins & 1023 == 0 { sched_yield() }
        }
    }
}
