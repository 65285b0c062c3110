// DogStatsD health metrics: a real UDP (and unix datagram) socket stands in for DogStatsD and receives what the
// flusher sends every flush interval.

import CDDTraceShims
import Foundation
import Testing

@testable import DDTrace

#if canImport(Glibc)
    import Glibc
#endif

/// A DogStatsD stand-in: a datagram socket that collects the metric lines it receives.
final class DogStatsDListener: @unchecked Sendable {
    let descriptor: Int32
    let url: String
    private let unixPath: String?

    /// UDP on 127.0.0.1, on a port the kernel picks.
    init() throws {
        unixPath = nil
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        descriptor = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        url = "udp://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        guard bound else { throw POSIXError(.EADDRINUSE) }
    }

    /// A unix datagram socket at a temporary path.
    init(unixSocket: Void) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dsd-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        descriptor = fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
        unixPath = path
        url = "unix://\(path)"
        guard bound else { throw POSIXError(.EADDRINUSE) }
    }

    deinit {
        close(descriptor)
        if let unixPath { unlink(unixPath) }
    }

    /// Lines received until `done` holds for everything received so far, or `timeout` passes.
    func lines(timeout: Duration = .seconds(10), until done: ([String]) -> Bool) -> [String] {
        var received: [String] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && !done(received) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            received += String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return received
    }
}

/// The sum of a counter's values over the lines, for lines whose tags include `tag` (when given).
func metricTotal(_ lines: [String], _ name: String, tag: String? = nil) -> Int {
    lines.reduce(0) { total, line in
        guard line.hasPrefix("datadog.tracer.\(name):"), line.contains("|c|"),
            tag.map({ line.contains(",\($0)") || line.hasSuffix($0) }) ?? true
        else { return total }
        let value = line.dropFirst("datadog.tracer.\(name):".count).prefix { $0 != "|" }
        return total + (Int(value) ?? 0)
    }
}

@Suite("Health metrics over DogStatsD")
struct HealthMetricsTests {
    private func tracer(agentURL: String, dogstatsd: String, enabled: Bool = true) throws -> DDTracer {
        try makeTestTracer(agentURL: agentURL, service: "health-test", flushInterval: .milliseconds(50)) {
            $0.env = "ci"
            $0.healthMetricsEnabled = enabled
            $0.dogstatsdURL = dogstatsd
        }
    }

    @Test("counters arrive as datadog.tracer.* counts with the tracer's tags", arguments: ["udp", "unix"])
    func countersArrive(transport: String) throws {
        let statsd = transport == "udp" ? try DogStatsDListener() : try DogStatsDListener(unixSocket: ())
        let agent = try FakeAgent { _, _ in .status(200) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url, dogstatsd: statsd.url)
        for index in 0..<25 { tracer.trace("op") { $0.setTag("i", "\(index)") } }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let lines = statsd.lines { metricTotal($0, "spans.sent") >= 25 }
        #expect(metricTotal(lines, "spans.started") == 25)
        #expect(metricTotal(lines, "spans.finished") == 25)
        #expect(metricTotal(lines, "spans.sent") == 25)
        #expect(metricTotal(lines, "http.requests") >= 1)
        #expect(metricTotal(lines, "http.sent.bytes") > 0)
        let started = try #require(lines.first { $0.hasPrefix("datadog.tracer.spans.started:") })
        #expect(started.contains("|c|#lang:swift,tracer_version:\(DDTraceVersion.current),service:health-test,env:ci"))
        #expect(lines.contains { $0.hasPrefix("datadog.tracer.queue.payloads:") && $0.contains("|g|#") })
        tracer.shutdown()
    }

    @Test("drops are reported with their reason")
    func dropsCarryTheirReason() throws {
        let statsd = try DogStatsDListener()
        let agent = try FakeAgent { _, _ in .status(400) }
        defer { agent.stop() }
        let tracer = try tracer(agentURL: agent.url, dogstatsd: statsd.url)
        for _ in 0..<7 { tracer.trace("rejected") { _ in } }
        _ = tracer.flush(timeout: .seconds(10))
        let lines = statsd.lines { metricTotal($0, "spans.dropped", tag: "reason:rejected_by_agent") >= 7 }
        #expect(metricTotal(lines, "spans.dropped", tag: "reason:rejected_by_agent") == 7)
        #expect(metricTotal(lines, "http.errors", tag: "type:status") >= 1)
        #expect(tracer.counters.droppedRejectedByAgent == 7)
        tracer.shutdown()
    }

    @Test("nothing listening, or metrics disabled: tracing is unaffected and nothing is sent")
    func noListenerAndDisabled() throws {
        let agent = try FakeAgent { _, _ in .status(200) }
        defer { agent.stop() }
        // A port nobody listens on: datagrams are dropped by the kernel, the tracer carries on.
        let unheard = try tracer(agentURL: agent.url, dogstatsd: "udp://127.0.0.1:9")
        for _ in 0..<10 { unheard.trace("op") { _ in } }
        #expect(unheard.flush(timeout: .seconds(10)).succeeded)
        #expect(unheard.counters.spansSent == 10)
        unheard.shutdown()

        let statsd = try DogStatsDListener()
        let disabled = try tracer(agentURL: agent.url, dogstatsd: statsd.url, enabled: false)
        for _ in 0..<10 { disabled.trace("op") { _ in } }
        #expect(disabled.flush(timeout: .seconds(10)).succeeded)
        #expect(statsd.lines(timeout: .milliseconds(500)) { _ in false }.isEmpty)
        disabled.shutdown()
    }
}
