// Tests for the C HTTP/1.1 framing (ddtrace_http.h) and the floor loop (ddtrace_floor.h).
import CDDTraceShims
import Foundation
import Testing

// MARK: - Helpers (fileprivate: this module is shared with other test files)

private let sentinel: UInt8 = 0xA5

/// Calls ddtrace_http_format_request with an output buffer of exactly `capacity` bytes, followed by guard bytes
/// that must come back untouched.
private func formatRequest(
    _ method: String, _ path: String, _ host: String, _ headers: [(String, String)],
    contentLength: Int64, capacity: Int = 4096
) -> (rc: Int, bytes: [UInt8], guardIntact: Bool) {
    let cStrings = headers.map { (strdup($0.0)!, strdup($0.1)!) }
    defer { for (n, v) in cStrings { free(n); free(v) } }
    let cHeaders = cStrings.map { ddtrace_http_header(name: UnsafePointer($0.0), value: UnsafePointer($0.1)) }
    var out = [UInt8](repeating: sentinel, count: capacity + 16)
    let rc = out.withUnsafeMutableBytes { raw in
        cHeaders.withUnsafeBufferPointer { hp in
            ddtrace_http_format_request(
                raw.baseAddress!.assumingMemoryBound(to: CChar.self), capacity, method, path, host,
                hp.baseAddress, hp.count, contentLength)
        }
    }
    let guardIntact = out[capacity...].allSatisfy { $0 == sentinel }
    return (rc, rc > 0 ? Array(out[0..<rc]) : [], guardIntact)
}

private func tupleString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
}

private struct Parsed {
    var rc: Int
    var status: Int32
    var body: [UInt8]
    var connectionClose: Bool
    var agentState: String
    var ratesVersion: String
}

/// Parses a copy of `bytes` held in a buffer of exactly that size.
private func parse(_ bytes: [UInt8]) -> Parsed {
    var buf = bytes
    var resp = ddtrace_http_response()
    let rc = buf.withUnsafeMutableBytes { raw in
        ddtrace_http_parse_response(raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count, &resp)
    }
    var body: [UInt8] = []
    if rc > 0 {
        #expect(resp.body_offset + resp.body_length <= rc)
        body = Array(buf[resp.body_offset..<(resp.body_offset + resp.body_length)])
    }
    return Parsed(
        rc: rc, status: resp.status, body: body, connectionClose: resp.connection_close != 0,
        agentState: tupleString(resp.agent_state), ratesVersion: tupleString(resp.rates_payload_version))
}

private func parse(_ text: String) -> Parsed { parse(Array(text.utf8)) }

private let EBADMSG_RC = -Int(EBADMSG)

// MARK: - Request formatting

@Suite("C HTTP request formatting")
struct CShimHTTPFormatTests {
    static let traceHeaders: [(String, String)] = [
        ("Content-Type", "application/msgpack"),
        ("Datadog-Meta-Lang", "swift"),
        ("Datadog-Meta-Tracer-Version", "0.1.0"),
        ("X-Datadog-Trace-Count", "3"),
    ]
    static let traceRequest =
        "PUT /v0.4/traces HTTP/1.1\r\nHost: localhost:8126\r\nContent-Type: application/msgpack\r\n"
        + "Datadog-Meta-Lang: swift\r\nDatadog-Meta-Tracer-Version: 0.1.0\r\nX-Datadog-Trace-Count: 3\r\n"
        + "Content-Length: 1234\r\n\r\n"

    @Test func tracesPutExactBytes() {
        let r = formatRequest("PUT", "/v0.4/traces", "localhost:8126", Self.traceHeaders, contentLength: 1234)
        #expect(r.rc == Self.traceRequest.utf8.count)
        #expect(String(decoding: r.bytes, as: UTF8.self) == Self.traceRequest)
        #expect(r.guardIntact)
    }

    @Test func getWithoutContentLength() {
        let r = formatRequest("GET", "/info", "", [], contentLength: -1)
        #expect(String(decoding: r.bytes, as: UTF8.self) == "GET /info HTTP/1.1\r\nHost: \r\n\r\n")
        let zero = formatRequest("PUT", "/v0.4/traces", "h", [], contentLength: 0)
        #expect(String(decoding: zero.bytes, as: UTF8.self) == "PUT /v0.4/traces HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
        let big = formatRequest("PUT", "/", "h", [], contentLength: Int64.max)
        #expect(String(decoding: big.bytes, as: UTF8.self).contains("Content-Length: 9223372036854775807\r\n"))
    }

