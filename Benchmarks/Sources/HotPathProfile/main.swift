// A plain executable for instruction-level profiling of one workload (no benchmark harness around it):
//
//   valgrind --tool=callgrind --toggle-collect='*runWorkload*' \
//       Benchmarks/.build/release/HotPathProfile child2tags 200000
//
// Workloads: child2tags (the reference child span: 2 tags + 1 metric), child2tags.inherited (the same under a root
// with a service of its own, which the children inherit), root, trace2tags (scoped API),
// nested5, traces10 (the Pipeline benchmark's traces: a root with 3 tags and 9 reference children; profile the
// flusher with --toggle-collect='$s7DDTrace7FlusherC3run*'), floor (the C loop), encode and encode.v05 (1000-span
// v0.4 and v0.5 payloads, or ENCODE_SPANS spans; valgrind cannot read this binary's debug info, so
// `strip --strip-debug` a copy). Runs a warm-up of the same size first, so the profile shows steady state (pools and
// buffers grown). encode.series is not a profile: it prints the ns per span of 40 batches of 20 payloads.

import BenchSupport
import Glibc
@_spi(Benchmarks) import DDTrace

let arguments = CommandLine.arguments
let workload = arguments.count > 1 ? arguments[1] : "child2tags"
let iterations = arguments.count > 2 ? Int(arguments[2]) ?? 200_000 : 200_000

let sink = try DDAgentStandIn(mode: .discard)
let tracer = try BenchTracer.make(agentURL: sink.agentURL, spanPoolSize: 1 << 20, ringCapacity: 1 << 20)
let payloadSpans = Int(getenv("ENCODE_SPANS").map { String(cString: $0) } ?? "") ?? 1000
let encoder = DDEncoderBenchmark(spanCount: payloadSpans)
let encoderV05 = DDEncoderBenchmark(spanCount: payloadSpans, format: .v05)
/// Built at run time and longer than 15 bytes, so it owns heap storage (as `native.childSpan2Tags.inheritedService`).
let inheritedService = String(repeating: "checkout-", count: 2) + "service"

@MainActor @inline(never)
func runWorkload(_ count: Int) -> UInt64 {
    var checksum: UInt64 = 0
    switch workload {
    case "child2tags":
        let root = tracer.startSpan("web.request", ignoreActive: true)
        for _ in 0..<count { childSpanWithTags(tracer, parent: root) }
        root.finish()
    case "child2tags.inherited":
        let root = tracer.startSpan("web.request", service: inheritedService, ignoreActive: true)
        for _ in 0..<count { childSpanWithTags(tracer, parent: root) }
        root.finish()
    case "root":
        for _ in 0..<count { tracer.startSpan("web.request", ignoreActive: true).finish() }
    case "trace2tags":
        tracer.trace("web.request") { _ in
            for _ in 0..<count {
                tracer.trace("postgres.query") { span in
                    span.setTag("db.system", "postgresql")
                    span.setTag("db.name", "users")
                    span.setMetric("db.row_count", 42)
                }
            }
        }
    case "nested5":
        for _ in 0..<(count / 5) {
            let s0 = tracer.startSpan("web.request", ignoreActive: true)
            let s1 = tracer.startSpan("controller.handle", childOf: s0)
            let s2 = tracer.startSpan("service.lookup", childOf: s1)
            let s3 = tracer.startSpan("cache.get", childOf: s2)
            let s4 = tracer.startSpan("redis.command", childOf: s3)
            s4.finish(); s3.finish(); s2.finish(); s1.finish(); s0.finish()
        }
    case "traces10":
        for _ in 0..<(count / 10) {
            let root = tracer.startSpan(
                "http.request", resource: "GET /api/v1/users/:id", spanType: "web", ignoreActive: true)
            root.setTag("http.method", "GET")
            root.setTag("http.route", "/api/v1/users/:id")
            root.setTag("http.status_code", "200")
            for _ in 1..<10 { childSpanWithTags(tracer, parent: root) }
            root.finish()
        }
    case "floor":
        checksum = DDBenchmarkSupport.floorSpans(UInt64(count))
    case "encode":
        for _ in 0..<(count / payloadSpans) { checksum &+= UInt64(encoder.encodePayload()) }
    case "encode.v05":
        for _ in 0..<(count / payloadSpans) { checksum &+= UInt64(encoderV05.encodePayload()) }
    default:
        fatalError("unknown workload \(workload)")
    }
    return checksum
}

if workload == "encode.series" {
    // Not a profile: 40 batches of 20 payloads, timed one by one and printed in ns per span, to see how the speed
    // of one process moves (docs/PERFORMANCE.md, "Encoder": the two modes of this machine).
    for _ in 0..<5 { consume(UInt64(encoder.encodePayload())) }
    var batches: [String] = []
    for _ in 0..<40 {
        let start = monotonicNanos()
        var bytes = 0
        for _ in 0..<20 { bytes &+= encoder.encodePayload() }
        let elapsed = monotonicNanos() - start
        consume(UInt64(bytes))
        batches.append(String(Int(elapsed) / (20 * payloadSpans)))
    }
    print(batches.joined(separator: " "))
    exit(0)
}
consume(runWorkload(iterations))  // warm-up
tracer.flush(timeout: .seconds(60))
let start = monotonicNanos()
consume(runWorkload(iterations))
let elapsed = monotonicNanos() - start
tracer.flush(timeout: .seconds(60))
print("\(workload): \(iterations) spans, \(Double(elapsed) / Double(iterations)) ns/span; \(tracer.counters)")
tracer.shutdown(timeout: .seconds(5))
sink.stop()
