// Span lifecycle through the native API, the physical floor (C), and 1- vs 2-thread contention.
//
// All span benchmarks run against one real tracer whose flusher sends to an in-process agent stand-in
// (`DDAgentStandIn`, discarding) over a unix socket, so the flusher drains, encodes and releases slots concurrently,
// as in production. Each iteration is a batch of 1000 spans (`scalingFactor: .kilo`; with `--scale`, or in the
// table printed by `make bench`, figures are per span). After each batch, outside the measured region, `Pacer`
// flushes, so the measured thread never outruns the flusher into the pool-exhausted path, and it fails the
// benchmark if any span was dropped.

import Benchmark
import BenchSupport
@_spi(Benchmarks) import DDTrace

let spansPerBatch = 1000

let benchmarks: @Sendable () -> Void = {
    let sink = try! DDAgentStandIn(mode: .discard)
    let tracer = try! BenchTracer.make(agentURL: sink.agentURL)
    // Flushing after every batch (outside the measured region) keeps the flusher's sends, which allocate (HTTP
    // head, response body), out of the measured windows: the allocation counts are then the hot path's alone. The
    // flusher still drains the rings and encodes concurrently while a batch runs.
    let pacer = Pacer(tracer: tracer, every: 1)

    // Regression tolerances for `thresholds check` against Benchmarks/Thresholds/*.p90.json: any allocation on
    // the hot path fails; wall clock fails beyond +50% at p90 (the 2-vCPU VM is noisy; this flags large
    // regressions only).
    let lifecycleThresholds: [BenchmarkMetric: BenchmarkThresholds] = [
        .mallocCountTotal: .init(relative: [.p90: 0], absolute: [.p90: 0]),
        .wallClock: .init(relative: [.p90: 50], absolute: [:]),
    ]
    func configuration(
        scaling: BenchmarkScalingFactor = .kilo, metrics: [BenchmarkMetric] = [.wallClock, .mallocCountTotal, .throughput],
        thresholds: [BenchmarkMetric: BenchmarkThresholds]? = lifecycleThresholds
    ) -> Benchmark.Configuration {
        .init(
            metrics: metrics, timeUnits: .nanoseconds, warmupIterations: 20, scalingFactor: scaling,
            maxDuration: .seconds(3), maxIterations: 100_000, thresholds: thresholds)
    }

    // MARK: Floor

    // The C floor loop; one call of 1 M spans per iteration so its set-up (two allocations, a 64 KiB memset) is
    // amortised away.
    Benchmark("floor.c", configuration: configuration(scaling: .mega, thresholds: nil)) { benchmark in
        consume(DDBenchmarkSupport.floorSpans(UInt64(benchmark.scaledIterations.count)))
    }

    // MARK: Native API, one thread

    Benchmark("native.rootSpan", configuration: configuration()) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let span = tracer.startSpan("web.request", ignoreActive: true)
            span.finish()
        }
        benchmark.stopMeasurement()
        if let failure = pacer.afterBatch(spans: spansPerBatch) { benchmark.error(failure) }
    }

    /// One measured batch of the reference child span under `root` (started by the caller, unmeasured), then
    /// the root's finish and the pacer's flush.
    @inline(__always) func childBatch(_ benchmark: Benchmark, _ tracer: DDTracer, _ pacer: Pacer, root: DDSpan) {
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            childSpanWithTags(tracer, parent: root)
        }
        benchmark.stopMeasurement()
        root.finish()
        if let failure = pacer.afterBatch(spans: spansPerBatch + 1) { benchmark.error(failure) }
    }

    // The reference workload: child span + 2 string tags + 1 metric, start + finish (children of one root per
    // batch).
    Benchmark("native.childSpan2Tags", configuration: configuration()) { benchmark in
        childBatch(benchmark, tracer, pacer, root: tracer.startSpan("web.request", ignoreActive: true))
    }

    // The reference workload under a root with a service of its own, built at run time and longer than 15 bytes
    // (so it owns heap storage), which every child inherits: the copy a child makes under a hazard pointer, so
    // that a parent finished and released on another thread meanwhile cannot free it (EngineCore.guardedService).
    let ownedService = String(repeating: "checkout-", count: 2) + "service"
    Benchmark("native.childSpan2Tags.inheritedService", configuration: configuration()) { benchmark in
        childBatch(
            benchmark, tracer, pacer, root: tracer.startSpan("web.request", service: ownedService, ignoreActive: true))
    }

    // The reference workload on a tracer with trace filters and sampling rules configured (issue 5): they run on
    // the flusher only, so the application thread's cost must be the same as `native.childSpan2Tags`.
    let filteredSink = try! DDAgentStandIn(mode: .discard)
    let filteredTracer = try! BenchTracer.make(
        agentURL: filteredSink.agentURL,
        environment: [
            "DD_TRACE_SAMPLING_RULES":
                #"[{"service":"bench","name":"web.*","sample_rate":0.5},{"resource":"GET /health*","sample_rate":0}]"#,
            "DD_TRACE_SAMPLE_RATE": "0.8", "DD_SPAN_SAMPLING_RULES": #"[{"name":"postgres.*","sample_rate":1}]"#,
        ])
    filteredTracer.configure(traceFilters: [
        try! FilterRequestsOnUrl(#"http://[^/]+/healthcheck"#, #"http://example\.com/metrics"#),
    ])
    let filteredPacer = Pacer(tracer: filteredTracer, every: 1)
    Benchmark("native.childSpan2Tags.withFiltersAndRules", configuration: configuration()) { benchmark in
        childBatch(
            benchmark, filteredTracer, filteredPacer, root: filteredTracer.startSpan("web.request", ignoreActive: true))
    }

    // The same span through the scoped API (`trace(_:_:)` activates the span in a task-local while the body
    // runs).
    Benchmark("native.traceClosure2Tags", configuration: configuration()) { benchmark in
        tracer.trace("web.request") { _ in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                tracer.trace("postgres.query") { span in
                    span.setTag("db.system", "postgresql")
                    span.setTag("db.name", "users")
                    span.setMetric("db.row_count", 42)
                }
            }
            benchmark.stopMeasurement()
        }
        if let failure = pacer.afterBatch(spans: spansPerBatch + 1) { benchmark.error(failure) }
    }

    // A trace of 5 nested spans (root and 4 descendants), started and finished innermost first. One iteration =
    // 1000 trees = 5000 spans; the figure is per tree.
    Benchmark("native.nested5", configuration: configuration()) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let s0 = tracer.startSpan("web.request", ignoreActive: true)
            let s1 = tracer.startSpan("controller.handle", childOf: s0)
            let s2 = tracer.startSpan("service.lookup", childOf: s1)
            let s3 = tracer.startSpan("cache.get", childOf: s2)
            let s4 = tracer.startSpan("redis.command", childOf: s3)
            s4.finish()
            s3.finish()
            s2.finish()
            s1.finish()
            s0.finish()
        }
        benchmark.stopMeasurement()
        if let failure = pacer.afterBatch(spans: 5 * spansPerBatch) { benchmark.error(failure) }
    }

    // MARK: Native API, finish on another thread

    // Spans started (with 2 tags and a metric) on the benchmark thread and finished on a helper thread. The
    // custom metric `startPlusRemoteFinish` adds the start loop and the finish loop, each timed on its own
    // thread, leaving out the hand-off between them (two semaphore round trips per batch, which the wall clock
    // includes).
    let finisher = HelperThread(name: "bench-finisher")
    let handoff = SpanBuffer(capacity: spansPerBatch)
    let finishJob: @Sendable () -> Void = { handoff.finishAll() }  // created once: starting it allocates nothing
    let startPlusFinish = BenchmarkMetric.custom("startPlusRemoteFinish", polarity: .prefersSmaller, useScalingFactor: true)
    Benchmark(
        "native.crossThreadFinish",
        configuration: configuration(metrics: [.wallClock, .mallocCountTotal, .throughput, startPlusFinish])
    ) { benchmark in
        let root = tracer.startSpan("web.request", ignoreActive: true)
        benchmark.startMeasurement()
        let startBegin = monotonicNanos()
        for index in benchmark.scaledIterations {
            let span = tracer.startSpan("async.operation", childOf: root)
            span.setTag("db.system", "postgresql")
            span.setTag("db.name", "users")
            span.setMetric("db.row_count", 42)
            handoff.spans[index] = span
        }
        let startNanos = monotonicNanos() - startBegin
        handoff.count = benchmark.scaledIterations.count
        finisher.start(finishJob)
        finisher.wait()
        benchmark.stopMeasurement()
        benchmark.measurement(startPlusFinish, Int(startNanos + handoff.finishNanos))
        root.finish()
        if let failure = pacer.afterBatch(spans: spansPerBatch + 1) { benchmark.error(failure) }
    }

    // MARK: Contention: the reference workload on 1 and on 2 threads at once

    // Each iteration is a round: every thread runs `batchesPerRound` batches of 1000 child spans (its own trace,
    // or one shared trace), timing each batch with clock_gettime (wall and thread CPU). With 2 threads only the
    // batches that ran entirely while both threads were running are kept. Custom metrics, per batch (per span
    // with scaling): `nsPerSpanPerThread` (wall) and `cpuNsPerSpanPerThread` (the thread's CPU time; on 2 vCPUs
    // shared with the flusher and the agent stand-in, wall includes time descheduled).
    let wallPerThread = BenchmarkMetric.custom("nsPerSpanPerThread", polarity: .prefersSmaller, useScalingFactor: true)
    let cpuPerThread = BenchmarkMetric.custom("cpuNsPerSpanPerThread", polarity: .prefersSmaller, useScalingFactor: true)
    let contender = HelperThread(name: "bench-contender")
    let contention = Contention(tracer: tracer, helper: contender)
    for (name, threads, shared) in [
        ("contention.1thread", 1, false), ("contention.2threads", 2, false),
        ("contention.2threads.sharedTrace", 2, true),
    ] {
        Benchmark(
            name,
            configuration: .init(
                metrics: [wallPerThread, cpuPerThread, .mallocCountTotal], timeUnits: .nanoseconds,
                warmupIterations: 3, scalingFactor: .kilo, maxDuration: .seconds(4), maxIterations: 100_000,
                thresholds: nil)
        ) { benchmark in
            benchmark.startMeasurement()
            contention.round(threads: threads, sharedTrace: shared)
            benchmark.stopMeasurement()
            for sample in contention.samples(threads: threads) {
                benchmark.measurement(wallPerThread, Int(sample.wall))
                benchmark.measurement(cpuPerThread, Int(sample.cpu))
            }
            contention.finishRoots()
            if let failure = pacer.flushAndCheck() { benchmark.error(failure) }
        }
    }
    Benchmark.teardown = {
        finisher.stop()
        contender.stop()
        tracer.shutdown(timeout: .seconds(5))
        sink.stop()
    }
}

