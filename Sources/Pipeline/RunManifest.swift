public import Foundation

/// `run.json`: the provenance of one run, written atomically after every stage. It is what a
/// resumed run reads to skip stages whose inputs and configuration are unchanged.
public struct RunManifest: Sendable, Codable {
    /// One stage's record.
    public struct StageEntry: Sendable, Codable {
        /// Stage name.
        public var name: String
        /// Position in the profile.
        public var ordinal: Int
        /// Stage version.
        public var version: Int
        /// `succeeded`, `skipped`, `failed` or `interrupted`.
        public var state: String
        /// Hash of what the stage read (the input and earlier artifacts).
        public var inputHash: String
        /// Hash of the stage's configuration.
        public var configHash: String
        /// When it started.
        public var startedAt: Date
        /// When it ended.
        public var finishedAt: Date?
        /// Wall time in seconds.
        public var durationSeconds: Double?
        /// What it produced.
        public var result: StageResult?
        /// Why it failed.
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case name, ordinal, version, state, inputHash = "input_hash", configHash = "config_hash"
            case startedAt = "started_at", finishedAt = "finished_at", durationSeconds = "duration_s", result, error
        }
    }

    /// Format version of this file.
    public var schema = 1
    /// The run id.
    public var runID: Int64
    /// lmdflow version that wrote the file.
    public var lmdflowVersion: String
    /// Profile name.
    public var profile: String
    /// Profile file.
    public var profilePath: String
    /// Profile configuration hash.
    public var configHash: String
    /// The input.
    public var input: InputFile
    /// `running`, `succeeded`, `failed` or `interrupted`.
    public var state: String
    /// Attempt number.
    public var attempt: Int
    /// When the run was first started.
    public var startedAt: Date
    /// When it ended.
    public var finishedAt: Date?
    /// Stages in profile order (only those that started).
    public var stages: [StageEntry]
    /// Error code when failed.
    public var errorCode: String?
    /// Error message when failed.
    public var errorMessage: String?
    /// Files copied to the outbox.
    public var published: [String]

    enum CodingKeys: String, CodingKey {
        case schema, runID = "run_id", lmdflowVersion = "lmdflow_version", profile, profilePath = "profile_path"
        case configHash = "config_hash", input, state, attempt, startedAt = "started_at", finishedAt = "finished_at"
        case stages, errorCode = "error_code", errorMessage = "error_message", published
    }

    static func load(_ path: String) -> RunManifest? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? decoder.decode(RunManifest.self, from: data)
    }

    func save(_ path: String) throws(PipelineError) {
        let data: Data
        do { data = try Self.encoder.encode(self) } catch {
            throw PipelineError(code: .writeFailed, path: path, message: "cannot encode run.json: \(error)")
        }
        try FileOps.writeAtomically(data + Data("\n".utf8), to: path)
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
