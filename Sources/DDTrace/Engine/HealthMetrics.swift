// Health metrics: the tracer's counters sent to DogStatsD as `datadog.tracer.*` metrics, as the other Datadog
// tracers do (dd-trace-py's writer health metrics, dd-trace-java's HealthMetrics), so that a fleet's tracer drops
// show up on a dashboard without reading each process's counters.
//
// Flusher thread only. Once per flush interval the flusher hands over a snapshot of the counters; the reporter
// sends the increase of each counter since the previous snapshot (DogStatsD counts, `|c`) and the queue depth
// (a gauge, `|g`), all in one datagram. Sending never blocks (MSG_DONTWAIT) and never retries: a lost datagram
// loses one interval's increments, which DogStatsD over UDP accepts by design. Failures are counted, not logged
// per packet.

import CDDTraceShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

final class HealthMetricsReporter {
    let endpoint: DogStatsDEndpoint
    private var descriptor: Int32 = -1
    private var address = sockaddr_storage()
    private var addressLength: socklen_t = 0
    private let tags: String
    private var previous = DDTracerCounters()
    private var packet: [UInt8] = []
    /// Datagrams handed to the kernel, and datagrams that could not be (no route, no socket, buffer full).
    private(set) var datagramsSent: UInt64 = 0
    private(set) var sendErrors: UInt64 = 0
    /// UDP datagrams stay under a typical 1500-byte MTU; a unix datagram socket takes 8 KiB comfortably.
    private let maxDatagramBytes: Int

    init(endpoint: DogStatsDEndpoint, service: String, env: String?, version: String?) {
        self.endpoint = endpoint
        var tagList = ["lang:swift", "tracer_version:\(DDTraceVersion.current)", "service:\(service)"]
        if let env { tagList.append("env:\(env)") }
        if let version { tagList.append("version:\(version)") }
        // DogStatsD separates tags with `,` and fields with `|`; neither may appear inside a tag.
        tags = tagList.map { $0.replacing(",", with: "_").replacing("|", with: "_") }.joined(separator: ",")
        switch endpoint {
        case .udp: maxDatagramBytes = 1_432
        case .unix: maxDatagramBytes = 8_192
        }
        openSocket()
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    private func openSocket() {
        switch endpoint {
        case .udp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else { return }
            defer { freeaddrinfo(result) }
            let fd = socket(first.pointee.ai_family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return }
            withUnsafeMutableBytes(of: &address) { raw in
                raw.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
            }
            addressLength = first.pointee.ai_addrlen
            descriptor = fd
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return }
            var unixAddress = sockaddr_un()
            unixAddress.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: unixAddress.sun_path) else {
                close(fd)
                return
            }
            withUnsafeMutableBytes(of: &unixAddress.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            withUnsafeMutableBytes(of: &address) { raw in
                withUnsafeBytes(of: unixAddress) { raw.copyMemory(from: $0) }
            }
            addressLength = socklen_t(MemoryLayout<sockaddr_un>.size)
            descriptor = fd
        }
    }

    /// Sends the increases since the last report, plus the gauges. Returns the lines sent (for tests and logs).
    @discardableResult
    func report(_ counters: DDTracerCounters, pendingPayloads: Int, pendingBytes: Int) -> [String] {
        let last = previous
        previous = counters
        var lines: [String] = []
        func count(_ name: String, _ current: UInt64, _ before: UInt64, _ extraTag: String? = nil) {
            let delta = current &- before
            guard delta > 0, current >= before else { return }
            lines.append("datadog.tracer.\(name):\(delta)|c|#\(tags)\(extraTag.map { ",\($0)" } ?? "")")
        }
        count("spans.started", counters.spansStarted, last.spansStarted)
        count("spans.finished", counters.spansFinished, last.spansFinished)
        count("spans.sent", counters.spansSent, last.spansSent)
        count("http.sent.traces", counters.chunksSent, last.chunksSent)
        count("http.requests", counters.payloadsSent, last.payloadsSent)
        count("http.sent.bytes", counters.bytesSent, last.bytesSent)
        count("http.errors", counters.requestErrors, last.requestErrors, "type:network")
        count("http.errors", counters.responseErrors, last.responseErrors, "type:status")
        count("spans.partial_flushes", counters.partialFlushes, last.partialFlushes)
        let drops: [(String, KeyPath<DDTracerCounters, UInt64>)] = [
            ("pool_exhausted", \.droppedPoolExhausted), ("after_shutdown", \.droppedAfterShutdown),
            ("buffer_full", \.droppedBufferFull), ("send_failed", \.droppedSendFailed),
            ("rejected_by_agent", \.droppedRejectedByAgent), ("encoding_failed", \.droppedEncodingFailed),
            ("filters", \.droppedByFilters), ("sampling_rule", \.droppedBySampling),
        ]
        for (reason, path) in drops {
            count("spans.dropped", counters[keyPath: path], last[keyPath: path], "reason:\(reason)")
        }
        count("tags.dropped", counters.tagsDroppedPoolExhausted, last.tagsDroppedPoolExhausted, "reason:pool_exhausted")
        count("strings.truncated", counters.stringsTruncated, last.stringsTruncated)
        lines.append("datadog.tracer.queue.payloads:\(pendingPayloads)|g|#\(tags)")
        lines.append("datadog.tracer.queue.bytes:\(pendingBytes)|g|#\(tags)")
        send(lines)
        return lines
    }

    /// Packs lines into datagrams of at most `maxDatagramBytes` (DogStatsD reads `\n`-separated metrics).
    private func send(_ lines: [String]) {
        packet.removeAll(keepingCapacity: true)
        for line in lines {
            if !packet.isEmpty && packet.count + 1 + line.utf8.count > maxDatagramBytes {
                flushPacket()
            }
            if !packet.isEmpty { packet.append(UInt8(ascii: "\n")) }
            packet.append(contentsOf: line.utf8)
        }
        flushPacket()
    }

    private func flushPacket() {
        guard !packet.isEmpty else { return }
        defer { packet.removeAll(keepingCapacity: true) }
        if descriptor < 0 { openSocket() }
        guard descriptor >= 0 else {
            sendErrors += 1
            return
        }
        let sent = packet.withUnsafeBytes { bytes in
            withUnsafePointer(to: &address) { storage in
                storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                    sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), target, addressLength)
                }
            }
        }
        if sent == packet.count { datagramsSent += 1 } else { sendErrors += 1 }
    }
}
