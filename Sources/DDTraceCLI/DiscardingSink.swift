// `dd-trace bench --sink`: a built-in stand-in for the Datadog agent on a unix socket. It reads every request
// the tracer sends (HTTP/1.1, keep-alive), discards the body, and answers as the agent does:
// `200 OK`, `Content-Type: application/json`, `{"rate_by_service":{}}`.
//
// With `verifying`, it keeps each body and decodes it (v0.4 or v0.5, by the request path): every chunk must be an
// array of spans, every span a 12-entry map (v0.4) or a 12-element array (v0.5) that is well-formed msgpack; the
// spans are counted, and malformed payloads are counted separately.

import CDDTraceShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
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
        let acceptor = Thread { [self] in acceptLoop() }
        acceptor.name = "dd-trace-bench-sink"
        acceptor.start()
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
            let worker = Thread { [self] in serve(fd) }
            worker.name = "dd-trace-bench-sink-conn"
            worker.start()
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

    /// Decodes a trace payload and counts its spans (or counts it as malformed).
    private func decode(_ body: [UInt8], v05: Bool) {
        let spans = body.withUnsafeBufferPointer { whole -> Int? in
            guard let base = whole.baseAddress else { return nil }
            var reader = MsgpackReader(base: base, count: whole.count)
            if v05 {
                // [string table, chunks]: skip the table (checked for well-formedness).
                guard reader.arrayHeader() == 2, reader.skip() else { return nil }
            }
            guard let chunks = reader.arrayHeader() else { return nil }
            var spans = 0
            for _ in 0..<chunks {
                guard let count = reader.arrayHeader() else { return nil }
                for _ in 0..<count {
                    let fields = v05 ? reader.arrayHeader() : reader.mapHeader()
                    guard fields == 12 else { return nil }
                    for _ in 0..<(v05 ? 12 : 24) {
                        guard reader.skip() else { return nil }
                    }
                    spans += 1
                }
            }
            return reader.atEnd ? spans : nil
        }
        if let spans {
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

/// Just enough msgpack reading to walk trace payloads: container headers, and whole objects skipped with the
/// shim's bounds-checked walker.
struct MsgpackReader {
    let base: UnsafePointer<UInt8>
    let count: Int
    var offset = 0

    var atEnd: Bool { offset == count }

    private mutating func header(fix: UInt8, sixteen: UInt8, thirtyTwo: UInt8) -> Int? {
        guard offset < count else { return nil }
        let marker = base[offset]
        if marker & 0xf0 == fix {
            offset += 1
            return Int(marker & 0x0f)
        }
        let width = marker == sixteen ? 2 : marker == thirtyTwo ? 4 : 0
        guard width > 0, offset + 1 + width <= count else { return nil }
        let value = (0..<width).reduce(0) { $0 << 8 | Int(base[offset + 1 + $1]) }
        offset += 1 + width
        return value
    }

    mutating func arrayHeader() -> Int? { header(fix: 0x90, sixteen: 0xdc, thirtyTwo: 0xdd) }
    mutating func mapHeader() -> Int? { header(fix: 0x80, sixteen: 0xde, thirtyTwo: 0xdf) }

    /// Skips one complete object; false if it is truncated or malformed.
    mutating func skip() -> Bool {
        let size = UnsafeRawPointer(base + offset).withMemoryRebound(to: CChar.self, capacity: 1) {
            ddtrace_mp_object_size($0, count - offset)
        }
        guard size > 0 else { return false }
        offset += size
        return true
    }
}
