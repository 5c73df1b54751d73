// swift-tools-version: 6.1
// Swift-side benchmarks for Gale. A package of its own, with a path dependency on the repo
// root, so the main package gains no benchmark target:
//   cd bench/swift && swift build -c release --product timers-bench   (and echo-bench)
import PackageDescription

let package = Package(
    name: "gale-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The repository root (its directory name varies by checkout, so the name is explicit).
        .package(name: "Gale", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "timers-bench",
            dependencies: [.product(name: "Gale", package: "Gale")],
            path: "Sources/timers-bench"
        ),
        .executableTarget(
            name: "echo-bench",
            dependencies: [.product(name: "Gale", package: "Gale")],
            path: "Sources/echo-bench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
