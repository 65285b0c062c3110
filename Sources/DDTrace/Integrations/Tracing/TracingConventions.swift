import Tracing

/// Datadog operation names for spans created through swift-distributed-tracing, as dd-trace-py derives them for
/// OpenTelemetry spans (`ddtrace/internal/opentelemetry/span.py`, `_datadog_operation_name`, itself adapted from
/// dd-trace-java's `OtelConventions`): the span's Tracing name becomes the resource, and the operation name says
/// what kind of work it is, so that Datadog's service pages group requests correctly.
enum TracingConventions {
    /// The operation name of the span in `slot`, from an explicit `operation.name` attribute or from its kind and
    /// semantic-convention attributes (read from the slot's meta when the span ends).
    static func operationName(kind: SpanKind, slot: SlotPointer) -> String {
        let meta = { (key: String) in SlotTags.meta(slot, key) }
        if let explicit = meta("operation.name"), !explicit.isEmpty { return explicit }
        switch kind {
        case .server: return serverName(meta)
        case .client: return clientName(meta)
        case .producer, .consumer: return messagingName(meta) ?? kind.tagValue
        case .internal: return meta("graphql.operation.type") != nil ? "graphql.server.request" : "internal"
        }
    }

    private static func serverName(_ meta: (String) -> String?) -> String {
        if meta("http.method") != nil { return "http.server.request" }
        if let name = messagingName(meta) { return name }
        if let rpc = meta("rpc.system") { return "\(rpc).server.request" }
        if let trigger = meta("faas.trigger") { return "\(trigger).invoke" }
        if meta("graphql.operation.type") != nil { return "graphql.server.request" }
        return meta("network.protocol.name").map { "\($0).server.request" } ?? "server.request"
    }

    private static func clientName(_ meta: (String) -> String?) -> String {
        if meta("http.method") != nil { return "http.client.request" }
        if let database = meta("db.system") { return "\(database).query" }
        if let name = messagingName(meta) { return name }
        if let rpc = meta("rpc.system") {
            guard rpc == "aws-api" else { return "\(rpc).client.request" }
            return meta("rpc.service").map { "aws.\($0).request" } ?? "aws.client.request"
        }
        if let provider = meta("faas.invoked_provider"), let name = meta("faas.invoked_name") {
            return "\(provider).\(name).invoke"
        }
        if meta("graphql.operation.type") != nil { return "graphql.server.request" }
        return meta("network.protocol.name").map { "\($0).client.request" } ?? "client.request"
    }

    private static func messagingName(_ meta: (String) -> String?) -> String? {
        guard let system = meta("messaging.system"), let operation = meta("messaging.operation") else { return nil }
        return "\(system).\(operation)"
    }
}
