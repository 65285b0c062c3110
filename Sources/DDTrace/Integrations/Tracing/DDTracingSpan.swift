import Tracing

/// A swift-distributed-tracing span backed by a native `DDSpan`: what `DDTracer` returns as a `Tracing.Tracer`.
///
/// Like `DDSpan` it is a small value with reference semantics: copies refer to the same span. The mapping follows
/// dd-trace-py's OpenTelemetry shim:
///
/// - `operationName` is the Datadog **resource**; the Datadog operation name is derived from the kind and the
///   attributes when the span ends (`http.server.request`, `http.client.request`, `postgresql.query`,
///   `server.request`, `internal`, ...), unless an `operation.name` attribute gives it. `resource.name`,
///   `service.name` and `span.type` attributes set the resource, service and type.
/// - Attributes: numbers become metrics, booleans `"true"`/`"false"` meta, strings meta, arrays JSON text meta.
///   HTTP attributes become Datadog's HTTP tags (see `DDHTTPTaggingSettings`). Attributes cannot be removed.
/// - The kind is the `span.kind` tag; server spans have type `web`, client spans `http`.
/// - `setStatus(.error)` sets `error` (and `error.message` from the status message); `recordError` sets
///   `error.type`, `error.message` (and `error.stack` from an `exception.stacktrace` attribute) and adds an
///   `exception` event, without setting `error` (Tracing's `withSpan` does both on a thrown error). For HTTP
///   server and client spans the response status decides `error` when the span ends.
/// - Events go to the `events` meta and links to the `_dd.span_links` meta, as JSON (dd-trace-py's encoding
///   when the payload format has no native field for them).
///
/// `span` gives the native handle for what Tracing cannot express (sampling priority, service).
public struct DDTracingSpan: Tracing.Span {
    /// The native span.
    public let span: DDSpan
    /// The kind given when the span started.
    public let kind: SpanKind
    /// The parent's service context with `DDActiveContextKey` set to this span.
    public let context: ServiceContext
    let http: DDHTTPTaggingSettings

    init(span: DDSpan, kind: SpanKind, context: ServiceContext, http: DDHTTPTaggingSettings) {
        self.span = span
        self.kind = kind
        self.context = context
        self.http = http
    }

    /// The Tracing operation name, which is the Datadog resource ("" once the span has ended).
    public var operationName: String {
        get { span.openSlot?.pointee.resource ?? "" }
        nonmutating set { span.setResource(newValue) }
    }

    /// The span's tags as attributes (meta as strings, metrics as numbers), read from the span on each access;
    /// setting applies every attribute of the new value (see `DDTracingSpan`). Prefer
    /// `attributes["key"] = value` or `updateAttributes` for several at once: each access copies the tags.
    public var attributes: SpanAttributes {
        get { span.openSlot.map(Self.materialize) ?? [:] }
        nonmutating set { apply(newValue) }
    }

    /// Whether the span is recorded and not ended.
    public var isRecording: Bool { span.isRecording }

    /// `.error` sets the `error` flag (and `error.message` from the status message); `.ok` clears it.
    public func setStatus(_ status: SpanStatus) {
        switch status.code {
        case .error:
            span.setError(true)
            if let message = status.message { span.setTag("error.message", message) }
        case .ok:
            // OpenTelemetry: Ok is final and overrides an earlier Error.
            span.setError(false)
        }
    }

    /// Appends the event to the `events` tag (a JSON array of `name`, `time_unix_nano`, `attributes`).
    public func addEvent(_ event: SpanEvent) {
        appendEvent(name: event.name, nanoseconds: event.nanosecondsSinceEpoch, attributes: event.attributes)
    }

