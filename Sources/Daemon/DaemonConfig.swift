import Foundation
public import Pipeline

/// What happens to an input file after its run.
public enum AfterRun: String, Sendable, Codable {
    /// Move it to `archive/` (success) or `failed/` with `<name>.error.txt` (failure).
    case move
    /// Leave it where it was dropped (an `<name>.error.txt` is written beside it on failure).
    case leave
}

/// One watched folder and the profile its files run.
public struct DropFolder: Sendable, Hashable {
    /// Absolute path of the folder.
    public var path: String
    /// Profile name or profile file path.
    public var profile: String
    /// Seconds a file's size and modification time must stay unchanged before it is taken.
    public var settleSeconds: Double
    /// What to do with inputs after their run.
    public var afterRun: AfterRun

    /// Creates a drop folder binding.
    public init(path: String, profile: String, settleSeconds: Double, afterRun: AfterRun) {
        self.path = path
        self.profile = profile
        self.settleSeconds = settleSeconds
        self.afterRun = afterRun
    }
}

/// The daemon configuration (`/etc/lmdflow/lmdflow.yml`). Every key is optional; unknown keys
/// and wrong values are errors that name the key, the file and the line.
///
/// ```yaml
/// state_dir: /var/lib/lmdflow
/// concurrency: 1
/// drop_folders:
///   - path: /var/lib/lmdflow/inbox/nuclei
///     profile: nuclei
/// ```
public struct DaemonConfig: Sendable {
    /// The file it was read from (empty for defaults).
    public var path: String = ""
    /// State directories and catalog.
    public var layout = StateLayout(stateDirectory: "/var/lib/lmdflow")
    /// Where profiles are looked up by name, first match wins.
    public var profileDirectories = ["/etc/lmdflow/profiles", "/usr/local/share/lmdflow/profiles", "/usr/share/lmdflow/profiles"]
    /// The watched folders.
    public var dropFolders: [DropFolder] = []
    /// Default settle time in seconds.
    public var settleSeconds = 2.0
    /// Seconds between full rescans of the drop folders (network shares, missed events).
    public var rescanSeconds = 30.0
    /// Runs processed at the same time.
    public var concurrency = 1
    /// Attempts before an interrupted run is failed.
    public var maxAttempts = 3
    /// Default after-run behaviour.
    public var afterRun = AfterRun.move
    /// Seconds a graceful stop waits for running stages before interrupting them.
    public var stopTimeoutSeconds = 60.0
    /// File extensions (lowercase, without dot) that are inputs.
    public var extensions = ["nd2", "tif", "tiff", "btf"]
    /// Create missing drop folders at start.
    public var createFolders = true
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel = "info"
    /// The HTTP API (section `http:`); off unless `enabled: true`.
    public var http = HTTPSettings()

    /// The default configuration.
    public init() {}

    /// All keys of the top level, for error suggestions and docs.
    public static let topLevelKeys = [
        "state_dir", "catalog", "runs_dir", "outbox_dir", "archive_dir", "failed_dir", "profile_dirs", "drop_folders",
        "settle_seconds", "rescan_seconds", "concurrency", "max_attempts", "after_run", "stop_timeout_seconds",
        "extensions", "create_folders", "log_level", "http",
    ]

    /// Loads and validates a configuration file, including that every drop folder's profile
    /// exists and is valid.
    /// - Throws: `PipelineError` with code `config_invalid` (or the profile's own error).
    public static func load(path: String, registry: StageRegistry = .standard) throws(PipelineError) -> DaemonConfig {
        let root = try ConfigNode.load(path: path)
        return try parse(root, path: path, registry: registry)
    }

