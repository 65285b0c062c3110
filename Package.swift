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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "DDTraceDemo",
            dependencies: ["DDTrace"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DDTraceTests",
            dependencies: ["DDTrace", "CDDTraceShims"],
            exclude: ["Support/decode_payloads.py", "Support/propagation_ddtrace.py", "Support/cross_process_ddtrace.py", "Support/sampling_ddtrace.py"],
            swiftSettings: strictSettings
        ),
    ]
)
