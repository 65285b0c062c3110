// The same span workload through other Swift tracers, in the same process as ours and the C floor:
//
//   a child of an open root span, 2 string tags / attributes, started and ended.
//
// - `native.*`: our native API (`startSpan(childOf:)` + 2 `setTag` + `finish`, and the scoped `trace` form), with
//   the flusher sending to an in-process agent stand-in exactly as in SpanLifecycle;
// - `otel.*`: swift-otel 1.6.0's tracer (`OTel.makeTracingBackend`, always-on sampler, batch span processor with no
//   exporter, its background service running), through the swift-distributed-tracing API;
// - `noop.*`: swift-distributed-tracing's `NoOpTracer`, same API: the cost of the API itself;
// - `floor.c`: the C floor loop, for the ratio column.
//
// `startSpan` variants call `startSpan(_:context:)` with the root's context, set 2 attributes and `end()`;
// `withSpan` variants use `withSpan(_:context:_:)`, which also binds the span's context as the task-local current
// context while the body runs. Each iteration is 1000 spans (`scalingFactor: .kilo`).

import Benchmark
import BenchSupport
@_spi(Benchmarks) import DDTrace
import OTel
import Tracing

let benchmarks: @Sendable () -> Void = {
    func configuration(_ scaling: BenchmarkScalingFactor = .kilo) -> Benchmark.Configuration {
        .init(
            metrics: [.wallClock, .mallocCountTotal, .throughput], timeUnits: .nanoseconds, warmupIterations: 20,
            scalingFactor: scaling, maxDuration: .seconds(3), maxIterations: 100_000, thresholds: nil)
    }

    Benchmark("floor.c", configuration: configuration(.mega)) { benchmark in
        consume(DDBenchmarkSupport.floorSpans(UInt64(benchmark.scaledIterations.count)))
    }

    // MARK: Ours

    let sink = try! DDAgentStandIn(mode: .discard)
    let tracer = try! BenchTracer.make(agentURL: sink.agentURL)
    let pacer = Pacer(tracer: tracer, every: 1)  // flush after each batch, outside the measured region

    Benchmark("native.startSpan2Tags", configuration: configuration()) { benchmark in
        let root = tracer.startSpan("web.request", ignoreActive: true)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let span = tracer.startSpan("db.query", childOf: root)
            span.setTag("db.system", "postgresql")
            span.setTag("db.name", "users")
            span.finish()
        }
        benchmark.stopMeasurement()
        root.finish()
        if let failure = pacer.afterBatch(spans: 1001) { benchmark.error(failure) }
    }

    Benchmark("native.trace2Tags", configuration: configuration()) { benchmark in
        tracer.trace("web.request") { _ in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                tracer.trace("db.query") { span in
                    span.setTag("db.system", "postgresql")
                    span.setTag("db.name", "users")
                }
            }
            benchmark.stopMeasurement()
        }
        if let failure = pacer.afterBatch(spans: 1001) { benchmark.error(failure) }
    }

    // MARK: swift-otel

    var otelConfiguration = OTel.Configuration.default
    otelConfiguration.serviceName = "bench"
    otelConfiguration.traces.sampler = .alwaysOn
    otelConfiguration.traces.exporter = .none
    let (otelTracer, otelService) = try! OTel.makeTracingBackend(configuration: otelConfiguration)
    let otelTask = Task { try await otelService.run() }
    registerDistributedTracing(prefix: "otel", tracer: otelTracer, configuration: configuration())

    // MARK: NoOpTracer

    registerDistributedTracing(prefix: "noop", tracer: NoOpTracer(), configuration: configuration())

    Benchmark.teardown = {
        otelTask.cancel()
        tracer.shutdown(timeout: .seconds(5))
        sink.stop()
    }
}

/// The workload through the swift-distributed-tracing API, for any `Tracer`.
func registerDistributedTracing<T: Tracer>(prefix: String, tracer: T, configuration: Benchmark.Configuration) {
    Benchmark("\(prefix).startSpan2Attributes", configuration: configuration) { benchmark in
        let root = tracer.startSpan("web.request", context: .topLevel)
        let context = root.context
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let span = tracer.startSpan("db.query", context: context)
            span.attributes["db.system"] = "postgresql"
            span.attributes["db.name"] = "users"
            span.end()
        }
        benchmark.stopMeasurement()
        root.end()
    }

    Benchmark("\(prefix).withSpan2Attributes", configuration: configuration) { benchmark in
        let root = tracer.startSpan("web.request", context: .topLevel)
        let context = root.context
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            tracer.withSpan("db.query", context: context) { span in
                span.attributes["db.system"] = "postgresql"
                span.attributes["db.name"] = "users"
            }
        }
        benchmark.stopMeasurement()
        root.end()
    }
}
