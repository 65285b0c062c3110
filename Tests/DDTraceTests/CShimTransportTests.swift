// Tests for the C agent connection (ddtrace_transport.h), against real servers on a unix socket and on
// 127.0.0.1, for both the io_uring and the plain backend.
import CDDTraceShims
import Foundation
import Glibc
import Testing

// MARK: - A scripted server on a background thread

/// The server side of one accepted connection. Used only on the server thread.
private final class ServerPeer {
    private(set) var fd: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32) { self.fd = fd }
    deinit { close() }

    /// Idempotent: closing twice could close a descriptor number another (parallel) test has since been given.
    func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    /// Waits up to `timeoutMs` for data; false on timeout, EOF or error. Receives straight into `buffer`
    /// (byte-wise copies of megabytes are slow in debug builds).
    private func readMore(timeoutMs: Int32 = 5000) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMs) > 0 else { return false }
        let room = 256 * 1024
        let n = withUnsafeTemporaryAllocation(byteCount: room, alignment: 16) { tmp -> Int in
            let n = recv(fd, tmp.baseAddress, room, 0)
            if n > 0 { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: tmp[0..<n])) }
            return n
        }
        return n > 0
    }

    /// Reads one request (head, then Content-Length bytes of body). nil if the client went away or stalled.
    func readRequest() -> (head: String, body: [UInt8])? {
        while true {
            if let end = headEnd() {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                var length = 0
                for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
                while buffer.count < end + length {
                    guard readMore() else { return nil }
                }
                let body = buffer.withUnsafeBytes { Array(UnsafeRawBufferPointer(rebasing: $0[end..<(end + length)])) }
                buffer.removeFirst(end + length)
                return (head, body)
            }
            guard readMore() else { return nil }
        }
    }

    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    /// Reads and drops up to `count` bytes (at least one read), for servers that hang up mid-request.
    func discard(upTo count: Int) {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var scratch = [UInt8](repeating: 0, count: count)
        if poll(&p, 1, 5000) > 0 { _ = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
    }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Blocks until the client closes (true) or `timeoutMs` passes without it (false). Discards any input.
    @discardableResult
    func waitForClientClose(timeoutMs: Int32 = 5000) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var scratch = [UInt8](repeating: 0, count: 4096)
        while poll(&p, 1, timeoutMs) > 0 {
            let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return true }
        }
        return false
    }
}

enum CShimEndpointKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case unix, tcp
    var testDescription: String { rawValue }
}

private struct Recorded: Sendable {
    var head: String
    var body: [UInt8]
}

/// A listening socket plus a thread running `script`. The script accepts and serves a bounded number of
/// connections; every wait in it is bounded, so the thread ends on its own.
private final class TestServer: @unchecked Sendable {
    let kind: CShimEndpointKind
    let listenFD: Int32
    let path: String
    let port: Int32
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var recorded: [Recorded] = []
    private var accepts = 0

    init(_ kind: CShimEndpointKind, script: @escaping @Sendable (TestServer) -> Void) {
        self.kind = kind
        switch kind {
        case .unix:
            let dir = FileManager.default.temporaryDirectory.path
            path = "\(dir)/ddt-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
            listenFD = makeUnixListener(path: path)
            port = 0
        case .tcp:
            path = ""
            (listenFD, port) = makeLoopbackListener()
        }
        let thread = Thread { [self] in
            script(self)
            self.finished.signal()
        }
        thread.start()
    }

    /// Accepts one connection within `timeoutMs`.
    func accept(timeoutMs: Int32 = 5000) -> ServerPeer? {
        var p = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMs) > 0 else { return nil }
        let fd = Glibc.accept(listenFD, nil, nil)
        guard fd >= 0 else { return nil }
        lock.withLock { accepts += 1 }
        return ServerPeer(fd: fd)
    }

    /// Reads a request and records it.
    func read(_ peer: ServerPeer) -> Recorded? {
        guard let r = peer.readRequest() else { return nil }
        let rec = Recorded(head: r.head, body: r.body)
        lock.withLock { recorded.append(rec) }
        return rec
    }

    var requests: [Recorded] { lock.withLock { recorded } }
    var acceptCount: Int { lock.withLock { accepts } }

    /// Waits for the script to end, then releases the socket. False if it did not end in time.
    func finish() -> Bool {
        let ok = finished.wait(timeout: .now() + 15) == .success
        if ok {
            _ = Glibc.close(listenFD)
            if kind == .unix { unlink(path) }
        }
        return ok
    }

    /// A connection object aimed at this server; checks that the requested backend is the one in use.
    func connect(uring: Int32, host: String = "127.0.0.1") -> OpaquePointer? {
        var conn: OpaquePointer?
        let rc: Int32
        switch kind {
        case .unix: rc = ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_UNIX), nil, 0, path, uring, &conn)
        case .tcp: rc = ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_TCP), host, port, nil, uring, &conn)
        }
        #expect(rc == 0)
        expectBackend(conn, uring: uring)
        return conn
    }
}