    /// Validates a parsed configuration document.
    public static func parse(_ root: ConfigNode, path: String, registry: StageRegistry = .standard) throws(PipelineError) -> DaemonConfig {
        var config = DaemonConfig()
        config.path = path
        let reader = try ConfigReader(root)
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        /// Absolute and normalised (no `..`, `.`, `//` or trailing `/`), so comparisons between
        /// folders are meaningful.
        func absolute(_ value: String) -> String {
            let url = value.hasPrefix("/")
                ? URL(fileURLWithPath: value) : URL(fileURLWithPath: value, relativeTo: URL(fileURLWithPath: base + "/"))
            return url.standardizedFileURL.path
        }
        let stateDir = absolute(try reader.string("state_dir", default: config.layout.stateDirectory))
        config.layout = StateLayout(stateDirectory: stateDir)
        if let value = try reader.optionalString("catalog") { config.layout.catalog = absolute(value) }
        if let value = try reader.optionalString("runs_dir") { config.layout.runs = absolute(value) }
        if let value = try reader.optionalString("outbox_dir") { config.layout.outbox = absolute(value) }
        if let value = try reader.optionalString("archive_dir") { config.layout.archive = absolute(value) }
        if let value = try reader.optionalString("failed_dir") { config.layout.failed = absolute(value) }
        config.profileDirectories = try reader.strings("profile_dirs", default: config.profileDirectories).map(absolute)
        config.settleSeconds = try reader.double("settle_seconds", default: config.settleSeconds, range: 0...86_400)
        config.rescanSeconds = try reader.double("rescan_seconds", default: config.rescanSeconds, range: 1...86_400)
        config.concurrency = try reader.int("concurrency", default: config.concurrency, range: 1...256)
        config.maxAttempts = try reader.int("max_attempts", default: config.maxAttempts, range: 1...100)
        config.afterRun = AfterRun(rawValue: try reader.choice("after_run", default: "move", in: ["move", "leave"]))!
        config.stopTimeoutSeconds = try reader.double("stop_timeout_seconds", default: config.stopTimeoutSeconds, range: 0...86_400)
        config.extensions = try reader.strings("extensions", default: config.extensions).map {
            $0.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        config.createFolders = try reader.bool("create_folders", default: config.createFolders)
        config.logLevel = try reader.choice("log_level", default: config.logLevel,
                                            in: ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        if let section = try reader.section("http") { config.http = try HTTPSettings.parse(section, base: absolute) }
        for folder in try reader.list("drop_folders") {
            let folderPath = try folder.optionalString("path")
            let profile = try folder.optionalString("profile")
            let settle = try folder.double("settle_seconds", default: config.settleSeconds, range: 0...86_400)
            let afterRun = try folder.choice("after_run", default: config.afterRun.rawValue, in: ["move", "leave"])
            try folder.finish()  // a misspelt key is named before it is reported missing
            guard let folderPath else { throw folder.node.error("missing key 'path' (the folder to watch)") }
            guard let profile, let profileNode = folder.child("profile") else {
                throw folder.node.error("missing key 'profile' (the profile its files run)")
            }
            let drop = DropFolder(path: absolute(folderPath), profile: profile, settleSeconds: settle,
                                  afterRun: AfterRun(rawValue: afterRun)!)
            if config.dropFolders.contains(where: { $0.path == drop.path }) {
                throw folder.node.error("folder \(drop.path) is listed twice")
            }
            for other in [config.layout.runs, config.layout.outbox, config.layout.archive, config.layout.failed]
            where drop.path == other || drop.path.hasPrefix(other + "/") {
                throw folder.node.error("folder \(drop.path) is inside the service's own \(other); choose a separate inbox")
            }
            do {
                _ = try Profile.resolve(profile, directories: config.profileDirectories, registry: registry)
            } catch {
                throw PipelineError(code: error.code, path: error.path ?? path,
                                    location: error.path == nil ? "\(profileNode.line):\(profileNode.column)" : error.location,
                                    message: "\(profileNode.keyPath): \(error.message)")
            }
            config.dropFolders.append(drop)
        }
        try reader.finish()
        return config
    }

    /// The profile of a drop folder, loaded now (profiles are re-read on every SIGHUP).
    public func profile(for folder: DropFolder, registry: StageRegistry = .standard) throws(PipelineError) -> Profile {
        try Profile.resolve(folder.profile, directories: profileDirectories, registry: registry)
    }
}

/// Settings of the HTTP API, status page and metrics (configuration section `http:`).
///
/// ```yaml
/// http:
///   enabled: true
///   bind: 127.0.0.1        # any other address requires tokens
///   port: 8470
///   read_tokens_file: /etc/lmdflow/api-read.tokens     # one token per line, mode 0600/0640
///   write_tokens_file: /etc/lmdflow/api-write.tokens   # may also re-select and retry
///   max_body_bytes: 1048576
///   requests_per_minute: 600   # per client address; 0 = no limit
/// ```
public struct HTTPSettings: Sendable, Hashable {
    /// Whether the API service runs inside the daemon.
    public var enabled = false
    /// Address to bind (`127.0.0.1`, `::1`, `0.0.0.0`, or an interface address).
    public var bind = "127.0.0.1"
    /// TCP port; 0 lets the kernel choose (the bound port is logged and written to
    /// `<state_dir>/http.port`).
    public var port = 8470
    /// File of read-only bearer tokens (one per line, `#` comments), if any.
    public var readTokensFile: String?
    /// File of tokens that may also re-select and retry, if any.
    public var writeTokensFile: String?
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes = 1 << 20
    /// Requests per minute per client address (0 = unlimited).
    public var requestsPerMinute = 600

    /// Defaults: off, loopback, port 8470.
    public init() {}

    /// Whether `bind` is a loopback address (then tokens are optional).
    public var isLoopback: Bool { ["127.0.0.1", "::1", "localhost"].contains(bind) || bind.hasPrefix("127.") }

    /// Keys of the section.
    public static let keys = ["enabled", "bind", "port", "read_tokens_file", "write_tokens_file", "max_body_bytes", "requests_per_minute"]

    /// Parses and validates the `http:` section; `base` makes relative paths absolute.
    /// - Throws: `PipelineError` naming the key: a non-loopback bind without a token file, a port
    ///   out of range, an unknown key.
    public static func parse(_ reader: ConfigReader, base: (String) -> String) throws(PipelineError) -> HTTPSettings {
        var settings = HTTPSettings()
        settings.enabled = try reader.bool("enabled", default: false)
        settings.bind = try reader.string("bind", default: settings.bind)
        settings.port = try reader.int("port", default: settings.port, range: 0...65_535)
        settings.readTokensFile = try reader.optionalString("read_tokens_file").map(base)
        settings.writeTokensFile = try reader.optionalString("write_tokens_file").map(base)
        settings.maxBodyBytes = try reader.int("max_body_bytes", default: settings.maxBodyBytes, range: 1_024...(256 << 20))
        settings.requestsPerMinute = try reader.int("requests_per_minute", default: settings.requestsPerMinute, range: 0...1_000_000)
        try reader.finish()
        if settings.enabled, !settings.isLoopback, settings.readTokensFile == nil, settings.writeTokensFile == nil {
            throw (reader.child("bind") ?? reader.node).error(
                "binding the API to \(settings.bind) (not loopback) requires read_tokens_file or write_tokens_file")
        }
        return settings
    }
}
