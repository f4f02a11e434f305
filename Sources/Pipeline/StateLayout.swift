/// Where the service keeps its state: the catalog, run directories, outbox, archive and failed
/// folders. Defaults follow docs/ARCHITECTURE.md under one state directory.
public struct StateLayout: Sendable, Hashable, Codable {
    /// The state directory (`/var/lib/lmdflow`).
    public var stateDirectory: String
    /// The catalog file.
    public var catalog: String
    /// One directory per run.
    public var runs: String
    /// What the LMD PC reads: `outbox/<sample>/`.
    public var outbox: String
    /// Inputs after a successful run.
    public var archive: String
    /// Inputs after a failed run, each with `<name>.error.txt`.
    public var failed: String

    /// The default layout under `stateDirectory`.
    public init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
        catalog = "\(stateDirectory)/catalog.sqlite"
        runs = "\(stateDirectory)/runs"
        outbox = "\(stateDirectory)/outbox"
        archive = "\(stateDirectory)/archive"
        failed = "\(stateDirectory)/failed"
    }

    /// Creates every directory of the layout.
    public func createDirectories() throws(PipelineError) {
        for directory in [stateDirectory, runs, outbox, archive, failed] { try FileOps.createDirectory(directory) }
    }
}
