import Testing

@testable import DDTrace

/// Spans started on a real tracer (agent unreachable) and kept open while a test looks at their slots: an open
/// slot belongs to its span's owner (here, the test), so neither the flusher nor anyone else touches it.
/// `finish()` ends them all, after which the flusher encodes and recycles the slots as usual.
final class SlotFixture {
    static let service = "filter-test"
    let tracer: DDTracer
    private(set) var spans: [DDSpan] = []

    init() throws {
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.agentURL = "http://127.0.0.1:9"
        configuration.service = Self.service
        configuration.strict = true
        tracer = try DDTracer(configuration: configuration)
    }

    @discardableResult
    func root(_ name: String, service: String? = nil, resource: String? = nil, type: String? = nil) -> DDSpan {
        let span = tracer.startSpan(name, service: service, resource: resource, spanType: type, ignoreActive: true)
        spans.append(span)
        return span
    }

    @discardableResult
    func child(of parent: DDSpan, _ name: String, service: String? = nil, resource: String? = nil) -> DDSpan {
        let span = tracer.startSpan(name, childOf: parent, service: service, resource: resource)
        spans.append(span)
        return span
    }

    var slots: [SlotPointer] { spans.map { $0.openSlot! } }

    /// The chunk of all spans, the first being the local root, as the flusher builds it.
    func trace(localRoot: Bool = true) -> DDFinishedTrace {
        DDFinishedTrace(slots: slots, localRoot: localRoot ? spans[0].openSlot : nil, defaultService: Self.service)
    }

    func finish() {
        for span in spans.reversed() { span.finish() }
        _ = tracer.shutdown(timeout: .seconds(2))
    }
}

@Suite("Filter trace view")
struct FilterTraceTests {
    /// A root with a child and a grandchild; the child has more tags than fit inline.
    static func threeSpans(_ fixture: SlotFixture) -> (root: DDSpan, child: DDSpan, grandchild: DDSpan) {
        let root = fixture.root("web.request", resource: "GET /users/?", type: "web")
        root.setTag("http.url", "http://example.com/users/1")
        root.setMetric("http.status_code", 200)
        let child = fixture.child(of: root, "db.query", service: "users-db")
        for index in 0..<(SpanSlot.metaCapacity + 3) { child.setTag("k\(index)", "v\(index)") }
        for index in 0..<(SpanSlot.metricCapacity + 2) { child.setMetric("m\(index)", Double(index)) }
        child.setError(true)
        let grandchild = fixture.child(of: child, "cache.get")
        return (root, child, grandchild)
    }

