// The whole pipeline: application thread -> per-thread ring -> flusher -> encoder -> transport -> an agent
// stand-in in this process (`DDAgentStandIn`, unix socket, HTTP/1.1) that reads every request and decodes every
// payload with `ddtrace_mp_count_spans` (C, independent of the encoder), counting the spans that arrived.
//
// Workload: traces of 10 spans (a root with 3 tags, 9 children with 2 tags and a metric).
//
// - `pipeline.burst`: one iteration produces 100 000 spans as fast as one thread can, then flushes and waits until
//   the stand-in has decoded all of them. Wall clock is the end-to-end time; custom metrics: `spansPerSecond`
//   (end to end), `flusherCPUNsPerSpan` (from `counters.flusherCPUNanoseconds`; x 1e6 = per million spans),
//   `spansLost` (produced - decoded). The pool is sized to hold a whole burst, so this measures how fast the
//   flusher, encoder and transport drain it.
// - `pipeline.paced.<rate>`: the default configuration (16384-slot pools, 16384-entry rings, 1 s flush interval), a
//   producer paced at a fixed rate for 2 s on a fresh tracer, then a flush. Custom metrics: `achievedSpansPerSecond`,
//   `spansLost`, `flusherMilliCores` (flusher CPU / wall), `flusherCPUNsPerSpan`. The rate at which loss starts is
//   the first rate with `spansLost > 0` (the summary table reports it).

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
import Benchmark
import BenchSupport
@_spi(Benchmarks) import DDTrace
import Foundation

let spansPerTrace = 10

/// Produces one trace of `spansPerTrace` spans.
@inline(__always) func produceTrace(_ tracer: DDTracer) {
    let root = tracer.startSpan("http.request", resource: "GET /api/v1/users/:id", spanType: "web", ignoreActive: true)
    root.setTag("http.method", "GET")
    root.setTag("http.route", "/api/v1/users/:id")
    root.setTag("http.status_code", "200")
    for _ in 1..<spansPerTrace {
        childSpanWithTags(tracer, parent: root)
    }
    root.finish()
}

/// Waits until the stand-in has decoded `expected` spans more than `base`, or `timeout` passed.
func waitForDecoded(_ sink: DDAgentStandIn, base: Int, expected: Int, timeout: Duration) -> Int {
    let deadline = monotonicNanos() + Int64(timeout.components.seconds) * 1_000_000_000
    while sink.spans - base < expected && monotonicNanos() < deadline {
        usleep(200)
    }
    return sink.spans - base
}

/// Appends a line to the file named by PIPELINE_DROPS_LOG (if set), or to stderr.
func recordDrops(_ line: String) {
    if let path = ProcessInfo.processInfo.environment["PIPELINE_DROPS_LOG"], !path.isEmpty,
        let file = FileHandle(forWritingAtPath: path) ?? {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }()
    {
        file.seekToEndOfFile()
        file.write(line.data(using: .utf8)!)
        file.closeFile()
    } else {
        FileHandle.standardError.write(line.data(using: .utf8)!)
    }
}

