// `dd-trace bench --sink`: a built-in stand-in for the Datadog agent on a unix socket. It reads every request
// the tracer sends (HTTP/1.1, keep-alive), discards the body, and answers as the agent does:
// `200 OK`, `Content-Type: application/json`, `{"rate_by_service":{}}`.
//
// With `verifying`, it keeps each body and checks it with the shim's payload checker (`ddtrace_mp_count_spans`,
// v0.4 or v0.5 by the request path): every chunk an array of spans, every span a map with the ids and times
// (v0.4) or a 12-element array whose strings index the table (v0.5), every value well-formed msgpack. The spans
// are counted, and malformed payloads are counted separately.

import CDDTraceShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
@_spi(Benchmarks) import DDTrace
import Foundation
import Synchronization

final class DiscardingSink: Sendable {
    let path: String
    private let directory: String
    private let listenFD: Int32
    private let stopping = Atomic<Bool>(false)
    private let openConnections = Mutex<[Int32]>([])
    private let requestCount = Atomic<Int>(0)
    private let verifying: Bool
    private let decodedSpans = Atomic<Int>(0)
    private let malformedPayloads = Atomic<Int>(0)

    /// Spans in the payloads decoded so far (with `verifying`).
    var spansReceived: Int { decodedSpans.load(ordering: .relaxed) }
    /// Payloads that did not decode as trace payloads (with `verifying`).
    var malformed: Int { malformedPayloads.load(ordering: .relaxed) }

    var agentURL: String { "unix://\(path)" }
    var requests: Int { requestCount.load(ordering: .relaxed) }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(verifying: Bool = false) throws {
        self.verifying = verifying
        var template = Array("/tmp/dd-trace-bench-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw Failure(description: "cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: created)
        path = directory + "/agent.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes.prefix(raw.count - 1))
            raw[min(pathBytes.count, raw.count - 1)] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "cannot listen on \(path): \(message)")
        }
        listenFD = fd
        DDBenchmarkSupport.startThread(named: "ddbench-sink") { [self] in acceptLoop() }
    }

    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        for fd in openConnections.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
        unlink(path)
        rmdir(directory)
    }

    private func acceptLoop() {
        while !stopping.load(ordering: .acquiring) {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            openConnections.withLock { $0.append(fd) }
            DDBenchmarkSupport.startThread(named: "ddbench-sink-rx") { [self] in serve(fd) }
        }
    }

    private static let response = Array(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{\"rate_by_service\":{}}"
            .utf8)

    /// Serves one connection: finds each request's head, skips Content-Length body bytes, answers.
    private func serve(_ fd: Int32) {
        let capacity = 1 << 16
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer {
            buffer.deallocate()
            close(fd)
        }
        var used = 0
        var bodyRemaining = 0
        var body: [UInt8] = []
        var isV05 = false
        while true {
            let received = read(fd, buffer + used, capacity - used)
            if received < 0 && errno == EINTR { continue }
            if received <= 0 { return }
            used += received
            var consumed = 0
            while consumed < used {
                if bodyRemaining > 0 {
                    let take = min(bodyRemaining, used - consumed)
                    if verifying { body.append(contentsOf: UnsafeBufferPointer(start: buffer + consumed, count: take)) }
                    bodyRemaining -= take
                    consumed += take
                    if bodyRemaining == 0 {
                        if verifying { decode(body, v05: isV05) }
                        if !answer(fd) { return }
                    }
                    continue
                }
                guard let (headLength, contentLength) = Self.parseHead(buffer + consumed, used - consumed) else {
                    break
                }
                isV05 = Self.startsWith(buffer + consumed, used - consumed, "PUT /v0.5/")
                    || Self.startsWith(buffer + consumed, used - consumed, "POST /v0.5/")
                body.removeAll(keepingCapacity: true)
                consumed += headLength
                bodyRemaining = contentLength
                if bodyRemaining == 0 && !answer(fd) { return }
            }
            if consumed < used {
                if consumed == 0 && used == capacity { return }  // a head over 64 KiB: not the tracer
                memmove(buffer, buffer + consumed, used - consumed)
            }
            used -= consumed
        }
    }

    private static func startsWith(_ bytes: UnsafeMutablePointer<UInt8>, _ count: Int, _ prefix: String) -> Bool {
        let wanted = Array(prefix.utf8)
        return count >= wanted.count && wanted.indices.allSatisfy { bytes[$0] == wanted[$0] }
    }

    /// Checks a trace payload and counts its spans (or counts it as malformed), with the shim's checker.
    private func decode(_ body: [UInt8], v05: Bool) {
        let spans = body.withUnsafeBytes { whole -> Int in
            guard let base = whole.baseAddress else { return -1 }
            return ddtrace_mp_count_spans(base.assumingMemoryBound(to: CChar.self), whole.count, v05 ? 1 : 0)
        }
        if spans >= 0 {
            decodedSpans.wrappingAdd(spans, ordering: .relaxed)
        } else {
            malformedPayloads.wrappingAdd(1, ordering: .relaxed)
        }
    }

    private func answer(_ fd: Int32) -> Bool {
        let ok = Self.response.withUnsafeBytes { raw -> Bool in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
        if ok { requestCount.wrappingAdd(1, ordering: .relaxed) }
        return ok
    }

    /// The length of a complete request head and its Content-Length, or nil if the head is incomplete.
    private static func parseHead(_ bytes: UnsafeMutablePointer<UInt8>, _ count: Int) -> (Int, Int)? {
        guard count >= 4 else { return nil }
        var end = -1
        for index in 3..<count
        where bytes[index] == 10 && bytes[index - 1] == 13 && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
            end = index + 1
            break
        }
        guard end > 0 else { return nil }
        let head = String(decoding: UnsafeBufferPointer(start: bytes, count: end), as: UTF8.self)
        var length = 0
        for line in head.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "content-length" {
                length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        return (end, length)
    }
}
