// swift-tools-version: 6.1
// UDP receive rate: a plain C recvfrom loop, libcore's gale_udp, and Gale's UDPSocket, one run.
//   cd bench/udp && swift run -c release udp-bench [seconds] [payload bytes]
import PackageDescription

let package = Package(
    name: "udp-bench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Gale", path: "../..")],
    targets: [
        .target(name: "CUDPBench", path: "c", cSettings: [.define("_GNU_SOURCE")]),
        .executableTarget(
            name: "udp-bench",
            dependencies: ["CUDPBench", .product(name: "Gale", package: "Gale")],
            path: "swift"
        ),
    ],
    swiftLanguageModes: [.v6]
)
