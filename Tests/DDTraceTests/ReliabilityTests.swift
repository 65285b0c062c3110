// Fault scenarios measured end to end: what the service's threads pay per span while the agent is down, slow or
// back, how much memory the tracer holds, how fast it reconnects, and that every span is either sent or counted
// under a drop reason. Each scenario records a row for docs/RELIABILITY.md (see Support/ReliabilityReport.swift).

import Foundation
import Testing

@_spi(Benchmarks) @testable import DDTrace

#if canImport(Glibc)
    import Glibc
#endif

/// Spans that are neither sent nor counted under a drop reason (must be 0 once everything is flushed).
func unaccounted(_ counters: DDTracerCounters) -> Int64 {
    Int64(counters.spansStarted) - Int64(counters.spansSent) - Int64(counters.droppedBufferFull)
        - Int64(counters.droppedSendFailed) - Int64(counters.droppedRejectedByAgent)
        - Int64(counters.droppedEncodingFailed) - Int64(counters.droppedByFilters) - Int64(counters.droppedBySampling)
        - Int64(counters.droppedAfterShutdown)
}

func dropSummary(_ counters: DDTracerCounters) -> String {
    let reasons: [(String, UInt64)] = [
        ("pool exhausted", counters.droppedPoolExhausted), ("buffer full", counters.droppedBufferFull),
        ("send failed", counters.droppedSendFailed), ("rejected", counters.droppedRejectedByAgent),
        ("after shutdown", counters.droppedAfterShutdown),
    ]
    let nonZero = reasons.filter { $0.1 > 0 }
    return nonZero.isEmpty ? "0" : nonZero.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
}

@Suite("Reliability: agent faults measured", .serialized)
struct ReliabilityTests {
    private func tracer(agentURL: String, configure: (inout DDTracerConfiguration) -> Void = { _ in }) throws -> DDTracer {
        try makeTestTracer(agentURL: agentURL, service: "reliability-test", configure: configure)
    }

