import Catalog
import Foundation
import Testing

/// The CLI against a real catalog and configuration files.
@Suite(.serialized, .enabled(if: DaemonHarness.binaryExists, "lmdflow binary not built (run `make test`)"))
struct CLIIntegrationTests {
    @Test func configErrorsNameTheKeyAndExit78() throws {
        let harness = try DaemonHarness(extra: "concurency: 2")
        let (status, _, stderr) = try DaemonHarness.cli(["check-config", "--config", harness.configPath])
        #expect(status == 78)
        #expect(stderr.contains("concurency"), "stderr: \(stderr)")
        #expect(stderr.contains("did you mean 'concurrency'"), "stderr: \(stderr)")
        #expect(stderr.contains(harness.configPath))

        let bad = try DaemonHarness(folderExtra: "    after_run: archive")
        let (status2, _, stderr2) = try DaemonHarness.cli(["daemon", "--config", bad.configPath])
        #expect(status2 == 78)
        #expect(stderr2.contains("drop_folders[0].after_run"), "stderr: \(stderr2)")

        let missing = try DaemonHarness(profile: "stages: [ingest, segmnt]\n")
        let (status3, _, stderr3) = try DaemonHarness.cli(["check-config", "--config", missing.configPath])
        #expect(status3 == 78)
        #expect(stderr3.contains("segmnt"), "stderr: \(stderr3)")
    }

    @Test func processShowRunsRetryAndXML() throws {
        let harness = try DaemonHarness()
        let file = "\(harness.root)/one.tif"
        try DaemonHarness.writeTIFF(to: file, seed: 8)
        let (status, stdout, stderr) = try DaemonHarness.cli(["process", file, "--profile", "test", "--config", harness.configPath, "--json"])
        #expect(status == 0, "stderr: \(stderr)")
        let details = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        let run = try #require(details?["run"] as? [String: Any])
        #expect(run["state"] as? String == "succeeded")
        #expect(FileManager.default.fileExists(atPath: file), "process leaves the file in place")

        let garbage = "\(harness.root)/bad.nd2"
        try Data(repeating: 0x42, count: 64).write(to: URL(fileURLWithPath: garbage))
        let (failStatus, _, _) = try DaemonHarness.cli(["process", garbage, "--profile", "test", "--config", harness.configPath])
        #expect(failStatus == 1)

        let (_, list, _) = try DaemonHarness.cli(["runs", "--config", harness.configPath, "--state", "failed"])
        #expect(list.contains("bad.nd2"))
        #expect(!list.contains("one.tif"))
        let (showStatus, show, _) = try DaemonHarness.cli(["show", "2", "--config", harness.configPath])
        #expect(showStatus == 0)
        #expect(show.contains("failed"))
        #expect(show.contains("input_"))

        let (retryStatus, retry, _) = try DaemonHarness.cli(["retry", "2", "--config", harness.configPath])
        #expect(retryStatus == 0)
        #expect(retry.contains("queued run 3"))
        let (retrySucceeded, _, retryError) = try DaemonHarness.cli(["retry", "1", "--config", harness.configPath])
        #expect(retrySucceeded == 65, "retrying a succeeded run is refused: \(retryError)")
        let (notFound, _, _) = try DaemonHarness.cli(["show", "99", "--config", harness.configPath])
        #expect(notFound == 66)
        let (noXML, _, xmlError) = try DaemonHarness.cli(["xml", "1", "--config", harness.configPath])
        #expect(noXML == 66)
        #expect(xmlError.contains("no cut file"))
        let (statusCode, statusOut, _) = try DaemonHarness.cli(["status", "--config", harness.configPath])
        #expect(statusCode == 69, "no daemon running")
        #expect(statusOut.contains("not running"))
    }
}
