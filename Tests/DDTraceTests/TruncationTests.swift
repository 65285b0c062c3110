// Oversized names and tags are cut to the agent's limits by the encoder (at a UTF-8 boundary), counted, and the
// result is checked by the real test agent.

import Foundation
import Testing

@testable import DDTrace

@Suite("Oversized strings are truncated to the agent's limits")
struct TruncationTests {
    @Test(arguments: TraceAPIVersion.allCases)
    func oversizedFieldsAreTruncated(api: TraceAPIVersion) async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken("truncation-\(api.rawValue)")
        let tracer = try agent.tracer(token: token, unixSocket: true) { $0.apiVersion = api.rawValue }
        // "é" is two bytes: a cut at an odd byte count must back off to a character boundary.
        let longName = String(repeating: "n", count: 99) + "é" + String(repeating: "x", count: 500)
        let longResource = String(repeating: "r", count: 6_000)
        let longKey = String(repeating: "k", count: 300)
        let longValue = String(repeating: "v", count: 30_000)
        tracer.trace(longName, service: String(repeating: "s", count: 150), resource: longResource,
                     spanType: String(repeating: "t", count: 120)) { span in
            span.setTag(longKey, "value")
            span.setTag("big", longValue)
            span.setTag("fine", "ok")
        }
        #expect(await tracer.flush(timeout: .seconds(10)).succeeded)
        let chunks = try agent.traces(token)
        let span = try #require(chunks.first?.first)
        #expect(span.name == String(repeating: "n", count: 99), "the 2-byte é at byte 99 is not split")
        #expect(span.service == String(repeating: "s", count: 100))
        #expect(span.resource == String(repeating: "r", count: 5_000))
        #expect(span.type == String(repeating: "t", count: 100))
        #expect(span.meta[String(repeating: "k", count: 200) + "..."] == "value")
        #expect(span.meta["big"] == String(repeating: "v", count: 25_000) + "...")
        #expect(span.meta["fine"] == "ok")
        #expect(tracer.counters.stringsTruncated == 6)
        ReliabilityReport.record(
            area: "Hostile input", fault: "oversized name, service, resource, type, tag key and tag value (\(api.rawValue))",
            outcome: "cut to the agent's limits at a UTF-8 boundary (100 / 100 / 5,000 / 100 / 200 / 25,000 bytes), "
                + "keys and values with \"...\"; counted; the test agent accepts the payload",
            figures: [("strings truncated", "\(tracer.counters.stringsTruncated)")])
        #expect(try agent.checkFailures(token) == "")
        tracer.shutdown()
    }

    @Test(arguments: TraceAPIVersion.allCases)
    func oversizedDefaultServiceIsTruncatedOnEverySpan(api: TraceAPIVersion) async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken("truncation-service-\(api.rawValue)")
        // The configuration accepts up to 100 characters; 60 two-byte characters are 120 bytes, over the agent's
        // limit of 100 bytes. The encoder cuts the service once, when the tracer starts, at a character boundary;
        // every span written with it still counts as a truncation.
        let longService = "s" + String(repeating: "é", count: 59)
        let tracer = try agent.tracer(token: token, unixSocket: true) {
            $0.apiVersion = api.rawValue
            $0.service = longService
        }
        tracer.trace("web.request") { root in tracer.startSpan("child", childOf: root).finish() }
        #expect(await tracer.flush(timeout: .seconds(10)).succeeded)
        let spans = try #require(try agent.traces(token).first)
        #expect(spans.count == 2)
        #expect(spans.allSatisfy { $0.service == "s" + String(repeating: "é", count: 49) }, "an é is not split")
        #expect(spans.allSatisfy { $0.meta["version"] == "1.2.3" }, "still the tracer's own service")
        #expect(tracer.counters.stringsTruncated == 2)
        #expect(try agent.checkFailures(token) == "")
        tracer.shutdown()
    }
}
