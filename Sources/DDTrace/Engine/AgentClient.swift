// The flusher's HTTP client for the Datadog agent: frames requests, runs one exchange at a time over the C
// transport (io_uring or plain sockets), and interprets the agent's answers.
//
// Flusher thread only (the `dd-trace info`-style checks create their own client).

import CDDTraceShims
import Foundation
import Logging

/// The outcome of one request to the agent.
struct AgentResponse {
    var status: Int
    var body: [UInt8]
    var agentState: String
}

enum AgentError: Error, CustomStringConvertible {
    /// A negative errno from the transport.
    case transport(Int32)
    case requestTooLarge
    /// The request head was refused by the formatter (a header value with a control character, for example).
    case invalidRequest
    /// The connection object could not be created (for example a unix socket path over 107 bytes).
    case unusableEndpoint(Int32)

    var description: String {
        switch self {
        case .transport(let code):
            let name: String
            switch -code {
            case ETIMEDOUT: name = "timed out"
            case ECONNREFUSED: name = "connection refused"
            case ENOENT: name = "no such socket"
            case EBADMSG: name = "malformed HTTP response"
            case EHOSTUNREACH: name = "host unreachable or name not resolved"
            default: name = String(cString: strerror(-code))
            }
            return "\(name) (errno \(-code))"
        case .requestTooLarge: return "request head too large"
        case .invalidRequest: return "request rejected: a header contains a control character or is not a token"
        case .unusableEndpoint(let code):
            return "cannot use this agent address: \(String(cString: strerror(-code))) (errno \(-code))"
        }
    }
}

final class AgentClient {
    let endpoint: AgentEndpoint
    let timeoutMilliseconds: Int32
    /// nil when the endpoint cannot be used at all (`creationError` says why); every request then fails.
    private let connection: OpaquePointer?
    private let creationError: Int32
    private let hostHeader: String
    private let additionalHeaders: [(String, String)]
    private var head: [CChar] = Array(repeating: 0, count: 8192)

    /// The transport in use, for diagnostics.
    let usesIOUring: Bool
    /// When io_uring was wanted but is unavailable: the errno `io_uring_queue_init` returned.
    let ioUringError: Int32

