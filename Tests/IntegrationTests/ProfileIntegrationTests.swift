import Catalog
import Foundation
import MicroscopyIO
import Testing

/// The shipped end-to-end profiles (`nuclei-dapi`, `wga-cytosol`, `scan-stitch-wga`), each run by
/// the real daemon on real or realistic data dropped into its own folder, all three watched at
/// once: every run leaves masks, `single_cells.h5sc`, `features.csv`, the cut file, the preview,
/// `run.json` and catalog rows, and the outbox gets the cut file and the preview.
@Suite(.serialized, .enabled(if: DaemonHarness.binaryExists, "lmdflow binary not built (run `make test`)"))
struct ProfileIntegrationTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata")
    /// scPortrait's reference input: 2 channels (nucleus, cytosol), 2048², 900 synthetic cells.
    static let twoChannel = shared.appendingPathComponent("scportrait/inputs/synthetic_2ch_2048.tif").path
    static let truthNuclei = shared.appendingPathComponent("scportrait/inputs/truth_nucleus_labels.tif").path
    /// A 4×3 multi-position scan written by Nikon's own ND2 writer (DAPI, Alexa488).
    static let scan = shared.appendingPathComponent("nd2-generated/lim-multipos-4x3-2ch.nd2").path
    static var haveData: Bool { [twoChannel, truthNuclei, scan].allSatisfy { FileManager.default.fileExists(atPath: $0) } }

    /// The top-left `size`² of every channel of `path` as one-frame planes.
    static func crop(_ path: String, size: Int) throws -> (planes: [Plane], names: [String]) {
        let reader = try AcquisitionFile.open(path: path)
        var planes: [Plane] = []
        for c in 0..<max(1, reader.info.channels.count) {
            let plane = try reader.plane(PlaneIndex(frame: 0, channel: c))
            let bytesPerSample = plane.pixelType == .uint8 ? 1 : (plane.pixelType == .uint16 ? 2 : 4)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(size * size * bytesPerSample)
            for row in 0..<size {
                let start = row * plane.width * bytesPerSample
                bytes.append(contentsOf: plane.bytes[start..<(start + size * bytesPerSample)])
            }
            planes.append(Plane(width: size, height: size, pixelType: plane.pixelType, bytes: bytes))
        }
        return (planes, reader.info.channels.map(\.name))
    }

    @Test(.enabled(if: haveData, "../shared/testdata absent"))
    func threeShippedProfilesFromDropToCutFile() async throws {
        let profiles = ["nuclei-dapi", "wga-cytosol", "scan-stitch-wga"]
        var folders = ""
        for name in profiles {
            folders += "  - path: ROOT/in-\(name)\n    profile: \(name)\n"
        }
        let harness = try DaemonHarness(profile: "stages: [ingest]\n", settle: 0.3)
        for name in profiles {  // the shipped text, unchanged
            try FileManager.default.copyItem(atPath: "\(Self.packageRoot.path)/share/lmdflow/profiles/\(name).yml",
                                             toPath: "\(harness.profileDir)/\(name).yml")
        }
        let config = try String(contentsOfFile: harness.configPath, encoding: .utf8)
        try (config + "\n" + folders.replacingOccurrences(of: "ROOT", with: harness.root))
            .write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        try harness.start()
        try await harness.waitReady()

        // Inputs, written beside the drop folders and renamed in, each with its calibration sidecar.
        let size = 1024  // a quarter of scPortrait's image keeps the debug-build test short
        let (planes, _) = try Self.crop(Self.twoChannel, size: size)
        let channels = [ChannelInfo(name: "DAPI", index: 0), ChannelInfo(name: "WGA", index: 1)]
        let calibration = #"{"points_row_col_px": [[10, 10], [10, 1000], [1000, 500]]}"#
        for name in ["nuclei-dapi", "wga-cytosol"] {
            let staging = "\(harness.root)/\(name).nd2"
            try ND2Writer.write(path: staging, frames: [planes], channels: channels, pixelSizeUm: 0.65)
            try calibration.write(toFile: "\(harness.root)/in-\(name)/cells.calibration.json", atomically: true, encoding: .utf8)
            #expect(rename(staging, "\(harness.root)/in-\(name)/cells.nd2") == 0)
        }
        try calibration.write(toFile: "\(harness.root)/in-scan-stitch-wga/scan.calibration.json", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Self.scan, toPath: "\(harness.root)/scan.nd2")
        #expect(rename("\(harness.root)/scan.nd2", "\(harness.root)/in-scan-stitch-wga/scan.nd2") == 0)

        try await harness.waitFor("three runs finished", timeout: 240) {
            try harness.catalog().runs().filter { [.succeeded, .failed].contains($0.run.state) }.count == 3
        }
        let catalog = try harness.catalog()
        let expectedStages = [
            "nuclei-dapi": ["ingest", "segment", "extract", "featurize", "select", "cut"],
            "wga-cytosol": ["ingest", "segment", "extract", "featurize", "select", "cut"],
            "scan-stitch-wga": ["ingest", "stitch", "segment", "extract", "featurize", "select", "cut"],
        ]
        var nucleiCount = 0
        for summary in try catalog.runs() {
            let details = try catalog.details(runID: try #require(summary.run.id))
            let profile = details.run.profile
            #expect(details.run.state == .succeeded, "\(profile): \(details.stages.map { "\($0.name): \($0.message ?? "")" })")
            #expect(details.stages.map(\.name) == expectedStages[profile], "\(profile)")
            let runDir = try #require(details.run.runDir)
            let kinds = Set(details.outputs.map(\.kind))
            var required = ["mask:nucleus", "single_cells", "features_csv", "selection", "cut_xml", "preview", "run_json",
                            "outbox_cut_xml", "outbox_preview"]
            if profile != "nuclei-dapi" { required.append("mask:cytosol") }
            if profile == "scan-stitch-wga" { required += ["mosaic", "stitch_report"] }
            for kind in required { #expect(kinds.contains(kind), "\(profile): no \(kind) output (have \(kinds.sorted()))") }
            for output in details.outputs {
                #expect(FileManager.default.fileExists(atPath: output.path), "\(profile): \(output.path) missing")
            }
            // The outbox copies equal the run's files, and the cut file is a Leica shape file.
            let xml = try #require(details.outputs.first { $0.kind == "cut_xml" }?.path)
            let outboxXML = try #require(details.outputs.first { $0.kind == "outbox_cut_xml" }?.path)
            #expect(try Data(contentsOf: URL(fileURLWithPath: xml)) == Data(contentsOf: URL(fileURLWithPath: outboxXML)))
            let text = try String(contentsOfFile: outboxXML, encoding: .utf8)
            #expect(text.contains("<ImageData>") && text.contains("<Shape_1>") && text.contains("<CapID>A1</CapID>")
                    && text.contains("<CapID>B1</CapID>"), "\(profile): cut file lacks shapes or wells")
            let preview = try #require(details.outputs.first { $0.kind == "outbox_preview" }?.path)
            #expect(try Data(contentsOf: URL(fileURLWithPath: preview)).prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            #expect(FileManager.default.fileExists(atPath: "\(runDir)/run.json"))
            // Catalog rows: one per featurized cell, and two disjoint cell sets in A1 and B1.
            let cells = try catalog.cellCount(runID: details.run.id!)
            let sets = try catalog.cellSets(runID: details.run.id!)
            #expect(cells > 0, "\(profile): no cells in the catalog")
            #expect(Set(sets.map(\.well)) == ["A1", "B1"], "\(profile): \(sets.map(\.name))")
            if sets.count == 2 {
                #expect(Set(sets[0].cellIDs).isDisjoint(with: sets[1].cellIDs), "\(profile): the two sets share cells")
                #expect(sets.allSatisfy { !$0.cellIDs.isEmpty && $0.cellIDs.count <= 100 }, "\(profile)")
            }
            if profile == "nuclei-dapi" { nucleiCount = cells }
            print("\(profile): \(details.stages.map { "\($0.name) \(String(format: "%.2f", $0.durationSeconds ?? 0)) s" }.joined(separator: ", ")); "
                  + "\(cells) cells; sets \(sets.map { "\($0.name) \($0.cellIDs.count) → \($0.well ?? "-")" })")
        }
        // The nuclei found agree with the synthetic truth in the cropped quarter: at least 95 % of
        // the nuclei wholly inside it, at most 105 % of those touching it.
        let (truth, _) = try Self.crop(Self.truthNuclei, size: 1024)
        let reader = try AcquisitionFile.open(path: Self.truthNuclei)
        let whole = try reader.plane(PlaneIndex(frame: 0, channel: 0))
        let labelsInCrop = Self.labels(truth[0]), labelsOutside = Self.labels(whole, excludingTopLeft: 1024)
        let inside = labelsInCrop.subtracting(labelsOutside).count
        #expect(Double(nucleiCount) >= 0.95 * Double(inside) && Double(nucleiCount) <= 1.05 * Double(labelsInCrop.count),
                "nuclei-dapi found \(nucleiCount) nuclei; the truth has \(labelsInCrop.count) touching the quarter (\(inside) wholly inside)")
        #expect(try await harness.stop() == 0)
        #expect(try harness.catalog().integrityCheck() == ["ok"])
    }

    /// The distinct non-zero labels of a label plane, optionally only outside its top-left square.
    static func labels(_ plane: Plane, excludingTopLeft square: Int = 0) -> Set<UInt32> {
        var out = Set<UInt32>()
        let bytesPerSample = plane.pixelType == .uint8 ? 1 : (plane.pixelType == .uint16 ? 2 : 4)
        plane.bytes.withUnsafeBytes { raw in
            for y in 0..<plane.height {
                for x in 0..<plane.width where !(y < square && x < square) {
                    let offset = (y * plane.width + x) * bytesPerSample
                    let value: UInt32 = switch bytesPerSample {
                    case 1: UInt32(raw[offset])
                    case 2: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                    default: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                    }
                    if value != 0 { out.insert(value) }
                }
            }
        }
        return out
    }
}
