// swift-tools-version:6.1
import PackageDescription

// The root package holds only the library, its C shim, the demo and the tests, so that `swift build` and
// `swift test` stay fast. Benchmarks live in the separate package under `Benchmarks/`.
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-dd-trace",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DDTrace", targets: ["DDTrace"]),
        .executable(name: "dd-trace-demo", targets: ["DDTraceDemo"]),
        .executable(name: "dd-trace", targets: ["DDTraceCLI"]),
        // Flushes and shuts the tracer down on graceful shutdown of a swift-service-lifecycle `ServiceGroup`.
        .library(name: "DDTraceServiceLifecycle", targets: ["DDTraceServiceLifecycle"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Everything that must be C: msgpack-c's pack template specialised for direct appends, HTTP/1.1
        // framing and parsing, the io_uring and plain-socket transports, and `static inline` helpers
        // (thread-local storage, clocks). `liburing.h` is included only by the .c files: importing it into
        // Swift breaks Glibc (it redefines _XOPEN_SOURCE).
        .target(
            name: "CDDTraceShims",
            path: "CShims",
            cSettings: [
                .define("NDEBUG", .when(configuration: .release)),
            ],
            linkerSettings: [
                .linkedLibrary("msgpackc"),  // Debian 12 / msgpack-c 4.0: libmsgpackc.so (pkg-config "msgpack")
                .linkedLibrary("uring"),
            ]
        ),
        .target(
            name: "DDTrace",
            dependencies: [
                "CDDTraceShims",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                // The `Tracing.Tracer` conformance (Sources/DDTrace/Integrations/Tracing).
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "DDTraceServiceLifecycle",
            dependencies: [
                "DDTrace",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "DDTraceDemo",
            dependencies: ["DDTrace"],
            swiftSettings: strictSettings
        ),
        // `dd-trace`: the command-line tool (`dd-trace bench`); subcommands are listed in DDTraceCommand.swift.
        .executableTarget(
            name: "DDTraceCLI",
            dependencies: [
                "DDTrace", "CDDTraceShims", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DDTraceTests",
            dependencies: [
                "DDTrace", "CDDTraceShims", "DDTraceServiceLifecycle",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Support/decode_payloads.py", "Support/propagation_ddtrace.py", "Support/cross_process_ddtrace.py",
                "Support/sampling_ddtrace.py"],
            swiftSettings: strictSettings
        ),
    ]
)
