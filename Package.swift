// swift-tools-version:6.0
import PackageDescription

// No Swift package dependencies by design: toolchain modules plus system C libraries only.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "kt",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kt", targets: ["kt"]),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSSL", pkgConfig: "libssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // Our own small C shim for what Glibc does not export cleanly to Swift.
        .target(name: "CKTShim"),

        .target(name: "KTModel", swiftSettings: strict),
        .target(name: "KTConfig", dependencies: ["KTModel", "CYAML", "CCrypto"], swiftSettings: strict),
        .target(name: "CCurlShim", linkerSettings: [.linkedLibrary("curl")]),
        // TLS policy (versions, ciphers, ALPN, resumption, verification) over libssl, in C because
        // much of OpenSSL's API is macros.
        .target(name: "CKTTLS", dependencies: ["CSSL"]),
        .target(name: "KTHTTP", dependencies: ["KTModel", "CKTShim", "CKTTLS"], swiftSettings: strict),
        .target(name: "KTPolicy", dependencies: ["KTModel", "KTConfig"], resources: [.copy("Resources/injection-model.bin")],
                swiftSettings: strict),
        .target(name: "KTGateway", dependencies: ["KTModel", "KTConfig", "KTHTTP", "KTPolicy", "CCurlShim"], swiftSettings: strict),
        .target(name: "KTControlPlane", dependencies: ["KTModel", "KTConfig", "KTHTTP", "CSQLite", "CZlib"], swiftSettings: strict),
        // Trains the prompt-injection model from ../shared/data and writes the weights resource and report.
        .executableTarget(name: "kt-train-injection", dependencies: ["KTPolicy"], path: "Tools/TrainInjection", exclude: ["synthetic.jsonl"], swiftSettings: strict),
        .target(name: "KTCLI", dependencies: ["KTModel", "KTConfig", "KTGateway", "KTHTTP", "KTPolicy", "KTControlPlane"], swiftSettings: strict),
        .executableTarget(name: "kt", dependencies: ["KTCLI"], swiftSettings: strict),

        .target(name: "KTTestSupport", dependencies: ["KTHTTP", "KTConfig"], path: "Tests/KTTestSupport", swiftSettings: strict),
        .testTarget(name: "KTModelTests", dependencies: ["KTModel"], swiftSettings: strict),
        .testTarget(name: "KTConfigTests", dependencies: ["KTConfig", "KTModel", "KTTestSupport"], swiftSettings: strict),
        .testTarget(name: "KTHTTPTests", dependencies: ["KTHTTP", "KTTestSupport"], swiftSettings: strict),
        .testTarget(name: "KTPolicyTests", dependencies: ["KTPolicy", "KTModel", "KTConfig", "KTTestSupport"], swiftSettings: strict),
        .testTarget(name: "KTGatewayTests", dependencies: ["KTGateway", "KTHTTP", "KTConfig", "KTTestSupport"], swiftSettings: strict),
        .testTarget(name: "KTControlPlaneTests", dependencies: ["KTControlPlane", "KTModel", "KTHTTP", "KTConfig", "KTTestSupport"], swiftSettings: strict),
        .testTarget(name: "KTCLITests", dependencies: ["KTCLI", "KTConfig", "KTTestSupport"], swiftSettings: strict),
    ]
)
