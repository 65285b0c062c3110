// The agent stand-in of `dd-trace bench --sink` and the benchmark suite (DDAgentStandIn): it must count exactly what
// the tracer sent, whichever way the requests arrive, or the pipeline benchmark's "spans lost" means nothing.

import Foundation
import Testing

@_spi(Benchmarks) @testable import DDTrace

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Agent stand-in (dd-trace bench --sink, the benchmark suite)")
struct AgentStandInTests {
    @Test("request heads: complete or not, Content-Length in any case, the v0.5 path")
    func requestHeads() {
        func parse(_ text: String) -> DDAgentStandIn.RequestHead? {
            Array(text.utf8).withUnsafeBytes { DDAgentStandIn.parseHead($0) }
        }
        #expect(parse("PUT /v0.4/traces HTTP/1.1\r\nContent-Length: 12\r\n") == nil)
        let v04 = parse("PUT /v0.4/traces HTTP/1.1\r\nHost: agent\r\ncontent-LENGTH:   12\r\n\r\nbody")
        #expect(v04?.length == 64)
        #expect(v04?.contentLength == 12)
        #expect(v04?.isV05 == false)
        let v05 = parse("PUT /v0.5/traces HTTP/1.1\r\nContent-Length: 3\r\n\r\n")
        #expect(v05?.contentLength == 3)
        #expect(v05?.isV05 == true)
        #expect(parse("GET /info HTTP/1.1\r\n\r\n")?.contentLength == 0)
    }

    @Test("a tracer's payloads are checked and their spans counted", arguments: ["v0.4", "v0.5"])
    func countsTracerSpans(apiVersion: String) throws {
        let standIn = try DDAgentStandIn(mode: .verify)
        defer { standIn.stop() }
        let tracer = try makeTestTracer(agentURL: standIn.agentURL, service: "stand-in") { $0.apiVersion = apiVersion }
        defer { _ = tracer.shutdown() }
        for _ in 0..<250 {
            let root = tracer.startSpan("web.request", ignoreActive: true)
            for _ in 0..<3 {
                let child = tracer.startSpan("db.query", childOf: root)
                child.setTag("db.system", "postgresql")
                child.finish()
            }
            root.finish()
        }
        #expect(tracer.flush().succeeded)
        #expect(standIn.spans == 1000)
        #expect(standIn.malformed == 0)
        #expect(standIn.requests >= 1)
        #expect(standIn.bytes > 1000)
        #expect(FileManager.default.fileExists(atPath: standIn.path))
        standIn.stop()
        #expect(!FileManager.default.fileExists(atPath: standIn.path))
        #expect(!FileManager.default.fileExists(atPath: (standIn.path as NSString).deletingLastPathComponent))
    }

    @Test("requests split over several writes or sharing one are each answered; a malformed payload is counted apart")
    func rawRequests() throws {
        let standIn = try DDAgentStandIn(mode: .verify)
        defer { standIn.stop() }
        let client = try UnixClient(path: standIn.path)
        // An empty v0.4 payload (no traces), in three pieces.
        let empty = "PUT /v0.4/traces HTTP/1.1\r\nContent-Type: application/msgpack\r\nContent-Length: 1\r\n\r\n"
        client.send(Array(empty.utf8.prefix(20)))
        usleep(20_000)
        client.send(Array(empty.utf8.dropFirst(20)))
        usleep(20_000)
        client.send([0x90])
        #expect(client.receiveResponses(1))
        // A malformed v0.5 payload (0xc1 is never used by msgpack) and an empty v0.4 one, in one write.
        client.send(Array("PUT /v0.5/traces HTTP/1.1\r\nContent-Length: 1\r\n\r\n".utf8) + [0xC1] + Array(empty.utf8) + [0x90])
        #expect(client.receiveResponses(2))
        #expect(standIn.requests == 3)
        #expect(standIn.malformed == 1)
        #expect(standIn.spans == 0)
        #expect(standIn.bytes == 3)
    }

