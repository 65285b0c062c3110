// swift-tools-version:6.1
import PackageDescription

// libFuzzer harnesses for the parsers that read hostile or untrusted input (docs/FUZZING.md). A separate package,
// so that the root package's `swift build` / `swift test` never build them with sanitizers. Build and run them
// with `scripts/fuzz.sh` (it shows the build command: `--sanitize=fuzzer --sanitize=address` plus
// `-Xswiftc -sanitize=fuzzer,address`, see docs/FUZZING.md): libFuzzer then provides `main`, and each target only
// defines `LLVMFuzzerTestOneInput`.
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let ddTrace = Target.Dependency.product(name: "DDTrace", package: "swift-dd-trace")

let package = Package(
    name: "swift-dd-trace-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // `name:` because a path dependency's identity is its directory name, which differs between clones.
        .package(name: "swift-dd-trace", path: ".."),
    ],
    targets: [
        // Propagation headers (datadog, tracecontext, b3multi, b3, baggage) through extract and inject.
        .executableTarget(name: "FuzzPropagation", dependencies: [ddTrace], swiftSettings: strictSettings),
        // DD_* environments through the configuration resolver and the sampling, propagation and HTTP settings.
        .executableTarget(name: "FuzzConfiguration", dependencies: [ddTrace], swiftSettings: strictSettings),
        // Agent responses through the C HTTP parser, then the rate_by_service body through the Swift parser.
        .executableTarget(name: "FuzzAgentResponse", dependencies: [ddTrace], swiftSettings: strictSettings),
        // The C HTTP response parser alone, in C: its internal entry point (end-of-stream framing, expected
        // length) and byte-by-byte arrival, at C speed.
        .executableTarget(name: "FuzzHTTPParser", dependencies: [ddTrace]),
    ]
)
