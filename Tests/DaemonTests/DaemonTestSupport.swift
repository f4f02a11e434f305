import Foundation
import LMDTestSupport
import Pipeline
@testable import Daemon

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
