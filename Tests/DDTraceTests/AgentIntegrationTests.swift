// End-to-end tests against the real Datadog test agent (`ddapm-test-agent`), over a unix socket and over TCP,
// with the agent's header checks enabled (a failed check makes the agent answer 400, which the tracer counts).

import Foundation
import Testing

@testable import DDTrace

@Suite("Traces reach the real agent")
struct AgentIntegrationTests {
    enum Transport: String, CaseIterable, CustomTestStringConvertible {
        case unixSocketIOUring, tcpIOUring, unixSocketPlain, tcpPlain
        var unixSocket: Bool { self == .unixSocketIOUring || self == .unixSocketPlain }
        var ioUring: Bool { self == .unixSocketIOUring || self == .tcpIOUring }
        var testDescription: String { rawValue }
    }

    @Test(
        "a nested trace across threads and tasks arrives complete and correct",
        arguments: Transport.allCases, TraceAPIVersion.allCases)
    func nestedTraceArrives(transport: Transport, api: TraceAPIVersion) async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken("nested-\(transport.rawValue)-\(api.rawValue)")
        let tracer = try agent.tracer(token: token, unixSocket: transport.unixSocket) {
            $0.ioUringEnabled = transport.ioUring
            $0.apiVersion = api.rawValue
        }
        #expect(tracer.counters.usesIOUring == transport.ioUring)
        #expect(tracer.counters.traceAPIVersion == api.rawValue)

