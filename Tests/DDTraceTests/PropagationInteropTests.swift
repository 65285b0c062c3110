// Interoperability with the reference tracer: dd-trace-py's HTTPPropagator (PyPI `ddtrace` 4.x, installed in .venv
// by scripts/setup.sh), driven by Support/propagation_ddtrace.py. Every case of this file goes to Python in two
// batches (one process each), computed once for all tests.

import Foundation
import Testing

@testable import DDTrace

/// A context as both tracers can describe it, for comparing what each extracted.
struct ExtractedView: Equatable, Sendable, CustomStringConvertible {
    var traceId: String?
    var spanId: String?
    var priority: Int?
    var origin: String?
    /// `_dd.p.*` tags without `_dd.p.tid` (the Swift context keeps it in `traceId`).
    var tags: [String: String] = [:]
    var error: String?
    var lastParentId: String?
    var otherVendors: [String] = []
    var baggage: [String: String] = [:]
    /// Terminated contexts (dd-trace-py's span links), as `traceid/spanid`.
    var links: [String] = []

    init(_ context: DDTraceContext?) {
        guard let context else { return }
        traceId = context.hasTrace ? PropagationText.hex32(context.traceId) : nil
        spanId = context.spanId == 0 ? nil : PropagationText.hex16(context.spanId)
        priority = context.samplingPriority?.rawValue
        origin = context.origin
        tags = context.propagatedTags
        error = context.propagationError
        lastParentId = context.lastDatadogParentId.map(PropagationText.hex16)
        otherVendors = context.tracestateOtherVendors
        baggage = context.baggage
        links = context.terminatedContexts.map { PropagationText.hex32($0.traceId) + "/" + PropagationText.hex16($0.spanId) }
    }

    init(_ result: DDTracePy.Result) {
        baggage = result.baggage ?? [:]
        // A dd-trace-py context without trace id (e.g. from `b3: 0`) continues nothing; only its baggage counts.
        guard let traceId = result.trace_id else { return }
        self.traceId = traceId
        spanId = result.span_id
        priority = result.sampling_priority.map { Int($0) }
        origin = result.origin
        tags = (result.tags ?? [:]).filter { $0.key != DatadogHeaders.traceIdHighTag }
        error = result.propagation_error
        lastParentId = result.last_parent_id
        otherVendors = (result.tracestate ?? "").split(separator: ",").map(String.init)
            .filter { !$0.hasPrefix(Tracestate.datadogKey) }
        links = (result.links ?? []).map { ($0.trace_id ?? "") + "/" + ($0.span_id ?? "") }
    }

    var description: String {
        guard let traceId else { return baggage.isEmpty ? "no context" : "baggage \(baggage)" }
        return "trace \(traceId) span \(spanId ?? "-") priority \(priority.map(String.init) ?? "-") origin "
            + "\(origin ?? "-") tags \(tags) error \(error ?? "-") parent \(lastParentId ?? "-") vendors \(otherVendors) "
            + "baggage \(baggage) links \(links)"
    }
}

/// dd-trace-py through `Support/propagation_ddtrace.py`.
enum DDTracePy {
    struct Context: Codable, Sendable {
        var trace_id: String
        var span_id: String
        var sampling_priority: Int?
        var origin: String?
        var tags: [String: String]
        var baggage: [String: String]
        var last_parent_id: String?
        var tracestate: String?

        init(_ context: DDTraceContext) {
            trace_id = PropagationText.hex32(context.traceId)
            span_id = PropagationText.hex16(context.spanId)
            sampling_priority = context.samplingPriority?.rawValue
            origin = context.origin
            tags = context.propagatedTags
            baggage = context.baggage
            last_parent_id = context.lastDatadogParentId.map(PropagationText.hex16)
            tracestate = context.tracestateOtherVendors.isEmpty ? nil : context.tracestateOtherVendors.joined(separator: ",")
        }
    }

