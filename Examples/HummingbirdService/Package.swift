// swift-tools-version:6.1
import PackageDescription

// A real service traced with swift-dd-trace through swift-distributed-tracing: a Hummingbird frontend that calls a
// backend (the same binary in another mode) with AsyncHTTPClient. Its own package, so that the root package's
// build and tests do not pull in Hummingbird, NIO and AsyncHTTPClient.
let package = Package(
    name: "HummingbirdService",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hummingbird-service", targets: ["HummingbirdService"])
    ],
    dependencies: [
        // Named explicitly: a path dependency is otherwise identified by its directory name, which differs between
        // clones.
        .package(name: "swift-dd-trace", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdService",
            dependencies: [
                .product(name: "DDTrace", package: "swift-dd-trace"),
                .product(name: "DDTraceServiceLifecycle", package: "swift-dd-trace"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6), .enableUpcomingFeature("ExistentialAny")]
        )
    ]
)