    private func waitUntil(_ timeout: Duration = .seconds(10), _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            usleep(5_000)
        }
        return true
    }

    @Test("agent stops mid-run, then restarts: cost per span unchanged, memory capped, reconnect within a flush interval")
    func agentStopsAndRestarts() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("restart-agent-\(getpid()).sock").path
        var agent = try FakeAgent.at(path) { _, _ in .status(200) }
        let bufferCap = 262_144
        let tracer = try tracer(agentURL: "unix://\(path)") {
            $0.maxPayloadSize = 65_536
            $0.bufferSize = bufferCap
        }
        let healthy = ReliabilityReport.hotPathNanoseconds(tracer)
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)

        agent.stop()
        let memoryBefore = DDBenchmarkSupport.residentMegabytes()
        let down = ReliabilityReport.hotPathNanoseconds(tracer)  // 21k spans, ~5 MB encoded: 20x the buffer cap
        _ = tracer.flush(timeout: .seconds(5))
        let duringOutage = tracer.counters
        let memoryDuring = DDBenchmarkSupport.residentMegabytes()
        #expect(duringOutage.requestErrors > 0)
        #expect(duringOutage.peakBufferedBytes <= UInt64(bufferCap), "the buffer never exceeds its cap")
        #expect(duringOutage.droppedBufferFull > 0, "the outage overflowed the cap: the oldest payloads were dropped")

        agent = try FakeAgent.at(path) { _, _ in .status(200) }
        defer { agent.stop() }
        let restarted = ContinuousClock.now
        let sentBefore = tracer.counters.spansSent
        #expect(waitUntil { tracer.counters.spansSent > sentBefore })
        let reconnect = ContinuousClock.now - restarted
        #expect(reconnect < .milliseconds(500), "the next attempt is at most one flush interval (100 ms) away")
        let back = ReliabilityReport.hotPathNanoseconds(tracer)
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let counters = tracer.counters
        #expect(unaccounted(counters) == 0, "every span is sent or counted: \(counters)")
        // Generous: debug build on a shared 2-core machine. What it guards against is waiting (milliseconds).
        #expect(down < healthy * 5, "cost per span with the agent down: \(down) ns vs \(healthy) ns")
        ReliabilityReport.record(
            area: "Agent faults", fault: "agent stops mid-run, then restarts (buffer cap 256 KiB, 100 ms flush interval)",
            outcome: "spans keep being recorded at the same cost; the oldest payloads are dropped (counted) once "
                + "the cap is reached; the tracer reconnects on its next attempt and sends the rest",
            figures: [
                ("ns/span agent up / down / back", "\(ReliabilityReport.format(healthy)) / \(ReliabilityReport.format(down)) / \(ReliabilityReport.format(back))"),
                ("peak buffered", "\(duringOutage.peakBufferedBytes / 1024) KiB (cap \(bufferCap / 1024) KiB)"),
                ("RSS change during outage", "\(ReliabilityReport.format(memoryDuring - memoryBefore, digits: 1)) MiB"),
                ("reconnected after", "\(reconnect.components.attoseconds / 1_000_000_000_000_000 + reconnect.components.seconds * 1000) ms"),
                ("spans started / sent", "\(counters.spansStarted) / \(counters.spansSent)"),
                ("dropped (by reason)", dropSummary(counters)), ("unaccounted", "\(unaccounted(counters))"),
            ])
        tracer.shutdown()
    }

    @Test("an agent slower than the timeout: requests time out, the app is not slowed, everything is sent once it recovers")
    func slowAgent() throws {
        let slow = LockedValue(true)
        let agent = try FakeAgent { _, _ in slow.withLock { $0 } ? .delayed(milliseconds: 400, status: 200) : .status(200) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url) { $0.agentTimeout = .milliseconds(150) }
        let healthyBaseline = ReliabilityReport.hotPathNanoseconds(tracer, batches: 11)
        let started = ContinuousClock.now
        let flushedWhileSlow = tracer.flush(timeout: .seconds(5))
        let flushTook = ContinuousClock.now - started
        #expect(!flushedWhileSlow.succeeded)
        #expect(tracer.counters.lastError.contains("timed out"))
        let whileSlow = ReliabilityReport.hotPathNanoseconds(tracer, batches: 11)
        slow.withLock { $0 = false }
        #expect(waitUntil { tracer.flush(timeout: .seconds(5)).succeeded && tracer.counters.bufferedBytes == 0 })
        let counters = tracer.counters
        #expect(unaccounted(counters) == 0, "\(counters)")
        #expect(counters.droppedSendFailed + counters.spansSent == counters.spansStarted)
        #expect(whileSlow < healthyBaseline * 5, "\(whileSlow) ns vs \(healthyBaseline) ns")
        ReliabilityReport.record(
            area: "Agent faults", fault: "agent answers after 400 ms, request timeout 150 ms, then recovers",
            outcome: "each request times out and is retried up to 3 times; the app's threads never wait; after "
                + "recovery every remaining payload is sent",
            figures: [
                ("ns/span before / while slow", "\(ReliabilityReport.format(healthyBaseline)) / \(ReliabilityReport.format(whileSlow))"),
                ("flush() while slow returned after", "\(flushTook.components.attoseconds / 1_000_000_000_000_000 + flushTook.components.seconds * 1000) ms"),
                ("request errors", "\(counters.requestErrors)"),
                ("spans started / sent", "\(counters.spansStarted) / \(counters.spansSent)"),
                ("dropped (by reason)", dropSummary(counters)), ("unaccounted", "\(unaccounted(counters))"),
            ])
        tracer.shutdown()
    }

    @Test("an agent slow to answer: the flusher drains the rings while it waits, so a small pool does not run out")
    func flusherDrainsWhileWaitingForTheAgent() throws {
        let agent = try FakeAgent { _, _ in .delayed(milliseconds: 300, status: 200) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url) {
            $0.agentTimeout = .seconds(3)
            $0.spanPoolSize = 512
        }
        // 6,000 spans over about 1.2 s: each 300 ms wait for the agent sees ~1,500 spans finish, three times what
        // the pool holds. Without draining during the wait they would be dropped as `pool exhausted`.
        for index in 0..<6_000 {
            let span = tracer.startSpan("paced.op", ignoreActive: true)
            span.setTag("index", String(index))
            span.finish()
            usleep(200)
        }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let counters = tracer.counters
        #expect(counters.droppedPoolExhausted == 0, "\(counters)")
        #expect(counters.drainsWhileWaitingForAgent > 0)
        #expect(counters.spansSent == 6_000)
        #expect(agent.received.spans == 6_000)
        #expect(unaccounted(counters) == 0, "\(counters)")
        ReliabilityReport.record(
            area: "Agent faults", fault: "agent answers every request after 300 ms, pool of 512 slots, 5,000 spans/s",
            outcome: "the flusher keeps draining the rings while it waits (every 200 µs), so the application's "
                + "slots keep coming back; nothing is dropped",
            figures: [
                ("drains while waiting", "\(counters.drainsWhileWaitingForAgent)"),
                ("spans started / sent", "\(counters.spansStarted) / \(counters.spansSent)"),
                ("dropped (by reason)", dropSummary(counters)),
            ])
        tracer.shutdown()
    }

    @Test("a flusher stuck on a silent agent: the pool runs out and spans are dropped with a count, never waited for")
    func stuckFlusherExhaustsThePool() throws {
        let agent = try FakeAgent { _, _ in .silent }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url) {
            $0.agentTimeout = .seconds(3)
            $0.spanPoolSize = 64
        }
        // The flusher blocks in a request; meanwhile this thread produces far more spans than its pool holds.
        tracer.trace("first") { _ in }
        tracer.flusher.requestFlush { _ in }
        usleep(50_000)
        let cost = ReliabilityReport.hotPathNanoseconds(tracer, batches: 11, pause: .zero)
        let counters = tracer.counters
        #expect(counters.droppedPoolExhausted > 0)
        #expect(counters.spansStarted + counters.droppedPoolExhausted == 11_001)
        ReliabilityReport.record(
            area: "Agent faults", fault: "agent accepts the connection and never answers (timeout 3 s), pool of 64 slots",
            outcome: "the flusher waits for the timeout; the app's threads fill their pool and then record nothing, "
                + "counting each span they could not record; their spans still work for the caller",
            figures: [
                ("ns/span while the pool is exhausted", ReliabilityReport.format(cost)),
                ("spans recorded / dropped (pool exhausted)", "\(counters.spansStarted) / \(counters.droppedPoolExhausted)"),
            ])
        tracer.shutdown(timeout: .seconds(5))
    }

    @Test("sustained load: 2 threads into a decoding sink, spans received equal spans created, memory flat")
    func sustainedLoad() throws {
        let total = Int(ProcessInfo.processInfo.environment["DDTRACE_LOAD_SPANS"] ?? "") ?? 1_000_000
        let binary = try #require(Self.benchBinary(), "the dd-trace executable is built with the tests")
        let process = Process()
        process.executableURL = binary
        process.arguments = [
            "bench", "--threads", "2", "--spans", "\(total)", "--depth", "5", "--sink", "--verify",
            // 10,000 in flight: the pools and the payload queue reach their high-water mark in the first half, so
            // growth after it means a leak. With 30,000 a late peak of in-flight spans still grew the pools by
            // several MB after half-way on a busy machine.
            "--max-in-flight", "10000", "--json",
        ]
        var environment = ["DD_TRACE_SPAN_POOL_SIZE": "65536", "PATH": "/usr/bin:/bin"]
        // A sanitizer build of the tests runs a sanitizer build of dd-trace: it needs the same options (leak
        // suppressions in scripts/test-sanitizers.sh).
        for (key, value) in ProcessInfo.processInfo.environment where key.hasSuffix("SAN_OPTIONS") {
            environment[key] = value
        }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let line = try #require(String(decoding: data, as: UTF8.self).split(separator: "\n").last)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let started = result["spans_started"] as? Int
        #expect(started == total)
        #expect(result["spans_received"] as? Int == total, "the sink decoded every span")
        #expect(result["spans_sent"] as? Int == total)
        #expect(result["dropped_total"] as? Int == 0)
        #expect(result["malformed_payloads"] as? Int == 0)
        let warm = result["rss_after_warmup_mb"] as? Double ?? 0
        let midpoint = result["rss_midpoint_mb"] as? Double ?? 0
        let peak = result["rss_peak_mb"] as? Double ?? 0
        let end = result["rss_end_mb"] as? Double ?? 0
        // Flat: pools and buffers reach their working size early; the second half of the run adds nothing
        // beyond noise (a leak of even a few bytes per span would add megabytes here). Not in a sanitizer build:
        // there resident memory measures the sanitizer (ASan's quarantine of freed blocks and redzones, TSan's
        // shadow and synchronization metadata). The ASan build checks the child for leaks at its exit instead.
        if !SanitizerBuild.isActive {
            #expect(end - midpoint < 8, "resident memory flat: \(midpoint) MB half-way, \(end) MB at the end")
            #expect(peak - warm < 64, "\(warm) MB after warm-up, peak \(peak) MB")
        }
        ReliabilityReport.record(
            area: "Load", fault: "2 threads x \(total / 2) spans (traces of 5, 2 tags) into a sink that decodes every payload",
            outcome: "spans received equal spans created; nothing dropped; resident memory flat after warm-up",
            figures: [
                ("spans created / received", "\(started ?? -1) / \(result["spans_received"] as? Int ?? -1)"),
                ("dropped", "\(result["dropped_total"] as? Int ?? -1)"),
                ("RSS after 1 s / half-way / peak / end", "\(ReliabilityReport.format(warm, digits: 1)) / \(ReliabilityReport.format(midpoint, digits: 1)) / \(ReliabilityReport.format(peak, digits: 1)) / \(ReliabilityReport.format(end, digits: 1)) MiB"),
                ("throughput", "\(ReliabilityReport.format((result["spans_per_second"] as? Double ?? 0) / 1000)) k spans/s"),
                ("build", ProcessInfo.processInfo.environment["DDTRACE_BENCH_BINARY"] == nil ? "debug (CI size)" : "release"),
            ])
    }

    /// `dd-trace` next to the test bundle (same build), or DDTRACE_BENCH_BINARY (a release build, for the full run).
    static func benchBinary() -> URL? {
        if let path = ProcessInfo.processInfo.environment["DDTRACE_BENCH_BINARY"] { return URL(fileURLWithPath: path) }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("dd-trace")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }
}
