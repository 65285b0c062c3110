// The slot layout (SpanSlot.swift) puts what every span touches in the first three cache lines of its slot and
// what only a local root uses after them. These tests pin that grouping (a field added in the wrong place would
// quietly cost every span a cache line) and check the one behaviour the split changed: the propagated context of
// a local root is reset when its slot is cleared, and a child's clear leaves the root-only lines alone.

import Testing

@testable import DDTrace

@Suite("Span slot layout")
struct SpanSlotLayoutTests {
    static func line(_ field: PartialKeyPath<SlotHeader>) -> Int {
        MemoryLayout<SlotHeader>.offset(of: field)! / 64
    }

    static func end(_ field: PartialKeyPath<SlotHeader>, size: Int) -> Int {
        MemoryLayout<SlotHeader>.offset(of: field)! + size
    }

    @Test("what every span writes sits in the first three lines; root-only fields come after them")
    func hotFieldsComeFirst() {
        let lineZero: [PartialKeyPath<SlotHeader>] = [
            \.pool, \.next, \.localRoot, \.parentSlot, \.overflow, \.chunkNext, \.generationStorage,
            \.localRootGeneration, \.parentGeneration, \.closingTotal,
        ]
        for field in lineZero { #expect(Self.line(field) == 0, "\(field)") }
        // Offset 0 must be flusher-private (ThreadSanitizer reports the flusher's writes to a root's fields there).
        #expect(MemoryLayout<SlotHeader>.offset(of: \.chunkNext) == 0)
        let lineOne: [PartialKeyPath<SlotHeader>] = [
            \.traceIdHigh, \.traceIdLow, \.spanId, \.parentId, \.startMonotonic, \.endMonotonic, \.error,
            \.metaCount, \.metricCount, \.stateStorage, \.samplingPriority, \.serviceStateStorage,
        ]
        for field in lineOne { #expect(Self.line(field) == 1, "\(field)") }
        #expect(MemoryLayout<SlotHeader>.offset(of: \.name) == 128)
        #expect(Self.end(\.type, size: MemoryLayout<String>.size) == 192)
        // The trace's shared state, which every span of the trace updates (the counters), and the flusher's
        // chunk list, which it updates for every span that arrives, must not share a line: each update would
        // fetch the line from the other core.
        let sharedLine: [PartialKeyPath<SlotHeader>] = [
            \.traceStateStorage, \.origin, \.propagatedTags, \.presetRate, \.presetLimitRate, \.decisionRate,
            \.presetDecisionStorage, \.inheritedPriority, \.decidedPriority, \.decisionMechanism, \.rootSent,
            \.decisionDiscard, \.lineThreePadding,
        ]
        for field in sharedLine { #expect(Self.line(field) == 3, "\(field)") }
        let flusherLine: [PartialKeyPath<SlotHeader>] = [
            \.chunkHead, \.chunkTail, \.pendingSince, \.decisionLimitRate, \.chunkPending, \.received, \.expected,
        ]
        for field in flusherLine { #expect(Self.line(field) == 4, "\(field)") }
        #expect(MemoryLayout<SlotHeader>.offset(of: \.chunkHead) == 256)
    }

    @Test("the tag areas start on a line: the first two meta entries share one, the first metrics another")
    func tagAreasAreLineAligned() {
        #expect(SpanSlot.metaOffset % 64 == 0)
        #expect(SpanSlot.metaOffset >= MemoryLayout<SlotHeader>.size)
        #expect(MemoryLayout<MetaEntry>.stride == 32)
        #expect(SpanSlot.metricOffset == SpanSlot.metaOffset + SpanSlot.metaCapacity * 32)
        #expect(SpanSlot.metricOffset % 64 == 0)
        #expect(SpanSlot.stride % 64 == 0)
        #expect(SpanSlot.stride >= SpanSlot.metricOffset + SpanSlot.metricCapacity * MemoryLayout<MetricEntry>.stride)
    }

    @Test("clearing a local root drops its propagated context; clearing a child leaves the root lines alone")
    func clearResetsOnlyRootContext() throws {
        var configuration = DDTracerConfiguration(environment: [:])
        configuration.enabled = true
        configuration.agentURL = "http://127.0.0.1:9"  // never contacted: no flusher runs on this engine
        let engine = UnsafeMutablePointer<EngineCore>.make(configuration: try configuration.resolve())
        let remote = ParentLink(
            traceIdHigh: 0, traceIdLow: 42, spanId: 7, root: nil, rootGeneration: 0, parentSlot: nil,
            parentGeneration: 0, samplingPriority: 1, origin: "synthetics", propagatedTags: ["_dd.p.dm": "-4"])
        let root = engine.startSpan(
            name: "root", service: nil, resource: nil, type: nil, parent: remote, startWallClockNanoseconds: nil)
        let rootSlot = try #require(root.slot)
        #expect(rootSlot.pointee.origin == "synthetics")
        #expect(rootSlot.pointee.propagatedTags == ["_dd.p.dm": "-4"])

        let child = engine.startSpan(
            name: "child", service: nil, resource: nil, type: nil, parent: root.parentLink,
            startWallClockNanoseconds: nil)
        let childSlot = try #require(child.slot)
        #expect(childSlot.pointee.localRoot == rootSlot)
        // A child's slot never holds a propagated context of its own, and clearing it must not reach its root.
        #expect(childSlot.pointee.origin.isEmpty && childSlot.pointee.propagatedTags == nil)
        _ = SpanSlot.clear(childSlot, canSkipUnowned: StringStorage.canSkipUnowned)
        #expect(childSlot.pointee.localRoot == nil && childSlot.pointee.chunkNext == nil)
        #expect(rootSlot.pointee.origin == "synthetics")

        _ = SpanSlot.clear(rootSlot, canSkipUnowned: StringStorage.canSkipUnowned)
        #expect(rootSlot.pointee.origin.isEmpty)
        #expect(rootSlot.pointee.propagatedTags == nil)
        #expect(rootSlot.pointee.localRoot == nil)
    }
}
