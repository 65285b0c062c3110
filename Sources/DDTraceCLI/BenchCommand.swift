// `dd-trace bench`: measures the tracer in the user's own environment.
//
// The tracer is created exactly as an application would create it, `DDTracer(configuration:)` with the process
// environment, so every DD_* setting applies (pool size, ring capacity, flush interval, agent address, ...). Worker
// threads then run a configurable workload (traces of `--depth` nested spans with `--tags` string tags each) and
// time every batch of spans with clock_gettime(CLOCK_MONOTONIC); the per-span cost is reported as the median and
// p99 over batches. Afterwards the tracer is flushed and its counters are reported: spans sent, drops by reason,
// bytes sent and the flusher's CPU time.

import ArgumentParser
@_spi(Benchmarks) import DDTrace
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure span cost and throughput with your DD_* settings, against your agent or a built-in sink.",
        discussion: """
            Tracer settings come from the DD_* environment variables, as in your application (for example \
            DD_TRACE_SPAN_POOL_SIZE, DD_TRACE_RING_CAPACITY, DD_TRACE_WRITER_INTERVAL_SECONDS, DD_TRACE_AGENT_URL). \
            Without --sink, spans go to the agent those variables name. Note that the spans are real: with a real \
            agent they reach Datadog under the service DD_SERVICE (default: the process name, dd-trace).
            """
    )

    @Option(help: "Worker threads producing spans.")
    var threads: Int = 1

    @Option(help: "Total spans to produce, split over the threads (default 1000000 unless --duration is given).")
    var spans: Int?

    @Option(help: "Run for this many seconds instead of a fixed span count.")
    var duration: Double?

    @Option(help: "String tags set on every span.")
    var tags: Int = 2

    @Option(help: "Spans per trace, nested: 1 is a root span only, 3 is a root with a child and a grandchild.")
    var depth: Int = 1

    @Option(help: "Spans per timed batch.")
    var batch: Int = 1000

    @Flag(help: "Send to a built-in sink on a unix socket that discards everything, instead of the agent.")
    var sink = false

    @Flag(help: "With --sink: decode every payload the sink receives and count its spans (the load test).")
    var verify = false

    @Option(
        help: ArgumentHelp(
            "Pace the workers so that at most this many spans are started and not yet sent (0: no pacing).",
            discussion: "Models a service below saturation: with pacing, nothing should be dropped."))
    var maxInFlight: Int = 0

    @Option(help: "Target spans per second over all threads (paced between batches; default: as fast as possible).")
    var rate: Double?

    @Flag(help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        guard threads >= 1 && threads <= 1024 else { throw ValidationError("--threads must be in 1...1024") }
        guard tags >= 0 && tags <= 64 else { throw ValidationError("--tags must be in 0...64") }
        guard depth >= 1 && depth <= 64 else { throw ValidationError("--depth must be in 1...64") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if spans != nil && duration != nil { throw ValidationError("give --spans or --duration, not both") }
        if let spans, spans < threads { throw ValidationError("--spans must be at least --threads") }
        if let duration, !(duration > 0 && duration <= 86_400) {
            throw ValidationError("--duration must be in (0, 86400] seconds")
        }
        if verify && !sink { throw ValidationError("--verify needs --sink") }
        guard maxInFlight >= 0 else { throw ValidationError("--max-in-flight must be at least 0") }
        if let rate, !(rate >= 1 && rate <= 1e9) { throw ValidationError("--rate must be in 1...1e9 spans/s") }
    }

    func run() async throws {
        let standIn = sink ? try DDAgentStandIn(mode: verify ? .verify : .discard) : nil
        defer { standIn?.stop() }
        var configuration = DDTracerConfiguration()
        if let standIn { configuration.agentURL = standIn.agentURL }
        let tracer: DDTracer
        do {
            tracer = try DDTracer(configuration: configuration)
        } catch {
            throw ValidationError("invalid tracer configuration: \(error)")
        }
        for diagnostic in tracer.configurationDiagnostics {
            FileHandle.standardError.write(Data("configuration: \(diagnostic)\n".utf8))
        }

        let workload = Workload(
            tracer: tracer, threads: threads,
            spansPerThread: duration == nil ? max(1, (spans ?? 1_000_000) / threads) : nil,
            durationNanoseconds: duration.map { Int64($0 * 1e9) }, tags: tags, depth: depth, batch: batch,
            maxInFlight: maxInFlight, spansPerSecondPerThread: rate.map { $0 / Double(threads) })
        let memory = MemorySampler()
        memory.start()
        let results = await workload.run()

        let flushStart = monotonicNanoseconds()
        let flushResult = await tracer.flush(timeout: .seconds(60))
        let flushNanoseconds = monotonicNanoseconds() - flushStart
        let counters = tracer.counters
        tracer.shutdown(timeout: .seconds(5))
        let residentMemory = memory.stop()

        let report = Report(
            command: self, agent: standIn?.agentURL ?? agentDescription(), results: results,
            counters: counters, flushSucceeded: flushResult.succeeded, flushNanoseconds: flushNanoseconds,
            spansReceived: verify ? standIn?.spans : nil,
            malformedPayloads: standIn?.malformed ?? 0, memory: residentMemory)
        print(json ? report.json() : report.text())
    }

    private func agentDescription() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let url = environment["DD_TRACE_AGENT_URL"], !url.isEmpty { return url }
        if environment["DD_AGENT_HOST"] != nil || environment["DD_TRACE_AGENT_PORT"] != nil {
            return "http://\(environment["DD_AGENT_HOST"] ?? "localhost"):\(environment["DD_TRACE_AGENT_PORT"] ?? "8126")"
        }
        return "the default agent address (/var/run/datadog/apm.socket if it exists, else http://localhost:8126)"
    }
}

