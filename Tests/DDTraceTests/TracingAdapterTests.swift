// The swift-distributed-tracing adapter: `DDTracer` as a `Tracing.Tracer`, `DDTracingSpan`, the ServiceContext
// provider, and propagation through Tracing's Injector/Extractor. Mapping tests read tags back from open spans;
// the end-to-end tests check what the real test agent receives.

import Foundation
import Testing
import Tracing

@testable import DDTrace

@Suite("Tracing adapter: spans and attributes")
struct TracingAdapterSpanTests {
    @Test func attributesMapToMetaAndMetrics() throws {
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let span = tracer.startSpan("work", ofKind: .internal)
        span.attributes["count"] = 3
        span.attributes["ratio"] = 0.25
        span.attributes["small"] = Int32(7)
        span.attributes["flag"] = true
        span.attributes["name"] = "value"
        span.attributes["list"] = ["a", "b\"c"]
        span.attributes["numbers"] = [1, 2, 3]
        span.updateAttributes { $0["doubles"] = [1.5, 2.0] }
        let slot = try #require(span.span.openSlot)
        #expect(SlotTags.metric(slot, "count") == 3)
        #expect(SlotTags.metric(slot, "ratio") == 0.25)
        #expect(SlotTags.metric(slot, "small") == 7)
        #expect(SlotTags.meta(slot, "flag") == "true")
        #expect(SlotTags.meta(slot, "name") == "value")
        #expect(SlotTags.meta(slot, "list") == #"["a","b\"c"]"#)
        #expect(SlotTags.meta(slot, "numbers") == "[1,2,3]")
        #expect(SlotTags.meta(slot, "doubles") == "[1.5,2]")
        // The getter materializes the tags: meta as strings, integral metrics as integers.
        let read = span.attributes
        #expect(read.get("count") == .int64(3))
        #expect(read.get("ratio") == .double(0.25))
        #expect(read.get("flag") == .string("true"))
        #expect(read.get("span.kind") == .string("internal"))
        span.end()
        #expect(!span.isRecording)
        #expect(span.attributes.isEmpty)
    }

    @Test(arguments: [
        (SpanKind.server, "server", "web", "server.request"), (.client, "client", "http", "client.request"),
        (.producer, "producer", "", "producer"), (.consumer, "consumer", "", "consumer"),
        (.internal, "internal", "", "internal"),
    ])
    func kindsMapToSpanKindTypeAndOperationName(kind: SpanKind, tag: String, type: String, name: String) throws {
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let span = tracer.startSpan("do something", ofKind: kind)
        #expect(IntegrationTest.tags(span)["span.kind"] == tag)
        #expect(span.span.openSlot?.pointee.type == type)
        #expect(span.operationName == "do something")
        let state = IntegrationTest.endState(span)
        #expect(state.name == name)
        #expect(state.resource == "do something")
    }

    @Test(arguments: [
        (SpanKind.server, ["http.request.method": "GET"], "http.server.request"),
        (.client, ["http.request.method": "GET"], "http.client.request"),
        (.client, ["db.system": "postgresql"], "postgresql.query"),
        (.consumer, ["messaging.system": "kafka", "messaging.operation": "receive"], "kafka.receive"),
        (.client, ["rpc.system": "grpc"], "grpc.client.request"),
        (.server, ["rpc.system": "grpc"], "grpc.server.request"),
        (.client, ["rpc.system": "aws-api", "rpc.service": "s3"], "aws.s3.request"),
        (.server, ["network.protocol.name": "amqp"], "amqp.server.request"),
        (.internal, ["graphql.operation.type": "query"], "graphql.server.request"),
        (.internal, ["operation.name": "custom.op"], "custom.op"),
    ])
    func operationNameFollowsDDTracePy(kind: SpanKind, attributes: [String: String], expected: String) throws {
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let span = tracer.startSpan("name", ofKind: kind)
        span.updateAttributes { for (key, value) in attributes { $0[key] = value } }
        #expect(IntegrationTest.endState(span).name == expected)
    }

