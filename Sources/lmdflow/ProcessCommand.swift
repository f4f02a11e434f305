import ArgumentParser
import Catalog
import Daemon
import Foundation
import Pipeline

/// `lmdflow process FILE`: the daemon's pipeline, in the foreground, on one file.
struct ProcessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "process",
        abstract: "Run one file through a profile now, in the foreground, recording the run in the catalog.",
        discussion: """
            The file is left where it is. Without --profile, the profile of the drop folder that holds \
            the file is used. A run is always made, even for a file processed before. Exit 0 when the \
            run succeeded, 1 when it failed.
            """)

    @Argument(help: "The acquisition (ND2, TIFF, OME-TIFF).")
    var file: String

    @Option(name: .long, help: "Profile name (looked up in profile_dirs) or path to a profile file.")
    var profile: String?

    @OptionGroup var options: ConfigOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let logger = options.logger(config)
            let path = URL(fileURLWithPath: file).standardizedFileURL.path
            guard let facts = FileOps.stat(path), facts.isRegular else {
                throw CLIError(exitCode: .notFound, message: "\(file): no such regular file")
            }
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard let profileName = profile ?? config.dropFolders.first(where: { $0.path == folder })?.profile else {
                throw CLIError(exitCode: .usage, message: "\(file) is not in a drop folder; say which profile with --profile")
            }
            let profile = try Profile.resolve(profileName, directories: config.profileDirectories)
            try config.layout.createDirectories()
            let catalog = try Catalog(path: config.layout.catalog)
            let sha256 = try FileOps.sha256(ofFile: path)
            let record = InputRecord(
                path: path, currentPath: path, profile: profile.name, size: facts.size, mtimeNs: facts.mtimeNs,
                sha256: sha256, state: .queued, firstSeen: Date(), settledAt: Date())
            let layout = config.layout
            let registration = try catalog.register(
                record, configHash: profile.configHash, stageCount: profile.stages.count, version: LMDFlowVersion.current,
                force: true, claimWith: { id in PipelineRunner.runDirectory(for: id, in: layout) })
            guard case .queued(let input, let queued) = registration else {
                throw CLIError(exitCode: .internalError, message: "the catalog refused a forced run")
            }
            let run = try catalog.run(id: queued.id!)
            let runner = PipelineRunner(catalog: catalog, layout: layout, logger: logger)
            let outcome = await runner.run(ClaimedRun(run: run, input: input), profile: profile)
            let details = try catalog.details(runID: run.id!)
            try Report.printRun(details, json: output.json)
            if case .succeeded = outcome { return }
            throw ExitCode(ExitStatus.runFailed.rawValue)
        }
    }
}
