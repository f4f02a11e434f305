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

/// A state directory with a catalog and runs whose outputs are real files:
///
/// - `succeeded`: profile `nuclei`, two finished stages, outputs `cut.xml`, `preview.png`,
///   `features.csv` in its run directory (plus an outbox copy of the XML), `passwd.xml` (a symbolic
///   link to /etc/passwd inside the run directory) and `hostname` (a path outside everything);
/// - `failed`: profile `nuclei`, failed with `input_invalid`;
/// - `hostile`: succeeded, profile `<script>alert(1)</script>`, output `<img src=x onerror=alert(2)>.csv`;
/// - `queued`: profile `other`, not started.
struct Fixture: Sendable {
    let root: String
    let layout: StateLayout
    let catalog: Catalog
    let succeeded: Int64
    let failed: Int64
    let hostile: Int64
    let queued: Int64
    let xml: Data
    let png: Data
    let csv: Data

    static let hostileProfile = "<script>alert(1)</script>"
    static let hostileFile = "<img src=x onerror=alert(2)>.csv"

    init() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-api-\(UUID().uuidString)")
            .path
        let layout = StateLayout(stateDirectory: root)
        try layout.createDirectories()
        let catalog = try Catalog(path: layout.catalog)
        self.root = root
        self.layout = layout
        self.catalog = catalog
        xml = Data("<?xml version=\"1.0\"?><ImageData><ShapeCount>1</ShapeCount></ImageData>\n".utf8)
        png = Data([
            0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 0x49, 0x48, 0x44, 0x52,
            0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89, 0, 0, 0, 0x0A, 0x49, 0x44, 0x41,
            0x54, 0x78, 0x9C, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0D, 0x0A, 0x2D, 0xB4, 0, 0, 0, 0, 0x49, 0x45,
            0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
        ])
        csv = Data("cell_id,area_nucleus\n1,120.5\n2,98\n".utf8)

        func start(_ name: String, profile: String, sha: Character) throws -> ClaimedRun {
            let input = InputRecord(
                path: "/drop/\(name)", currentPath: "/drop/\(name)", profile: profile, size: 10, mtimeNs: 1,
                sha256: String(repeating: sha, count: 64), state: .queued, firstSeen: Date(), settledAt: Date())
            let runs = layout.runs
            guard
                case .queued(let input2, let run) = try catalog.register(
                    input, configHash: "h", stageCount: 3, version: "0.1.0", claimWith: { "\(runs)/\($0)" })
            else { throw APIError.internalError }
            try FileManager.default.createDirectory(atPath: run.runDir!, withIntermediateDirectories: true)
            return ClaimedRun(run: run, input: input2)
        }
        func output(_ run: ClaimedRun, _ name: String, _ data: Data, kind: String, directory: String? = nil) throws
            -> OutputRecord
        {
            let path = "\(directory ?? run.run.runDir!)/\(name)"
            try data.write(to: URL(fileURLWithPath: path))
            return OutputRecord(
                runID: run.run.id!, kind: kind, path: path, sha256: "0", bytes: Int64(data.count), createdAt: Date())
        }

        // A succeeded run with real files and two hostile outputs.
        let good = try start("sample.nd2", profile: "nuclei", sha: "a")
        let id = good.run.id!
        let now = Date()
        try catalog.recordStage(
            StageRecord(
                runID: id, ordinal: 0, name: "ingest", state: .succeeded, startedAt: now,
                finishedAt: now, durationSeconds: 0.25, metrics: ["bytes": 10]))
        try catalog.recordStage(
            StageRecord(
                runID: id, ordinal: 1, name: "segment", state: .succeeded, startedAt: now,
                finishedAt: now, durationSeconds: 3.5, metrics: ["nucleus_count": 2]))
        try catalog.recordStage(
            StageRecord(
                runID: id, ordinal: 2, name: "cut", state: .succeeded, startedAt: now,
                finishedAt: now, durationSeconds: 1.5))
        var outputs = [
            try output(good, "cut.xml", xml, kind: "cut_xml"),
            try output(good, "preview.png", png, kind: "preview"),
            try output(good, "features.csv", csv, kind: "features_csv"),
        ]
        let outboxFolder = "\(layout.outbox)/sample"
        try FileManager.default.createDirectory(atPath: outboxFolder, withIntermediateDirectories: true)
        outputs.append(try output(good, "cut.xml", xml, kind: "outbox_cut_xml", directory: outboxFolder))
        let link = "\(good.run.runDir!)/passwd.xml"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/etc/passwd")
        outputs.append(OutputRecord(runID: id, kind: "cut_xml", path: link, sha256: "0", bytes: 1, createdAt: now))
        outputs.append(
            OutputRecord(runID: id, kind: "other", path: "/etc/hostname", sha256: "0", bytes: 1, createdAt: now))
        try catalog.completeRun(id: id, outputs: outputs)
        succeeded = id