let benchmarks: @Sendable () -> Void = {
    let sink = try! DDAgentStandIn(mode: .verify)

    let spansPerSecond = BenchmarkMetric.custom("spansPerSecond", polarity: .prefersLarger, useScalingFactor: false)
    let achieved = BenchmarkMetric.custom("achievedSpansPerSecond", polarity: .prefersLarger, useScalingFactor: false)
    let flusherNsPerSpan = BenchmarkMetric.custom("flusherCPUNsPerSpan", polarity: .prefersSmaller, useScalingFactor: false)
    let flusherMilliCores = BenchmarkMetric.custom("flusherMilliCores", polarity: .prefersSmaller, useScalingFactor: false)
    let spansLost = BenchmarkMetric.custom("spansLost", polarity: .prefersSmaller, useScalingFactor: false)

    // MARK: Burst

    let burstSpans = 100_000
    let burstTracer = try! BenchTracer.make(
        agentURL: sink.agentURL, spanPoolSize: 1 << 17, ringCapacity: 1 << 17, flushInterval: .milliseconds(100))
    Benchmark(
        "pipeline.burst",
        configuration: .init(
            metrics: [.wallClock, spansPerSecond, flusherNsPerSpan, spansLost], timeUnits: .milliseconds,
            warmupIterations: 2, scalingFactor: .one, maxDuration: .seconds(10), maxIterations: 40, thresholds: nil)
    ) { benchmark in
        let before = burstTracer.counters
        let decodedBefore = sink.spans
        benchmark.startMeasurement()
        let start = monotonicNanos()
        for _ in 0..<(burstSpans / spansPerTrace) {
            produceTrace(burstTracer)
        }
        burstTracer.flush(timeout: .seconds(30))
        let decoded = waitForDecoded(sink, base: decodedBefore, expected: burstSpans, timeout: .seconds(30))
        let wall = monotonicNanos() - start
        benchmark.stopMeasurement()
        let after = burstTracer.counters
        benchmark.measurement(spansPerSecond, Int(Double(decoded) * 1e9 / Double(wall)))
        benchmark.measurement(
            flusherNsPerSpan, Int((after.flusherCPUNanoseconds - before.flusherCPUNanoseconds) / UInt64(burstSpans)))
        benchmark.measurement(spansLost, burstSpans - decoded)
        if decoded != burstSpans || sink.malformed > 0 {
            benchmark.error("lost \(burstSpans - decoded) spans, \(sink.malformed) undecodable payloads: \(after)")
        }
    }

    // MARK: Paced, default configuration

    let stepDuration: Int64 = 2_000_000_000
    for rate in [250_000, 500_000, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 6_000_000, 8_000_000] {
        let label = rate >= 1_000_000 ? "\(rate / 1_000_000)M" : "\(rate / 1000)k"
        Benchmark(
            "pipeline.paced.\(label)",
            configuration: .init(
                metrics: [achieved, spansLost, flusherMilliCores, flusherNsPerSpan], timeUnits: .milliseconds,
                warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(1), maxIterations: 1,
                thresholds: nil)
        ) { benchmark in
            // A fresh tracer with the default settings (only the agent address is ours).
            var configuration = DDTracerConfiguration(environment: [:])
            configuration.service = "bench"
            configuration.agentURL = sink.agentURL
            let tracer = try! DDTracer(configuration: configuration)
            let decodedBefore = sink.spans
            let flusherBefore = tracer.counters.flusherCPUNanoseconds
            var produced = 0
            let start = monotonicNanos()
            var now = start
            while now - start < stepDuration {
                let due = Int(Double(now - start) * Double(rate) / 1e9)
                if produced < due {
                    while produced < due {
                        produceTrace(tracer)
                        produced += spansPerTrace
                    }
                } else {
                    usleep(50)
                }
                now = monotonicNanos()
            }
            let wall = now - start
            // The flusher CPU over the paced window (published once per pass, so at most one pass behind).
            let flusherDuring = tracer.counters.flusherCPUNanoseconds - flusherBefore
            tracer.flush(timeout: .seconds(30))
            let decoded = waitForDecoded(sink, base: decodedBefore, expected: produced, timeout: .seconds(10))
            let counters = tracer.counters
            tracer.shutdown(timeout: .seconds(5))
            benchmark.measurement(achieved, Int(Double(produced) * 1e9 / Double(wall)))
            benchmark.measurement(spansLost, produced - decoded)
            benchmark.measurement(flusherMilliCores, Int(Double(flusherDuring) * 1000 / Double(wall)))
            benchmark.measurement(flusherNsPerSpan, Int(counters.flusherCPUNanoseconds - flusherBefore) / max(1, produced))
            if sink.malformed > 0 { benchmark.error("\(sink.malformed) undecodable payloads") }
            // The table shows the total; the reasons are appended to the file named by PIPELINE_DROPS_LOG
            // (`make bench` names one in its results folder): the benchmark runner does not pass stderr on.
            if produced != decoded {
                recordDrops("pipeline.paced.\(label): produced \(produced), decoded \(decoded): \(counters)\n")
            }
        }
    }

    Benchmark.teardown = {
        burstTracer.shutdown(timeout: .seconds(5))
        sink.stop()
    }
}