    @Test func operationNameIsTheResourceAndReservedAttributesSetSpanFields() throws {
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let span = tracer.startSpan("first", ofKind: .internal)
        span.operationName = "second"
        #expect(span.operationName == "second")
        span.attributes["service.name"] = "other-svc"
        span.attributes["span.type"] = "cache"
        let slot = try #require(span.span.openSlot)
        #expect(slot.pointee.service == "other-svc")
        #expect(slot.pointee.type == "cache")
        span.attributes["resource.name"] = "third"
        #expect(span.operationName == "third")
        span.end()
    }

    @Test func statusAndRecordedErrors() throws {
        struct Boom: Error, CustomStringConvertible { var description: String { "boom happened" } }
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let span = tracer.startSpan("failing", ofKind: .internal)
        span.recordError(Boom(), attributes: ["exception.stacktrace": "frame 1\nframe 2", "attempt": 2])
        var tags = IntegrationTest.tags(span)
        #expect(tags["error.type"]?.hasSuffix("Boom") == true)
        #expect(tags["error.message"] == "boom happened")
        #expect(tags["error.stack"] == "frame 1\nframe 2")
        let events = try JSONSerialization.jsonObject(with: Data((tags["events"] ?? "").utf8)) as? [[String: Any]]
        #expect(events?.first?["name"] as? String == "exception")
        #expect((events?.first?["attributes"] as? [String: Any])?["attempt"] as? Int == 2)
        #expect(span.span.openSlot?.pointee.error == 0, "recordError alone does not set the error flag")
        span.setStatus(.init(code: .error, message: "it failed"))
        tags = IntegrationTest.tags(span)
        #expect(span.span.openSlot?.pointee.error == 1)
        #expect(tags["error.message"] == "it failed")
        span.setStatus(.init(code: .ok))
        #expect(span.span.openSlot?.pointee.error == 0)
        span.end()
    }

    @Test func eventsAndLinksAreJSONMeta() throws {
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let other = tracer.startSpan("other", ofKind: .internal)
        let span = tracer.startSpan("linked", context: .topLevel, ofKind: .internal)
        span.addEvent(SpanEvent(name: "cache.miss", at: DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 42)))
        span.addEvent(SpanEvent(name: "retry", attributes: ["attempt": 2, "ok": false]))
        span.addLink(SpanLink(context: other.context, attributes: ["reason": "batch", "n": 1]))
        span.addLink(SpanLink(context: .topLevel, attributes: [:]))  // no Datadog context: ignored
        let tags = IntegrationTest.tags(span)
        let events = try #require(
            try JSONSerialization.jsonObject(with: Data((tags["events"] ?? "").utf8)) as? [[String: Any]])
        #expect(events.count == 2)
        #expect(events[0]["name"] as? String == "cache.miss")
        #expect(events[0]["time_unix_nano"] as? Int == 42)
        #expect((events[1]["attributes"] as? [String: Any])?["ok"] as? Bool == false)
        let links = try #require(
            try JSONSerialization.jsonObject(with: Data((tags["_dd.span_links"] ?? "").utf8)) as? [[String: Any]])
        #expect(links.count == 1)
        #expect(links[0]["trace_id"] as? String == other.span.traceId.hexString)
        #expect(links[0]["span_id"] as? String == DDTraceID.hex(other.span.spanId))
        #expect(links[0]["attributes"] as? [String: String] == ["reason": "batch", "n": "1"])
        span.end()
        other.end()
    }

    @Test func endAtAnInstantUsesWallClockNanoseconds() async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try IntegrationTest.agentTracer(agent, token: token)
        let start = DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000)
        let end = DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: 1_700_000_000_250_000_000)
        let span = tracer.startSpan("timed", context: .topLevel, ofKind: .internal, at: start)
        span.end(at: end)
        #expect(await tracer.flush(timeout: .seconds(10)).succeeded)
        let received = try #require(try agent.traces(token).first?.first)
        #expect(received.start == 1_700_000_000_000_000_000)
        #expect(received.duration == 250_000_000)
        tracer.shutdown()
    }
}