func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

// MARK: Workload

/// What one worker thread measured.
final class ThreadResult: @unchecked Sendable {  // written by its worker only, read after the worker finished
    /// ns per span of each batch.
    var batchNanosecondsPerSpan = DDLatencyHistogram()
    var spans = 0
    var start: Int64 = 0
    var end: Int64 = 0
}

struct Workload: Sendable {
    let tracer: DDTracer
    let threads: Int
    let spansPerThread: Int?
    let durationNanoseconds: Int64?
    let tags: Int
    let depth: Int
    let batch: Int
    var maxInFlight = 0
    var spansPerSecondPerThread: Double?

    func run() async -> [ThreadResult] {
        let results = (0..<threads).map { _ in ThreadResult() }
        let group = DispatchGroup()
        for index in 0..<threads {
            group.enter()
            let result = results[index]
            DDBenchmarkSupport.startThread(named: "ddbench-work-\(index)") {
                work(into: result)
                group.leave()
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { continuation.resume() }
        }
        return results
    }

    private func work(into result: ThreadResult) {
        let keys = (0..<tags).map { "bench.tag.\($0)" }
        let values = (0..<tags).map { "value-\($0)" }
        let start = monotonicNanoseconds()
        let deadline = durationNanoseconds.map { start + $0 }
        var produced = 0
        while true {
            var inBatch = 0
            let limit = spansPerThread.map { min(batch, $0 - produced) } ?? batch
            let batchStart = monotonicNanoseconds()
            while inBatch < limit {
                inBatch += trace(keys: keys, values: values)
            }
            let batchEnd = monotonicNanoseconds()
            produced += inBatch
            if let spansPerSecondPerThread {
                // Outside the timed batch: sleep until this thread is back on its schedule.
                let due = start + Int64(Double(produced) / spansPerSecondPerThread * 1e9)
                let ahead = due - monotonicNanoseconds()
                if ahead > 50_000 { usleep(UInt32(min(ahead / 1_000, 1_000_000))) }
            }
            if maxInFlight > 0 {
                // Outside the timed batch: wait while the flusher is behind (a service below saturation).
                while true {
                    let counters = tracer.counters
                    guard counters.spansStarted > counters.spansSent + UInt64(maxInFlight) else { break }
                    usleep(200)
                }
            }
            result.batchNanosecondsPerSpan.record(Double(batchEnd - batchStart) / Double(inBatch))
            if let spansPerThread, produced >= spansPerThread { break }
            if let deadline, batchEnd >= deadline { break }
        }
        result.spans = produced
        result.start = start
        result.end = monotonicNanoseconds()
    }

    /// One trace of `depth` nested spans; returns the number of spans.
    @inline(__always) private func trace(keys: [String], values: [String]) -> Int {
        let root = tracer.startSpan("bench.request", ignoreActive: true)
        setTags(root, keys, values)
        if depth > 1 { nest(parent: root, level: 1, keys: keys, values: values) }
        root.finish()
        return depth
    }

    private func nest(parent: DDSpan, level: Int, keys: [String], values: [String]) {
        let span = tracer.startSpan("bench.operation", childOf: parent)
        setTags(span, keys, values)
        if level + 1 < depth { nest(parent: span, level: level + 1, keys: keys, values: values) }
        span.finish()
    }

    @inline(__always) private func setTags(_ span: DDSpan, _ keys: [String], _ values: [String]) {
        for index in 0..<keys.count { span.setTag(keys[index], values[index]) }
    }
}

// MARK: Report

struct Report {
    let command: BenchCommand
    let agent: String
    let results: [ThreadResult]
    let counters: DDTracerCounters
    let flushSucceeded: Bool
    let flushNanoseconds: Int64
    /// Spans the verifying sink decoded (nil without --verify).
    let spansReceived: Int?
    let malformedPayloads: Int
    let memory: MemorySampler.Summary

