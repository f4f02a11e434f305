import Catalog
import Foundation
import Testing

/// The daemon stitches a dropped multi-position scan with the shipped `scan-stitch` profile, and
/// `lmdflow stitch` works standalone on a tile folder.
@Suite(.serialized, .enabled(if: DaemonHarness.binaryExists, "lmdflow binary not built (run `make test`)"))
struct StitchIntegrationTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/testdata")
    static let scan = shared.appendingPathComponent("nd2-generated/lim-multipos-4x3-2ch.nd2").path
    static let gtcut = shared.appendingPathComponent("stitching/gtcut_r002_c000").path

    @Test(.enabled(if: FileManager.default.fileExists(atPath: scan), "../shared/testdata absent"))
    func droppedScanIsStitchedThenSegmented() async throws {
        let profile = try String(
            contentsOfFile: Self.packageRoot.appendingPathComponent("share/lmdflow/profiles/scan-stitch.yml").path,
            encoding: .utf8)
        let harness = try DaemonHarness(profile: profile)
        try harness.start()
        try await harness.waitReady()
        try FileManager.default.copyItem(atPath: Self.scan, toPath: "\(harness.root)/scan.nd2")
        #expect(rename("\(harness.root)/scan.nd2", "\(harness.inbox)/scan.nd2") == 0)
        try await harness.waitFor("scan run finished", timeout: 90) {
            try harness.catalog().runs().contains { [.succeeded, .failed].contains($0.run.state) }
        }
        let details = try harness.catalog().details(runID: try #require(harness.catalog().runs().first?.run.id))
        #expect(details.run.state == .succeeded, "\(details.stages.map { "\($0.name): \($0.message ?? "")" })")
        #expect(details.stages.map(\.name) == ["ingest", "stitch", "segment"])
        let stitch = try #require(details.stages.first { $0.name == "stitch" })
        #expect(stitch.message?.hasPrefix("12 tiles, 17/17 pairs accepted") == true, "\(stitch.message ?? "")")
        let runDir = try #require(details.run.runDir)
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(runDir)/stitch.json")))
                as? [String: Any])
        let width = try #require(report["mosaic_width"] as? Int)
        let height = try #require(report["mosaic_height"] as? Int)
        #expect((1055...1075).contains(width) && (1045...1065).contains(height), "\(width) x \(height)")
        #expect(report["stage_to_mosaic"] is [String: Any])
        #expect(details.outputs.contains { $0.kind == "mosaic" })
        // The mask was segmented on the mosaic: same size.
        let (code, out, _) = try DaemonHarness.cli(["inspect", "\(runDir)/masks/nucleus.ome.tif", "--json"])
        #expect(code == 0)
        let info = try #require((try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])?.first)
        #expect(info["width"] as? Int == width && info["height"] as? Int == height)
        #expect(try await harness.stop() == 0)
        #expect(try harness.catalog().integrityCheck() == ["ok"])
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: gtcut), "../shared/testdata absent"))
    func stitchCommandOnATileFolder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-stitch-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (code, out, err) = try DaemonHarness.cli([
            "stitch", Self.gtcut, "--overlap", "0.175", "--channel", "DAPI", "-o", "\(directory)/m.ome.tif",
            "--positions-json", "\(directory)/p.json", "--json",
        ])
        #expect(code == 0, "\(err)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(summary["accepted_pairs"] as? Int == 12 && summary["tiles"] as? Int == 9)
        #expect(summary["channels"] as? [String] == ["Alexa488", "DAPI", "mCherry"])
        let positions = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/p.json"))) as? [String: Any])
        let tiles = try #require(positions["tiles"] as? [[String: Any]])
        #expect(tiles.count == 9)
        #expect(Set(tiles.compactMap { t in (t["row"] as? Int).flatMap { r in (t["col"] as? Int).map { r * 3 + $0 } } }) == Set(0..<9))

        // Bad input: a clear message, the usage/data exit code, nothing written.
        let (missing, _, missingErr) = try DaemonHarness.cli(["stitch", Self.gtcut, "-o", "\(directory)/x.ome.tif"])
        #expect(missing == 64 && missingErr.contains("--overlap"))
        let (notScan, _, notScanErr) = try DaemonHarness.cli([
            "stitch", Self.shared.appendingPathComponent("nd2-generated/lim-zlib-3ch-t4-512.nd2").path, "-o", "\(directory)/y.ome.tif",
        ])
        #expect(notScan == 65 && notScanErr.contains("not a multi-position scan"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/x.ome.tif"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/y.ome.tif"))
    }
}