    @Test("Reads come straight from the slots, with the default service and resource")
    func reads() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        let (root, child, grandchild) = Self.threeSpans(fixture)
        let trace = fixture.trace()
        #expect(trace.count == 3)
        #expect(!trace.hasEdits)
        let spans = trace.spans
        #expect(spans.map(\.name) == ["web.request", "db.query", "cache.get"])
        #expect(spans.map(\.service) == ["filter-test", "users-db", "users-db"])
        #expect(spans.map(\.resource) == ["GET /users/?", "db.query", "cache.get"])
        #expect(spans.map(\.type) == ["web", "", ""])
        #expect(spans.map(\.error) == [false, true, false])
        #expect(spans.map(\.isLocalRoot) == [true, false, false])
        #expect(spans.map(\.spanId) == [root.spanId, child.spanId, grandchild.spanId])
        #expect(spans.map(\.parentId) == [0, root.spanId, child.spanId])
        #expect(spans.allSatisfy { $0.traceId == root.traceId })
        #expect(trace.localRootSpan?.spanId == root.spanId)
        #expect(spans[0].tag("http.url") == "http://example.com/users/1")
        #expect(spans[0].metric("http.status_code") == 200)
        #expect(spans[0].tag("missing") == nil)
        // Tags beyond the inline capacity live in overflow slots; reads follow the chain.
        #expect(child.openSlot?.pointee.overflow != nil)
        #expect(spans[1].tag("k10") == "v10")
        #expect(spans[1].metric("m5") == 5)
        #expect(spans[1].allTags == Dictionary(uniqueKeysWithValues: (0..<11).map { ("k\($0)", "v\($0)") }))
        #expect(spans[1].allMetrics == Dictionary(uniqueKeysWithValues: (0..<6).map { ("m\($0)", Double($0)) }))
        #expect(fixture.trace(localRoot: false).localRootSpan == nil)
    }

    @Test("Edits are visible to later reads but stay out of the slots until commit")
    func pendingEdits() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        let (root, _, _) = Self.threeSpans(fixture)
        var trace = fixture.trace()
        trace.setTag("http.url", "http://example.com/users/?", onSpanAt: 0)
        trace.setTag("new", "tag", onSpanAt: 0)
        trace.removeTag("k3", onSpanAt: 1)
        trace.setMetric("http.status_code", 500, onSpanAt: 0)
        trace.removeMetric("m1", onSpanAt: 1)
        trace.setResource("GET /users", onSpanAt: 0)
        trace.setService("frontend", onSpanAt: 0)
        trace.setSpanType("http", onSpanAt: 0)
        trace.setError(true, onSpanAt: 0)
        trace.setError(false, onSpanAt: 1)
        #expect(trace.hasEdits)
        let spans = trace.spans
        #expect(spans[0].tag("http.url") == "http://example.com/users/?")
        #expect(spans[0].tag("new") == "tag")
        #expect(spans[1].tag("k3") == nil)
        #expect(spans[0].metric("http.status_code") == 500)
        #expect(spans[1].metric("m1") == nil)
        #expect(spans[0].resource == "GET /users")
        #expect(spans[0].service == "frontend")
        #expect(spans[0].type == "http")
        #expect(spans[0].error && !spans[1].error)
        #expect(spans[0].allTags["new"] == "tag")
        #expect(spans[1].allTags["k3"] == nil)
        #expect(spans[1].allMetrics["m1"] == nil)
        // Nothing reached the slot yet.
        let slot = try #require(root.openSlot)
        #expect(SlotTags.meta(slot, "http.url") == "http://example.com/users/1")
        #expect(SlotTags.meta(slot, "new") == nil)
        #expect(slot.pointee.resource == "GET /users/?")
    }

    @Test("Removing then setting a tag again, and setting then removing, end as the last call says")
    func lastEditWins() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        _ = Self.threeSpans(fixture)
        var trace = fixture.trace()
        trace.removeTag("http.url", onSpanAt: 0)
        trace.setTag("http.url", "again", onSpanAt: 0)
        trace.setTag("temp", "x", onSpanAt: 0)
        trace.removeTag("temp", onSpanAt: 0)
        #expect(trace.spans[0].tag("http.url") == "again")
        #expect(trace.spans[0].tag("temp") == nil)
        trace.commit()
        #expect(SlotTags.meta(fixture.slots[0], "http.url") == "again")
        #expect(SlotTags.meta(fixture.slots[0], "temp") == nil)
    }

    @Test("Commit writes fields and tags into the slots, inline and in overflow slots")
    func commit() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        _ = Self.threeSpans(fixture)
        var trace = fixture.trace()
        trace.setTag("http.url", "http://example.com/users/?", onSpanAt: 0)
        trace.setTag("new", "tag", onSpanAt: 0)
        trace.removeTag("k1", onSpanAt: 1)  // inline
        trace.removeTag("k9", onSpanAt: 1)  // overflow
        trace.setTag("k10", "changed", onSpanAt: 1)  // overflow, replaced
        trace.setTag("k.new", "appended", onSpanAt: 1)  // fills the hole k1 left inline
        trace.setMetric("m0", -1, onSpanAt: 1)
        trace.removeMetric("m4", onSpanAt: 1)
        trace.setMetric("fresh", 3, onSpanAt: 2)
        trace.setName("web.handler", onSpanAt: 2)
        trace.setService("", onSpanAt: 2)
        trace.setError(true, onSpanAt: 2)
        let expected = trace.spans.map { ($0.allTags, $0.allMetrics, $0.name, $0.service, $0.resource, $0.error) }
        trace.commit()
        #expect(trace.extraMeta.isEmpty && trace.extraMetrics.isEmpty && trace.extraTags == nil)
        // A fresh view of the same slots reads exactly what the edited view showed.
        let committed = fixture.trace()
        for (span, before) in zip(committed.spans, expected) {
            #expect(span.allTags == before.0)
            #expect(span.allMetrics == before.1)
            #expect((span.name, span.service, span.resource, span.error) == (before.2, before.3, before.4, before.5))
        }
        let child = fixture.slots[1]
        #expect(Int(child.pointee.metaCount) == SpanSlot.metaCapacity, "the new tag took k1's inline place")
        #expect(committed.spans[2].resource == "cache.get", "renaming kept the resource the span had")
        #expect(fixture.slots[2].pointee.service.isEmpty)
        #expect(SlotTags.meta(child, "k9") == nil && SlotTags.meta(child, "k10") == "changed")
    }

    @Test("A tag that fits nowhere goes to the extra tags, or to a new overflow slot when one is given")
    func fullSpans() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        let root = fixture.root("full")
        for index in 0..<SpanSlot.metaCapacity { root.setTag("k\(index)", "v") }
        for index in 0..<SpanSlot.metricCapacity { root.setMetric("m\(index)", 1) }
        let slot = try #require(root.openSlot)
        #expect(slot.pointee.overflow == nil)

        var trace = fixture.trace()
        trace.setTag("extra", "1", onSpanAt: 0)
        trace.setMetric("extra.metric", 2, onSpanAt: 0)
        trace.commit()
        #expect(trace.extraMeta.map { "\($0.spanIndex) \($0.key)=\($0.value)" } == ["0 extra=1"])
        #expect(trace.extraMetrics.map { "\($0.spanIndex) \($0.key)=\($0.value)" } == ["0 extra.metric=2.0"])
        let extras = try #require(trace.extraTags)
        #expect(extras.meta[slot]?.map(\.key) == ["extra"])
        #expect(extras.metrics[slot]?.map(\.value) == [2])
        #expect(SlotTags.meta(slot, "extra") == nil)

        // With a carrier from the span's own pool (this thread owns it), the tags go into the slots instead.
        var again = fixture.trace()
        again.setTag("extra", "1", onSpanAt: 0)
        again.setMetric("extra.metric", 2, onSpanAt: 0)
        again.commit(newCarrier: { slot.pointee.pool.take() })
        #expect(again.extraTags == nil)
        let carrier = try #require(slot.pointee.overflow)
        #expect(carrier.state.load(ordering: .relaxed) == SlotState.overflowTags)
        #expect(SlotTags.meta(slot, "extra") == "1")
        #expect(SlotTags.metric(slot, "extra.metric") == 2)
        #expect(carrier.pointee.metaCount == 1 && carrier.pointee.metricCount == 1, "one carrier for both")
    }

    @Test("removeSpan shifts positions like an array; commit skips removed spans; kept slots keep order")
    func removeSpans() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        _ = Self.threeSpans(fixture)
        let original = fixture.slots
        var trace = fixture.trace()
        trace.setTag("doomed", "x", onSpanAt: 1)
        trace.removeSpan(at: 1)
        #expect(trace.count == 2)
        #expect(trace.spans.map(\.name) == ["web.request", "cache.get"])
        trace.setTag("kept", "y", onSpanAt: 1)  // cache.get, now at position 1
        #expect(trace.removedSpans == [1])
        trace.commit()
        #expect(SlotTags.meta(original[1], "doomed") == nil, "removed spans are not edited")
        #expect(SlotTags.meta(original[2], "kept") == "y")
        var buffer: [SlotPointer] = [original[1]]
        trace.keptSlots(into: &buffer)
        #expect(buffer == [original[0], original[2]])
        trace.removeSpan(at: 0)
        #expect(trace.localRootSpan == nil)
        #expect(trace.removedSpans == [0, 1])
        var untouched: [SlotPointer] = []
        fixture.trace().keptSlots(into: &untouched)
        #expect(untouched == original)
    }

    @Test("A copy of the trace is independent (the chain relies on it to undo a filter)")
    func copies() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        _ = Self.threeSpans(fixture)
        var trace = fixture.trace()
        trace.setTag("a", "1", onSpanAt: 0)
        var copy = trace
        copy.setTag("a", "2", onSpanAt: 0)
        copy.removeSpan(at: 2)
        #expect(trace.spans[0].tag("a") == "1")
        #expect(trace.count == 3)
        #expect(copy.spans[0].tag("a") == "2")
    }

    @Test("setName keeps a defaulted resource; an explicit resource is untouched")
    func rename() throws {
        let fixture = try SlotFixture()
        defer { fixture.finish() }
        fixture.root("old.name")
        fixture.root("other", resource: "explicit")
        var trace = DDFinishedTrace(slots: fixture.slots, localRoot: nil, defaultService: SlotFixture.service)
        trace.setName("new.name", onSpanAt: 0)
        trace.setName("renamed", onSpanAt: 1)
        #expect(trace.spans.map(\.name) == ["new.name", "renamed"])
        #expect(trace.spans.map(\.resource) == ["old.name", "explicit"])
        trace.setResource("", onSpanAt: 0)
        #expect(trace.spans[0].resource == "new.name", "an empty resource means the name")
    }
}
