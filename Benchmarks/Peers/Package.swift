// swift-tools-version:6.1
import PackageDescription

// The peer comparison lives in its own package so that the main benchmark package (and CI's allocation check,
// scripts/bench-check.sh) never resolves or builds swift-otel and its dependency graph.
//
// swift-otel is used with only its OTLP/HTTP exporter trait (`traits: ["OTLPHTTP"]`), not the default
// OTLPHTTP + OTLPGRPC: the benchmark configures the tracer with no exporter (`exporter = .none`, a batch span
// processor that discards), so the gRPC stack would only add build time, not span cost. (With no trait at all
// swift-otel 1.6.0 does not compile on Linux: its configuration code then lacks a Foundation import.)
let package = Package(
    name: "swift-dd-trace-peer-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-dd-trace-benchmarks", path: ".."),
        .package(name: "swift-dd-trace", path: "../.."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        .executableTarget(
            name: "Peers",
            dependencies: [
                .product(name: "BenchSupport", package: "swift-dd-trace-benchmarks"),
                .product(name: "DDTrace", package: "swift-dd-trace"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Benchmarks/Peers",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