    init(endpoint: AgentEndpoint, timeoutMilliseconds: Int, tryIOUring: Bool, additionalHeaders: [(String, String)] = [])
    {
        self.endpoint = endpoint
        self.timeoutMilliseconds = Int32(clamping: timeoutMilliseconds)
        self.additionalHeaders = additionalHeaders
        var connection: OpaquePointer?
        let result: Int32
        switch endpoint {
        case .tcp(let host, let port):
            result = ddtrace_conn_create(
                Int32(DDTRACE_ENDPOINT_TCP), host, Int32(port), nil, tryIOUring ? 1 : 0, &connection)
            hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path):
            result = ddtrace_conn_create(Int32(DDTRACE_ENDPOINT_UNIX), nil, 0, path, tryIOUring ? 1 : 0, &connection)
            hostHeader = "localhost"
        }
        self.connection = result == 0 ? connection : nil
        self.creationError = result
        usesIOUring = connection.map { ddtrace_conn_backend($0) == Int32(DDTRACE_BACKEND_IO_URING) } ?? false
        ioUringError = connection.map { ddtrace_conn_io_uring_error($0) } ?? 0
    }

    deinit {
        if let connection { ddtrace_conn_destroy(connection) }
    }

    /// Called every `waitSliceMicroseconds` while a request waits on the agent's socket, to write or for the
    /// answer (see `ddtrace_conn_set_wait_hook`); nil removes it. It runs on the thread that sends, and must not
    /// send.
    var whileWaiting: (() -> Void)? {
        didSet {
            guard let connection else { return }
            if whileWaiting == nil {
                ddtrace_conn_set_wait_hook(connection, nil, nil, 0)
            } else {
                // Unretained: the connection belongs to this client and is destroyed with it.
                ddtrace_conn_set_wait_hook(
                    connection, { context in
                        Unmanaged<AgentClient>.fromOpaque(context!).takeUnretainedValue().whileWaiting?()
                    }, Unmanaged.passUnretained(self).toOpaque(), Int32(AgentClient.waitSliceMicroseconds))
            }
        }
    }

    /// How often `whileWaiting` runs: short enough that a thread producing millions of spans per second does not
    /// exhaust its pool while the agent decodes a 1 MB payload (several ms), long enough to cost little.
    static let waitSliceMicroseconds = 200

    var bytesSent: UInt64 { connection.map { ddtrace_conn_bytes_sent($0) } ?? 0 }

    /// `PUT /v0.4/traces` (or `/v0.5/traces`) with a msgpack payload of `traceCount` chunks. The body is
    /// `prefix` followed by `payload` (a v0.5 payload's string table and traces; v0.4 has no prefix).
    func sendTraces(
        _ payload: UnsafeRawBufferPointer, prefix: UnsafeRawBufferPointer? = nil, traceCount: Int,
        apiPath: String = "/v0.4/traces"
    ) -> Result<AgentResponse, AgentError> {
        let headers: [(String, String)] =
            [
                ("Content-Type", "application/msgpack"),
                ("X-Datadog-Trace-Count", String(traceCount)),
                ("Datadog-Meta-Lang", "swift"),
                ("Datadog-Meta-Lang-Version", DDTraceVersion.swiftLanguageVersion),
                ("Datadog-Meta-Lang-Interpreter", "swift"),
                ("Datadog-Meta-Tracer-Version", DDTraceVersion.current),
            ] + additionalHeaders
        return exchange(method: "PUT", path: apiPath, headers: headers, prefix: prefix, body: payload)
    }

    /// `GET path` (for example `/info`).
    func get(_ path: String) -> Result<AgentResponse, AgentError> {
        exchange(method: "GET", path: path, headers: additionalHeaders, body: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    private func exchange(
        method: String, path: String, headers: [(String, String)], prefix: UnsafeRawBufferPointer? = nil,
        body: UnsafeRawBufferPointer
    ) -> Result<AgentResponse, AgentError> {
        guard let connection else { return .failure(.unusableEndpoint(creationError)) }
        let prefixLength = prefix?.count ?? 0
        let headLength = formatHead(
            method: method, path: path, headers: headers,
            contentLength: method == "GET" ? -1 : prefixLength + body.count)
        guard headLength > 0 else { return .failure(headLength == -Int(E2BIG) ? .requestTooLarge : .invalidRequest) }
        var response = ddtrace_http_response()
        var responseBody: UnsafePointer<CChar>?
        let result = head.withUnsafeBufferPointer { headBytes in
            ddtrace_conn_exchange_prefixed(
                connection, headBytes.baseAddress, headLength, prefix?.baseAddress, prefixLength, body.baseAddress,
                body.count, timeoutMilliseconds, &response, &responseBody)
        }
        guard result == 0 else { return .failure(.transport(result)) }
        var bodyBytes: [UInt8] = []
        if let responseBody, response.body_length > 0 {
            bodyBytes = Array(UnsafeRawBufferPointer(start: responseBody, count: response.body_length))
        }
        let agentState = withUnsafeBytes(of: response.agent_state) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return .success(AgentResponse(status: Int(response.status), body: bodyBytes, agentState: agentState))
    }

    private func formatHead(method: String, path: String, headers: [(String, String)], contentLength: Int) -> Int {
        // The C formatter rejects control characters in every field, so nothing taken from the environment can
        // smuggle a header line into the request.
        var cStrings: [UnsafeMutablePointer<CChar>] = []
        defer { cStrings.forEach { free($0) } }
        var cHeaders: [ddtrace_http_header] = []
        for (name, value) in headers {
            guard let cName = strdup(name), let cValue = strdup(value) else { return -1 }
            cStrings.append(cName)
            cStrings.append(cValue)
            cHeaders.append(ddtrace_http_header(name: cName, value: cValue))
        }
        let written = head.withUnsafeMutableBufferPointer { out in
            cHeaders.withUnsafeBufferPointer { list in
                ddtrace_http_format_request(
                    out.baseAddress, out.count, method, path, hostHeader, list.baseAddress, list.count,
                    Int64(contentLength))
            }
        }
        return Int(written)
    }
}

/// Parses the agent's `{"rate_by_service": {"service:a,env:b": 0.5, ...}}` answer. Returns nil when the body is not
/// such a document; an empty object (`{}`, sent when nothing changed) yields nil as well.
func parseRateByService(_ body: [UInt8]) -> [String: Double]? {
    guard !body.isEmpty,
        let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
        let rates = object["rate_by_service"] as? [String: Any]
    else { return nil }
    var result: [String: Double] = [:]
    for (key, value) in rates {
        if let number = value as? NSNumber {
            let rate = number.doubleValue
            if rate.isFinite, rate >= 0, rate <= 1 { result[key] = rate }
        }
    }
    return result
}
