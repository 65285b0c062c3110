import Foundation
import Testing

@_spi(Fuzzing) @testable import DDTrace

/// What the libFuzzer harnesses in Fuzz/ found (docs/FUZZING.md), pinned down, and their committed corpora replayed
/// through the same harness code (`DDFuzzing`), so that `swift test` catches a regression without a fuzzing build.
@Suite("Fuzzing regressions")
struct FuzzRegressionTests {
    private static func hasControlCharacter(_ headers: [String: String]) -> Bool {
        headers.values.contains(where: DDFuzzing.containsControlCharacter)
    }

    // MARK: Found by FuzzPropagation

    /// `x-datadog-origin: syn\rthetics` was kept as the origin and written back as is by `inject`: a CR or LF in
    /// it let a caller's headers add headers to every downstream request.
    @Test("An x-datadog-origin with control characters is dropped on extract")
    func receivedOriginWithControlCharacters() throws {
        let propagator = DDHTTPPropagator(inject: [.datadog, .tracecontext], extract: [.datadog])
        for origin in ["syn\r\nthetics", "rum\u{0}", "a\u{7F}", "\u{85}x", "x\ty", "r\u{e9}m"] {
            let received = ["x-datadog-trace-id": "1", "x-datadog-parent-id": "2", "x-datadog-origin": origin]
            let context = try #require(propagator.extract(from: received))
            #expect(context.origin == nil, "origin \(origin.debugDescription)")
            var injected: [String: String] = [:]
            propagator.inject(context, into: &injected)
            #expect(!Self.hasControlCharacter(injected))
        }
        let context = propagator.extract(from: [
            "x-datadog-trace-id": "1", "x-datadog-parent-id": "2", "x-datadog-origin": "synthetics-browser",
        ])
        #expect(context?.origin == "synthetics-browser")
    }

    /// The same through fields an application sets in code: an origin and other vendors' tracestate members with
    /// CR/LF were written verbatim into `x-datadog-origin` and `tracestate`.
    @Test("Origins and tracestate members set in code never inject control characters")
    func contextFieldsSetInCode() {
        var context = DDTraceContext(
            traceId: DDTraceID(high: 0, low: 2), spanId: 3, samplingPriority: .userKeep, origin: "rum\r\nx-evil: 1")
        context.tracestateOtherVendors = ["a=1", "b=2\r\nx-evil: 1", "c=\u{0}", "d=4"]
        var injected: [String: String] = [:]
        DDHTTPPropagator(inject: [.datadog, .tracecontext], extract: []).inject(context, into: &injected)
        #expect(!Self.hasControlCharacter(injected))
        #expect(injected["x-datadog-origin"] == nil)
        // The origin still travels, encoded, in the `dd=` member; the well-formed vendors are kept in order.
        #expect(injected["tracestate"] == "dd=s:2;o:rum_x-evil: 1,a=1,d=4")
    }

    @Test("The inputs that crashed FuzzPropagation pass its harness")
    func propagationCrashInputs() {
        let inputs: [String] = [
            "x-datadog-trace-id:1\nx-datadog-parent-id:2\nx-datadog-origin:syn\rthetics\n"
                + "tracestate:a=b\r\nbaggage:k=\u{1}v\n",
            "\u{0B}:",
        ]
        for input in inputs {
            Array(input.utf8).withUnsafeBytes(DDFuzzing.propagation)
        }
    }

    // MARK: Corpus replay

    /// Every committed corpus input through its harness: each was run by libFuzzer when it was committed, and a
    /// change that makes one trap (or break an invariant) fails here first.
    @Test(
        "The committed fuzzing corpora pass their harnesses",
        arguments: ["FuzzPropagation", "FuzzConfiguration", "FuzzAgentResponse", "FuzzHTTPParser"])
    func corpusReplay(target: String) throws {
        let harness: (UnsafeRawBufferPointer) -> Void =
            switch target {
            case "FuzzPropagation": DDFuzzing.propagation
            case "FuzzConfiguration": DDFuzzing.configuration
            // The C harness's inputs are agent responses too (plus request fields the Swift harness ignores).
            default: DDFuzzing.agentResponse
            }
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/Corpus/\(target)").standardizedFileURL
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!files.isEmpty, "no corpus in \(directory.path)")
        for file in files.sorted() {
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            data.withUnsafeBytes(harness)
        }
    }
}
