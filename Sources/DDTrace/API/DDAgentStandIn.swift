// A stand-in for the Datadog agent, for `dd-trace bench --sink` and the benchmark suite (Benchmarks/): an HTTP/1.1
// server on a unix socket that reads every request the tracer sends and answers as the agent does: `200 OK`,
// `Content-Type: application/json`, body `{"rate_by_service":{}}`. `@_spi(Benchmarks)`, like the rest of the
// benchmark hooks (BenchmarkSupport.swift).
//
// In `.verify` mode every body is checked with the shim's payload checker (`ddtrace_mp_count_spans`, v0.4 or v0.5 by
// the request path): every chunk an array of spans, every span a map with the ids and times (v0.4) or a 12-element
// array whose strings index the table (v0.5), every value well-formed msgpack. The spans are counted, and malformed
// payloads are counted separately.
//
// One thread accepts connections, one thread serves each connection (the tracer keeps one alive). A request is read
// whole into the connection's buffer, which grows only when a larger request arrives, and is checked where it lies:
// serving requests in steady state allocates nothing and copies nothing, so the stand-in takes as little as it can
// of the CPU it shares with the tracer it measures.

import Atomics
import CDDTraceShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

@_spi(Benchmarks) public final class DDAgentStandIn: Sendable {
    public enum Mode: Sendable {
        /// Read and discard the bodies.
        case discard
        /// Check every body as a trace payload and count its spans.
        case verify
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let path: String
    public let mode: Mode
    /// The temporary directory made for the socket, removed by `stop`; nil when the caller chose the path.
    private let directory: String?
    private let listenFD: Int32
    private let stopping = ManagedAtomic<Bool>(false)
    /// The sockets in use. An fd is closed under the lock (a connection's fd leaves `open` then), and `stop` shuts
    /// them down under it: a closed fd's number is soon reused by another socket of the process (another test's,
    /// or another stand-in's listening socket), which a late `shutdown` would cut.
    private let sockets = LockedValue(Sockets())

    private struct Sockets {
        /// The connections being served.
        var open: [Int32] = []
        /// Whether `listenFD` is still open (the accept loop closes it when it ends, which may be before `stop`:
        /// on an error of `accept`, or when it sees `stopping` between two connections).
        var listening = true
    }
    private let requestCount = ManagedAtomic<Int>(0)
    private let byteCount = ManagedAtomic<Int>(0)
    private let spanCount = ManagedAtomic<Int>(0)
    private let malformedCount = ManagedAtomic<Int>(0)

    /// `unix://<path>`, for `DDTracerConfiguration.agentURL`.
    public var agentURL: String { "unix://\(path)" }
    /// Requests received so far (each is counted before it is answered). Every count below is final for the
    /// requests counted here: acquire pairs with the release of a request's count after its other counts.
    public var requests: Int { requestCount.load(ordering: .acquiring) }
    /// Body bytes received so far.
    public var bytes: Int { byteCount.load(ordering: .relaxed) }
    /// Spans in the payloads checked so far (`.verify` only).
    public var spans: Int { spanCount.load(ordering: .relaxed) }
    /// Payloads that were not well-formed trace payloads (`.verify` only).
    public var malformed: Int { malformedCount.load(ordering: .relaxed) }

    /// Creates the socket (`agent.sock` in a new temporary directory, unless `path` is given) and starts serving.
    public init(mode: Mode, path: String? = nil) throws(Failure) {
        self.mode = mode
        if let path {
            directory = nil
            self.path = path
        } else {
            var template = Array("/tmp/dd-trace-agent-XXXXXX".utf8CString)
            guard let created = mkdtemp(&template) else { throw Self.failure("cannot create a temporary directory") }
            directory = String(cString: created)
            self.path = String(cString: created) + "/agent.sock"
        }
        do {
            listenFD = try Self.makeListeningSocket(at: self.path)
        } catch {
            if let directory { rmdir(directory) }
            throw error
        }
        startNamedThread("ddbench-sink") { [self] in acceptLoop() }
    }