    /// Sets `error.type`, `error.message` (and `error.stack` from an `exception.stacktrace` attribute) and adds an
    /// `exception` event; the `error` flag is left to `setStatus` (and, for HTTP spans, to the response status).
    public func recordError<Instant: TracerInstant>(
        _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {
        guard span.isRecording else { return }
        let type = String(reflecting: Swift.type(of: error))
        let message = String(describing: error)
        span.setTag("error.type", type)
        span.setTag("error.message", message)
        if let stack = attributes.get("exception.stacktrace").flatMap(TagValue.init) {
            span.setTag("error.stack", stack.text)
        }
        var eventAttributes: SpanAttributes = ["exception.type": .string(type), "exception.message": .string(message)]
        eventAttributes.merge(attributes)
        appendEvent(name: "exception", nanoseconds: instant().nanosecondsSinceEpoch, attributes: eventAttributes)
    }

    /// Adds a link to the span in `link.context` (ignored when that context carries no Datadog span or context).
    public func addLink(_ link: SpanLink) {
        guard span.isRecording, let linked = link.context.ddActive else { return }
        appendJSON(Self.linkJSON(linked, attributes: link.attributes), to: "_dd.span_links")
    }

    /// Ends the span at `instant`: derives the operation name and the HTTP error flag, then finishes it.
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        guard let slot = span.openSlot else { return }
        finalize(slot)
        span.finish(atWallClockNanoseconds: Int64(clamping: instant().nanosecondsSinceEpoch))
    }
}

// MARK: - Reading tags back, events and links

extension DDTracingSpan {
    /// The slot's tags as attributes; integral metrics come back as integers.
    static func materialize(_ slot: SlotPointer) -> SpanAttributes {
        var attributes = SpanAttributes()
        SlotTags.forEachMeta(slot) { key, value in attributes.set(key, value: .string(value)) }
        SlotTags.forEachMetric(slot) { key, value in
            let integral = value == value.rounded() && abs(value) < 9e15
            attributes.set(key, value: integral ? .int64(Int64(value)) : .double(value))
        }
        return attributes
    }

    /// The meta value `key` of this (open) span.
    func meta(_ key: String) -> String? {
        span.openSlot.flatMap { SlotTags.meta($0, key) }
    }

    func appendEvent(name: String, nanoseconds: UInt64, attributes: SpanAttributes) {
        guard span.isRecording else { return }
        var event = "{\"name\":" + JSONText.string(name) + ",\"time_unix_nano\":\(nanoseconds)"
        if !attributes.isEmpty { event += ",\"attributes\":" + JSONText.object(attributes) }
        appendJSON(event + "}", to: "events")
    }

    /// Appends `item` to the JSON array held in meta `key` (creating it).
    func appendJSON(_ item: String, to key: String) {
        if let existing = meta(key), existing.hasSuffix("]"), existing.count > 2 {
            span.setTag(key, String(existing.dropLast()) + "," + item + "]")
        } else {
            span.setTag(key, "[" + item + "]")
        }
    }

    /// dd-trace-py's `SpanLink.to_dict()`: 128-bit trace id and span id in hex, attributes as strings, and the
    /// sampling flag when the linked trace's decision is known.
    static func linkJSON(_ linked: DDActive, attributes: SpanAttributes) -> String {
        let context = linked.context
        var json = "{\"trace_id\":\"" + context.traceId.hexString + "\",\"span_id\":\"" + DDTraceID.hex(context.spanId)
            + "\""
        if !attributes.isEmpty { json += ",\"attributes\":" + JSONText.object(attributes, stringValues: true) }
        if let priority = context.samplingPriority { json += ",\"flags\":" + (priority.rawValue > 0 ? "1" : "0") }
        return json + "}"
    }
}

// MARK: - Ending

extension DDTracingSpan {
    /// Datadog's operation name, and for HTTP spans the error flag from the response status.
    func finalize(_ slot: SlotPointer) {
        slot.pointee.name = TracingConventions.operationName(kind: kind, slot: slot)
        guard kind == .server || kind == .client,
            let status = SlotTags.meta(slot, "http.status_code").flatMap({ Int($0) })
        else { return }
        // The status decides (DD_TRACE_HTTP_*_ERROR_STATUSES), over setStatus calls made from it by the library
        // (AsyncHTTPClient marks every status >= 400) and over errors thrown for non-error statuses (Hummingbird
        // records an HTTPError(.notFound)).
        slot.pointee.error = http.isError(status: status, client: kind == .client) ? 1 : 0
    }
}

extension SpanKind {
    /// The `span.kind` tag.
    var tagValue: String {
        switch self {
        case .server: "server"
        case .client: "client"
        case .producer: "producer"
        case .consumer: "consumer"
        case .internal: "internal"
        }
    }

    /// The Datadog span type: `web` for servers, `http` for clients, none otherwise.
    var spanType: String? {
        switch self {
        case .server: "web"
        case .client: "http"
        default: nil
        }
    }
}