private func expectBackend(_ conn: OpaquePointer?, uring: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
    if uring != 0 {
        // io_uring works on the development machine; a sandbox that forbids it shows up here, with its errno.
        #expect(ddtrace_conn_backend(conn) == Int32(DDTRACE_BACKEND_IO_URING),
                "io_uring error \(ddtrace_conn_io_uring_error(conn))", sourceLocation: sourceLocation)
        #expect(ddtrace_conn_io_uring_error(conn) == 0, sourceLocation: sourceLocation)
    } else {
        #expect(ddtrace_conn_backend(conn) == Int32(DDTRACE_BACKEND_PLAIN), sourceLocation: sourceLocation)
        #expect(ddtrace_conn_io_uring_error(conn) == 0, sourceLocation: sourceLocation)
    }
}

private func withSockaddr<A, R>(_ addr: inout A, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<A>.size)) }
    }
}

private func makeUnixListener(path: String, listening: Bool = true) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    precondition(fd >= 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        precondition(path.utf8.count < raw.count)
        raw.copyBytes(from: path.utf8)
        raw[path.utf8.count] = 0
    }
    precondition(withSockaddr(&addr) { bind(fd, $0, $1) } == 0, "bind \(path): \(errno)")
    if listening { precondition(listen(fd, 16) == 0) }
    return fd
}

/// A socket bound to 127.0.0.1 on an ephemeral port; listening unless told otherwise (a bound socket that does
/// not listen makes the port refuse connections, with no race against other processes taking it).
private func makeLoopbackListener(listening: Bool = true) -> (Int32, Int32) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    precondition(fd >= 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    precondition(withSockaddr(&addr) { bind(fd, $0, $1) } == 0)
    if listening { precondition(listen(fd, 16) == 0) }
    var bound = sockaddr_in()
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &bound) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return (fd, Int32(UInt16(bigEndian: bound.sin_port)))
}

// MARK: - Client helpers

private func formatHead(_ method: String, _ path: String, bodyLength: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 1024)
    let names = [strdup("Content-Type")!, strdup("Datadog-Meta-Lang")!]
    let values = [strdup("application/msgpack")!, strdup("swift")!]
    defer { (names + values).forEach { free($0) } }
    let headers = (0..<2).map { ddtrace_http_header(name: UnsafePointer(names[$0]), value: UnsafePointer(values[$0])) }
    let n = out.withUnsafeMutableBytes { raw in
        headers.withUnsafeBufferPointer {
            ddtrace_http_format_request(raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count, method, path,
                                        "localhost", $0.baseAddress, $0.count, method == "GET" ? -1 : Int64(bodyLength))
        }
    }
    precondition(n > 0)
    return Array(out[0..<n])
}

private struct Exchange {
    var rc: Int32
    var status: Int32 = 0
    var body: [UInt8] = []
    var connectionClose = false
    var agentState = ""
    var seconds: Double = 0
}

private func exchange(_ conn: OpaquePointer?, head: [UInt8], body: [UInt8] = [], timeoutMs: Int32 = 5000) -> Exchange {
    var resp = ddtrace_http_response()
    var bodyPtr: UnsafePointer<CChar>?
    let start = DispatchTime.now().uptimeNanoseconds
    let rc = head.withUnsafeBytes { h in
        body.withUnsafeBytes { b in
            ddtrace_conn_exchange(conn, h.baseAddress, h.count, b.baseAddress, b.count, timeoutMs, &resp, &bodyPtr)
        }
    }
    var out = Exchange(rc: rc)
    out.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    if rc == 0 {
        out.status = resp.status
        out.connectionClose = resp.connection_close != 0
        out.agentState = withUnsafeBytes(of: resp.agent_state) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if let p = bodyPtr {
            out.body = Array(UnsafeRawBufferPointer(start: p, count: resp.body_length))
        } else {
            Issue.record("exchange succeeded without a body pointer")
        }
    }
    return out
}