@Suite("Tracing adapter: context and propagation")
struct TracingAdapterContextTests {
    @Test func nativeAndTracingSpansNestBothWaysWithTheServiceContextProvider() async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try IntegrationTest.agentTracer(agent, token: token)
        await tracer.withSpan("outer", ofKind: .server) { outer in
            outer.attributes["http.request.method"] = "GET"
            tracer.trace("native.middle") { middle in
                #expect(tracer.currentSpan()?.spanId == middle.spanId)
                tracer.withSpan("inner", ofKind: .internal) { inner in
                    #expect(tracer.currentSpan()?.spanId == inner.span.spanId, "the native API sees the Tracing span")
                    tracer.trace("native.leaf") { _ in }
                }
            }
            // A child task inherits the service context, hence the active span.
            await Task { tracer.trace("native.in.task") { _ in } }.value
        }
        #expect(await tracer.flush(timeout: .seconds(10)).succeeded)
        let chunks = try agent.traces(token)
        try #require(chunks.count == 1)
        let byName = Dictionary(uniqueKeysWithValues: chunks[0].map { ($0.name + "|" + $0.resource, $0) })
        let outer = try #require(byName["http.server.request|outer"])
        let middle = try #require(byName["native.middle|native.middle"])
        let inner = try #require(byName["internal|inner"])
        let leaf = try #require(byName["native.leaf|native.leaf"])
        let inTask = try #require(byName["native.in.task|native.in.task"])
        #expect(outer.parentId == 0)
        #expect(middle.parentId == outer.spanId)
        #expect(inner.parentId == middle.spanId)
        #expect(leaf.parentId == inner.spanId)
        #expect(inTask.parentId == outer.spanId)
        #expect(outer.type == "web")
        #expect(outer.meta["span.kind"] == "server")
        #expect(outer.meta["http.method"] == "GET")
        #expect(try agent.checkFailures(token) == "")
        tracer.shutdown()
    }

    @Test func withSpanInsideANativeTraceIsAChildWithTheDefaultProvider() throws {
        let tracer = try IntegrationTest.offlineTracer(provider: DDTaskLocalContextProvider())
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        tracer.trace("native") { native in
            tracer.withSpan("tracing", ofKind: .internal) { span in
                #expect(span.span.traceId == native.traceId)
                #expect(span.span.parentSlot == native.slot, "parented on the native span through the provider")
            }
        }
    }

    @Test func aThrownErrorMarksTheSpan() throws {
        struct Failure: Error {}
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        var captured: DDTracingSpan?
        #expect(throws: Failure.self) {
            try tracer.withSpan("throws", ofKind: .internal) { span in
                captured = span
                // Checked before Tracing's withSpan ends the span.
                defer { #expect(span.span.openSlot?.pointee.error == 0) }
                throw Failure()
            }
        }
        #expect(captured?.isRecording == false)
    }

    @Test func injectAndExtractThroughTracingCarriers() throws {
        let tracer = try IntegrationTest.offlineTracer()
        defer { tracer.shutdown(timeout: .milliseconds(100)) }
        let span = tracer.startSpan("client", context: .topLevel, ofKind: .client)
        var headers: [String: String] = [:]
        tracer.inject(span.context, into: &headers, using: DictionaryInjector())
        #expect(headers["x-datadog-trace-id"] == String(span.span.traceId.low))
        #expect(headers["x-datadog-parent-id"] == String(span.span.spanId))
        #expect(headers["traceparent"]?.contains(span.span.traceId.hexString) == true)
        #expect(headers["x-datadog-sampling-priority"] == "1")

        var context = ServiceContext.topLevel
        tracer.extract(headers, into: &context, using: DictionaryExtractor())
        let extracted = try #require(context.ddActive?.context)
        #expect(extracted.traceId == span.span.traceId)
        #expect(extracted.spanId == span.span.spanId)
        let server = tracer.startSpan("server", context: context, ofKind: .server)
        #expect(server.span.traceId == span.span.traceId)
        #expect(server.span.openSlot?.pointee.parentId == span.span.spanId)
        server.end()
        span.end()

        // Nothing to extract: the context is left as it was; nothing active: nothing injected.
        var untouched = ServiceContext.topLevel
        tracer.extract(["accept": "text/plain"], into: &untouched, using: DictionaryExtractor())
        #expect(untouched.ddActive == nil)
        var none: [String: String] = [:]
        tracer.inject(.topLevel, into: &none, using: DictionaryInjector())
        #expect(none.isEmpty)
    }

    @Test func theProviderKeepsTheRestOfTheServiceContext() throws {
        enum Other: ServiceContextKey { typealias Value = String }
        var base = ServiceContext.topLevel
        base[Other.self] = "kept"
        let provider = DDServiceContextProvider()
        let remote = DDTraceContext(traceId: DDTraceID(high: 1, low: 2), spanId: 3)
        ServiceContext.withValue(base) {
            provider.withActive(.context(remote)) {
                #expect(ServiceContext.current?[Other.self] == "kept")
                #expect(provider.active()?.context.spanId == 3)
                provider.withActive(nil) { #expect(provider.active() == nil) }
            }
            #expect(provider.active() == nil)
        }
    }
}

