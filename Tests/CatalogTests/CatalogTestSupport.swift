import Foundation
import LMDTestSupport
@testable import Catalog

/// A new catalog in its own temporary directory (the directory lives as long as the fixture).
struct CatalogFixture {
    let directory: TemporaryDirectory
    let catalog: Catalog

    init() throws {
        directory = try TemporaryDirectory()
        catalog = try Catalog(path: directory.file("catalog.sqlite"))
    }

    /// The run directory the tests claim with.
    static let runDirectory: @Sendable (Int64) -> String = { "/runs/\($0)" }

    /// Registers an input and returns its queued run (fails the test through a throw otherwise).
    @discardableResult
    func queue(
        _ path: String, sha256: String = String(repeating: "a", count: 64), size: Int64 = 100, mtimeNs: Int64 = 1,
        profile: String = "nuclei", stageCount: Int = 2, configHash: String = "cfg"
    ) throws -> RunRecord {
        let registration = try catalog.register(
            makeInput(path, sha256: sha256, size: size, mtimeNs: mtimeNs, profile: profile),
            configHash: configHash, stageCount: stageCount, version: "test")
        guard case .queued(_, let run) = registration else { throw FixtureError.notQueued(path) }
        return run
    }
}

enum FixtureError: Error { case notQueued(String) }

func makeInput(
    _ path: String, sha256: String = String(repeating: "a", count: 64), size: Int64 = 100, mtimeNs: Int64 = 1,
    profile: String = "nuclei"
) -> InputRecord {
    InputRecord(
        path: path, currentPath: path, profile: profile, size: size, mtimeNs: mtimeNs, sha256: sha256,
        state: .queued, firstSeen: Date(), settledAt: Date())
}

/// The `CatalogError` that `body` throws, or nil when it does not throw.
func catalogError<T>(_ body: () throws(CatalogError) -> T) -> CatalogError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}