    struct Case: Encodable, Sendable {
        var op: String
        var styles: [String]
        var extract_first = false
        var context: Context?
        var headers: [String: String]?

        static func inject(_ context: DDTraceContext, _ styles: [DDPropagationStyle]) -> Case {
            Case(op: "inject", styles: styles.map(\.rawValue), context: Context(context))
        }

        static func extract(_ headers: [String: String], _ styles: [DDPropagationStyle], first: Bool = false) -> Case {
            Case(op: "extract", styles: styles.map(\.rawValue), extract_first: first, headers: headers)
        }
    }

    struct Link: Decodable, Sendable {
        var trace_id: String?
        var span_id: String?
    }

    struct Result: Decodable, Sendable {
        var exception: String?
        var headers: [String: String]?
        var propagation_error: String?
        var trace_id: String?
        var span_id: String?
        var sampling_priority: Double?
        var origin: String?
        var tags: [String: String]?
        var last_parent_id: String?
        var tracestate: String?
        var baggage: [String: String]?
        var links: [Link]?
    }

    struct Output: Decodable {
        var ddtrace_version: String
        var results: [Result]
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static var script: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/propagation_ddtrace.py")
    }

    /// Runs one batch in one Python process.
    static func run(_ cases: [Case]) throws -> (version: String, results: [Result]) {
        let output = try PythonScript.run(script.path, input: try JSONEncoder().encode(["cases": cases]), reference: true)
        let decoded = try JSONDecoder().decode(Output.self, from: output)
        guard decoded.results.count == cases.count else {
            throw Failure(description: "propagation_ddtrace.py answered \(decoded.results.count) of \(cases.count) cases")
        }
        return (decoded.ddtrace_version, decoded.results)
    }
}

/// The interop cases and both tracers' answers, computed once.
struct InteropBatch: Sendable {
    struct Injection: Sendable {
        let name: String
        let context: DDTraceContext
        let styles: [DDPropagationStyle]
        let swiftHeaders: [String: String]
        let swiftError: String?
        let python: DDTracePy.Result
        /// dd-trace-py extracting the Swift tracer's headers, and its own.
        let pythonExtractsSwift: DDTracePy.Result
        let pythonExtractsPython: DDTracePy.Result
    }

    struct Extraction: Sendable {
        let label: String
        let headers: [String: String]
        let styles: [DDPropagationStyle]
        let extractFirst: Bool
        let python: DDTracePy.Result
    }

    let ddtraceVersion: String
    let injections: [Injection]
    let extractions: [Extraction]

    static let shared = Result { () throws(DDTracePy.Failure) -> InteropBatch in
        do { return try InteropBatch() } catch let error as DDTracePy.Failure { throw error } catch {
            throw DDTracePy.Failure(description: "\(error)")
        }
    }

    static let styleSets: [[DDPropagationStyle]] = [
        [.datadog], [.tracecontext], [.b3multi], [.b3], [.baggage], DDPropagationStyle.defaultStyles,
        [.tracecontext, .b3, .b3multi, .datadog, .baggage],
    ]

    static var contexts: [(String, DDTraceContext)] {
        typealias F = PropagationFixture
        var substituted = DDTraceContext(
            traceId: F.traceId, spanId: 77, samplingPriority: .autoKeep, origin: "syn;x=y,z",
            propagatedTags: ["_dd.p.x": "a=b~c", "_dd.p.dm": "-3"])
        substituted.tracestateOtherVendors = ["ot=th:8", "vendor=1"]
        let manyTags = Dictionary(uniqueKeysWithValues: (0..<12).map { (String(format2: $0), String(repeating: "v", count: 50)) })
        return PropagationRoundTripTests.priorities.map { ("full, priority \($0.map { "\($0.rawValue)" } ?? "unset")", F.fullContext(priority: $0)) }
            + [
                ("64-bit, nothing else", DDTraceContext(traceId: DDTraceID(high: 0, low: 12345), spanId: 67890)),
                ("character substitutions", substituted),
                ("rum without priority", DDTraceContext(traceId: F.traceId, spanId: 5, origin: "rum")),
                ("tags over 512", DDTraceContext(traceId: F.traceId, spanId: 5, samplingPriority: .userKeep, propagatedTags: manyTags)),
                ("untransportable tag", DDTraceContext(traceId: DDTraceID(high: 0, low: 5), spanId: 7, propagatedTags: ["_dd.p.a b": "1"])),
                ("baggage only", DDTraceContext(traceId: DDTraceID(high: 0, low: 0), spanId: 0, baggage: ["only": "baggage"])),
            ]
    }

