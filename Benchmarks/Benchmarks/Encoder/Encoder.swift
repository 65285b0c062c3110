// msgpack encoding of realistic spans with the tracer's real TraceEncoder (through the `@_spi(Benchmarks)` hook
// `DDEncoderBenchmark`): 5 meta tags and 2 metrics per span, plus the tags the encoder adds itself (env, version,
// and on each chunk's first span the trace-level tags). One iteration encodes one payload of 1000 spans
// (`scalingFactor: .kilo`), so wall clock per span is the figure with `--scale`; spans/s = 1e9 / that.
// `payloadBytes` is the size of the 1000-span payload (bytes per span once scaled). Every payload is checked once, before timing,
// with the stand-ins' payload checker (`DDBenchmarkSupport.countSpans`, independent of the encoder), and
// `payloadCheck.<format>.traces10` measures that checker on the same payload (the agent stand-ins' cost per span).

import Benchmark
import BenchSupport
@_spi(Benchmarks) import DDTrace

let benchmarks: @Sendable () -> Void = {
    // The payload size of an iteration (1000 spans): bytes per span once scaled.
    let bytesPerSpan = BenchmarkMetric.custom("payloadBytes", polarity: .prefersSmaller, useScalingFactor: true)
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal, .throughput, bytesPerSpan], timeUnits: .nanoseconds,
        warmupIterations: 20, scalingFactor: .kilo, maxDuration: .seconds(3), maxIterations: 100_000,
        thresholds: [
            .mallocCountTotal: .init(relative: [.p90: 0], absolute: [.p90: 0]),
            .wallClock: .init(relative: [.p90: 50], absolute: [:]),
        ])

    // The stand-ins' payload check is part of the benchmark harness, not of the tracer: measured, not defended.
    let checkConfiguration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], timeUnits: .nanoseconds, warmupIterations: 20, scalingFactor: .kilo,
        maxDuration: .seconds(2), maxIterations: 100_000, thresholds: nil)

    // Every format the engine can encode: v0.4 (maps with string keys) and v0.5 (a string table and arrays).
    for format in DDEncoderBenchmark.Format.allCases {
        for (shape, spansPerTrace) in [("traces10", 10), ("traces1", 1)] {
            let encoder = DDEncoderBenchmark(spanCount: 1000, spansPerTrace: spansPerTrace, format: format)
            let size = encoder.encodePayload()
            let decoded = encoder.lastPayload.withUnsafeBytes {
                DDBenchmarkSupport.countSpans($0, v05: format == .v05)
            }
            precondition(
                decoded == encoder.spanCount, "the encoded payload does not decode to \(encoder.spanCount) spans")
            Benchmark("encoder.\(format.rawValue).\(shape)", configuration: configuration) { benchmark in
                benchmark.startMeasurement()
                let bytes = encoder.encodePayload()
                benchmark.stopMeasurement()
                benchmark.measurement(bytesPerSpan, bytes)
            }
            _ = size
            if shape == "traces10" {
                // What the agent stand-ins of the Pipeline benchmark and `dd-trace bench --sink --verify` spend
                // checking each span they receive: their CPU shares the machine with the pipeline they measure.
                let payload = encoder.lastPayload
                Benchmark("payloadCheck.\(format.rawValue).\(shape)", configuration: checkConfiguration) { benchmark in
                    benchmark.startMeasurement()
                    let spans = payload.withUnsafeBytes { DDBenchmarkSupport.countSpans($0, v05: format == .v05) }
                    benchmark.stopMeasurement()
                    precondition(spans == encoder.spanCount)
                }
            }
        }
    }
}
