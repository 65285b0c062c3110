// Hooks for the benchmark suite (Benchmarks/) and `dd-trace bench`: the few things they measure that the public API
// does not reach. Everything here is `@_spi(Benchmarks)`: import it with `@_spi(Benchmarks) import DDTrace`. It is
// not part of the supported API and may change with the engine.
//
// - `DDBenchmarkSupport.floorSpans(_:)`: the physical floor of one span, in C (see CShims/include/ddtrace_floor.h),
//   so that benchmarks can report the native span cost as a ratio to it.
// - `DDEncoderBenchmark`: the real `TraceEncoder` fed with realistic spans (5 meta tags, 2 metrics) that were
//   started, tagged and finished through the real engine, so that encoding speed (spans/s, bytes/span) can be
//   measured on its own, without the flusher thread, the rings or the transport.

import CDDTraceShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@_spi(Benchmarks) public enum DDBenchmarkSupport {
    /// Runs the C floor loop `iterations` times (two clock reads, a span id, two tags into a slot, one ring
    /// publish per iteration) and returns its checksum. Callers should consume the checksum so that the call
    /// cannot be optimised away.
    @inline(never)
    public static func floorSpans(_ iterations: UInt64) -> UInt64 {
        ddtrace_floor_spans(iterations)
    }

    /// Starts a thread that runs `body` under `name`, which `ps -L`, `top -H` and `perf` show (at most 15 bytes
    /// are kept), as the tracer's flusher runs under `dd-trace-flush`.
    public static func startThread(named name: String, _ body: @escaping @Sendable () -> Void) {
        startNamedThread(name, body)
    }

    /// This process's resident memory in MiB (the second field of /proc/self/statm), or 0 where it cannot be
    /// read. Reads into a stack buffer: it allocates nothing, so sampling it does not disturb what it measures.
    public static func residentMegabytes() -> Double {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buffer -> Double in
            let count = read(fd, buffer.baseAddress, buffer.count)
            guard count > 0 else { return 0 }
            // "size resident shared ..." in pages.
            var field = 0
            var pages = 0
            for byte in buffer[0..<count] {
                if byte == UInt8(ascii: " ") {
                    field += 1
                    if field > 1 { break }
                } else if field == 1, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    pages = pages * 10 + Int(byte - UInt8(ascii: "0"))
                }
            }
            return Double(pages) * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
        }
    }

    /// The spans in a whole `/v0.4/traces` (or, with `v05`, `/v0.5/traces`) request body, or nil if it is not
    /// one: the agent stand-ins' check of what arrived (`ddtrace_mp_count_spans`, written independently of the
    /// encoder). It walks every value, at about 3.3 GB/s (128 ns for a realistic 427-byte v0.4 span, 97 ns in v0.5:
    /// `payloadCheck.*` in the Encoder benchmark), because the stand-ins share the machine with the pipeline they
    /// measure: every nanosecond they spend is taken from the flusher and the application threads.
    public static func countSpans(_ payload: UnsafeRawBufferPointer, v05: Bool = false) -> Int? {
        guard let base = payload.baseAddress else { return nil }
        let spans = ddtrace_mp_count_spans(base.assumingMemoryBound(to: CChar.self), payload.count, v05 ? 1 : 0)
        return spans < 0 ? nil : spans
    }
}

/// Encodes a fixed set of realistic spans with the tracer's `TraceEncoder`.
///
/// The spans are prepared once by the initializer: `spanCount` spans in traces of `spansPerTrace` spans (a root
/// and its children), each with 5 meta tags and 2 metrics, started and finished through the real engine on the
/// calling thread. `encodePayload()` then encodes all of them into one payload, reusing the encoder's buffer as
/// the flusher does, so that steady-state encoding allocates nothing.
///
/// Not thread-safe: use one instance from one thread at a time.
@_spi(Benchmarks) public final class DDEncoderBenchmark {
    /// The wire format to encode.
    public enum Format: String, Sendable, CaseIterable {
        /// `PUT /v0.4/traces`: an array of chunks, each an array of span maps.
        case v04 = "v0.4"
        /// `PUT /v0.5/traces`: a string table, then chunks of 12-element span arrays referring to it.
        case v05 = "v0.5"
    }

    /// The spans encoded by each `encodePayload()`.
    public let spanCount: Int
    /// The number of trace chunks they form.
    public let chunkCount: Int
    public let format: Format

    private let encoder: TraceEncoder
    private let chunks: [ArraySlice<SlotPointer>]
    private let wallClockOffset: Int64