private let backends: [Int32] = [1, 0]
private let okResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n{\"rate_by_svc\":{}}\n"

// MARK: - Tests

@Suite("C agent transport")
struct CShimTransportTests {
    @Test(arguments: CShimEndpointKind.allCases, backends)
    func keepAliveReusesOneConnection(_ kind: CShimEndpointKind, uring: Int32) {
        let server = TestServer(kind) { s in
            guard let peer = s.accept() else { return }
            guard s.read(peer) != nil else { return }
            peer.send(okResponse)
            guard s.read(peer) != nil else { return }
            peer.send("HTTP/1.1 200 OK\r\nDatadog-Agent-State: state-2\r\nContent-Length: 2\r\n\r\nok")
            peer.waitForClientClose()
        }
        let conn = server.connect(uring: uring)
        let payload = Array("\u{92}\u{91}trace-payload".utf8)
        let head = formatHead("PUT", "/v0.4/traces", bodyLength: payload.count)

        let first = exchange(conn, head: head, body: payload)
        #expect(first.rc == 0)
        #expect(first.status == 200)
        #expect(String(decoding: first.body, as: UTF8.self) == "{\"rate_by_svc\":{}}\n")
        #expect(!first.connectionClose)

        let second = exchange(conn, head: head, body: payload)
        #expect(second.rc == 0)
        #expect(second.body == Array("ok".utf8))
        #expect(second.agentState == "state-2")

        #expect(ddtrace_conn_connects(conn) == 1)
        #expect(ddtrace_conn_bytes_sent(conn) == UInt64(2 * (head.count + payload.count)))
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
        #expect(server.acceptCount == 1)
        let requests = server.requests
        #expect(requests.count == 2)
        for r in requests {
            #expect(Array(r.head.utf8) == head)
            #expect(r.body == payload)
        }
    }

    @Test(arguments: backends)
    func hostNameResolvesOnLoopback(uring: Int32) {
        // "localhost" may resolve to ::1 first; the server only listens on 127.0.0.1, so this also checks that
        // every resolved address is tried.
        let server = TestServer(.tcp) { s in
            guard let peer = s.accept(), s.read(peer) != nil else { return }
            peer.send(okResponse)
            peer.waitForClientClose()
        }
        let conn = server.connect(uring: uring, host: "localhost")
        let r = exchange(conn, head: formatHead("GET", "/info", bodyLength: 0))
        #expect(r.rc == 0 && r.status == 200)
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func idleConnectionClosedByServerIsReplaced(_ kind: CShimEndpointKind, uring: Int32) {
        let serverClosed = DispatchSemaphore(value: 0)
        let server = TestServer(kind) { s in
            if let peer = s.accept(), s.read(peer) != nil {
                peer.send(okResponse)
                peer.close()  // like the agent's idle timeout
            }
            serverClosed.signal()
            guard let peer = s.accept(), s.read(peer) != nil else { return }
            peer.send(okResponse)
            peer.waitForClientClose()
        }
        let conn = server.connect(uring: uring)
        let head = formatHead("GET", "/info", bodyLength: 0)
        #expect(exchange(conn, head: head).rc == 0)
        #expect(serverClosed.wait(timeout: .now() + 10) == .success)
        let second = exchange(conn, head: head)
        #expect(second.rc == 0)
        #expect(second.status == 200)
        #expect(ddtrace_conn_connects(conn) == 2)
        // Either the stale socket was noticed before sending (2 heads sent) or the send went into the dead
        // socket and was repeated on a new one (3).
        let sent = ddtrace_conn_bytes_sent(conn)
        #expect(sent == UInt64(2 * head.count) || sent == UInt64(3 * head.count))
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
        #expect(server.requests.count == 2)
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func requestDroppedOnReusedConnectionIsResentOnce(_ kind: CShimEndpointKind, uring: Int32) {
        let server = TestServer(kind) { s in
            if let peer = s.accept(), s.read(peer) != nil {
                peer.send(okResponse)
                _ = s.read(peer)  // the second request arrives on the kept-alive socket...
                peer.close()      // ...and the server closes without answering
            }
            guard let peer = s.accept(), s.read(peer) != nil else { return }
            peer.send("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            peer.waitForClientClose()
        }
        let conn = server.connect(uring: uring)
        let body = Array("payload".utf8)
        let head = formatHead("PUT", "/v0.4/traces", bodyLength: body.count)
        #expect(exchange(conn, head: head, body: body).rc == 0)
        let second = exchange(conn, head: head, body: body)
        #expect(second.rc == 0)
        #expect(second.status == 202)
        #expect(ddtrace_conn_connects(conn) == 2)
        #expect(ddtrace_conn_bytes_sent(conn) == UInt64(3 * (head.count + body.count)))
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
        #expect(server.requests.count == 3)
        #expect(server.requests.allSatisfy { $0.body == body })
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func freshConnectionClosedWithoutAnswerIsNotResent(_ kind: CShimEndpointKind, uring: Int32) {
        let server = TestServer(kind) { s in
            guard let peer = s.accept(), s.read(peer) != nil else { return }
            peer.close()
            // A resend would show up here as a second connection.
            if let extra = s.accept(timeoutMs: 300) { _ = s.read(extra) }
        }
        let conn = server.connect(uring: uring)
        let r = exchange(conn, head: formatHead("GET", "/info", bodyLength: 0))
        #expect(r.rc == -ECONNRESET)
        #expect(ddtrace_conn_connects(conn) == 1)
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
        #expect(server.requests.count == 1)
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func peerGoneDuringLargeSendIsAnErrorNotASignal(_ kind: CShimEndpointKind, uring: Int32) {
        // With SIGPIPE at its default disposition (checked here), a write without MSG_NOSIGNAL into the dead
        // socket would kill the test process.
        var old = sigaction()
        sigaction(SIGPIPE, nil, &old)
        #expect(unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == 0, "SIGPIPE is not SIG_DFL here")
        let server = TestServer(kind) { s in
            guard let peer = s.accept() else { return }
            peer.discard(upTo: 1000)  // read a little, then hang up with the rest unread (TCP answers with RST)
            peer.close()
        }
        let conn = server.connect(uring: uring)
        let body = [UInt8](repeating: 7, count: 8 << 20)
        let r = exchange(conn, head: formatHead("PUT", "/v0.4/traces", bodyLength: body.count), body: body)
        #expect(r.rc == -EPIPE || r.rc == -ECONNRESET, "rc \(r.rc)")
        #expect(ddtrace_conn_connects(conn) == 1)  // a fresh connection is never resent
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func waitHookRunsWhileTheServerIsSlowToReadAndToAnswer(_ kind: CShimEndpointKind, uring: Int32) {
        // 8 MiB does not fit in the socket buffers: the write waits while the server sleeps before reading; then
        // the answer comes 100 ms after the request was read. The hook must run during both waits.
        let body = [UInt8](repeating: 7, count: 8 << 20)
        let server = TestServer(kind) { s in
            guard let peer = s.accept() else { return }
            usleep(100_000)
            guard s.read(peer) != nil else { return }
            usleep(100_000)
            peer.send(okResponse)
            peer.waitForClientClose()
        }
        let conn = server.connect(uring: uring)
        final class Calls: @unchecked Sendable { var count = 0 }  // the hook runs on this thread
        let calls = Calls()
        ddtrace_conn_set_wait_hook(
            conn, { context in Unmanaged<Calls>.fromOpaque(context!).takeUnretainedValue().count += 1 },
            Unmanaged.passUnretained(calls).toOpaque(), 1000)
        let r = exchange(conn, head: formatHead("PUT", "/v0.4/traces", bodyLength: body.count), body: body)
        #expect(r.rc == 0)
        #expect(r.status == 200)
        // About 200 ms of waiting in 1 ms slices; a loaded machine makes fewer, longer slices.
        #expect(calls.count >= 20, "hook ran \(calls.count) times")
        let countAfterFirst = calls.count
        ddtrace_conn_set_wait_hook(conn, nil, nil, 0)
        #expect(server.requests.first?.body.count == body.count)
        #expect(calls.count == countAfterFirst)
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func silentServerTimesOutAtTheDeadline(_ kind: CShimEndpointKind, uring: Int32) {
        let server = TestServer(kind) { s in
            guard let peer = s.accept(), s.read(peer) != nil else { return }
            peer.waitForClientClose()  // never answers; returns once the client gives up
        }
        let conn = server.connect(uring: uring)
        let timeoutMs: Int32 = 300
        let r = exchange(conn, head: formatHead("GET", "/info", bodyLength: 0), timeoutMs: timeoutMs)
        #expect(r.rc == -ETIMEDOUT)
        #expect(r.seconds >= 0.29, "returned after \(r.seconds) s")
        #expect(r.seconds < 0.8, "returned after \(r.seconds) s")
        // The failed socket is closed at once (the server sees EOF without us destroying the connection).
        #expect(server.finish())
        ddtrace_conn_destroy(conn)
    }

    @Test(arguments: backends)
    func nothingListeningOnTCPIsRefused(uring: Int32) {
        let (fd, port) = makeLoopbackListener(listening: false)
        defer { _ = Glibc.close(fd) }
        var conn: OpaquePointer?
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_TCP), "127.0.0.1", port, nil, uring, &conn) == 0)
        expectBackend(conn, uring: uring)
        let r = exchange(conn, head: formatHead("GET", "/info", bodyLength: 0), timeoutMs: 2000)
        #expect(r.rc == -ECONNREFUSED)
        #expect(r.seconds < 1)
        #expect(ddtrace_conn_connects(conn) == 0)
        #expect(ddtrace_conn_bytes_sent(conn) == 0)
        ddtrace_conn_destroy(conn)
    }

    @Test(arguments: backends)
    func missingOrDeadUnixSocket(uring: Int32) {
        let dir = FileManager.default.temporaryDirectory.path
        let missing = "\(dir)/ddt-missing-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        var conn: OpaquePointer?
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_UNIX), nil, 0, missing, uring, &conn) == 0)
        expectBackend(conn, uring: uring)
        #expect(exchange(conn, head: formatHead("GET", "/info", bodyLength: 0)).rc == -ENOENT)
        ddtrace_conn_destroy(conn)

        // A socket file whose owner is not listening (an agent that died without unlinking it).
        let dead = "\(dir)/ddt-dead-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let fd = makeUnixListener(path: dead, listening: false)
        defer { _ = Glibc.close(fd); unlink(dead) }
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_UNIX), nil, 0, dead, uring, &conn) == 0)
        #expect(exchange(conn, head: formatHead("GET", "/info", bodyLength: 0)).rc == -ECONNREFUSED)
        ddtrace_conn_destroy(conn)
    }

    @Test func createValidatesItsArguments() {
        var conn: OpaquePointer?
        let longPath = "/tmp/" + String(repeating: "x", count: 200)
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_UNIX), nil, 0, longPath, 0, &conn) == -ENAMETOOLONG)
        #expect(conn == nil)
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_UNIX), nil, 0, "", 0, &conn) == -EINVAL)
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_TCP), "127.0.0.1", 0, nil, 0, &conn) == -EINVAL)
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_TCP), "127.0.0.1", 70000, nil, 0, &conn) == -EINVAL)
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_TCP), nil, 8126, nil, 0, &conn) == -EINVAL)
        #expect(ddtrace_conn_create(7, "127.0.0.1", 8126, nil, 0, &conn) == -EINVAL)
        #expect(ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_TCP), "127.0.0.1", 8126, nil, 0, &conn) == 0)
        var resp = ddtrace_http_response()
        #expect(ddtrace_conn_exchange(conn, nil, 0, nil, 0, 0, &resp, nil) == -EINVAL)  // timeout must be > 0
        ddtrace_conn_destroy(conn)
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func garbageResponseIsEBADMSGWithoutWaiting(_ kind: CShimEndpointKind, uring: Int32) {
        let server = TestServer(kind) { s in
            guard let peer = s.accept(), s.read(peer) != nil else { return }
            peer.send("SSH-2.0-OpenSSH_9.2p1\r\n")
            peer.waitForClientClose()  // keeps the socket open: the client must not wait for more
        }
        let conn = server.connect(uring: uring)
        let r = exchange(conn, head: formatHead("GET", "/info", bodyLength: 0), timeoutMs: 3000)
        #expect(r.rc == -EBADMSG)
        #expect(r.seconds < 1.5)
        #expect(server.finish())  // ends only because the client closed its socket after the failure
        ddtrace_conn_destroy(conn)
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func largeRequestBodyArrivesIntact(_ kind: CShimEndpointKind, uring: Int32) {
        let size = 4 << 20
        var body = [UInt8](repeating: 0, count: size)
        body.withUnsafeMutableBytes { ddtrace_random_bytes($0.baseAddress, $0.count) }
        let server = TestServer(kind) { [body] s in
            guard let peer = s.accept(), let req = s.read(peer) else { return }
            let ok = req.body.count == body.count
                && req.body.withUnsafeBytes { a in body.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, size) == 0 } }
            peer.send("HTTP/1.1 200 OK\r\nContent-Length: \(ok ? 2 : 3)\r\n\r\n\(ok ? "ok" : "bad")")
            peer.waitForClientClose()
        }
        let conn = server.connect(uring: uring)
        let head = formatHead("PUT", "/v0.4/traces", bodyLength: body.count)
        let r = exchange(conn, head: head, body: body, timeoutMs: 20_000)
        #expect(r.rc == 0)
        #expect(r.body == Array("ok".utf8))
        #expect(ddtrace_conn_bytes_sent(conn) == UInt64(head.count + body.count))
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
        #expect(server.requests.first?.body.count == size)
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func largeResponseGrowsTheBufferAndOversizeIsRejected(_ kind: CShimEndpointKind, uring: Int32) {
        let big = [UInt8](repeating: UInt8(ascii: "z"), count: 1 << 20)
        let server = TestServer(kind) { s in
            guard let peer = s.accept(), s.read(peer) != nil else { return }
            peer.send(Array("HTTP/1.1 200 OK\r\nContent-Length: \(big.count)\r\n\r\n".utf8) + big)
            guard s.read(peer) != nil else { return }
            // Announces 9 MiB, over the 8 MiB cap: rejected from the head alone.
            peer.send("HTTP/1.1 200 OK\r\nContent-Length: \(9 << 20)\r\n\r\nabc")
            peer.waitForClientClose()
        }
        let conn = server.connect(uring: uring)
        let head = formatHead("GET", "/info", bodyLength: 0)
        let r = exchange(conn, head: head)
        #expect(r.rc == 0)
        #expect(r.body == big)
        let over = exchange(conn, head: head, timeoutMs: 3000)
        #expect(over.rc == -EBADMSG)
        #expect(over.seconds < 1.5)
        #expect(server.finish())
        ddtrace_conn_destroy(conn)
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func chunkedResponseInPieces(_ kind: CShimEndpointKind, uring: Int32) {
        let server = TestServer(kind) { s in
            guard let peer = s.accept(), s.read(peer) != nil else { return }
            // Interim response first, then the head and each chunk in separate writes.
            let pieces = [
                "HTTP/1.1 100 Continue\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDatadog-Agent-State: xyz\r\n\r\n",
                "9;ext=\"a\"\r\n{\"rate_",
                "by\r\n",
                "5\r\n_svc\"\r\n",
                "3\r\n:{}\r\n1\r\n}\r\n",
                "0\r\nX-Trailer: yes\r\n\r\n",
            ]
            for p in pieces {
                peer.send(p)
                usleep(2000)
            }
            guard s.read(peer) != nil else { return }
            peer.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            peer.waitForClientClose()
        }
        let conn = server.connect(uring: uring)
        let head = formatHead("GET", "/info", bodyLength: 0)
        let r = exchange(conn, head: head)
        #expect(r.rc == 0)
        #expect(r.status == 200)
        #expect(String(decoding: r.body, as: UTF8.self) == "{\"rate_by_svc\":{}}")
        #expect(r.agentState == "xyz")
        // The connection stays usable after a chunked response.
        #expect(exchange(conn, head: head).rc == 0)
        #expect(ddtrace_conn_connects(conn) == 1)
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
    }

    @Test(arguments: CShimEndpointKind.allCases, backends)
    func connectionCloseAndCloseDelimitedBody(_ kind: CShimEndpointKind, uring: Int32) {
        let server = TestServer(kind) { s in
            if let peer = s.accept(), s.read(peer) != nil {
                peer.send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\none")
                peer.waitForClientClose()  // the client closes right after reading
            }
            if let peer = s.accept(), s.read(peer) != nil {
                // Neither Content-Length nor chunked: the body ends when we close.
                peer.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\ntwo, until ")
                usleep(2000)
                peer.send("close")
                peer.close()
            }
        }
        let conn = server.connect(uring: uring)
        let head = formatHead("GET", "/info", bodyLength: 0)
        let first = exchange(conn, head: head)
        #expect(first.rc == 0)
        #expect(first.connectionClose)
        #expect(first.body == Array("one".utf8))
        let second = exchange(conn, head: head)
        #expect(second.rc == 0)
        #expect(second.connectionClose)
        #expect(String(decoding: second.body, as: UTF8.self) == "two, until close")
        #expect(ddtrace_conn_connects(conn) == 2)
        ddtrace_conn_destroy(conn)
        #expect(server.finish())
    }
}
