// A purpose-built agent on a unix socket for fault tests: it reads each HTTP request fully, counts the chunks
// and spans of `/v0.4/traces` and `/v0.5/traces` payloads (with the shim's msgpack object walker), and answers as
// the test says — a status, garbage, or nothing at all. Its accept loop stops when the agent is stopped.

import CDDTraceShims
import Foundation
@testable import DDTrace

#if canImport(Glibc)
    import Glibc
#endif

final class FakeAgent: @unchecked Sendable {
    enum Answer: Sendable {
        case status(Int)
        /// Bytes that are not HTTP.
        case garbage
        /// Reads the request and never answers (the connection stays open until the agent stops).
        case silent
        /// Answers with `status` after a pause (an overloaded agent).
        case delayed(milliseconds: Int, status: Int)
    }

    struct Received: Sendable {
        var requests = 0
        var payloads = 0
        var chunks = 0
        var spans = 0
        var largestBody = 0
        /// Request paths in arrival order.
        var paths: [String] = []
    }

    /// When set, every `/v0.5/traces` request is answered with this status (an agent without v0.5).
    let v05Status = LockedValue<Int?>(nil)

    let path: String
    private let listener: Int32
    private let decide: @Sendable (_ bodySize: Int, _ requestNumber: Int) -> Answer
    private let state = LockedValue(Received())
    private let stopping = LockedValue(false)
    private let openConnections = LockedValue<[Int32]>([])
    /// Whether `listener` is still open: the accept loop closes it when it ends, which can be before `stop()`
    /// (it sees `stopping` right after a connection), and `stop()` must not shut down a number reused meanwhile.
    private let listening = LockedValue(true)

    convenience init(_ decide: @escaping @Sendable (_ bodySize: Int, _ requestNumber: Int) -> Answer) throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("fake-agent-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock").path
        try self.init(path: path, decide)
    }

    /// An agent listening at `path` (for example one a tracer was already configured with).
    static func at(_ path: String, _ decide: @escaping @Sendable (_ bodySize: Int, _ requestNumber: Int) -> Answer)
        throws -> FakeAgent
    {
        try FakeAgent(path: path, decide)
    }

    private init(path: String, _ decide: @escaping @Sendable (_ bodySize: Int, _ requestNumber: Int) -> Answer) throws {
        self.decide = decide
        self.path = path
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        // Not stored: the thread keeps its closure, which keeps the agent, so a stored thread would be a retain
        // cycle that the leak checker reports. The accept loop ends at `stop()`, releasing the agent.
        Thread { [self] in acceptLoop() }.start()
    }

    var url: String { "unix://\(path)" }
    var received: Received { state.withLock { $0 } }

    /// Stops accepting and wakes every connection. Descriptors are only shut down here, never closed: each is
    /// closed by the thread that uses it (the accept loop, a connection's thread), so this never touches a number
    /// that was closed and reused meanwhile, for example by another test's agent running at the same time.
    func stop() {
        stopping.withLock { $0 = true }
        listening.withLock { if $0 { shutdown(listener, Int32(SHUT_RDWR)) } }  // accept() fails from now on
        openConnections.withLock { for fd in $0 { shutdown(fd, Int32(SHUT_RDWR)) } }
        unlink(path)
    }

    private func acceptLoop() {
        defer {
            listening.withLock {
                close(listener)
                $0 = false
            }
        }
        while !stopping.withLock({ $0 }) {
            let connection = accept(listener, nil, nil)
            if connection < 0 { return }
            openConnections.withLock { $0.append(connection) }
            Thread { [self] in serve(connection) }.start()
        }
    }

    private func serve(_ connection: Int32) {
        // Closed under the lock that `stop()` shuts connections down with, and no longer listed once closed.
        defer {
            openConnections.withLock { open in
                open.removeAll { $0 == connection }
                close(connection)
            }
        }
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while !stopping.withLock({ $0 }) {
            // Read until the head is complete, then the body by Content-Length.
            guard let (headEnd, contentLength, path) = readHead(connection, &buffer, &chunk) else { return }
            while buffer.count < headEnd + contentLength {
                let count = recv(connection, &chunk, chunk.count, 0)
                if count <= 0 { return }
                buffer.append(contentsOf: chunk[0..<count])
            }
            let body = Array(buffer[headEnd..<(headEnd + contentLength)])
            buffer.removeFirst(headEnd + contentLength)
            let number = state.withLock { received -> Int in
                received.requests += 1
                received.largestBody = max(received.largestBody, body.count)
                received.paths.append(path)
                return received.requests
            }
            let rejectV05 = path.hasPrefix("/v0.5/") ? v05Status.withLock { $0 } : nil
            var answer = rejectV05.map { Answer.status($0) } ?? decide(body.count, number)
            if case .delayed(let milliseconds, let status) = answer {
                usleep(UInt32(milliseconds) * 1_000)
                answer = .status(status)
            }
            switch answer {
            case .status(let status):
                if (200..<300).contains(status) { count(body, v05: path.hasPrefix("/v0.5/")) }
                let json = status == 200 ? "{\"rate_by_service\":{}}" : "error \(status)"
                send(connection, "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)")
            case .garbage:
                send(connection, "\u{1}\u{2}garbage that is not HTTP\r\n\r\n")
                return
            case .silent:
                while !stopping.withLock({ $0 }) { usleep(10_000) }
                return
            case .delayed:
                return  // replaced by .status above
            }
        }
    }

    private func readHead(_ connection: Int32, _ buffer: inout [UInt8], _ chunk: inout [UInt8]) -> (Int, Int, String)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if let range = buffer.firstRange(of: separator) {
                let head = String(decoding: buffer[..<range.lowerBound], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? ""
                return (range.upperBound, length, path)
            }
            let count = recv(connection, &chunk, chunk.count, 0)
            if count <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    private func send(_ connection: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        _ = Glibc.send(connection, &bytes, bytes.count, Int32(MSG_NOSIGNAL))
    }

    /// Counts chunks and spans of a payload by walking the msgpack structure (v0.5: after its string table).
    private func count(_ body: [UInt8], v05: Bool) {
        body.withUnsafeBufferPointer { whole in
            var start = 0
            if v05 {
                guard whole.count > 1, whole[0] == 0x92 else { return }
                let base = UnsafeRawPointer(whole.baseAddress!).assumingMemoryBound(to: CChar.self)
                let table = ddtrace_mp_object_size(base + 1, whole.count - 1)
                guard table > 0 else { return }
                start = 1 + table
            }
            let raw = UnsafeBufferPointer(rebasing: whole[start...])
            let base = UnsafeRawPointer(raw.baseAddress!).assumingMemoryBound(to: CChar.self)
            guard raw.count >= 5, raw[0] == 0xdd else { return }
            let chunks = (1...4).reduce(0) { $0 << 8 | Int(raw[$1]) }
            var offset = 5
            var spans = 0
            for _ in 0..<chunks {
                let marker = raw[offset]
                spans += marker & 0xf0 == 0x90 ? Int(marker & 0x0f) : marker == 0xdc ? Int(raw[offset + 1]) << 8 | Int(raw[offset + 2]) : 0
                let size = ddtrace_mp_object_size(base + offset, raw.count - offset)
                if size <= 0 { return }
                offset += size
            }
            state.withLock {
                $0.payloads += 1
                $0.chunks += chunks
                $0.spans += spans
            }
        }
    }
}
