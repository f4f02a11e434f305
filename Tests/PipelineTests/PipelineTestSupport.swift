import Foundation
import Logging
@testable import Pipeline

/// A fresh directory under the system temporary directory, removed on deinit.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("lmdflow-pipeline-test-" + UUID().uuidString, isDirectory: true).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `text` to `name` (creating parent folders) and returns the path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, Data(text.utf8))
    }

    /// Writes `data` to `name` (creating parent folders) and returns the path.
    @discardableResult
    func write(_ name: String, _ data: Data) throws -> String {
        let path = file(name)
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The names in a folder of the directory, sorted (hidden files included).
    func list(_ name: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: name.isEmpty ? path : file(name)).sorted()
    }
}

/// A logger that drops everything (keeps test output readable).
let quietLogger = Logger(label: "lmdflow.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// The `PipelineError` that `body` throws, or nil when it does not throw.
func pipelineError<T>(_ body: () throws(PipelineError) -> T) -> PipelineError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// Parses a YAML profile text as if it were the file at `path`.
func parseProfile(_ yaml: String, path: String = "/profiles/demo.yml",
                  registry: StageRegistry = .standard) throws(PipelineError) -> Profile {
    try Profile.parse(ConfigNode.parse(yaml: yaml, file: path), path: path, registry: registry)
}

/// The first error `Profile.parse` reports for a YAML text.
func profileError(_ yaml: String, path: String = "/profiles/demo.yml") -> PipelineError? {
    pipelineError { () throws(PipelineError) in try parseProfile(yaml, path: path) }
}

/// A file's content as a string.
func contents(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

/// A JSON file's top-level object.
func jsonObject(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
}
