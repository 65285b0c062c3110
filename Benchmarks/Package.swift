// swift-tools-version:6.1
import PackageDescription

// The benchmark suite, a separate package so that the root package's `swift build` / `swift test` never resolve or
// build package-benchmark. Run it with `make bench` (everything, with the peers and the summary table) or
// `swift package benchmark --target SpanLifecycle` (and Encoder, Pipeline) from this directory. The peer
// comparison (swift-otel, swift-distributed-tracing) is the separate package in Peers/, so that nothing here
// resolves swift-otel.
let package = Package(
    name: "swift-dd-trace-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        // Shared with Peers/: the agent stand-in, the msgpack checker, clocks and workloads.
        .library(name: "BenchSupport", targets: ["BenchSupport"]),
    ],
    dependencies: [
        // `name:` because a path dependency's identity is its directory name, which differs between clones.
        .package(name: "swift-dd-trace", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(
            name: "BenchSupport",
            dependencies: [.product(name: "DDTrace", package: "swift-dd-trace")]
        ),
        // Not a benchmark: one workload in a plain process, for `valgrind --tool=callgrind` (see its main.swift).
        .executableTarget(
            name: "HotPathProfile",
            dependencies: ["BenchSupport", .product(name: "DDTrace", package: "swift-dd-trace")]
        ),
        .executableTarget(
            name: "SpanLifecycle",
            dependencies: [
                "BenchSupport",
                .product(name: "DDTrace", package: "swift-dd-trace"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/SpanLifecycle",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Encoder",
            dependencies: [
                "BenchSupport",
                .product(name: "DDTrace", package: "swift-dd-trace"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Encoder",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Pipeline",
            dependencies: [
                "BenchSupport",
                .product(name: "DDTrace", package: "swift-dd-trace"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Pipeline",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
