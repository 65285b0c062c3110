import Synchronization
import Testing

@testable import DDTrace

/// Filters for the chain tests.
private struct SetTag: DDTraceFilter {
    let key: String
    let value: String
    func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
        trace.setTag(key, value, onSpanAt: 0)
        return .keep
    }
}

/// Appends "+" to tag `key` of the first span as the previous filter left it.
private struct AppendToTag: DDTraceFilter {
    let key: String
    func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
        trace.setTag(key, (trace.spans[0].tag(key) ?? "") + "+", onSpanAt: 0)
        return .keep
    }
}

private struct Drop: DDTraceFilter {
    func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult { .drop }
}

private struct Failure: Error, Equatable {}

/// Edits, then throws.
private struct EditThenThrow: DDTraceFilter {
    func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
        trace.setTag("partial", "edit", onSpanAt: 0)
        trace.removeSpan(at: trace.count - 1)
        throw Failure()
    }
}

/// Counts its calls.
private final class Counting: DDTraceFilter {
    let calls = Atomic<Int>(0)
    func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
        calls.add(1, ordering: .relaxed)
        return .keep
    }
}

/// Removes spans named `name`, going backwards as the docs advise.
private struct RemoveNamed: DDTraceFilter {
    let name: String
    func process(_ trace: inout DDFinishedTrace) throws -> DDFilterResult {
        for position in trace.spans.indices.reversed() where trace.spans[position].name == name {
            trace.removeSpan(at: position)
        }
        return .keep
    }
}

@Suite("Filter chain")
struct FilterChainTests {
    static func fixture() throws -> SlotFixture {
        let fixture = try SlotFixture()
        let root = fixture.root("web.request")
        fixture.child(of: root, "db.query")
        fixture.child(of: root, "db.query")
        return fixture
    }

    @Test("Filters run in order, each fed the previous one's output")
    func sequence() throws {
        let fixture = try Self.fixture()
        defer { fixture.finish() }
        var chain = TraceFilterChain(filters: [SetTag(key: "trail", value: "a"), AppendToTag(key: "trail"), AppendToTag(key: "trail")])
        var trace = fixture.trace()
        #expect(chain.run(&trace) == .keep)
        #expect(trace.spans[0].tag("trail") == "a++")
        #expect(chain.statistics == .init(chunksProcessed: 1))
    }

    @Test("A drop ends the chain and is counted with the chunk's spans")
    func drop() throws {
        let fixture = try Self.fixture()
        defer { fixture.finish() }
        let after = Counting()
        var chain = TraceFilterChain(filters: [Drop(), after])
        var trace = fixture.trace()
        #expect(chain.run(&trace) == .drop)
        #expect(after.calls.load(ordering: .relaxed) == 0)
        #expect(chain.statistics == .init(chunksProcessed: 1, chunksDropped: 1, spansDropped: 3))
    }

    @Test("A throwing filter's edits are undone, the chain goes on, the error is reported once")
    func throwing() throws {
        let fixture = try Self.fixture()
        defer { fixture.finish() }
        let reports = Mutex<[String]>([])
        var chain = TraceFilterChain(filters: [SetTag(key: "before", value: "1"), EditThenThrow(), SetTag(key: "after", value: "2")]) {
            position, filter, error in
            reports.withLock { $0.append("\(position) \(type(of: filter)) \(error)") }
        }
        for _ in 0..<2 {
            var trace = fixture.trace()
            #expect(chain.run(&trace) == .keep)
            #expect(trace.count == 3, "the failing filter's removal is undone")
            #expect(trace.spans[0].tag("partial") == nil, "and so is its tag")
            #expect(trace.spans[0].tag("before") == "1", "earlier filters' edits stay")
            #expect(trace.spans[0].tag("after") == "2", "later filters still run")
        }
        #expect(reports.withLock { $0 } == ["1 EditThenThrow Failure()"])
        #expect(chain.statistics.filterErrors == 2)
        #expect(chain.statistics.chunksDropped == 0)
    }

    @Test("Removing every span drops the chunk; removing some is counted")
    func removals() throws {
        let fixture = try Self.fixture()
        defer { fixture.finish() }
        var chain = TraceFilterChain(filters: [RemoveNamed(name: "db.query")])
        var trace = fixture.trace()
        #expect(chain.run(&trace) == .keep)
        #expect(trace.spans.map(\.name) == ["web.request"])
        #expect(trace.removedSpans == [1, 2])
        #expect(chain.statistics.spansRemoved == 2)
        var everything = TraceFilterChain(filters: [RemoveNamed(name: "db.query"), RemoveNamed(name: "web.request")])
        var again = fixture.trace()
        #expect(everything.run(&again) == .drop)
        #expect(everything.statistics == .init(chunksProcessed: 1, chunksDropped: 1, spansDropped: 3))
    }

    @Test("An empty chain keeps everything untouched")
    func empty() throws {
        let fixture = try Self.fixture()
        defer { fixture.finish() }
        var chain = TraceFilterChain(filters: [])
        #expect(chain.isEmpty)
        var trace = fixture.trace()
        #expect(chain.run(&trace) == .keep)
        #expect(!trace.hasEdits)
    }
}
