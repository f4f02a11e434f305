import Foundation

/// An error from loading a profile or running a pipeline: a stable code, the file (and where in
/// it) and what was expected.
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    /// A stable, machine-readable error code (written to the catalog as `error_code`).
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code's text.
        public let rawValue: String
        /// Creates a code from its text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A configuration or profile file has an unknown key, a wrong type or a bad value.
        public static let config = Code(rawValue: "config_invalid")
        /// A profile named by a drop folder or `--profile` does not exist.
        public static let profileNotFound = Code(rawValue: "profile_not_found")
        /// A stage name in a profile is not known.
        public static let unknownStage = Code(rawValue: "unknown_stage")
        /// The input file is gone, unreadable or not what it claims to be.
        public static let inputUnreadable = Code(rawValue: "input_unreadable")
        /// The input changed after it was taken (size or hash differ).
        public static let inputChanged = Code(rawValue: "input_changed")
        /// The input's format is not recognised or is damaged (details in the message).
        public static let inputInvalid = Code(rawValue: "input_invalid")
        /// Writing an artifact or a run file failed (disk full, permissions...).
        public static let writeFailed = Code(rawValue: "write_failed")
        /// A stage failed for a reason of its own.
        public static let stageFailed = Code(rawValue: "stage_failed")
        /// The catalog could not record the run.
        public static let catalog = Code(rawValue: "catalog_error")
        /// The text of the code.
        public var description: String { rawValue }
    }

    /// The error code.
    public let code: Code
    /// The file involved (config, profile, input or artifact), if any.
    public let path: String?
    /// Where in that file: `line:column`, a byte offset or a key path.
    public let location: String?
    /// The stage that failed, if any.
    public let stage: String?
    /// What went wrong and what was expected.
    public let message: String

    /// Creates a pipeline error.
    public init(code: Code, path: String? = nil, location: String? = nil, stage: String? = nil, message: String) {
        self.code = code
        self.path = path
        self.location = location
        self.stage = stage
        self.message = message
    }

    /// `path:location: message` (with the stage in brackets when known), one line.
    public var description: String {
        var prefix = ""
        if let path { prefix += path }
        if let location { prefix += prefix.isEmpty ? location : ":\(location)" }
        if !prefix.isEmpty { prefix += ": " }
        if let stage { prefix = "[\(stage)] " + prefix }
        return prefix + message
    }
}