    /// - Parameters:
    ///   - spanCount: spans to prepare, 1...1_000_000.
    ///   - spansPerTrace: spans per trace chunk (the root plus `spansPerTrace - 1` children).
    ///   - initialCapacity: the payload buffer's first allocation in bytes (1 MiB holds a 1000-span payload, so
    ///     the timed payloads never grow it; tests make it small to grow it in the middle of spans).
    public init(spanCount: Int, spansPerTrace: Int = 10, format: Format = .v04, initialCapacity: Int = 1 << 20) {
        precondition(spanCount >= 1 && spanCount <= 1_000_000, "spanCount must be in 1...1_000_000")
        precondition(spansPerTrace >= 1, "spansPerTrace must be at least 1")
        self.spanCount = spanCount
        self.format = format
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.service = "checkout"
        configuration.env = "prod"
        configuration.version = "1.4.2"
        configuration.agentURL = "unix:///nonexistent/benchmark.sock"
        configuration.spanPoolSize = min(1 << 20, max(64, spanCount + 64))
        configuration.ringCapacity = 1024
        configuration.partialFlushEnabled = false
        let resolved = try! configuration.resolve()  // a fixed, valid configuration: cannot fail
        // An engine without a flusher: the slots finished below stay ours.
        let engine = UnsafeMutablePointer<EngineCore>.make(configuration: resolved)
        wallClockOffset = engine.pointee.wallClockOffset.load(ordering: .relaxed)
        encoder = TraceEncoder(
            tags: EncoderTags(
                env: resolved.env, version: resolved.version, defaultService: resolved.service,
                globalTags: resolved.globalTags, runtimeId: "0d4a5c6e-1b2f-4c3d-9e8f-7a6b5c4d3e2f",
                processId: 4242),
            initialCapacity: initialCapacity, format: format == .v05 ? .v05 : .v04)

        var slots: [SlotPointer] = []
        slots.reserveCapacity(spanCount)
        var bounds: [Range<Int>] = []
        let statusCodes = ["200", "201", "404", "500"]
        while slots.count < spanCount {
            let size = min(spansPerTrace, spanCount - slots.count)
            let first = slots.count
            let root = engine.startSpan(
                name: "http.request", service: nil, resource: "GET /api/v1/users/:id", type: "web", parent: nil,
                startWallClockNanoseconds: nil)
            Self.tag(root, index: first, statusCodes: statusCodes)
            var children: [DDSpan] = []
            for child in 1..<size {
                let span = engine.startSpan(
                    name: "postgres.query", service: "checkout-db", resource: "SELECT * FROM users WHERE id = $1",
                    type: "sql", parent: root.parentLink, startWallClockNanoseconds: nil)
                Self.tag(span, index: first + child, statusCodes: statusCodes)
                children.append(span)
            }
            for span in children { span.finish() }
            root.finish()
            _ = engine.threadState.pointee.ring.drain { slots.append($0) }
            bounds.append(first..<slots.count)
        }
        let all = slots
        chunks = bounds.map { all[$0] }
        chunkCount = chunks.count
    }

    /// 5 meta tags (one with a per-span value) and 2 metrics, as an instrumented HTTP or database call has.
    private static func tag(_ span: DDSpan, index: Int, statusCodes: [String]) {
        span.setTag("http.method", "GET")
        span.setTag("http.url", "https://api.example.com/api/v1/users/\(100_000 + index)")
        span.setTag("http.status_code", statusCodes[index % statusCodes.count])
        span.setTag("component", "swift-nio")
        span.setTag("span.kind", "server")
        span.setMetric("_dd.measured", 1)
        span.setMetric("http.response.content_length", Double(512 + index % 4096))
    }

    /// Encodes every prepared span into a fresh payload and returns its size in bytes.
    @discardableResult
    public func encodePayload() -> Int {
        encoder.startPayload()
        let decoration = ChunkDecoration(samplingPriority: 1, decisionMaker: "-0", agentRate: nil)
        for chunk in chunks {
            encoder.appendChunk(chunk, decoration: decoration, origin: "", wallClockOffset: wallClockOffset)
        }
        encoder.finishPayload()
        precondition(!encoder.failed, "the encoder could not allocate its buffer")
        return encoder.size
    }

    /// A copy of the last encoded payload, as sent (for validating it): for v0.5 the string table, then the traces.
    public var lastPayload: [UInt8] { (encoder.dictionaryPrefix ?? []) + Array(encoder.bytes) }
}

/// Timings kept in fixed memory, however long the run: `dd-trace bench` records one per batch and thread, and a
/// growing array of them would show in the resident memory it reports as the tracer's (8 bytes per batch: 16 KB a
/// second with two threads at 1 M spans/s).
///
/// Buckets are 1 % wide, from 1 to 10^10 (2,316 counters, 18 KiB); a percentile is reported as the geometric middle of
/// its bucket, so it is within 0.5 % of the exact one. Values below 1 count in the first bucket, above 10^10 in the
/// last.
@_spi(Benchmarks) public struct DDLatencyHistogram: Sendable {
    private static let growth = 1.01
    private static let bucketCount = Int((log(1e10) / log(growth)).rounded(.up)) + 1
    private var counts: [UInt64]
    /// Values recorded.
    public private(set) var count = 0

    public init() {
        counts = Array(repeating: 0, count: Self.bucketCount)
    }

    public mutating func record(_ value: Double) {
        let index = value < Self.growth ? 0 : min(Self.bucketCount - 1, Int(log(value) / log(Self.growth)))
        counts[index] += 1
        count += 1
    }

    public mutating func merge(_ other: DDLatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        count += other.count
    }

    /// The value below which `percent` of the recorded values lie (the nearest-rank definition), or 0 when
    /// nothing was recorded.
    public func percentile(_ percent: Double) -> Double {
        guard count > 0 else { return 0 }
        let rank = min(count, max(1, Int((percent / 100 * Double(count)).rounded(.up))))
        var seen = 0
        for (index, inBucket) in counts.enumerated() {
            seen += Int(inBucket)
            if seen >= rank { return pow(Self.growth, Double(index) + 0.5) }
        }
        return pow(Self.growth, Double(Self.bucketCount) - 0.5)
    }
}
