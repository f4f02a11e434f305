import ArgumentParser
import Catalog
import Daemon
import Foundation
import ImageKit
import Logging
import MicroscopyIO
import Pipeline

/// `lmdflow demo`: the whole service on a built-in sample, in a temporary tree.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the daemon on a temporary drop folder with a built-in sample and show what it produced.",
        discussion: """
            Creates DIR (default: a new folder under $TMPDIR) with a configuration, a drop folder and a \
            state directory; writes a synthetic nuclei image (made by lmdflow's own code) into the drop \
            folder; runs the daemon until the run is done (--exit-when-idle); prints the run and where \
            its outputs are. Nothing outside DIR is touched.
            """)

    @Option(name: .long, help: "Folder for the demo tree (created; must be empty or absent).")
    var dir: String?

    @Option(name: .long, help: "Profile to run (default: the shipped 'demo' profile).")
    var profile = "demo"

    @Option(name: .long, help: "Directory with the shipped profiles (default: found next to the executable).")
    var profileDir: String?

    @Option(name: .long, help: "Log level for the daemon's log lines.")
    var logLevel = "info"

    func run() async throws {
        try await guarded {
            let root = try makeRoot()
            guard let profiles = profileDir.map({ URL(fileURLWithPath: $0).standardizedFileURL.path }) ?? Self.shippedProfileDirectory() else {
                throw CLIError(exitCode: .config, message: "cannot find the shipped profiles (share/lmdflow/profiles); pass --profile-dir")
            }
            let inbox = "\(root)/inbox/\(profile)"
            let configPath = "\(root)/lmdflow.yml"
            let yaml = """
                # lmdflow demo configuration (made by `lmdflow demo`)
                state_dir: \(root)/state
                profile_dirs: [\(profiles)]
                settle_seconds: 0.5
                concurrency: 2
                drop_folders:
                  - path: \(inbox)
                    profile: \(profile)

                """
            try FileOps.createDirectory(inbox)
            try FileOps.writeAtomically(Data(yaml.utf8), to: configPath)
            let config: DaemonConfig
            do { config = try DaemonConfig.load(path: configPath) } catch {
                throw CLIError(exitCode: .config, message: "demo configuration: \(error)")
            }
            LogSetup.bootstrapOnce(level: logLevel)
            let logger = Logger(label: "lmdflow.demo")

            // The sample: a synthetic nuclei image, written under a temporary name and renamed
            // into the drop folder, as microscope software should do.
            let sample = SyntheticSample.nuclei(width: 1024, height: 1024, count: 180, seed: 20261123)
            // The calibration sidecar (3 points) first, then the image. A profile without a segment
            // stage cuts the sidecar mask demo-nuclei.mask.tif (the sample's true labels) instead.
            try TIFFWriter.write(sample.labels, to: "\(inbox)/.demo-nuclei.mask.tif.part")
            guard rename("\(inbox)/.demo-nuclei.mask.tif.part", "\(inbox)/demo-nuclei.mask.tif") == 0 else {
                throw CLIError(exitCode: .cannotCreate, message: "\(inbox)/demo-nuclei.mask.tif: cannot place the mask")
            }
            try FileOps.writeAtomically(Data(#"{"points_row_col_px": [[10, 10], [10, 1010], [1010, 510]]}"#.utf8),
                                        to: "\(inbox)/demo-nuclei.calibration.json")
            let temp = "\(inbox)/.demo-nuclei.tif.part"
            try TIFFWriter.write(sample.image, to: temp, description: "lmdflow demo sample: 180 synthetic nuclei, seed 20261123")
            guard rename(temp, "\(inbox)/demo-nuclei.tif") == 0 else {
                throw CLIError(exitCode: .cannotCreate, message: "\(inbox)/demo-nuclei.tif: cannot place the sample")
            }
            print("demo tree:   \(root)")
            print("dropped:     \(inbox)/demo-nuclei.tif (1024x1024 uint16, 180 nuclei) with its sidecars")
            print("             demo-nuclei.calibration.json (3 points) and demo-nuclei.mask.tif (true labels,")
            print("             used only by profiles without a segment stage)")
            print("daemon:      lmdflow daemon --config \(configPath) --exit-when-idle")
            try await LMDFlowDaemon.run(config: config, exitWhenIdle: true, logger: logger)

            let catalog = try Catalog(path: config.layout.catalog)
            let runs = try catalog.runs()
            guard let summary = runs.first else {
                throw CLIError(exitCode: .internalError, message: "the daemon made no run for the sample")
            }
            print("")
            try Report.printRun(try catalog.details(runID: summary.run.id!), json: false)
            print("")
            let details = try catalog.details(runID: summary.run.id!)
            let labels = ["single_cells": "single cells:", "features_csv": "features:   ", "selection": "selection:  ",
                          "outbox_cut_xml": "cut file:   ", "outbox_preview": "preview:    "]
            for kind in ["single_cells", "features_csv", "selection", "outbox_cut_xml", "outbox_preview"] {
                for output in details.outputs where output.kind == kind { print("\(labels[kind]!) \(output.path)") }
            }
            for set in try catalog.cellSets(runID: summary.run.id!) {
                print("cell set:     \(set.name) → \(set.well ?? "-"): \(set.cellIDs.count) cells (\(set.rule ?? ""))")
            }
            print("catalog:     \(config.layout.catalog)")
            print("outbox:      \(config.layout.outbox)")
            print("archive:     \(config.layout.archive)")
            print("try:         lmdflow show \(summary.run.id!) --config \(configPath)")
            print("             lmdflow runs --config \(configPath)")
            print("             lmdflow select \(summary.run.id!) --sets my-sets.yml --config \(configPath)   (re-select, new cut-file version)")
            guard summary.run.state == .succeeded else { throw ExitCode(ExitStatus.runFailed.rawValue) }
        }
    }

    private func makeRoot() throws -> String {
        if let dir {
            let path = URL(fileURLWithPath: dir).standardizedFileURL.path
            let existing = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            guard existing.isEmpty else {
                throw CLIError(exitCode: .cannotCreate, message: "\(path): demo folder must be empty or absent")
            }
            try FileOps.createDirectory(path)
            return path
        }
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(base)/lmdflow-demo-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw CLIError(exitCode: .cannotCreate, message: "\(base): cannot create a demo folder")
        }
        return String(cString: made)
    }

    /// `share/lmdflow/profiles` next to the executable: installed (`<prefix>/bin/lmdflow` →
    /// `<prefix>/share/lmdflow/profiles`) or in the source tree (`.build/<triple>/debug/lmdflow`).
    static func shippedProfileDirectory() -> String? {
        if let env = ProcessInfo.processInfo.environment["LMDFLOW_SHARE"] { return "\(env)/profiles" }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent("share/lmdflow/profiles").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return FileManager.default.fileExists(atPath: "/usr/share/lmdflow/profiles") ? "/usr/share/lmdflow/profiles" : nil
    }
}