        let bad = try start("broken.nd2", profile: "nuclei", sha: "b")
        try catalog.failRun(id: bad.run.id!, code: "input_invalid", message: "not an ND2 file")
        failed = bad.run.id!

        let evil = try start("evil.tif", profile: Self.hostileProfile, sha: "c")
        try catalog.completeRun(
            id: evil.run.id!, outputs: [try output(evil, Self.hostileFile, csv, kind: "features_csv")])
        hostile = evil.run.id!

        let waiting = InputRecord(
            path: "/drop/later.nd2", currentPath: "/drop/later.nd2", profile: "other", size: 10, mtimeNs: 1,
            sha256: String(repeating: "d", count: 64), state: .queued, firstSeen: Date(), settledAt: Date())
        guard case .queued(_, let run) = try catalog.register(waiting, configHash: "h", stageCount: 3, version: "0.1.0")
        else {
            throw APIError.internalError
        }
        queued = run.id!
    }

    /// Writes the daemon's status row with a heartbeat `age` seconds ago.
    func heartbeat(age: TimeInterval, state: String = "running") throws {
        let now = Date()
        try catalog.saveDaemonStatus(
            DaemonStatusRecord(
                pid: 1, startedAt: now.addingTimeInterval(-age - 60), heartbeatAt: now.addingTimeInterval(-age),
                state: state,
                version: "0.1.0", configPath: "/etc/lmdflow/lmdflow.yml", watching: ""))
    }

    /// Writes a token file with `mode`.
    func tokenFile(_ name: String, _ tokens: [String], mode: Int = 0o600) throws -> String {
        let path = "\(root)/\(name)"
        try Data(("# tokens\n" + tokens.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode_t(mode))
        return path
    }

    /// The server of this fixture.
    func server(
        tokens: TokenStore = TokenStore(), configure: (inout HTTPSettings) -> Void = { _ in },
        staleAfter: TimeInterval = 30, clock: @escaping @Sendable () -> Double = RateLimiter.monotonicSeconds
    )
        -> APIServer
    {
        var settings = HTTPSettings()
        settings.enabled = true
        configure(&settings)
        return APIServer(
            catalog: catalog, layout: layout, settings: settings, tokens: tokens,
            logger: Logger(label: "test"), staleAfter: staleAfter, clock: clock)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

/// Runs `body` against the server's router in process (no sockets).
func withClient(_ server: APIServer, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
    let app = Application(router: server.makeRouter().router)
    try await app.test(.router) { client in try await body(client) }
}

/// Headers with a bearer token.
func bearer(_ token: String) -> HTTPFields {
    var fields = HTTPFields()
    fields[.authorization] = "Bearer \(token)"
    return fields
}

extension TestResponse {
    /// The body as text.
    var text: String { String(buffer: body) }
    /// The body as a JSON object (empty when it is not one).
    var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
    }
    /// `error.code` of an error body.
    var errorCode: String? { (object["error"] as? [String: Any])?["code"] as? String }
    /// `error.message` of an error body.
    var errorMessage: String? { (object["error"] as? [String: Any])?["message"] as? String }
}

extension Data {
    init(buffer: ByteBuffer) { self.init(buffer.readableBytesView) }
}
