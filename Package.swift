// swift-tools-version: 6.1
// Gale: a Swift networking toolkit whose C core (libcore) runs on libevent.
import PackageDescription

let package = Package(
    name: "Gale",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Gale", targets: ["Gale"]),
        .executable(name: "gale", targets: ["GaleCLI"]),
        .executable(name: "hello-server", targets: ["hello-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
    ],
    targets: [
        // libevent from the system, found through pkg-config.
        .systemLibrary(
            name: "CLibevent",
            path: "Sources/CLibevent",
            pkgConfig: "libevent_pthreads", // requires libevent: -levent_pthreads -levent
            providers: [.apt(["libevent-dev"]), .brew(["libevent"])]
        ),
        // libcore: the C sources in CSources/, the public headers in include/.
        .target(
            name: "CGale",
            dependencies: ["CLibevent"],
            path: ".",
            sources: ["CSources"],
            publicHeadersPath: "include",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "Gale",
            dependencies: [
                "CGale",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Gale",
            // Async functions run on their caller's executor (the loop) instead of hopping
            // through swift_task_switch at every call and return: thousands of instructions
            // per request (docs/ARCHITECTURE.md).
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .executableTarget(
            name: "GaleCLI",
            dependencies: [
                "Gale",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/GaleCLI"
        ),
        .executableTarget(
            name: "hello-server",
            dependencies: [
                "Gale",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/hello-server",
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .testTarget(name: "GaleTests", dependencies: ["Gale"], path: "Tests/GaleTests"),
        .testTarget(name: "CoreTests", dependencies: ["CGale"], path: "Tests/CoreTests"),
    ],
    swiftLanguageModes: [.v6]
)