/// Spans handed from the benchmark thread to the finisher thread (through the helper's semaphores).
final class SpanBuffer: @unchecked Sendable {
    let spans: UnsafeMutableBufferPointer<DDSpan?>
    var count = 0
    var finishNanos: Int64 = 0

    init(capacity: Int) {
        spans = .allocate(capacity: capacity)
        spans.initialize(repeating: nil)
    }

    func finishAll() {
        let begin = monotonicNanos()
        for index in 0..<count {
            spans[index].unsafelyUnwrapped.finish()
        }
        finishNanos = monotonicNanos() - begin
        for index in 0..<count { spans[index] = nil }
    }
}

/// Runs contention rounds (see the benchmarks above).
final class Contention: @unchecked Sendable {  // per-thread records are written before the helper's done signal
    struct Sample {
        var wall: Int64
        var cpu: Int64
    }

    struct BatchRecord {
        var start: Int64 = 0
        var end: Int64 = 0
        var cpu: Int64 = 0
    }

    static let batchesPerRound = 24

    let tracer: DDTracer
    let helper: HelperThread
    let barrier = SpinBarrier(parties: 2)
    var barrierRound = 0
    var records: [UnsafeMutableBufferPointer<BatchRecord>]

    /// Roots of the current round, finished by `finishRoots()` outside the measured region.
    var roots: [DDSpan] = []
    /// What the helper's job reads: set before `helper.start`, which orders the accesses.
    var helperRoot: DDSpan?
    /// The helper's job, created once so that starting a round allocates nothing.
    var helperJob: (@Sendable () -> Void)?