    @Test func tooSmallBufferIsE2BIGAndNeverOverruns() {
        let n = Self.traceRequest.utf8.count
        for cap in 0..<n {
            let r = formatRequest("PUT", "/v0.4/traces", "localhost:8126", Self.traceHeaders, contentLength: 1234, capacity: cap)
            #expect(r.rc == -Int(E2BIG), "capacity \(cap)")
            #expect(r.guardIntact, "capacity \(cap)")
        }
        let exact = formatRequest("PUT", "/v0.4/traces", "localhost:8126", Self.traceHeaders, contentLength: 1234, capacity: n)
        #expect(exact.rc == n)
        #expect(exact.guardIntact)  // no NUL written past an exactly-sized buffer
    }

    @Test func tabAndNonASCIIAllowedInValues() {
        let r = formatRequest("PUT", "/p", "h", [("X-A", "a\tb"), ("X-B", ""), ("X-C", "caf\u{e9}")], contentLength: -1)
        #expect(String(decoding: r.bytes, as: UTF8.self) == "PUT /p HTTP/1.1\r\nHost: h\r\nX-A: a\tb\r\nX-B: \r\nX-C: caf\u{e9}\r\n\r\n")
    }

    struct Rejected: Sendable, CustomTestStringConvertible {
        var label: String
        var method = "PUT", path = "/v0.4/traces", host = "localhost"
        var headers: [HeaderPair] = []
        var testDescription: String { label }
    }
    struct HeaderPair: Sendable { var name: String, value: String }

    static let rejected: [Rejected] = [
        Rejected(label: "CRLF in value", headers: [HeaderPair(name: "X-Env", value: "prod\r\nX-Injected: 1")]),
        Rejected(label: "LF in value", headers: [HeaderPair(name: "X-Env", value: "prod\nX: 1")]),
        Rejected(label: "CR in value", headers: [HeaderPair(name: "X-Env", value: "prod\r")]),
        Rejected(label: "control char in value", headers: [HeaderPair(name: "X-Env", value: "a\u{01}b")]),
        Rejected(label: "DEL in value", headers: [HeaderPair(name: "X-Env", value: "a\u{7f}b")]),
        Rejected(label: "CRLF in path", path: "/v0.4/traces\r\nX-Injected: 1"),
        Rejected(label: "LF in path", path: "/v0.4\n"),
        Rejected(label: "space in path", path: "/v0.4/traces HTTP/1.0"),
        Rejected(label: "empty path", path: ""),
        Rejected(label: "CRLF in host", host: "localhost\r\nX: 1"),
        Rejected(label: "space in host", host: "local host"),
        Rejected(label: "space in method", method: "PU T"),
        Rejected(label: "empty method", method: ""),
        Rejected(label: "header name with space", headers: [HeaderPair(name: "Bad Name", value: "v")]),
        Rejected(label: "header name with colon", headers: [HeaderPair(name: "X:Y", value: "v")]),
        Rejected(label: "header name with CRLF", headers: [HeaderPair(name: "X\r\nY", value: "v")]),
        Rejected(label: "empty header name", headers: [HeaderPair(name: "", value: "v")]),
        Rejected(label: "non-ASCII header name", headers: [HeaderPair(name: "X-\u{e9}", value: "v")]),
        Rejected(label: "caller Host header", headers: [HeaderPair(name: "host", value: "evil")]),
        Rejected(label: "caller Content-Length", headers: [HeaderPair(name: "Content-Length", value: "0")]),
        Rejected(label: "caller Transfer-Encoding", headers: [HeaderPair(name: "TRANSFER-ENCODING", value: "chunked")]),
    ]

    @Test(arguments: rejected)
    func rejectsInjection(_ row: Rejected) {
        let r = formatRequest(row.method, row.path, row.host, row.headers.map { ($0.name, $0.value) }, contentLength: 10)
        #expect(r.rc == -Int(EINVAL))
        #expect(r.guardIntact)
    }
}

// MARK: - Response parsing

@Suite("C HTTP response parsing")
struct CShimHTTPParseTests {
    static let chunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nDatadog-Agent-State: s1\r\n\r\n"
    static let chunked =
        chunkedHead
        + "5;name=\"quoted;value\"\r\nhello\r\n"
        + "1 ; ext\r\n,\r\n"
        + "0006\r\n world\r\n"
        + "0\r\nX-Trailer: t\r\nOther: x\r\n\r\n"

    struct Complete: Sendable, CustomTestStringConvertible {
        var label: String
        var raw: String
        var status: Int32
        var body: String
        var close = false
        var agentState = ""
        var testDescription: String { label }
    }

