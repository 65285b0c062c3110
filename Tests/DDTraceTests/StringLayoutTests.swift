// The two facts the flusher reads from `String`'s representation (StringLayout.swift): which strings own no
// storage (their release is skipped) and which are small (the encoder copies them straight from the value). Each
// is checked here against the running standard library, and end to end through the real test agent.

import Foundation
import Testing

@testable import DDTrace

@Suite("String layout facts the flusher relies on")
struct StringLayoutTests {
    @Test("slot strings that own no storage (literals, small strings) are told apart from owned ones")
    func stringStorageKinds() {
        #expect(StringStorage.canSkipUnowned)
        #expect(StringStorage.ownsNoStorage("a literal longer than fifteen bytes is immortal"))
        #expect(StringStorage.ownsNoStorage(String(12_345)))
        #expect(StringStorage.ownsNoStorage(""))
        let owned = String(repeating: "owned storage ", count: 10)
        #expect(!StringStorage.ownsNoStorage(owned))
        #expect(!StringStorage.ownsNoStorage(String(owned.dropFirst(3))))
    }

    @Test("destroying a slot string releases owned storage and leaves no reference behind")
    func stringStorageDestroyReleases() {
        var original = String(repeating: "x", count: 100)
        original.reserveCapacity(512)
        let stored = UnsafeMutablePointer<String>.allocate(capacity: 1)
        defer { stored.deallocate() }
        stored.initialize(to: original)  // shares the storage: two references
        StringStorage.destroy(stored, checked: StringStorage.canSkipUnowned)
        // With the stored copy released, `original` is the storage's only reference again and grows in place;
        // had the release been skipped, appending would copy the storage (copy on write) to a new address.
        let before = original.withUTF8 { UInt(bitPattern: $0.baseAddress) }
        original.append("y")
        let after = original.withUTF8 { UInt(bitPattern: $0.baseAddress) }
        #expect(before == after)
        #expect(original.utf8.count == 101)

        let literal = UnsafeMutablePointer<String>.allocate(capacity: 2)
        defer { literal.deallocate() }
        literal.initialize(to: "a literal longer than fifteen bytes is immortal")
        (literal + 1).initialize(to: "small")
        StringStorage.destroy(literal, checked: StringStorage.canSkipUnowned)
        StringStorage.destroy(literal + 1, checked: StringStorage.canSkipUnowned)
    }

    @Test("small strings are recognised with their length, up to 15 UTF-8 bytes, ASCII or not")
    func smallStringLengths() {
        #expect(SmallString.layoutVerified)
        for length in 0...20 {
            for text in [String(repeating: "a", count: length), String(repeating: "\u{e9}", count: length / 2)] {
                var value = text
                let expected: Int? = text.utf8.count <= 15 ? text.utf8.count : nil
                #expect(withUnsafeBytes(of: &value) { SmallString.length(at: $0.baseAddress!) } == expected, "\(text)")
            }
        }
        var owned = String(repeating: "owned storage ", count: 8)
        #expect(withUnsafeBytes(of: &owned) { SmallString.length(at: $0.baseAddress!) } == nil)
    }

    @Test(
        "strings of every length around the small-string limit arrive intact at the agent",
        arguments: TraceAPIVersion.allCases)
    func everyLengthArrivesIntact(api: TraceAPIVersion) async throws {
        let agent = try TestAgent.shared()
        let token = sessionToken("string-layout-\(api.rawValue)")
        let tracer = try agent.tracer(token: token, unixSocket: true) { $0.apiVersion = api.rawValue }
        // Lengths 0...17 in bytes: ASCII, two-byte characters (odd byte counts end mid-way, so use whole
        // characters), and the literals the encoder sees most.
        var expected: [String: String] = [
            "http.method": "GET", "component": "swift-nio", "fifteen.bytes.k": "fifteen bytes!!",
        ]
        for length in 1...17 {
            let key = "k\(length)." + String(repeating: "a", count: max(0, length - 3))
            expected[key] = String(repeating: "v", count: length)
            expected["e\(length)"] = String(repeating: "\u{e9}", count: length / 2)
        }
        expected["empty"] = ""
        tracer.trace("s", resource: "fifteen bytes!!", spanType: "sixteen bytes!!!") { span in
            for (key, value) in expected { span.setTag(key, value) }
            span.setMetric("m", 1)
            span.setMetric("fifteen.bytes.m", 2)
        }
        #expect(await tracer.flush(timeout: .seconds(10)).succeeded)
        let span = try #require(try agent.traces(token).first?.first)
        #expect(span.name == "s")
        #expect(span.resource == "fifteen bytes!!")
        #expect(span.type == "sixteen bytes!!!")
        for (key, value) in expected { #expect(span.meta[key] == value, "\(key)") }
        #expect(span.metrics["m"] == 1)
        #expect(span.metrics["fifteen.bytes.m"] == 2)
        #expect(try agent.checkFailures(token) == "")
        tracer.shutdown()
    }
}