    init(tracer: DDTracer, helper: HelperThread, reserve: Int = 2) {
        self.tracer = tracer
        self.helper = helper
        records = (0..<2).map { _ in
            let buffer = UnsafeMutableBufferPointer<BatchRecord>.allocate(capacity: Contention.batchesPerRound)
            buffer.initialize(repeating: BatchRecord())
            return buffer
        }
        roots.reserveCapacity(reserve)
        helperJob = { [unowned self] in
            barrier.arriveAndWait(round: barrierRound)
            run(root: helperRoot.unsafelyUnwrapped, into: records[1])
        }
    }

    /// Runs one round; allocation-free once warm (the helper's job closure is created outside, see `start`).
    func round(threads: Int, sharedTrace: Bool) {
        let sharedRoot = tracer.startSpan("web.request", ignoreActive: true)
        roots.append(sharedRoot)
        let helperRoot = sharedTrace ? sharedRoot : tracer.startSpan("web.request", ignoreActive: true)
        if !sharedTrace { roots.append(helperRoot) }
        self.helperRoot = helperRoot
        if threads == 2 {
            helper.start(helperJob.unsafelyUnwrapped)
            barrier.arriveAndWait(round: barrierRound)
        }
        run(root: sharedRoot, into: records[0])
        if threads == 2 {
            helper.wait()
            barrierRound += 1
        }
    }

    func finishRoots() {
        for root in roots { root.finish() }
        roots.removeAll(keepingCapacity: true)
    }

    /// The per-batch samples of the last round.
    func samples(threads: Int) -> [Sample] {
        // With two threads keep only the batches that ran while both threads were running.
        var windowStart = Int64.min
        var windowEnd = Int64.max
        if threads == 2 {
            for thread in 0..<2 {
                windowStart = max(windowStart, records[thread][0].start)
                windowEnd = min(windowEnd, records[thread][Contention.batchesPerRound - 1].end)
            }
        }
        var samples: [Sample] = []
        for thread in 0..<threads {
            for record in records[thread] where record.start >= windowStart && record.end <= windowEnd {
                samples.append(Sample(wall: record.end - record.start, cpu: record.cpu))
            }
        }
        return samples
    }

    private func run(root: DDSpan, into records: UnsafeMutableBufferPointer<BatchRecord>) {
        for batch in 0..<Contention.batchesPerRound {
            let cpuStart = threadCPUNanos()
            let start = monotonicNanos()
            for _ in 0..<spansPerBatch {
                childSpanWithTags(tracer, parent: root)
            }
            let end = monotonicNanos()
            records[batch] = BatchRecord(start: start, end: end, cpu: threadCPUNanos() - cpuStart)
        }
    }
}