        struct Boom: Error {}
        var rootTraceId = DDTraceID(high: 0, low: 0)
        await tracer.trace("web.request", resource: "GET /users/:id", spanType: "web") { root in
            rootTraceId = root.traceId
            root.setTag("http.method", "GET")
            root.setMetric("custom.metric", 42.5)
            tracer.trace("auth.check") { span in span.setTag("user.id", "u-1") }
            // A child on another thread, finished there.
            let context = root.context
            let thread = Thread {
                let span = tracer.startSpan("cache.get", childOf: context, service: "redis", spanType: "cache")
                span.setTag("cache.key", "users:1")
                span.finish()
            }
            thread.start()
            while !thread.isFinished { usleep(1000) }
            // Children in concurrent tasks inherit the active span.
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<3 {
                    group.addTask {
                        await tracer.trace("db.query", resource: "SELECT \(index)", spanType: "sql") { span in
                            span.setMetric("db.row_count", Double(index))
                            await Task.yield()
                        }
                    }
                }
            }
            _ = try? tracer.trace("failing.op") { _ throws(Boom) in throw Boom() }
        }
        let result = await tracer.flush(timeout: .seconds(10))
        #expect(result.succeeded)

        let chunks = try agent.traces(token)
        #expect(try agent.checkFailures(token) == "")
        let decoded = try agent.payloads(token)
        #expect(decoded.errors.isEmpty, "independent decoder: \(decoded.errors)")
        #expect(decoded.payloads.flatMap { $0 }.count == 1, "one chunk on the wire")
        let paths = try agent.requests(token).compactMap { $0["url"] as? String }.filter { $0.contains("/traces") }
        #expect(!paths.isEmpty && paths.allSatisfy { $0.contains(api.path) }, "\(paths)")
        try #require(chunks.count == 1)
        let spans = chunks[0]
        #expect(spans.count == 7)
        let byName = Dictionary(grouping: spans, by: \.name)
        let root = try #require(byName["web.request"]?.first)
        #expect(root.parentId == 0)
        #expect(root.traceId == rootTraceId.low)
        #expect(root.service == "swift-test")
        #expect(root.resource == "GET /users/:id")
        #expect(root.type == "web")
        #expect(root.error == 0)
        #expect(root.meta["http.method"] == "GET")
        #expect(root.meta["env"] == "ci")
        #expect(root.meta["version"] == "1.2.3")
        #expect(root.meta["_dd.p.tid"] == DDTraceID.hex(rootTraceId.high))
        #expect(root.meta["_dd.p.dm"] == "-0")
        #expect(root.meta["language"] == "swift")
        #expect(root.metrics["custom.metric"] == 42.5)
        #expect(root.metrics["_sampling_priority_v1"] == 1)
        // The high half is the start second, as Datadog tracers build it.
        let startSecond = Int64(rootTraceId.high >> 32)
        #expect(abs(startSecond - root.start / 1_000_000_000) <= 1)
        // The chunk's first span is the local root and carries the trace-level tags.
        #expect(spans[0].name == "web.request")

        for span in spans where span.name != "web.request" {
            #expect(span.parentId == root.spanId, "\(span.name) should be a child of the root")
            #expect(span.traceId == root.traceId)
            #expect(span.meta["_dd.p.tid"] == nil, "only the chunk's first span carries _dd.p.tid")
            #expect(span.start >= root.start && span.start + span.duration <= root.start + root.duration + 1_000_000)
        }
        #expect(byName["auth.check"]?.first?.meta["user.id"] == "u-1")
        let cache = try #require(byName["cache.get"]?.first)
        #expect(cache.service == "redis")
        #expect(cache.type == "cache")
        #expect(cache.meta["version"] == nil, "version is only set on the tracer's own service")
        #expect(byName["db.query"]?.count == 3)
        #expect(Set(byName["db.query"]!.map(\.resource)) == ["SELECT 0", "SELECT 1", "SELECT 2"])
        #expect(byName["db.query"]!.allSatisfy { $0.type == "sql" && $0.service == "swift-test" })
        let failing = try #require(byName["failing.op"]?.first)
        #expect(failing.error == 1)
        #expect(failing.meta["error.type"]?.hasSuffix("Boom") == true)

        let counters = tracer.counters
        #expect(counters.spansStarted == 7)
        #expect(counters.spansSent == counters.spansStarted)
        #expect(counters.responseErrors == 0)
        #expect(counters.droppedPoolExhausted == 0)
        tracer.shutdown()
    }

    @Test(
        "a span's own env, version or global tag replaces the tracer's, written once",
        arguments: TraceAPIVersion.allCases)
    func spanTagsOverrideProcessTags(api: TraceAPIVersion) async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken("override-\(api.rawValue)")
        let tracer = try agent.tracer(token: token, unixSocket: true) {
            $0.apiVersion = api.rawValue
            $0.tags = ["team": "payments", "region": "eu"]
        }
        tracer.trace("web.request") { root in
            root.setTag("env", "staging")
            root.setTag("team", "checkout")
            // Named explicitly after the default service: still the tracer's own service, so it gets `version`.
            let child = tracer.startSpan("db.query", childOf: root, service: "swift-test")
            child.setTag("version", "9.9.9")
            child.finish()
            tracer.startSpan("cache.get", childOf: root, service: "swift-test").finish()
        }
        #expect(await tracer.flush(timeout: .seconds(10)).succeeded)
        let decoded = try agent.payloads(token)
        #expect(decoded.errors.isEmpty, "independent decoder (duplicate keys included): \(decoded.errors)")
        let spans = Dictionary(grouping: decoded.payloads.flatMap { $0 }.flatMap { $0 }, by: \.name)
        let root = try #require(spans["web.request"]?.first)
        #expect(root.meta["env"] == "staging")
        #expect(root.meta["team"] == "checkout")
        #expect(root.meta["region"] == "eu")
        #expect(root.meta["version"] == "1.2.3")
        let query = try #require(spans["db.query"]?.first)
        #expect(query.meta["version"] == "9.9.9")
        #expect(query.meta["env"] == "ci")
        #expect(query.meta["team"] == "payments")
        let cache = try #require(spans["cache.get"]?.first)
        #expect(cache.meta["version"] == "1.2.3", "a service equal to the default one gets the version")
        #expect(try agent.checkFailures(token) == "")
        tracer.shutdown()
    }

    @Test("requests carry the agent protocol headers")
    func requestHeaders() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: false)
        tracer.trace("one") { _ in }
        tracer.trace("two") { _ in }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let requests = try agent.requests(token)
        let traceRequest = try #require(requests.first { ($0["url"] as? String)?.contains("/v0.4/traces") == true })
        #expect(traceRequest["method"] as? String == "PUT")
        let headers = (traceRequest["headers"] as? [String: String] ?? [:]).reduce(into: [String: String]()) {
            $0[$1.key.lowercased()] = $1.value
        }
        #expect(headers["content-type"] == "application/msgpack")
        #expect(headers["x-datadog-trace-count"] == "2")
        #expect(headers["datadog-meta-lang"] == "swift")
        #expect(headers["datadog-meta-tracer-version"] == DDTraceVersion.current)
        #expect(headers["datadog-meta-lang-version"] == DDTraceVersion.swiftLanguageVersion)
        #expect(Int(headers["content-length"] ?? "") ?? 0 > 0)
        #expect(try agent.traces(token).count == 2)
        tracer.shutdown()
    }

    @Test("a long trace is flushed partially and every span arrives")
    func partialFlush() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true) { $0.partialFlushMinSpans = 100 }
        tracer.trace("batch.job") { _ in
            for index in 0..<250 {
                tracer.trace("batch.item", resource: "item \(index)") { _ in }
            }
        }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        // The test agent merges chunks of one trace in /test/session/traces: look at the payloads as sent.
        let decoded = try agent.payloads(token)
        #expect(decoded.errors.isEmpty, "\(decoded.errors)")
        let chunks = decoded.payloads.flatMap { $0 }
        let spans = chunks.flatMap { $0 }
        #expect(spans.count == 251)
        #expect(chunks.map(\.count) == [100, 100, 51], "two partial chunks of 100, then the rest with the root")
        #expect(chunks.last?.first?.name == "batch.job", "the local root leads its chunk")
        #expect(Set(spans.map(\.traceId)).count == 1)
        #expect(Set(spans.map(\.spanId)).count == 251)
        for chunk in chunks {
            #expect(chunk[0].metrics["_sampling_priority_v1"] == 1, "each chunk's first span carries the priority")
        }
        let root = try #require(spans.first { $0.name == "batch.job" })
        #expect(spans.filter { $0.name == "batch.item" }.allSatisfy { $0.parentId == root.spanId })
        #expect(tracer.counters.partialFlushes == 2)
        tracer.shutdown()
    }

    @Test("spans started on one thread and finished on another, in many traces, all arrive")
    func crossThreadFinish() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        let traces = 200
        let spans = (0..<traces).map { index in
            let root = tracer.startSpan("root", resource: "trace \(index)", ignoreActive: true)
            let child = tracer.startSpan("child", childOf: root)
            return (root, child)
        }
        // Finish children and roots on two other threads, roots first for half of them.
        let first = Thread { for (index, pair) in spans.enumerated() where index % 2 == 0 { pair.0.finish() } }
        let second = Thread { for pair in spans { pair.1.finish() } }
        first.start()
        second.start()
        while !first.isFinished || !second.isFinished { usleep(1000) }
        for (index, pair) in spans.enumerated() where index % 2 == 1 { pair.0.finish() }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let chunks = try agent.traces(token)
        #expect(chunks.count == traces)
        #expect(chunks.allSatisfy { $0.count == 2 && $0[0].name == "root" && $0[1].parentId == $0[0].spanId })
        #expect(tracer.counters.spansSent == UInt64(2 * traces))
        tracer.shutdown()
    }

    // `startSpan(_:childOf: DDSpan)` has its own inlinable path (EngineCore.startChild); these are its branches.
    @Test("a child of a span joins its chunk and inherits its service; once the trace closed, it leads its own chunk")
    func childOfSpan() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        let root = tracer.startSpan("web.request", service: "a-service-name-longer-than-15-bytes", ignoreActive: true)
        let child = tracer.startSpan("db.query", childOf: root)
        let named = tracer.startSpan("cache.get", childOf: root, service: "redis", resource: "GET", spanType: "cache")
        named.finish()
        child.finish()
        root.finish()
        // The trace is closed (its last open span finished): a late child cannot join the sent chunk.
        let late = tracer.startSpan("late.work", childOf: root)
        #expect(late.isRecording && late.traceId == root.traceId)
        late.finish()
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        // The test agent groups what it received by trace id: one trace of four spans, sent in two chunks.
        let spans = try agent.traces(token).flatMap { $0 }
        #expect(spans.count == 4)
        #expect(spans.allSatisfy { $0.traceId == root.traceId.low })
        let received = Dictionary(uniqueKeysWithValues: spans.map { ($0.name, $0) })
        #expect(received["db.query"]?.service == "a-service-name-longer-than-15-bytes", "inherited")
        #expect(received["db.query"]?.parentId == root.spanId)
        #expect(received["cache.get"]?.service == "redis")
        #expect(received["cache.get"]?.resource == "GET" && received["cache.get"]?.type == "cache")
        #expect(received["late.work"]?.parentId == root.spanId)
        // Only the first span of a chunk carries the sampling decision: the late child led a chunk of its own.
        #expect(received["web.request"]?.metrics["_sampling_priority_v1"] != nil)
        #expect(received["db.query"]?.metrics["_sampling_priority_v1"] == nil)
        #expect(received["late.work"]?.metrics["_sampling_priority_v1"] != nil)
        #expect(tracer.counters.spansSent == 4)
        tracer.shutdown()
    }

    @Test("an exhausted span pool drops spans with a count, and everything recorded still arrives")
    func poolExhaustion() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true) { $0.spanPoolSize = 64 }
        // 100 open spans on one thread: 64 get slots, 36 are dropped but still behave.
        let root = tracer.startSpan("root")
        var children: [DDSpan] = []
        for _ in 0..<99 { children.append(tracer.startSpan("child", childOf: root)) }
        #expect(children.filter(\.isRecording).count == 63)
        #expect(children.allSatisfy { $0.traceId == root.traceId && $0.spanId != 0 })
        children.forEach { $0.setTag("k", "v") }
        children.forEach { $0.finish() }
        root.finish()
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let counters = tracer.counters
        #expect(counters.droppedPoolExhausted == 36)
        #expect(counters.spansStarted == 64)
        let spans = try agent.traces(token).flatMap { $0 }
        #expect(spans.count == 64)
        #expect(counters.spansSent == 64)
        tracer.shutdown()
    }

    @Test("a full ring overflows to the shared stack without losing spans")
    func ringOverflow() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true) {
            $0.ringCapacity = 256
            $0.flushInterval = .seconds(60)
        }
        for _ in 0..<3000 { tracer.trace("tiny") { _ in } }
        #expect(tracer.flush(timeout: .seconds(20)).succeeded)
        let counters = tracer.counters
        #expect(counters.spansSent == 3000)
        #expect(try agent.traces(token).count == 3000)
        tracer.shutdown()
    }

    @Test("finished spans of a trace whose root never finishes are sent after the stale-trace timeout")
    func staleTrace() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true, staleTraceTimeout: .milliseconds(300)) {
            $0.flushInterval = .milliseconds(100)
        }
        let leaked = tracer.startSpan("leaked.root")  // never finished, as an application bug would do
        for _ in 0..<5 { tracer.startSpan("child", childOf: leaked).finish() }
        let deadline = Date().addingTimeInterval(10)
        while tracer.counters.spansSent < 5 && Date() < deadline { usleep(50_000) }
        let spans = try agent.traces(token).flatMap { $0 }
        #expect(spans.count == 5)
        #expect(spans.allSatisfy { $0.parentId == leaked.spanId })
        #expect(tracer.counters.staleTraceFlushes == 1)
        ReliabilityReport.record(
            area: "Lifetime", fault: "a root span leaked by the application (never finished), 5 finished children",
            outcome: "after the stale-trace timeout (60 s by default; 300 ms here) the finished spans are sent as a "
                + "partial chunk and their slots reused, so a leak cannot hold memory",
            figures: [("spans sent", "\(spans.count)"), ("stale-trace flushes", "\(tracer.counters.staleTraceFlushes)")])
        tracer.shutdown()
    }

    @Test("a span with more tags than fit inline keeps them all (overflow slots), last write winning")
    func manyTags() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true)
        for round in 0..<3 {  // reuse the released overflow slots too
            tracer.trace("tagged", resource: "round \(round)") { span in
                for index in 0..<30 { span.setTag("tag.\(index)", "value \(index)") }
                for index in 0..<10 { span.setMetric("metric.\(index)", Double(index)) }
                span.setTag("tag.25", "replaced")  // lives in an overflow slot
                span.setMetric("metric.7", 70)
            }
        }
        #expect(tracer.flush(timeout: .seconds(10)).succeeded)
        let spans = try agent.traces(token).flatMap { $0 }
        #expect(spans.count == 3)
        for span in spans {
            #expect((0..<30).allSatisfy { span.meta["tag.\($0)"] != nil })
            #expect(span.meta["tag.0"] == "value 0")
            #expect(span.meta["tag.25"] == "replaced")
            #expect(span.metrics["metric.9"] == 9)
            #expect(span.metrics["metric.7"] == 70)
        }
        #expect(tracer.counters.tagsDroppedPoolExhausted == 0)
        tracer.shutdown()
    }

    @Test("a disabled tracer records and sends nothing")
    func disabledTracer() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: true) { $0.enabled = false }
        let span = tracer.startSpan("ignored")
        #expect(!span.isRecording)
        #expect(span.spanId != 0)
        span.finish()
        #expect(tracer.flush().succeeded)
        #expect(tracer.counters.spansStarted == 0)
        #expect(try agent.traces(token).isEmpty)
        ReliabilityReport.record(
            area: "Lifetime", fault: "DD_TRACE_ENABLED=false",
            outcome: "spans work for the caller (ids, propagation) but nothing is recorded or sent; no flusher thread",
            figures: [("spans recorded", "\(tracer.counters.spansStarted)")])
    }

    @Test("nothing finished before shutdown is lost; spans after shutdown are counted")
    func shutdownFlushes() throws {
        let agent = try TestAgent.shared()
        let token = sessionToken()
        let tracer = try agent.tracer(token: token, unixSocket: false) { $0.flushInterval = .seconds(60) }
        for index in 0..<50 { tracer.trace("before.shutdown", resource: "r\(index)") { _ in } }
        let open = tracer.startSpan("still.open")
        #expect(tracer.shutdown(timeout: .seconds(10)))
        #expect(tracer.shutdown(), "a second shutdown is a no-op")
        open.finish()
        tracer.startSpan("after").finish()
        #expect(try agent.traces(token).count == 50)
        let counters = tracer.counters
        #expect(counters.spansSent == 50)
        #expect(counters.droppedAfterShutdown == 2)
        ReliabilityReport.record(
            area: "Lifetime", fault: "shutdown with 50 finished spans unsent and one span open; shutdown twice; spans after",
            outcome: "the finished spans are flushed; the second shutdown is a no-op; the open span finished later and "
                + "a span started after shutdown are counted as dropped after shutdown",
            figures: [("sent", "\(counters.spansSent)"), ("dropped after shutdown", "\(counters.droppedAfterShutdown)")])
    }
}