    static let complete: [Complete] = [
        Complete(
            label: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"rate_by_svc\"}",
            status: 200, body: "{\"rate_by_svc\"}"),
        Complete(label: "chunked with extensions and trailers", raw: chunked, status: 200, body: "hello, world", agentState: "s1"),
        Complete(label: "204 no body", raw: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", status: 204, body: ""),
        Complete(label: "304 no body", raw: "HTTP/1.1 304 Not Modified\r\n\r\n", status: 304, body: ""),
        Complete(label: "100 interim", raw: "HTTP/1.1 100 Continue\r\n\r\n", status: 100, body: ""),
        Complete(label: "no reason phrase", raw: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", status: 200, body: ""),
        Complete(label: "empty reason phrase", raw: "HTTP/1.1 404 \r\nContent-Length: 2\r\n\r\nno", status: 404, body: "no"),
        Complete(label: "agent state and close", raw: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nDATADOG-AGENT-STATE:  abc123\t\r\nConnection: keep-alive, Close\r\n\r\n{}", status: 200, body: "{}", close: true, agentState: "abc123"),
        Complete(label: "HTTP/1.0 closes by default", raw: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x", close: true),
        Complete(label: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x"),
        Complete(label: "agreeing duplicate content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", status: 200, body: "abc"),
        Complete(label: "leading zeros", raw: "HTTP/1.1 200 OK\r\nContent-Length: 0003\r\n\r\nabc", status: 200, body: "abc"),
        Complete(label: "chunked empty body", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", status: 200, body: ""),
    ]

    @Test(arguments: complete)
    func parsesCompleteResponse(_ row: Complete) {
        let bytes = Array(row.raw.utf8)
        let p = parse(bytes)
        #expect(p.rc == bytes.count)
        #expect(p.status == row.status)
        #expect(String(decoding: p.body, as: UTF8.self) == row.body)
        #expect(p.connectionClose == row.close)
        #expect(p.agentState == row.agentState)
    }

    /// Every strict prefix is "need more" (0); the whole thing is complete; bytes after it are not consumed.
    @Test(arguments: complete)
    func splitAtEveryByteBoundary(_ row: Complete) {
        let bytes = Array(row.raw.utf8)
        for k in 0..<bytes.count {
            let p = parse(Array(bytes[0..<k]))
            #expect(p.rc == 0, "prefix of \(k) bytes")
            if p.rc != 0 { return }
        }
        let p = parse(bytes + Array("HTTP/1.1 200 OK\r\n".utf8))
        #expect(p.rc == bytes.count)
        #expect(String(decoding: p.body, as: UTF8.self) == row.body)
    }

    @Test func chunkedIsDechunkedInPlace() {
        var buf = Array(Self.chunked.utf8)
        var resp = ddtrace_http_response()
        let rc = buf.withUnsafeMutableBytes { raw in
            ddtrace_http_parse_response(raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count, &resp)
        }
        #expect(rc == buf.count)
        let headEnd = Self.chunkedHead.utf8.count
        #expect(resp.body_offset == headEnd)
        #expect(String(decoding: buf[headEnd..<(headEnd + 12)], as: UTF8.self) == "hello, world")
    }

    @Test func ratesPayloadVersionAndTruncation() {
        let long = String(repeating: "a", count: 64) + "TAIL"
        let p = parse("HTTP/1.1 200 OK\r\nDatadog-Rates-Payload-Version: v7\r\nDatadog-Agent-State: \(long)\r\nContent-Length: 0\r\n\r\n")
        #expect(p.rc > 0)
        #expect(p.ratesVersion == "v7")
        #expect(p.agentState == String(repeating: "a", count: 64))
        let absent = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(absent.agentState == "" && absent.ratesVersion == "")
    }

    @Test func closeDelimitedBodyNeedsEOF() {
        // No Content-Length, not chunked: only the transport (at EOF) can end this body.
        let p = parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome body bytes")
        #expect(p.rc == 0)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var label: String
        var raw: [UInt8]
        var testDescription: String { label }
        init(_ label: String, _ raw: String) { self.label = label; self.raw = Array(raw.utf8) }
        init(_ label: String, bytes: [UInt8]) { self.label = label; self.raw = bytes }
    }

    static let bad: [Bad] = [
        Bad("HTTP/2 status line", "HTTP/2 200 OK\r\n\r\n"),
        Bad("lowercase protocol", "http/1.1 200 OK\r\n\r\n"),
        Bad("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n"),
        Bad("two-digit status", "HTTP/1.1 20 OK\r\n\r\n"),
        Bad("status below 100", "HTTP/1.1 099 Nope\r\n\r\n"),
        Bad("status 600", "HTTP/1.1 600 Nope\r\n\r\n"),
        Bad("no space before reason", "HTTP/1.1 200OK\r\n\r\n"),
        Bad("two spaces before status", "HTTP/1.1  200 OK\r\n\r\n"),
        Bad("control char in reason", "HTTP/1.1 200 O\u{1}K\r\nContent-Length: 0\r\n\r\n"),
        Bad("ICY", "ICY 200 OK\r\n\r\n"),
        Bad("SSH banner", "SSH-2.0-OpenSSH_9.2\r\n"),
        Bad("HTML", "<html><body>hello</body></html>"),
        Bad("binary garbage", bytes: [0x00, 0xFF, 0x13, 0x37, 0x0D, 0x0A, 0x0D, 0x0A]),
        Bad("bare LF line endings", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"),
        Bad("bare CR", "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n"),
        Bad("negative content-length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
        Bad("plus-signed content-length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx"),
        Bad("hex content-length", "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n"),
        Bad("empty content-length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"),
        Bad("list content-length", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx"),
        Bad("overflowing content-length", "HTTP/1.1 200 OK\r\nContent-Length: 184467440737095516160\r\n\r\n"),
        Bad("huge content-length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999999\r\n\r\n"),
        Bad("conflicting content-lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        Bad("content-length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Bad("gzip transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        Bad("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"),
        Bad("obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n  continued\r\nContent-Length: 0\r\n\r\n"),
        Bad("header without colon", "HTTP/1.1 200 OK\r\nContent-Length\r\n\r\n"),
        Bad("NUL in header value", "HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\nContent-Length: 0\r\n\r\n"),
        Bad("non-hex chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        Bad("missing chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"),
        Bad("overflowing chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\n"),
        Bad("chunk data without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
        Bad("garbage after chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n"),
        Bad("bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n"),
    ]

    @Test(arguments: bad)
    func rejectsMalformed(_ row: Bad) {
        #expect(parse(row.raw).rc == EBADMSG_RC)
    }

    /// A peer that is not speaking HTTP is rejected from its first bytes, before any line is complete.
    @Test func garbageFailsFast() {
        #expect(parse("SSH-").rc == EBADMSG_RC)
        #expect(parse("HTTP/1.1 2x").rc == EBADMSG_RC)
        #expect(parse("HTTP/1.1 20").rc == 0)
        // A bad field is rejected as soon as its line is complete, without waiting for the end of the head.
        #expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n").rc == EBADMSG_RC)
        #expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n").rc == 0)
    }

    @Test func headerSectionOver64KiB() {
        // One line that never ends.
        var endless = Array("HTTP/1.1 200 OK\r\nX-Pad: ".utf8)
        endless += [UInt8](repeating: UInt8(ascii: "a"), count: 70_000)
        #expect(parse(endless).rc == EBADMSG_RC)
        #expect(parse(Array(endless[0..<60_000])).rc == 0)

        // Many small fields, complete, but more than 64 KiB in total.
        func response(padding: Int) -> [UInt8] {
            var s = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
            let line = "X-Pad: " + String(repeating: "p", count: 91) + "\r\n"  // 100 bytes
            for _ in 0..<(padding / 100) { s += line }
            return Array((s + "\r\n").utf8)
        }
        let over = response(padding: 66_000)
        #expect(over.count > 65_536)
        #expect(parse(over).rc == EBADMSG_RC)
        let under = response(padding: 65_000)
        #expect(under.count <= 65_536)
        #expect(parse(under).rc == under.count)
    }

    @Test func largeChunkedBodyRoundTrips() {
        var raw = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var expected: [UInt8] = []
        for i in 0..<200 {
            let chunk = [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 1 + (i * 37) % 1000)
            raw += Array(String(chunk.count, radix: 16).utf8) + [13, 10] + chunk + [13, 10]
            expected += chunk
        }
        raw += Array("0\r\n\r\n".utf8)
        let p = parse(raw)
        #expect(p.rc == raw.count)
        #expect(p.body == expected)
    }
}

// MARK: - Floor loop

@Suite("C floor loop")
struct CShimFloorTests {
    /// A sanity bound, not a performance claim (the benchmarks measure the floor): generous enough for
    /// sanitizer builds on a loaded 2-core machine.
    @Test func runsAMillionSpansInBoundedTime() {
        #expect(ddtrace_floor_spans(1000) != 0)
        let start = DispatchTime.now().uptimeNanoseconds
        let checksum = ddtrace_floor_spans(1_000_000)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        #expect(checksum != 0)
        #expect(elapsed < 30.0, "1e6 floor spans took \(elapsed) s")
        // Random span ids: two runs do not produce the same checksum.
        #expect(ddtrace_floor_spans(1000) != ddtrace_floor_spans(1000))
    }
}
