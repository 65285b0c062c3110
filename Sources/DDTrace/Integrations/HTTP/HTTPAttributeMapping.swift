import Tracing

/// How attributes set on a `DDTracingSpan` become Datadog tags, in particular the HTTP attributes that Hummingbird's
/// `TracingMiddleware` (`http.request.method`, `url.path`, `url.query`, `http.route`, `http.response.status_code`,
/// `http.request.header.*`, `http.response.header.*`) and AsyncHTTPClient (`http.request.method`, `url.full`,
/// `url.path`, `url.query`, `http.status_code`, `server.address`, `server.port`, `url.scheme`) emit:
///
/// | attribute                                        | Datadog tag                                            |
/// |--------------------------------------------------|--------------------------------------------------------|
/// | `http.request.method`, `http.method`             | `http.method`                                          |
/// | `http.response.status_code`, `http.status_code`  | `http.status_code` (text, as ddtrace sends it)         |
/// | `url.full`, `http.url`                           | `http.url`, query string kept per direction, obfuscated|
/// | `url.path`, `http.target` (server spans)         | `http.url` (path, plus the query string if kept)       |
/// | `url.query`                                      | appended to `http.url`, or dropped when not kept       |
/// | `http.route` (server spans)                      | `http.route`; resource `METHOD route`                  |
/// | `http.request.header.<h>` in `DD_TRACE_HEADER_TAGS` | `http.request.headers.<h>` or the configured tag    |
/// | `resource.name`, `service.name`, `span.type`     | the span's resource, service, type                     |
///
/// Everything else is kept under its own name.
extension DDTracingSpan {
    /// Applies every attribute of `attributes`; `url.query` last, so it finds `http.url` set in the same batch.
    ///
    /// `span.attributes[key] = value` and `updateAttributes` read all tags back and set them all again: a tag
    /// that the span already holds with the same value is skipped, so that each assignment costs one lookup per
    /// existing tag instead of re-applying it (and re-running the query-string obfuscation on `http.url`).
    func apply(_ attributes: SpanAttributes) {
        guard let slot = span.openSlot else { return }
        var query: SpanAttribute?
        attributes.forEach { key, value in
            if key == "url.query" {
                query = value
            } else if !Self.holds(slot, key, value) {
                apply(key, value)
            }
        }
        if let query { applyQuery(query) }
    }

    /// Whether the span already has tag `key` with this value (as `materialize` returns it).
    @inline(__always) static func holds(_ slot: SlotPointer, _ key: String, _ value: SpanAttribute) -> Bool {
        switch value {
        case .string(let text): SlotTags.meta(slot, key) == text
        case .int64(let number): SlotTags.metric(slot, key) == Double(number)
        case .double(let number): SlotTags.metric(slot, key) == number
        default: false
        }
    }

    /// Applies one attribute.
    func apply(_ key: String, _ value: SpanAttribute) {
        guard let tag = TagValue(value) else { return }
        switch key {
        case "http.request.method", "http.method": span.setTag("http.method", tag.text)
        case "http.response.status_code", "http.status_code": span.setTag("http.status_code", tag.text)
        case "url.full", "http.url": span.setTag("http.url", sanitizedURL(tag.text))
        case "url.path", "http.target":
            // A client span's http.url comes from url.full; its path stays a plain attribute.
            if kind == .server { setServerURL(path: tag.text) } else { store(key, tag) }
        case "url.query": applyQuery(value)
        case "http.route": setRoute(tag.text)
        case "resource.name": span.setResource(tag.text)
        case "service.name": span.setService(tag.text)
        case "span.type": span.setSpanType(tag.text)
        default:
            if key.hasPrefix("http.request.header.") {
                applyHeader(key, value, name: key.dropFirst(20), isRequest: true)
            } else if key.hasPrefix("http.response.header.") {
                applyHeader(key, value, name: key.dropFirst(21), isRequest: false)
            } else {
                store(key, tag)
            }
        }
    }

    func store(_ key: String, _ tag: TagValue) {
        switch tag {
        case .meta(let value): span.setTag(key, value)
        case .metric(let value): span.setMetric(key, value)
        }
    }

    // MARK: URL and query string

    /// Client spans follow `DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING`, server spans `DD_HTTP_SERVER_TAG_QUERY_STRING`.
    private var keepsQueryString: Bool { kind == .server ? http.serverQueryString : http.clientQueryString }

    /// `url` without its query string (and fragment) when query strings are not kept, else with it obfuscated.
    func sanitizedURL(_ url: String) -> String {
        guard let mark = url.firstIndex(where: { $0 == "?" || $0 == "#" }) else { return url }
        let base = String(url[..<mark])
        guard keepsQueryString, url[mark] == "?" else { return base }
        return base + "?" + http.queryObfuscator.obfuscate(String(url[url.index(after: mark)...]))
    }

    /// A server span's `http.url` from the request path (Hummingbird gives no scheme or host), with a query string
    /// received earlier.
    private func setServerURL(path: String) {
        if let query = meta("url.query") {
            span.setTag("http.url", path + "?" + query)
        } else {
            span.setTag("http.url", path)
        }
    }

    /// A query string: appended (obfuscated) to `http.url`, kept as `url.query` until the path arrives, or dropped
    /// when query strings are not kept, so that it never reaches the agent.
    func applyQuery(_ value: SpanAttribute) {
        guard keepsQueryString, let raw = TagValue(value)?.text, !raw.isEmpty else { return }
        let url = meta("http.url")
        // A client's url.full already carries its (obfuscated) query string: no second obfuscation run.
        if let url, url.contains("?") { return }
        let query = http.queryObfuscator.obfuscate(raw)
        if let url {
            span.setTag("http.url", url + "?" + query)
        } else {
            span.setTag("url.query", query)
        }
    }

    // MARK: Route

    /// `http.route`, and for server spans the resource `METHOD route` that Datadog's web integrations use.
    private func setRoute(_ route: String) {
        span.setTag("http.route", route)
        if kind == .server, let method = meta("http.method") { span.setResource(method + " " + route) }
    }

    // MARK: Header tags

    /// A header recorded by the library: tagged under the name `DD_TRACE_HEADER_TAGS` (or the integration's
    /// override) gives it, or kept as the library named it when it is not configured.
    private func applyHeader(_ key: String, _ value: SpanAttribute, name: Substring, isRequest: Bool) {
        let configured = http.headerTags(for: kind == .client ? .client : .server)
        guard let match = configured.first(where: { Self.sameHeader($0.header, name) }) else {
            if let tag = TagValue(value) { store(key, tag) }
            return
        }
        span.setTag(match.tag(isRequest: isRequest), Self.headerValue(value))
    }

    /// Header names compared without ASCII case, `_` matching `-` (Hummingbird writes `user_agent` for `User-Agent`).
    static func sameHeader(_ configured: String, _ attributeName: Substring) -> Bool {
        configured.utf8.count == attributeName.utf8.count
            && configured.utf8.elementsEqual(attributeName.utf8) { fold($0) == fold($1) }
    }

    @inline(__always) private static func fold(_ byte: UInt8) -> UInt8 {
        if byte == UInt8(ascii: "_") { return UInt8(ascii: "-") }
        return HeaderName.fold(byte)
    }

    /// One value as is; several (a repeated header) joined with `, `, as HTTP folds them.
    static func headerValue(_ value: SpanAttribute) -> String {
        switch value {
        case .stringArray(let values): values.joined(separator: ", ")
        case .stringConvertibleArray(let values): values.map(\.description).joined(separator: ", ")
        default: TagValue(value)?.text ?? ""
        }
    }
}
