import Foundation

/// `../shared/testdata` beside the project; tests needing it are skipped when it is absent.
let sharedTestData: URL? = {
    let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/testdata", isDirectory: true)
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}()

/// Whether the shared test data is present.
let hasSharedTestData = sharedTestData != nil

/// The anchors venv's python (`../shared/tools/setup-anchors.sh`), when it exists: tests that
/// compare with scikit-image / h5py run only then (`LMDFLOW_ANCHORS` overrides the location).
let anchorsPython: String? = {
    let root = ProcessInfo.processInfo.environment["LMDFLOW_ANCHORS"]
        ?? (NSHomeDirectory() + "/.cache/lmdflow-anchors")
    let python = root + "/bin/python"
    return FileManager.default.isExecutableFile(atPath: python) ? python : nil
}()
