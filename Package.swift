// swift-tools-version: 6.1
//
// lmdflow — drop-folder service for laser microdissection.
//
// Module layout (docs/ARCHITECTURE.md). Targets appear as their issues land:
//
//   C shims   CGEOS, CLibXML2, CInotifyTools, CTIFF, CZlib, CDeflate, CHDF5  (system libraries, Debian -dev packages)
//   domain    ImageKit → MicroscopyIO → Stitching, Segmentation, SingleCell (+ CHDF5), Microdissection
//   service   Catalog (GRDB) → Pipeline (profiles, stages, run dirs) → Daemon (watcher, scheduler)
//   CLI       lmdflow (executable)
//
// Rules: C modules are imported by exactly one Swift wrapper module; domain modules know
// nothing of folders, SQLite or daemons. Benchmarks live in Benchmarks/ (a separate package).
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Hot image kernels are optimised in debug builds too: unoptimised, they are 10–50x slower, and
/// the test suite (real images, whole-image segmentations) and `make demo` would spend minutes
/// in them while the daemon's integration tests wait with wall-clock deadlines. Allowed because
/// this is the root package; `-enable-testing` still comes with the debug configuration.
let kernelSettings: [SwiftSetting] = swiftSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "lmdflow",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lmdflow", targets: ["lmdflow"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // MARK: C system-library shims
        .systemLibrary(name: "CGEOS", pkgConfig: "geos", providers: [.apt(["libgeos-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CInotifyTools", providers: [.apt(["libinotifytools0-dev"])]),
        .systemLibrary(name: "CTIFF", pkgConfig: "libtiff-4", providers: [.apt(["libtiff-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libdeflate (whole-buffer inflate, ~3x zlib on ND2 frames); libtiff-dev depends on it.
        .systemLibrary(name: "CDeflate", providers: [.apt(["libdeflate-dev"])]),
        // libhdf5 (serial): scPortrait's single_cells.h5sc.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),

        // MARK: Domain modules (values in, values out)
        .target(name: "ImageKit", swiftSettings: kernelSettings),
        .target(
            name: "MicroscopyIO",
            dependencies: ["ImageKit", "CTIFF", "CZlib", "CDeflate", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(name: "Microdissection", dependencies: ["ImageKit", "CGEOS", "CLibXML2"], swiftSettings: kernelSettings),
        .target(name: "Segmentation", dependencies: ["ImageKit"], swiftSettings: kernelSettings),
        .target(name: "SingleCell", dependencies: ["ImageKit", "CHDF5", "CDeflate"], swiftSettings: kernelSettings),
        .target(name: "Stitching", dependencies: ["ImageKit", "MicroscopyIO"], swiftSettings: kernelSettings),

        // MARK: Service modules
        .target(
            name: "Catalog",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Pipeline",
            dependencies: [
                "Catalog", "MicroscopyIO", "ImageKit", "Microdissection", "Segmentation", "SingleCell", "Stitching",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Daemon",
            dependencies: [
                "Pipeline", "Catalog", "CInotifyTools",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP API, status page and metrics (issue 10): its own target so that Hummingbird's
        // build cost stays out of DaemonTests (docs/ARCHITECTURE.md, departure 6).
        .target(
            name: "HTTPAPI",
            dependencies: [
                "Daemon", "Pipeline", "Catalog",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "lmdflow",
            dependencies: [
                "Daemon", "Pipeline", "Catalog", "MicroscopyIO", "ImageKit", "Microdissection", "Segmentation", "SingleCell", "Stitching",
                "HTTPAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests (one target per module, plus shims and end-to-end)
        .testTarget(name: "SystemLibraryTests", dependencies: ["CGEOS", "CLibXML2", "CInotifyTools", "CTIFF", "CZlib"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "ImageKitTests", dependencies: ["ImageKit"], swiftSettings: swiftSettings),
        .testTarget(name: "MicroscopyIOTests", dependencies: ["MicroscopyIO", "ImageKit"], swiftSettings: swiftSettings),
        .testTarget(name: "MicrodissectionTests", dependencies: ["Microdissection", "ImageKit"], swiftSettings: swiftSettings),
        .testTarget(name: "SegmentationTests", dependencies: ["Segmentation", "ImageKit", "MicroscopyIO", "LMDTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "SingleCellTests", dependencies: ["SingleCell", "ImageKit", "MicroscopyIO", "LMDTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "StitchingTests", dependencies: ["Stitching", "ImageKit", "MicroscopyIO", "LMDTestSupport"],
                    swiftSettings: swiftSettings),
        .target(name: "LMDTestSupport", dependencies: ["MicroscopyIO", "ImageKit"], path: "Tests/LMDTestSupport", swiftSettings: swiftSettings),
        .testTarget(name: "CatalogTests", dependencies: ["Catalog", "LMDTestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Catalog", "MicroscopyIO", "ImageKit", "LMDTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "Pipeline", "Catalog", "LMDTestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "HTTPAPITests",
                    dependencies: ["HTTPAPI", "Daemon", "Pipeline", "Catalog",
                                   .product(name: "HummingbirdTesting", package: "hummingbird"),
                                   .product(name: "HTTPTypes", package: "swift-http-types"),
                                   .product(name: "NIOCore", package: "swift-nio"),
                                   .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                    swiftSettings: swiftSettings),
        .testTarget(name: "IntegrationTests", dependencies: ["Catalog", "MicroscopyIO", "ImageKit"],
                    swiftSettings: swiftSettings),
    ]
)