    @Test("a client that hangs up before its answer ends only its own connection (no SIGPIPE)")
    func clientGoneBeforeTheAnswer() throws {
        let request = Array("PUT /v0.4/traces HTTP/1.1\r\nContent-Length: 1\r\n\r\n".utf8) + [0x90]
        let standIn = try DDAgentStandIn(mode: .verify)
        defer { standIn.stop() }
        // Each request is complete when its client closes, so the stand-in reads it and answers into a closed
        // socket. A plain write() would raise SIGPIPE there, whose default action ends the test process.
        for _ in 0..<20 {
            let client = try UnixClient(path: standIn.path)
            client.send(request)
        }
        var waited = 0
        while standIn.requests < 20 && waited < 5_000 {
            usleep(1_000)
            waited += 1
        }
        #expect(standIn.requests == 20)
        let client = try UnixClient(path: standIn.path)
        client.send(request)
        #expect(client.receiveResponses(1), "the stand-in still answers")
    }

    @Test("stopping one stand-in leaves alone the sockets that took the numbers of its closed connections")
    func stopTouchesOnlyItsOwnConnections() throws {
        let request = Array("PUT /v0.4/traces HTTP/1.1\r\nContent-Length: 1\r\n\r\n".utf8) + [0x90]
        let first = try DDAgentStandIn(mode: .discard)
        for _ in 0..<10 {
            let client = try UnixClient(path: first.path)
            client.send(request)
            #expect(client.receiveResponses(1))
        }
        // The clients are closed, so the stand-in closes its ends. The kernel hands out the lowest free fd numbers,
        // so the second stand-in's connections take some of those numbers.
        usleep(100_000)
        let second = try DDAgentStandIn(mode: .discard)
        defer { second.stop() }
        let clients = try (0..<20).map { _ in try UnixClient(path: second.path) }
        usleep(100_000)
        first.stop()
        for client in clients { client.send(request) }
        #expect(clients.allSatisfy { $0.receiveResponses(1) }, "every connection of the second stand-in answers")
        #expect(second.requests == 20)
    }

    @Test("in discard mode the bodies are counted in bytes, not checked")
    func discards() throws {
        let standIn = try DDAgentStandIn(mode: .discard)
        defer { standIn.stop() }
        let client = try UnixClient(path: standIn.path)
        client.send(Array("PUT /v0.4/traces HTTP/1.1\r\nContent-Length: 2\r\n\r\n".utf8) + [0xC1, 0xC1])
        #expect(client.receiveResponses(1))
        #expect(standIn.requests == 1)
        #expect(standIn.bytes == 2)
        #expect(standIn.malformed == 0)
    }

    @Test("a socket path that does not fit a unix address is an error naming it")
    func pathTooLong() {
        let path = "/tmp/" + String(repeating: "x", count: 200) + ".sock"
        #expect {
            _ = try DDAgentStandIn(mode: .discard, path: path)
        } throws: { error in
            "\(error)".contains(path)
        }
    }
}

/// A blocking unix-socket client that writes raw bytes and reads the stand-in's answers.
private final class UnixClient {
    private let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw PythonScript.Failure(description: "connect \(path): \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                // MSG_NOSIGNAL: a connection cut under the test fails the expectation instead of killing the
                // process with SIGPIPE.
                let written = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    /// Reads until `count` complete `200 OK` answers have arrived (false on a timeout or a closed socket).
    func receiveResponses(_ count: Int) -> Bool {
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{\"rate_by_service\":{}}"
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < count * answer.utf8.count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            // A signal handled by the process interrupts the read, even with SA_RESTART, because the socket has a
            // receive timeout (signal(7)). The full suite does this now and then: EINTR was a spurious failure.
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            received += buffer[0..<n]
        }
        return received == Array(String(repeating: answer, count: count).utf8)
    }
}
