import Catalog
import Daemon
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Pipeline
import Testing

@testable import HTTPAPI

/// A real finished run (`lmdflow demo`, about 2 s) re-selected through the API. Needs the
/// `lmdflow` binary beside the test binary (`swift build --build-tests` builds it) or in
/// `LMDFLOW_BIN`.
@Suite(.serialized, .enabled(if: DemoBinary.exists, "lmdflow binary not built"))
struct ReselectionAPITests {
    static let profiles = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("share/lmdflow/profiles").path

    @Test func selectWritesANewVersionAndServesIt() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lmdflow-api-demo-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DemoBinary.path)
        process.arguments = ["demo", "--dir", dir, "--profile-dir", Self.profiles, "--log-level", "warning"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let layout = StateLayout(stateDirectory: "\(dir)/state")
        let server = APIServer(
            catalog: try Catalog(path: layout.catalog), layout: layout, settings: HTTPSettings(),
            tokens: TokenStore(), logger: Logger(label: "test"))
        try await withClient(server) { client in
            // The run's own preview (large enough to stream in several pieces) comes back intact.
            let preview = try await client.execute(uri: "/api/v1/runs/1/files/preview.png", method: .get)
            #expect(preview.status == .ok)
            #expect(Data(buffer: preview.body) == FileManager.default.contents(atPath: "\(layout.runs)/1/preview.png"))

            let document =
                #"{"max_per_well": 25, "cell_sets": [{"name": "small", "well": "C1", "bottom": {"n": 30, "by": "area_nucleus"}}, {"name": "chosen", "well": "D2", "classes": [3, 5, 8]}]}"#
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            let response = try await client.execute(
                uri: "/api/v1/runs/1/select", method: .post, headers: headers,
                body: ByteBuffer(string: document))
            #expect(response.status == .created, "\(response.text)")
            let body = response.object
            #expect(body["version"] as? Int == 2)
            let sets = body["sets"] as? [[String: Any]] ?? []
            #expect(sets.map { $0["name"] as? String } == ["small", "chosen"])
            #expect(sets.map { $0["count"] as? Int } == [25, 3])
            let files = body["files"] as? [[String: Any]] ?? []
            let names = files.compactMap { $0["name"] as? String }
            #expect(names.contains("demo-nuclei_small_chosen.v2.xml"))
            #expect(names.contains("preview.v2.png"))
            #expect(!response.text.contains(dir))

            // The new cut file downloads byte for byte, and the run lists it.
            let xml = try await client.execute(
                uri: "/api/v1/runs/1/files/demo-nuclei_small_chosen.v2.xml", method: .get)
            #expect(xml.status == .ok)
            #expect(
                Data(buffer: xml.body)
                    == FileManager.default.contents(atPath: "\(layout.runs)/1/demo-nuclei_small_chosen.v2.xml"))
            let details = try await client.execute(uri: "/api/v1/runs/1", method: .get)
            let cells = details.object["cells"] as? [String: Any] ?? [:]
            #expect((cells["count"] as? Int ?? 0) > 0)
            let versions = (cells["sets"] as? [[String: Any]] ?? []).compactMap { $0["version"] as? Int }
            #expect(versions.contains(2))

            // An expression naming an unknown feature: 422 at the rule, nothing new written.
            let bad = try await client.execute(
                uri: "/api/v1/runs/1/select", method: .post,
                body: ByteBuffer(string: "cell_sets:\n  - {name: x, select: no_such_feature > 1}\n"))
            #expect(bad.status == .unprocessableContent)
            #expect(bad.errorMessage?.contains("no_such_feature") == true, "\(bad.text)")
            #expect(!FileManager.default.fileExists(atPath: "\(layout.runs)/1/selections/v3"))
        }
    }
}

/// Where the `lmdflow` executable is.
enum DemoBinary {
    static var path: String {
        if let path = ProcessInfo.processInfo.environment["LMDFLOW_BIN"],
            FileManager.default.isExecutableFile(atPath: path)
        {
            return path
        }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("lmdflow").path
    }
    static var exists: Bool { FileManager.default.isExecutableFile(atPath: path) }
}
