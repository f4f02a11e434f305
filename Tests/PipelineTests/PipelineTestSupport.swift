import Foundation
import LMDTestSupport
import Logging
@testable import Pipeline

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
