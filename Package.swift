// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "flux",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "FluxSecurity", targets: ["FluxSecurity"]),
        .executable(name: "flux", targets: ["flux"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
        .package(url: "https://github.com/vapor/fluent.git", from: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-sqlite-driver.git", from: "4.9.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt.git", from: "5.2.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/leaf.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/leaf-kit.git", from: "1.14.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .target(
            name: "FluxSecurity",
            dependencies: [
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Crypto", package: "swift-crypto"),
                // Vapor's own foundation, named because Vapor does not re-export these types.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FluxApp",
            dependencies: [
                "FluxSecurity",
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWT", package: "jwt"),
                // RSA public keys (RS256 passkeys); jwt-kit builds it already.
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                // The connection guard sits between Vapor's HTTP/1 decoder and its handlers.
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Leaf", package: "leaf"),
                .product(name: "LeafKit", package: "leaf-kit"),
                // Reads docs/openapi.yaml, compiled in by the plugin below, to serve it as JSON.
                .product(name: "Yams", package: "Yams"),
            ],
            // Resources/ (templates, stylesheets, scripts) and docs/openapi.yaml, compiled in.
            plugins: ["EmbedResources"]
        ),
        .plugin(name: "EmbedResources", capability: .buildTool(), exclude: ["embed-resources.sh"]),
        .executableTarget(
            name: "flux",
            dependencies: ["FluxApp"]
        ),
        .executableTarget(
            name: "SecurityBench",
            dependencies: ["FluxSecurity", .product(name: "Vapor", package: "vapor")],
            path: "bench/SecurityBench"
        ),
        .executableTarget(
            name: "FloorBench",
            dependencies: [
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentSQLiteDriver", package: "fluent-sqlite-driver"),
            ],
            path: "bench/FloorBench"
        ),
        .testTarget(
            name: "FluxSecurityTests",
            dependencies: [
                "FluxSecurity",
                .product(name: "VaporTesting", package: "vapor"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "FluxAppTests",
            dependencies: [
                "FluxApp",
                .product(name: "VaporTesting", package: "vapor"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ]
)