    /// A listening socket at `path` (whatever was there before is removed).
    private static func makeListeningSocket(at path: String) throws(Failure) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "the socket path \(path) is longer than a unix socket address allows")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let error = failure("cannot listen on \(path)")  // before close, which may change errno
            close(fd)
            throw error
        }
        return fd
    }

    /// Stops accepting, closes every connection and removes the socket (and the directory made for it).
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        sockets.withLock { sockets in
            // Wakes the accept loop, which closes the socket itself once it no longer uses the fd.
            if sockets.listening { shutdown(listenFD, Int32(SHUT_RDWR)) }
            for fd in sockets.open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
        unlink(path)
        if let directory { rmdir(directory) }
    }

    deinit { stop() }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }

    private func acceptLoop() {
        defer {
            sockets.withLock { sockets in
                close(listenFD)
                sockets.listening = false
            }
        }
        while !stopping.load(ordering: .acquiring) {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            sockets.withLock { sockets in
                // `stop` sets the flag before it takes the lock: either it shuts this one down, or this does.
                if stopping.load(ordering: .acquiring) { shutdown(fd, Int32(SHUT_RDWR)) }
                sockets.open.append(fd)
            }
            startNamedThread("ddbench-sink-rx") { [self] in serve(fd) }
        }
    }

    private static let response: [UInt8] = Array(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{\"rate_by_service\":{}}"
            .utf8)

    /// Serves one connection until the peer closes it (or `stop`).
    private func serve(_ fd: Int32) {
        var capacity = 1 << 20
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer {
            buffer.deallocate()
            sockets.withLock { sockets in
                sockets.open.removeAll { $0 == fd }
                close(fd)
            }
        }
        var used = 0
        while true {
            // Answer every complete request the buffer holds.
            while let head = Self.parseHead(UnsafeRawBufferPointer(start: buffer, count: used)) {
                let total = head.length + head.contentLength
                if total > capacity {
                    // Grow to hold the whole request.
                    let grown = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 16)
                    grown.copyMemory(from: buffer, byteCount: used)
                    buffer.deallocate()
                    buffer = grown
                    capacity = total
                }
                if used < total { break }
                byteCount.wrappingIncrement(by: head.contentLength, ordering: .relaxed)
                if mode == .verify {
                    let body = UnsafeRawBufferPointer(start: buffer + head.length, count: head.contentLength)
                    check(body, v05: head.isV05)
                }
                // Counted before the answer, so that a client holding the answer sees every count of its request.
                requestCount.wrappingIncrement(ordering: .releasing)
                guard Self.writeAll(fd, Self.response) else { return }
                used -= total
                if used > 0 { buffer.copyMemory(from: buffer + total, byteCount: used) }
            }
            // A head larger than the buffer: not something the tracer sends.
            if used == capacity { return }
            let received = read(fd, buffer + used, capacity - used)
            if received < 0 && errno == EINTR { continue }
            if received <= 0 { return }
            used += received
        }
    }

    private func check(_ body: UnsafeRawBufferPointer, v05: Bool) {
        let spans = body.baseAddress.map {
            ddtrace_mp_count_spans($0.assumingMemoryBound(to: CChar.self), body.count, v05 ? 1 : 0)
        } ?? -1
        if spans >= 0 {
            spanCount.wrappingIncrement(by: spans, ordering: .relaxed)
        } else {
            malformedCount.wrappingIncrement(ordering: .relaxed)
        }
    }

    struct RequestHead {
        /// Bytes up to and including the blank line.
        var length: Int
        var contentLength: Int
        /// The request's path starts with `/v0.5/`.
        var isV05: Bool
    }

    /// The head of the request at the start of `bytes`, or nil while it is incomplete. Content-Length is matched
    /// without regard to case; a request without one has no body.
    static func parseHead(_ bytes: UnsafeRawBufferPointer) -> RequestHead? {
        guard bytes.count >= 4 else { return nil }
        var end = -1
        for index in 3..<bytes.count
        where bytes[index] == 10 && bytes[index - 1] == 13 && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
            end = index + 1
            break
        }
        guard end > 0 else { return nil }
        let head = UnsafeRawBufferPointer(rebasing: bytes[0..<end])
        var contentLength = 0
        var lineStart = 0
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end && head[lineEnd] != 13 { lineEnd += 1 }
            let line = UnsafeRawBufferPointer(rebasing: head[lineStart..<lineEnd])
            if let value = Self.value(of: "content-length:", in: line) {
                contentLength = 0
                for byte in value {
                    guard byte >= 48 && byte <= 57 else { break }
                    contentLength = contentLength * 10 + Int(byte - 48)
                }
            }
            lineStart = lineEnd + 2
        }
        let requestLine = head.prefix { $0 != 32 }.count + 1
        let isV05 = head.count > requestLine + 6 && head[requestLine..<(requestLine + 6)].elementsEqual("/v0.5/".utf8)
        return RequestHead(length: end, contentLength: contentLength, isV05: isV05)
    }

    /// What follows `name` (lower case, with its colon) and any spaces in `line`, if the line starts with it in
    /// any case.
    private static func value(of name: StaticString, in line: UnsafeRawBufferPointer) -> Slice<UnsafeRawBufferPointer>? {
        let count = name.utf8CodeUnitCount
        guard line.count > count else { return nil }
        let name = UnsafeRawBufferPointer(start: name.utf8Start, count: count)
        for offset in 0..<count {
            let byte = line[offset]
            guard (byte >= 65 && byte <= 90 ? byte + 32 : byte) == name[offset] else { return nil }
        }
        var cursor = count
        while cursor < line.count && line[cursor] == 32 { cursor += 1 }
        return line[cursor...]
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                // MSG_NOSIGNAL: a client that hung up before its answer (a tracer that gave up on the request)
                // must not kill the process with SIGPIPE; the write fails with EPIPE and the connection ends.
                let written = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
    }
}