    /// The malformed-header table, the W3C priority table and a few extract-first cases.
    static var extractionRows: [(label: String, headers: [String: String], styles: [DDPropagationStyle], first: Bool)] {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let both = ["x-datadog-trace-id": "1", "x-datadog-parent-id": "2", "traceparent": tp, "baggage": "k=v"]
        return PropagationMalformedTests.allRows.map { ($0.label, $0.headers, $0.styles, false) }
            + PropagationResolutionTests.priorityRows.map { row in
                let flags = row.sampled ? "01" : "00"
                let headers = ["traceparent": String(tp.dropLast(2)) + flags, "tracestate": row.tracestate]
                return ("priority: \(row.testDescription)", headers, [.tracecontext], false)
            }
            + [
                ("extract-first: the first style is present", both, [.datadog, .tracecontext, .baggage], true),
                ("extract-first: the first style is absent", both, [.b3, .datadog, .tracecontext, .baggage], true),
            ]
    }

    private init() throws {
        let plans = Self.contexts.flatMap { name, context in Self.styleSets.map { (name, context, $0) } }
        let swift = plans.map { _, context, styles in
            var headers: [String: String] = [:]
            let result = PropagationFixture.propagator(styles).inject(context, into: &headers)
            return (headers, result.propagationError)
        }
        let rows = Self.extractionRows
        // Batch 1: dd-trace-py injects every context, extracts every Swift injection and every table row.
        let first = try DDTracePy.run(
            plans.map { DDTracePy.Case.inject($0.1, $0.2) }
                + zip(plans, swift).map { plan, swift in DDTracePy.Case.extract(swift.0, plan.2) }
                + rows.map { DDTracePy.Case.extract($0.headers, $0.styles, first: $0.first) })
        let pythonInjections = Array(first.results[0..<plans.count])
        let pythonExtractsSwift = Array(first.results[plans.count..<(2 * plans.count)])
        let tableResults = Array(first.results[(2 * plans.count)...])
        // Batch 2: dd-trace-py extracts its own injections.
        let second = try DDTracePy.run(
            zip(plans, pythonInjections).map { plan, result in DDTracePy.Case.extract(result.headers ?? [:], plan.2) })
        ddtraceVersion = first.version
        injections = plans.indices.map { index in
            Injection(
                name: plans[index].0, context: plans[index].1, styles: plans[index].2, swiftHeaders: swift[index].0,
                swiftError: swift[index].1, python: pythonInjections[index], pythonExtractsSwift: pythonExtractsSwift[index],
                pythonExtractsPython: second.results[index])
        }
        extractions = zip(rows, tableResults).map { row, result in
            Extraction(label: row.label, headers: row.headers, styles: row.styles, extractFirst: row.first, python: result)
        }
    }
}

@Suite("Propagation: interoperability with dd-trace-py")
struct PropagationInteropTests {
    static func batch() throws -> InteropBatch {
        try InteropBatch.shared.get()
    }

