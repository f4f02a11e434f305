import Foundation
import Pipeline
@testable import Daemon

/// A fresh directory under the system temporary directory, removed on deinit.
final class TemporaryDirectory {
    let path: String

    init() throws {
        // Short name: AF_UNIX socket paths must stay under 108 bytes.
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("lmdd-" + UUID().uuidString.prefix(13), isDirectory: true).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `text` to `name` (creating parent folders) and returns the path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let path = file(name)
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// A config directory with a `profiles/` folder holding valid `nuclei` and `membranes` profiles.
struct ConfigFixture {
    let directory: TemporaryDirectory
    var profiles: String { directory.file("profiles") }
    var configPath: String { directory.file("lmdflow.yml") }

    init() throws {
        directory = try TemporaryDirectory()
        try directory.write("profiles/nuclei.yml", "stages: [ingest]\n")
        try directory.write("profiles/membranes.yml", "stages: [ingest]\ningest:\n  verify_hash: false\n")
    }

    /// Parses `yaml` as the config file of this fixture.
    func parse(_ yaml: String) throws(PipelineError) -> DaemonConfig {
        try DaemonConfig.parse(ConfigNode.parse(yaml: yaml, file: configPath), path: configPath)
    }

    /// The error `parse` throws, or nil.
    func error(_ yaml: String) -> PipelineError? {
        do {
            _ = try parse(yaml)
            return nil
        } catch {
            return error
        }
    }
}
