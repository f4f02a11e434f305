import Catalog
import Foundation
import Testing

/// The real daemon on a temporary drop folder. Serialized: each test runs its own daemon process.
@Suite(.serialized, .enabled(if: DaemonHarness.binaryExists, "lmdflow binary not built (run `make test`)"))
struct DaemonIntegrationTests {
    @Test func droppedFileMakesOneRecordedRun() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        try await harness.waitReady()
        let path = try harness.drop(name: "sample.tif", seed: 1)
        try await harness.waitFor("run succeeded", timeout: 20) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 1
        }
        let catalog = try harness.catalog()
        let runs = try catalog.runs()
        #expect(runs.count == 1)
        let details = try catalog.details(runID: try #require(runs.first?.run.id))
        #expect(details.input.path == path)
        #expect(details.stages.map(\.name) == ["ingest"])
        #expect(details.stages.first?.state == .succeeded)
        #expect(details.outputs.contains { $0.kind == "run_json" })
        // Archived, not left in the inbox.
        try await harness.waitFor("input archived", timeout: 10) {
            try harness.catalog().details(runID: runs[0].run.id!).input.currentPath.hasPrefix("\(harness.stateDir)/archive/")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        let runJSON = try #require(FileManager.default.contents(atPath: "\(details.run.runDir!)/run.json"))
        let manifest = try #require(try JSONSerialization.jsonObject(with: runJSON) as? [String: Any])
        #expect(manifest["state"] as? String == "succeeded")
        #expect((manifest["input"] as? [String: Any])?["sha256"] as? String == details.input.sha256)
        #expect(try await harness.stop() == 0)
        #expect(try harness.catalog().integrityCheck() == ["ok"])
    }

    @Test func slowlyWrittenFileIsNotTakenBeforeItIsComplete() async throws {
        let harness = try DaemonHarness(settle: 0.5)
        try harness.start()
        try await harness.waitReady()
        // Write a valid TIFF in 8 pieces over ~4 s through one open descriptor (as a microscope does).
        let staging = "\(harness.root)/full.tif"
        try DaemonHarness.writeTIFF(to: staging, seed: 7, size: 256)
        let bytes = try #require(FileManager.default.contents(atPath: staging))
        let target = "\(harness.inbox)/slow.tif"
        let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        let pieces = 8
        let chunk = (bytes.count + pieces - 1) / pieces
        var sawRunEarly = false
        for piece in 0..<pieces {
            let start = piece * chunk
            let end = min(bytes.count, start + chunk)
            bytes[start..<end].withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
            try await Task.sleep(for: .milliseconds(500))
            if try !harness.catalog().runs().isEmpty { sawRunEarly = true }
        }
        let closedAt = Date()
        close(fd)
        try await harness.waitFor("run succeeded", timeout: 20) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 1
        }
        #expect(!sawRunEarly, "a run was created while the file was still being written")
        let details = try harness.catalog().details(runID: try #require(harness.catalog().runs().first?.run.id))
        #expect(details.input.size == Int64(bytes.count))
        #expect(details.run.createdAt >= closedAt.addingTimeInterval(-0.05))
        #expect(try await harness.stop() == 0)
    }

    @Test func fiveHundredFilesDroppedAtOnceGiveFiveHundredRuns() async throws {
        let harness = try DaemonHarness(settle: 0.2, extra: "concurrency: 2")
        try harness.start()
        try await harness.waitReady()
        let count = 500
        // Prepare all files aside, then rename them in as fast as possible.
        let staging = "\(harness.root)/staging500"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        for index in 0..<count { try DaemonHarness.writeTIFF(to: "\(staging)/f\(index).tif", seed: UInt64(1000 + index), size: 16) }
        for index in 0..<count { #expect(rename("\(staging)/f\(index).tif", "\(harness.inbox)/f\(index).tif") == 0) }
        try await harness.waitFor("500 runs finished", timeout: 240) {
            let counts = try harness.catalog().runCounts()
            return (counts[.succeeded] ?? 0) + (counts[.failed] ?? 0) >= count && (counts[.queued] ?? 0) == 0
        }
        let catalog = try harness.catalog()
        let runs = try catalog.runs(RunFilter(limit: 10_000))
        #expect(runs.count == count)
        #expect(runs.allSatisfy { $0.run.state == .succeeded })
        #expect(Set(runs.map(\.inputPath)).count == count, "every file exactly once")
        #expect(try await harness.stop() == 0)
        #expect(try catalog.integrityCheck() == ["ok"])
    }

    @Test func sameFileDroppedTwiceMakesOneRun() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        try await harness.waitReady()
        let staging = "\(harness.root)/twice.tif"
        try DaemonHarness.writeTIFF(to: staging, seed: 42)
        try FileManager.default.copyItem(atPath: staging, toPath: "\(harness.root)/copy1.tif")
        #expect(rename("\(harness.root)/copy1.tif", "\(harness.inbox)/twice.tif") == 0)
        try await harness.waitFor("first run", timeout: 20) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 1
        }
        // The same bytes again (the first copy was archived), under the same and another name.
        try FileManager.default.copyItem(atPath: staging, toPath: "\(harness.root)/copy2.tif")
        #expect(rename("\(harness.root)/copy2.tif", "\(harness.inbox)/twice.tif") == 0)
        try FileManager.default.copyItem(atPath: staging, toPath: "\(harness.root)/copy3.tif")
        #expect(rename("\(harness.root)/copy3.tif", "\(harness.inbox)/twice-again.tif") == 0)
        try await harness.waitFor("duplicates recorded", timeout: 20) {
            try harness.catalog().events(limit: 100).filter { $0.kind == "input_duplicate" }.count == 2
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(try harness.catalog().runs().count == 1)
        #expect(try await harness.stop() == 0)
    }

    @Test func killDashNineDuringARunThenRestartGivesExactlyOneCompletedRun() async throws {
        let profile = "stages: [ingest, wait]\nwait:\n  seconds: 3\n"
        let harness = try DaemonHarness(profile: profile)
        try harness.start()
        try await harness.waitReady()
        try harness.drop(name: "crash.tif", seed: 99)
        try await harness.waitFor("run in its wait stage", timeout: 20) {
            try harness.catalog().runs(RunFilter(state: .running)).first?.currentStage == "wait"
        }
        try await harness.crash()
        #expect(try harness.catalog().integrityCheck() == ["ok"])
        #expect(try harness.catalog().runs(RunFilter(state: .running)).count == 1, "the killed run is still marked running")
        try harness.start()
        try await harness.waitFor("run succeeded after restart", timeout: 30) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 1
        }
        let catalog = try harness.catalog()
        let runs = try catalog.runs()
        #expect(runs.count == 1, "exactly one run for the input")
        let details = try catalog.details(runID: runs[0].run.id!)
        #expect(details.run.attempts == 2)
        // The ingest stage finished before the crash and was reused on resume.
        #expect(details.stages.first { $0.name == "ingest" }?.state == .skipped)
        #expect(details.stages.first { $0.name == "wait" }?.state == .succeeded)
        #expect(details.events.contains { $0.kind == "run_requeued" })
        #expect(try await harness.stop() == 0)
        #expect(try catalog.integrityCheck() == ["ok"])
    }

    @Test func corruptInputFailsClearlyAndTheDaemonGoesOn() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        try await harness.waitReady()
        // A TIFF header followed by garbage, then a truncated TIFF, then a good file.
        let corrupt = "\(harness.root)/corrupt.tif"
        try Data([0x49, 0x49, 0x2a, 0x00, 0xff, 0xff, 0xff, 0x7f] + Array(repeating: 0xab, count: 100)).write(to: URL(fileURLWithPath: corrupt))
        #expect(rename(corrupt, "\(harness.inbox)/corrupt.tif") == 0)
        let good = "\(harness.root)/good.tif"
        try DaemonHarness.writeTIFF(to: good, seed: 5, size: 128)
        let goodBytes = try #require(FileManager.default.contents(atPath: good))
        try goodBytes.prefix(goodBytes.count / 2).write(to: URL(fileURLWithPath: "\(harness.root)/truncated.tif"))
        #expect(rename("\(harness.root)/truncated.tif", "\(harness.inbox)/truncated.tif") == 0)
        try harness.drop(name: "good.tif", seed: 6)
        try await harness.waitFor("three runs finished", timeout: 30) {
            let counts = try harness.catalog().runCounts()
            return (counts[.failed] ?? 0) == 2 && (counts[.succeeded] ?? 0) == 1
        }
        let catalog = try harness.catalog()
        for run in try catalog.runs(RunFilter(state: .failed)) {
            let code = try #require(run.run.errorCode)
            #expect(code.hasPrefix("input_"), "error code \(code)")
            let message = try #require(run.run.errorMessage)
            #expect(message.contains(URL(fileURLWithPath: run.inputPath).lastPathComponent), "message names the file: \(message)")
        }
        let failedDir = "\(harness.stateDir)/failed"
        try await harness.waitFor("inputs set aside", timeout: 10) {
            let names = Set((try? FileManager.default.contentsOfDirectory(atPath: failedDir)) ?? [])
            return names.isSuperset(of: ["corrupt.tif", "corrupt.tif.error.txt", "truncated.tif", "truncated.tif.error.txt"])
        }
        let errorText = try String(contentsOfFile: "\(failedDir)/truncated.tif.error.txt", encoding: .utf8)
        #expect(errorText.contains("code:"))
        #expect(errorText.contains("lmdflow retry"))
        #expect(try await harness.stop() == 0)
    }

    @Test func sigtermStopsGracefullyAndInterruptedRunResumes() async throws {
        let profile = "stages: [ingest, wait]\nwait:\n  seconds: 30\n"
        let harness = try DaemonHarness(profile: profile, extra: "")
        try harness.start()
        try await harness.waitReady()
        try harness.drop(name: "long.tif", seed: 11)
        try await harness.waitFor("run in its wait stage", timeout: 20) {
            try harness.catalog().runs(RunFilter(state: .running)).first?.currentStage == "wait"
        }
        // stop_timeout_seconds is 5: the wait stage is interrupted and the run requeued; exit 0.
        let started = Date()
        #expect(try await harness.stop() == 0)
        #expect(Date().timeIntervalSince(started) < 15)
        let catalog = try harness.catalog()
        let run = try #require(catalog.runs().first)
        #expect(run.run.state == .queued)
        #expect(run.run.attempts == 0, "a graceful stop does not count as an attempt")
        #expect(try catalog.daemonStatus()?.state == "stopped")
    }

    @Test func unsupportedAndTemporaryFilesAreLeftAlone() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        try await harness.waitReady()
        try "notes".write(toFile: "\(harness.inbox)/notes.txt", atomically: false, encoding: .utf8)
        try "partial".write(toFile: "\(harness.inbox)/scan.nd2.part", atomically: false, encoding: .utf8)
        try "hidden".write(toFile: "\(harness.inbox)/.scan.tif", atomically: false, encoding: .utf8)
        symlink("/etc/passwd", "\(harness.inbox)/link.tif")
        try harness.drop(name: "real.tif", seed: 3)
        try await harness.waitFor("real file processed", timeout: 20) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 1
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(try harness.catalog().runs().count == 1)
        for name in ["notes.txt", "scan.nd2.part", ".scan.tif"] {
            #expect(FileManager.default.fileExists(atPath: "\(harness.inbox)/\(name)"), "\(name) left in place")
        }
        let events = try harness.catalog().events(limit: 50)
        #expect(events.contains { $0.kind == "input_unsupported" && $0.path?.hasSuffix("notes.txt") == true })
        #expect(events.contains { $0.kind == "input_refused" && $0.path?.hasSuffix("link.tif") == true })
        #expect(try await harness.stop() == 0)
    }

    static let sharedND2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/testdata/nd2-generated/lim-zlib-3ch-t4-512.nd2").path

    @Test(.enabled(if: FileManager.default.fileExists(atPath: sharedND2), "../shared/testdata absent"))
    func realND2IsIngestedWithItsMetadata() async throws {
        let harness = try DaemonHarness()
        try harness.start()
        try await harness.waitReady()
        try FileManager.default.copyItem(atPath: Self.sharedND2, toPath: "\(harness.root)/scan.nd2")
        #expect(rename("\(harness.root)/scan.nd2", "\(harness.inbox)/scan.nd2") == 0)
        try await harness.waitFor("ND2 run succeeded", timeout: 30) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 1
        }
        let details = try harness.catalog().details(runID: try #require(harness.catalog().runs().first?.run.id))
        let ingest = try #require(FileManager.default.contents(atPath: "\(details.run.runDir!)/ingest.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: ingest) as? [String: Any])
        let acquisition = try #require(json["acquisition"] as? [String: Any])
        #expect(acquisition["width"] as? Int == 512)
        #expect((acquisition["channels"] as? [Any])?.count == 3)
        #expect(acquisition["frameCount"] as? Int == 4)
        #expect(details.stages.first?.message?.hasPrefix("nd2 512x512 uint16, 3 channels") == true)
        #expect(try await harness.stop() == 0)
    }
}