    @Test func theReferenceIsDDTrace4AndEveryCaseRan() throws {
        let batch = try Self.batch()
        #expect(batch.ddtraceVersion.hasPrefix("4."))
        #expect(batch.injections.count == InteropBatch.contexts.count * InteropBatch.styleSets.count)
        let results = batch.injections.flatMap { [$0.python, $0.pythonExtractsSwift, $0.pythonExtractsPython] }
            + batch.extractions.map(\.python)
        #expect(results.compactMap(\.exception).isEmpty)
        // Guards against comparing empty answers: most cases carry a trace.
        #expect(batch.injections.filter { $0.pythonExtractsSwift.trace_id != nil }.count >= 50)
        #expect(batch.extractions.filter { $0.python.trace_id != nil }.count >= 40)
    }

    /// The one difference on inject: dd-trace-py writes `t.tid` into `tracestate` only after its datadog
    /// injection has copied `_dd.p.tid` into the context (so with tracecontext alone it is missing); the Swift
    /// tracer always writes it for a 128-bit trace. And dd-trace-py sends an empty `tracestate`, the Swift tracer
    /// none.
    static func comparable(_ headers: [String: String], styles: [DDPropagationStyle]) -> [String: String] {
        var headers = headers.filter { !($0.key == "tracestate" && $0.value.isEmpty) }
        if !styles.contains(.datadog), let state = headers["tracestate"] {
            headers["tracestate"] = state.replacing(/;?t\.tid:[0-9a-f]{16}/, with: "").replacing("dd=;", with: "dd=")
        }
        return headers
    }

    @Test("both tracers inject the same headers") func sameHeaders() throws {
        for injection in try Self.batch().injections {
            let label = "\(injection.name) / \(injection.styles)"
            try #require(injection.python.exception == nil, "\(label): \(injection.python.exception ?? "")")
            #expect(
                Self.comparable(injection.swiftHeaders, styles: injection.styles)
                    == Self.comparable(injection.python.headers ?? [:], styles: injection.styles), "\(label)")
            #expect(injection.swiftError == injection.python.propagation_error, "\(label)")
        }
    }

    @Test("dd-trace-py reads the Swift tracer's headers as the Swift tracer does") func pythonExtractsSwift() throws {
        for injection in try Self.batch().injections {
            let swift = PropagationFixture.propagator(injection.styles).extract(from: injection.swiftHeaders)
            #expect(
                ExtractedView(injection.pythonExtractsSwift) == ExtractedView(swift), "\(injection.name) / \(injection.styles)")
        }
    }

    @Test("the Swift tracer reads dd-trace-py's headers as dd-trace-py does") func swiftExtractsPython() throws {
        for injection in try Self.batch().injections {
            let swift = PropagationFixture.propagator(injection.styles).extract(from: injection.python.headers ?? [:])
            #expect(
                ExtractedView(swift) == ExtractedView(injection.pythonExtractsPython), "\(injection.name) / \(injection.styles)")
        }
    }

    /// Where the Swift tracer deliberately differs from dd-trace-py 4.16 on received headers, and why.
    static let knownDifferences: [String: String] = [
        "dd: parent id overflows":
            "dd-trace-py keeps a span id above 2^64-1 that no tracer can send back; the Swift tracer rejects it",
        "b3multi: span id 17 digits": "the same for a B3 span id of more than 16 hex digits",
        "extract-first: the first style is absent":
            "dd-trace-py's extract-first loop breaks after the first configured style even when it found nothing",
    ]

    @Test("malformed and edge-case headers are read as dd-trace-py reads them") func sameExtraction() throws {
        for extraction in try Self.batch().extractions {
            try #require(extraction.python.exception == nil, "\(extraction.label): \(extraction.python.exception ?? "")")
            let propagator = PropagationFixture.propagator(extraction.styles, extractFirst: extraction.extractFirst)
            let swift = ExtractedView(propagator.extract(from: extraction.headers))
            let python = ExtractedView(extraction.python)
            if let reason = Self.knownDifferences[extraction.label] {
                #expect(swift != python, "\(extraction.label) now agrees; remove it from knownDifferences (\(reason))")
            } else {
                #expect(swift == python, "\(extraction.label)")
            }
        }
    }
}