    var totalSpans: Int { results.reduce(0) { $0 + $1.spans } }
    var wallNanoseconds: Int64 {
        (results.map(\.end).max() ?? 0) - (results.map(\.start).min() ?? 0)
    }
    var spansPerSecond: Double { Double(totalSpans) * 1e9 / Double(max(1, wallNanoseconds)) }
    var batchTimings: DDLatencyHistogram {
        results.reduce(into: DDLatencyHistogram()) { $0.merge($1.batchNanosecondsPerSpan) }
    }

    var lost: UInt64 {
        counters.droppedPoolExhausted + counters.droppedAfterShutdown + counters.droppedBufferFull
            + counters.droppedSendFailed + counters.droppedRejectedByAgent + counters.droppedEncodingFailed
    }

    var tuning: [(String, String)] {
        ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("DD_") }.sorted { $0.key < $1.key }
            .map { ($0.key, $0.value) }
    }

    func text() -> String {
        let samples = batchTimings
        let flusherSeconds = Double(counters.flusherCPUNanoseconds) / 1e9
        let runSeconds = Double(wallNanoseconds + flushNanoseconds) / 1e9
        var lines: [String] = []
        lines.append(
            "dd-trace bench: \(command.threads) thread(s), \(totalSpans) spans in traces of \(command.depth), "
                + "\(command.tags) tag(s) per span")
        lines.append("agent:            \(agent)\(command.sink ? " (built-in discarding sink)" : "")")
        lines.append(
            "environment:      "
                + (tuning.isEmpty ? "no DD_* variables (defaults)" : tuning.map { "\($0.0)=\($0.1)" }.joined(separator: " ")))
        lines.append(
            "ns/span:          median \(format(samples.percentile(50))), p99 \(format(samples.percentile(99))) "
                + "(\(samples.count) batches of up to \(command.batch) spans, per thread)")
        lines.append(
            "throughput:       \(format(spansPerSecond / 1e6, digits: 2)) M spans/s over all threads "
                + "(\(format(Double(wallNanoseconds) / 1e6, digits: 1)) ms)")
        lines.append(
            "spans:            started \(counters.spansStarted), finished \(counters.spansFinished), "
                + "sent \(counters.spansSent), sampled out \(counters.spansSampledOut)")
        lines.append(
            "dropped:          \(lost) (pool exhausted \(counters.droppedPoolExhausted), after shutdown "
                + "\(counters.droppedAfterShutdown), buffer full \(counters.droppedBufferFull), send failed "
                + "\(counters.droppedSendFailed), rejected by agent \(counters.droppedRejectedByAgent), encoding "
                + "\(counters.droppedEncodingFailed)); ring overflows (not lost) \(counters.ringOverflows); "
                + "tags dropped \(counters.tagsDroppedPoolExhausted)")
        lines.append(
            "agent traffic:    \(counters.payloadsSent) payloads, \(counters.bytesSent) bytes sent "
                + "(\(counters.spansSent > 0 ? format(Double(counters.bytesSent) / Double(counters.spansSent), digits: 1) : "0") bytes per sent span), "
                + "request errors \(counters.requestErrors), response errors \(counters.responseErrors), "
                + "transport \(counters.usesIOUring ? "io_uring" : "plain sockets")"
                + (counters.lastError.isEmpty ? "" : ", last error: \(counters.lastError)"))
        lines.append(
            "flusher CPU:      \(format(flusherSeconds, digits: 3)) s, "
                + "\(format(flusherSeconds * 1e9 / Double(max(1, totalSpans)), digits: 1)) ms per million spans, "
                + "\(format(flusherSeconds / max(runSeconds, 1e-9), digits: 2)) core over the run")
        lines.append(
            "final flush:      \(flushSucceeded ? "succeeded" : "did NOT complete") in "
                + "\(format(Double(flushNanoseconds) / 1e6, digits: 1)) ms")
        if let spansReceived {
            lines.append(
                "sink decoded:     \(spansReceived) spans (\(spansReceived == Int(counters.spansStarted) ? "equal to" : "DIFFERENT from") "
                    + "spans started), \(malformedPayloads) malformed payloads")
        }
        lines.append(
            "resident memory:  \(format(memory.afterWarmUpMB, digits: 1)) MB after warm-up, "
                + "\(format(memory.midpointMB, digits: 1)) MB half-way, peak "
                + "\(format(memory.peakMB, digits: 1)) MB, end \(format(memory.endMB, digits: 1)) MB "
                + "(\(memory.samples) samples)")
        lines.append(
            "held by the tracer: span pools \(counters.spanSlotsAllocated) slots (\(format(spanPoolMB, digits: 1)) MB), "
                + "payload buffers: queued at most \(format(megabytes(counters.peakBufferedBytes), digits: 1)) MB, "
                + "spare at the end \(format(megabytes(counters.spareBufferBytes), digits: 1)) MB")
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        let samples = batchTimings
        let fields: [(String, String)] = [
            ("threads", "\(command.threads)"), ("spans", "\(totalSpans)"),
            ("target_rate", command.rate.map { format($0, digits: 0) } ?? "null"), ("depth", "\(command.depth)"),
            ("tags", "\(command.tags)"), ("sink", "\(command.sink)"),
            ("ns_per_span_median", format(samples.percentile(50))),
            ("ns_per_span_p99", format(samples.percentile(99))), ("batches", "\(samples.count)"),
            ("spans_per_second", format(spansPerSecond, digits: 0)), ("spans_started", "\(counters.spansStarted)"),
            ("spans_sent", "\(counters.spansSent)"), ("dropped_total", "\(lost)"),
            ("dropped_pool_exhausted", "\(counters.droppedPoolExhausted)"),
            ("dropped_after_shutdown", "\(counters.droppedAfterShutdown)"),
            ("dropped_buffer_full", "\(counters.droppedBufferFull)"),
            ("dropped_send_failed", "\(counters.droppedSendFailed)"),
            ("dropped_rejected_by_agent", "\(counters.droppedRejectedByAgent)"),
            ("dropped_encoding_failed", "\(counters.droppedEncodingFailed)"),
            ("ring_overflows", "\(counters.ringOverflows)"), ("bytes_sent", "\(counters.bytesSent)"),
            ("payloads_sent", "\(counters.payloadsSent)"), ("request_errors", "\(counters.requestErrors)"),
            ("flusher_cpu_ns", "\(counters.flusherCPUNanoseconds)"), ("flush_succeeded", "\(flushSucceeded)"),
            ("spans_received", spansReceived.map { "\($0)" } ?? "null"), ("malformed_payloads", "\(malformedPayloads)"),
            ("rss_after_warmup_mb", format(memory.afterWarmUpMB)), ("rss_midpoint_mb", format(memory.midpointMB)),
            ("rss_peak_mb", format(memory.peakMB)),
            ("rss_end_mb", format(memory.endMB)), ("rss_samples", "\(memory.samples)"),
            ("span_slots_allocated", "\(counters.spanSlotsAllocated)"), ("span_pools_mb", format(spanPoolMB)),
            ("peak_buffered_bytes", "\(counters.peakBufferedBytes)"),
            ("spare_buffer_bytes", "\(counters.spareBufferBytes)"),
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    /// The memory of the slots the pools have grown to.
    var spanPoolMB: Double { megabytes(counters.spanSlotsAllocated * UInt64(DDTracerCounters.spanSlotBytes)) }

    /// In MiB, as the resident memory (`DDBenchmarkSupport.residentMegabytes`).
    private func megabytes(_ bytes: UInt64) -> Double { Double(bytes) / 1_048_576 }

    private func format(_ value: Double, digits: Int = 1) -> String {
        String(format: "%.\(digits)f", value)
    }
}

// MARK: Memory

/// Samples the process's resident memory (/proc/self/statm) every 250 ms on its own thread, so that a run can show
/// memory is flat: the peak after the first second (warm-up: pools and buffers being allocated) against the end.
final class MemorySampler: @unchecked Sendable {  // `samples` is only touched by the sampler thread until stop()
    struct Summary {
        var afterWarmUpMB: Double
        /// Half-way through the run: flat memory means the end is no higher than this.
        var midpointMB: Double
        var peakMB: Double
        var endMB: Double
        var samples: Int
    }

    private var samples: [Double] = []
    private let stopping = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let intervalMilliseconds = 250

    func start() {
        DDBenchmarkSupport.startThread(named: "ddbench-memory") { [self] in
            repeat {
                samples.append(DDBenchmarkSupport.residentMegabytes())
            } while stopping.wait(timeout: .now() + .milliseconds(intervalMilliseconds)) == .timedOut
            stopped.signal()
        }
    }

    func stop() -> Summary {
        stopping.signal()
        stopped.wait()
        let end = DDBenchmarkSupport.residentMegabytes()
        let warmUpSamples = 1_000 / intervalMilliseconds
        let afterWarmUp = samples.count > warmUpSamples ? samples[warmUpSamples] : (samples.last ?? end)
        return Summary(
            afterWarmUpMB: afterWarmUp, midpointMB: samples.isEmpty ? end : samples[samples.count / 2], peakMB: max(samples.dropFirst(warmUpSamples).max() ?? end, end), endMB: end,
            samples: samples.count)
    }
}
