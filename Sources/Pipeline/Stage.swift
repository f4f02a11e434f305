public import Foundation
public import Logging

/// One step of a profile's pipeline (ingest, stitch, segment, extract, featurize, select, cut).
///
/// A stage reads the input and earlier stages' artifacts from its `StageContext`, writes its own
/// artifacts through `StageContext.writeArtifact` (atomically, into the run directory) and
/// returns what it wrote. Stages are values: they hold their validated configuration and nothing
/// else, so the same stage can run many inputs concurrently.
public protocol Stage: Sendable {
    /// The stage name as written in a profile's `stages:` list.
    var name: String { get }
    /// Bumped when the stage's algorithm or artifact format changes, so that resume does not
    /// reuse an artifact made by an older version.
    var version: Int { get }
    /// The validated configuration this stage runs with; its canonical JSON is hashed.
    var configuration: ConfigValue { get }
    /// Does the work. Check `Task.isCancelled` (or call `context.checkCancellation()`) between
    /// chunks of work: a cancelled stage is re-run from scratch when the run resumes.
    /// - Throws: any error; `PipelineError` and errors with a `code` are recorded as they are.
    func run(_ context: StageContext) async throws -> StageResult
}

/// A file a stage wrote into the run directory.
public struct Artifact: Sendable, Codable, Hashable {
    /// Path relative to the run directory.
    public var path: String
    /// What it is (`ingest`, `mask`, `cut_xml`, `preview`, `features_csv`...).
    public var kind: String
    /// SHA-256 of the content.
    public var sha256: String
    /// Size in bytes.
    public var bytes: Int64
    /// Whether it is copied to the outbox when the run succeeds.
    public var publish: Bool

    /// Creates an artifact description.
    public init(path: String, kind: String, sha256: String, bytes: Int64, publish: Bool = false) {
        self.path = path
        self.kind = kind
        self.sha256 = sha256
        self.bytes = bytes
        self.publish = publish
    }
}

/// What a stage reports when it finishes.
public struct StageResult: Sendable, Codable, Hashable {
    /// The artifacts it wrote.
    public var artifacts: [Artifact]
    /// One line for the catalog and logs, e.g. "1,204 nuclei".
    public var message: String
    /// Numbers worth keeping (cell counts, timings of sub-steps...).
    public var metrics: [String: Double]

    /// Creates a result.
    public init(artifacts: [Artifact], message: String, metrics: [String: Double] = [:]) {
        self.artifacts = artifacts
        self.message = message
        self.metrics = metrics
    }
}

/// The facts of the input a run processes.
public struct InputFile: Sendable, Codable, Hashable {
    /// Where the file is now.
    public var path: String
    /// The name it was dropped under.
    public var originalName: String
    /// Size in bytes when it was taken.
    public var size: Int64
    /// Modification time (ns since 1970) when it was taken.
    public var mtimeNs: Int64
    /// SHA-256 when it was taken.
    public var sha256: String
    /// Where it was dropped (its sidecars are there), when known.
    public var originalPath: String?

    enum CodingKeys: String, CodingKey {
        case path, originalName = "original_name", size, mtimeNs = "mtime_ns", sha256, originalPath = "original_path"
    }

    /// The name without its extension (`slide1` for `slide1.ome.tif`): the sample name.
    public var stem: String { FileOps.splitExtension(originalName).stem }

    /// Creates input facts.
    public init(path: String, originalName: String, size: Int64, mtimeNs: Int64, sha256: String, originalPath: String? = nil) {
        self.originalPath = originalPath
        self.path = path
        self.originalName = originalName
        self.size = size
        self.mtimeNs = mtimeNs
        self.sha256 = sha256
    }
}

/// Everything a stage may use while it runs.
public struct StageContext: Sendable {
    /// The run id.
    public let runID: Int64
    /// The run directory (absolute).
    public let runDirectory: String
    /// The input.
    public let input: InputFile
    /// Results of the stages before this one, by stage name.
    public let previous: [String: StageResult]
    /// A logger whose metadata carries `run` and `stage`.
    public let logger: Logger

    /// Creates a context.
    public init(runID: Int64, runDirectory: String, input: InputFile, previous: [String: StageResult], logger: Logger) {
        self.runID = runID
        self.runDirectory = runDirectory
        self.input = input
        self.previous = previous
        self.logger = logger
    }

    /// Writes an artifact atomically into the run directory and describes it.
    /// - Parameters:
    ///   - data: the content.
    ///   - name: file name relative to the run directory.
    ///   - kind: what it is.
    ///   - publish: copy it to the outbox when the run succeeds.
    public func writeArtifact(_ data: Data, name: String, kind: String, publish: Bool = false) throws(PipelineError) -> Artifact {
        guard !name.contains("/") || !name.split(separator: "/").contains(".."), !name.hasPrefix("/") else {
            throw PipelineError(code: .writeFailed, path: name, message: "artifact names must stay inside the run directory")
        }
        let path = "\(runDirectory)/\(name)"
        let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if parent != runDirectory { try FileOps.createDirectory(parent) }
        try FileOps.writeAtomically(data, to: path)
        return Artifact(path: name, kind: kind, sha256: FileOps.sha256(of: data), bytes: Int64(data.count), publish: publish)
    }

    /// The image the analysis stages read: the `stitch` stage's mosaic when that stage ran and
    /// made one, else the input itself.
    public var imagePath: String {
        if let mosaic = previous["stitch"]?.artifacts.first(where: { $0.kind == "mosaic" }) {
            return "\(runDirectory)/\(mosaic.path)"
        }
        return input.path
    }

    /// Throws `CancellationError` when the run is being stopped.
    public func checkCancellation() throws { try Task.checkCancellation() }
}