// MARK: - Helpers shared by the integration tests (Tracing, Logging, Lifecycle, CLI, HTTP tagging)

enum IntegrationTest {
    /// A recording tracer whose agent does not exist: spans are recorded (their tags can be read back while they
    /// are open) and nothing is sent. Shut it down at the end of the test.
    static func offlineTracer(
        environment: [String: String] = [:], provider: any DDContextProvider = DDServiceContextProvider()
    ) throws -> DDTracer {
        var configuration = DDTracerConfiguration(environment: environment)
        configuration.agentURL = "unix:///nonexistent/dd-trace-tests/apm.socket"
        configuration.service = "offline-svc"
        configuration.env = "test"
        configuration.version = "9.9"
        return try DDTracer(configuration: configuration, contextProvider: provider)
    }

    /// A tracer reporting to the test agent under `token`, with `provider` (the TestAgent helper only makes
    /// task-local tracers).
    static func agentTracer(
        _ agent: TestAgent, token: String, environment: [String: String] = [:],
        provider: any DDContextProvider = DDServiceContextProvider(),
        configure: (inout DDTracerConfiguration) -> Void = { _ in }
    ) throws -> DDTracer {
        try agent.startSession(token)
        var configuration = DDTracerConfiguration(environment: environment)
        configuration.agentURL = agent.tcpURL
        configuration.service = "swift-test"
        configuration.env = "ci"
        configuration.version = "1.2.3"
        configure(&configuration)
        return try DDTracer(
            configuration: configuration, contextProvider: provider,
            additionalHeaders: [("X-Datadog-Test-Session-Token", token)])
    }

    /// The operation name, error flag and resource the span will be sent with, then ends it.
    static func endState(_ span: DDTracingSpan) -> (name: String, error: Int32, resource: String) {
        guard let slot = span.span.openSlot else { return ("", -1, "") }
        span.finalize(slot)
        let state = (slot.pointee.name, slot.pointee.error, slot.pointee.resource)
        span.end()
        return state
    }

    /// The span's tags as plain strings (metrics in their text form).
    static func tags(_ span: DDTracingSpan) -> [String: String] {
        var tags: [String: String] = [:]
        span.attributes.forEach { key, value in tags[key] = TagValue(value)?.text }
        return tags
    }
}

/// A Tracing injector/extractor over a plain dictionary of headers.
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier.first { $0.key.lowercased() == key.lowercased() }?.value
    }
}
