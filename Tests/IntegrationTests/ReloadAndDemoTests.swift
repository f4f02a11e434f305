import Catalog
import Foundation
import Testing

/// SIGHUP reload, `lmdflow demo`, and the systemd unit's exposure.
@Suite(.serialized, .enabled(if: DaemonHarness.binaryExists, "lmdflow binary not built (run `make test`)"))
struct ReloadAndDemoTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func sighupAddsAFolderAndABadConfigIsRefused() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        try await harness.waitReady()
        let second = "\(harness.root)/inbox2"
        let original = try String(contentsOfFile: harness.configPath, encoding: .utf8)
        try (original + "  - path: \(second)\n    profile: test\n").write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        kill(harness.process!.processIdentifier, SIGHUP)
        try await harness.waitFor("reload logged", timeout: 30) { harness.log.contains("configuration reloaded") }
        let staging = "\(harness.root)/second.tif"
        try DaemonHarness.writeTIFF(to: staging, seed: 77)
        #expect(rename(staging, "\(second)/second.tif") == 0)
        try await harness.waitFor("file in the new folder processed", timeout: 20) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).contains { $0.inputPath == "\(second)/second.tif" }
        }
        // A broken file is reported and the running configuration kept.
        try (original + "bogus_key: 1\n").write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        kill(harness.process!.processIdentifier, SIGHUP)
        try await harness.waitFor("reload refused", timeout: 10) { harness.log.contains("reload failed") }
        #expect(harness.log.contains("bogus_key"))
        try harness.drop(name: "after-bad-reload.tif", seed: 78)
        try await harness.waitFor("daemon still works", timeout: 20) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 2
        }
        #expect(try await harness.stop() == 0)
    }

    @Test func demoRunsTheSampleEndToEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-demo-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, stdout, stderr) = try DaemonHarness.cli([
            "demo", "--dir", dir, "--profile-dir", "\(Self.packageRoot)/share/lmdflow/profiles", "--log-level", "warning",
        ])
        #expect(status == 0, "stderr: \(stderr)")
        #expect(stdout.contains("run 1: succeeded"))
        #expect(stdout.contains("ingest"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/state/runs/1/run.json"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/state/archive/demo-nuclei.tif"))
        // The cut file and its preview are in the outbox, and the XML is a Leica LMD document.
        let xml = try String(contentsOfFile: "\(dir)/state/outbox/demo-nuclei/demo-nuclei_large_bright.xml", encoding: .utf8)
        #expect(xml.hasPrefix("<?xml version='1.0' encoding='UTF-8'?>\n<ImageData>"))
        // Every stage ran: the nuclei were segmented (180 synthetic nuclei, a few may merge or
        // split), extracted, featurized, and two sets chosen by their features.
        #expect(stdout.contains("segment") && stdout.contains("nucleus"))
        for stage in ["extract", "featurize", "select"] { #expect(stdout.contains(stage), "\(stage) missing") }
        #expect(FileManager.default.fileExists(atPath: "\(dir)/state/runs/1/single_cells.h5sc"))
        let features = try String(contentsOfFile: "\(dir)/state/runs/1/features.csv", encoding: .utf8)
        let rows = features.split(separator: "\n").count - 1
        #expect((172...188).contains(rows), "\(rows) feature rows")
        #expect(features.hasPrefix("cell_id,area_nucleus,"))
        let catalog = try Catalog(path: "\(dir)/state/catalog.sqlite")
        #expect(try catalog.cellCount(runID: 1) == rows)
        let sets = try catalog.cellSets(runID: 1)
        #expect(sets.map(\.name) == ["large", "bright"])
        #expect(sets.map(\.well) == ["A1", "B1"])
        #expect(sets.map(\.cellIDs.count) == [50, 40])
        let shapes = xml.firstMatch(of: /<ShapeCount>(\d+)<\/ShapeCount>/).flatMap { Int($0.1) } ?? 0
        #expect((80...90).contains(shapes), "\(shapes) shapes")
        #expect(xml.contains("<CapID>A1</CapID>") && xml.contains("<CapID>B1</CapID>"))
        let png = try #require(FileManager.default.contents(atPath: "\(dir)/state/outbox/demo-nuclei/preview.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(stdout.contains("cut file:"))
        #expect(try catalog.integrityCheck() == ["ok"])
        #expect(try catalog.daemonStatus()?.state == "stopped")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "systemd-analyze not installed"))
    func systemdUnitExposureIsAtMostTwo() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["\(Self.packageRoot)/systemd/check-security.sh", "\(Self.packageRoot)/systemd/lmdflow.service"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("Overall exposure level") || text.contains("exposure"), "\(text)")
    }
}
