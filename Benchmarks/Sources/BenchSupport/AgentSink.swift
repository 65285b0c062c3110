// A stand-in for the Datadog agent inside the benchmark process: an HTTP/1.1 server on a unix socket that reads
// every request the tracer sends, optionally decodes its msgpack body (counting spans), and answers as the agent
// does: `200 OK`, `Content-Type: application/json`, body `{"rate_by_service":{}}`.
//
// One thread accepts connections, one thread serves each connection (the tracer keeps one alive). The receive
// buffer is allocated once per connection and grows only when a larger request arrives, so serving requests in
// steady state allocates nothing.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
@_spi(Benchmarks) import DDTrace
import Foundation
import Synchronization

public final class AgentSink: Sendable {
    public enum Mode: Sendable {
        /// Walk every msgpack payload and count its spans (a malformed payload counts as a decode error).
        case decode
        /// Read and discard the bodies.
        case discard
    }

    public let path: String
    public let mode: Mode
    private let listenFD: Int32

    private let requestCount = Atomic<Int>(0)
    private let byteCount = Atomic<Int>(0)
    private let spanCount = Atomic<Int>(0)
    private let decodeErrorCount = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let connections = Mutex<[Int32]>([])

    /// `unix://<path>`, for `DDTracerConfiguration.agentURL`.
    public var agentURL: String { "unix://\(path)" }
    /// Requests answered so far.
    public var requests: Int { requestCount.load(ordering: .acquiring) }
    /// Body bytes received so far.
    public var bytes: Int { byteCount.load(ordering: .acquiring) }
    /// Spans decoded so far (`.decode` mode only).
    public var spans: Int { spanCount.load(ordering: .acquiring) }
    /// Payloads that were not a well-formed v0.4 trace payload.
    public var decodeErrors: Int { decodeErrorCount.load(ordering: .acquiring) }

    /// Creates the socket (in a fresh temporary directory unless `path` is given) and starts serving.
    public init(mode: Mode, path: String? = nil) throws {
        self.mode = mode
        let socketPath: String
        if let path {
            socketPath = path
        } else {
            var template = Array("/tmp/dd-bench-XXXXXX".utf8CString)
            guard let directory = mkdtemp(&template) else { throw SinkError.system("mkdtemp", errno) }
            socketPath = String(cString: directory) + "/agent.sock"
        }
        self.path = socketPath
        unlink(socketPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SinkError.system("socket", errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw SinkError.system("socket path too long", ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw SinkError.system("bind/listen \(socketPath)", code)
        }
        listenFD = fd
        DDBenchmarkSupport.startThread(named: "agent-sink") { [self] in acceptLoop() }
    }

    /// Stops accepting, closes every connection and removes the socket file.
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        for fd in connections.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
        unlink(path)
    }

    deinit { stop() }

    private func acceptLoop() {
        while !stopping.load(ordering: .acquiring) {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            connections.withLock { $0.append(fd) }
            DDBenchmarkSupport.startThread(named: "agent-sink-rx") { [self] in serve(fd) }
        }
    }

    private static let response: [UInt8] = Array(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{\"rate_by_service\":{}}"
            .utf8)

    private func serve(_ fd: Int32) {
        var capacity = 1 << 20
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer {
            buffer.deallocate()
            close(fd)
        }
        var used = 0
        while true {
            // Parse as many complete requests as the buffer holds.
            while let (headEnd, bodyLength) = Self.parseHead(buffer, used) {
                let total = headEnd + bodyLength
                if total > capacity {
                    // Grow to hold the whole request.
                    let grown = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 16)
                    grown.copyMemory(from: buffer, byteCount: used)
                    buffer.deallocate()
                    buffer = grown
                    capacity = total
                }
                if used < total { break }
                byteCount.wrappingAdd(bodyLength, ordering: .relaxed)
                if mode == .decode {
                    let body = UnsafeRawBufferPointer(start: buffer + headEnd, count: bodyLength)
                    if let spans = DDBenchmarkSupport.countSpans(body) {
                        spanCount.wrappingAdd(spans, ordering: .relaxed)
                    } else {
                        decodeErrorCount.wrappingAdd(1, ordering: .relaxed)
                    }
                }
                guard Self.writeAll(fd, Self.response) else { return }
                requestCount.wrappingAdd(1, ordering: .releasing)
                used -= total
                if used > 0 { (buffer).copyMemory(from: buffer + total, byteCount: used) }
            }
            if used == capacity {
                // A head larger than the buffer: not something the tracer sends.
                return
            }
            let received = read(fd, buffer + used, capacity - used)
            if received < 0 && errno == EINTR { continue }
            if received <= 0 { return }
            used += received
        }
    }

    /// Finds the end of the request head and its Content-Length; nil if the head is incomplete.
    private static func parseHead(_ buffer: UnsafeMutableRawPointer, _ count: Int) -> (Int, Int)? {
        let bytes = buffer.assumingMemoryBound(to: UInt8.self)
        guard count >= 4 else { return nil }
        var end = -1
        for index in 3..<count
        where bytes[index] == 10 && bytes[index - 1] == 13 && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
            end = index + 1
            break
        }
        guard end > 0 else { return nil }
        // Content-Length, case-insensitive.
        let name = Array("content-length:".utf8)
        var length = 0
        var lineStart = 0
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end && bytes[lineEnd] != 13 { lineEnd += 1 }
            if lineEnd - lineStart > name.count {
                var matches = true
                for offset in 0..<name.count {
                    let byte = bytes[lineStart + offset]
                    let lowered = byte >= 65 && byte <= 90 ? byte + 32 : byte
                    if lowered != name[offset] {
                        matches = false
                        break
                    }
                }
                if matches {
                    var cursor = lineStart + name.count
                    while cursor < lineEnd && bytes[cursor] == 32 { cursor += 1 }
                    while cursor < lineEnd && bytes[cursor] >= 48 && bytes[cursor] <= 57 {
                        length = length * 10 + Int(bytes[cursor] - 48)
                        cursor += 1
                    }
                }
            }
            lineStart = lineEnd + 2
        }
        return (end, length)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return false }
                offset += written
            }
            return true
        }
    }
}

public enum SinkError: Error, CustomStringConvertible {
    case system(String, Int32)
    public var description: String {
        switch self {
        case .system(let what, let code): "\(what): \(String(cString: strerror(code)))"
        }
    }
}
