import Catalog
import Foundation
import ImageKit
import MicroscopyIO
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The HTTP API inside the real daemon: a dropped file's cut file fetched over HTTP is
/// byte-identical to the one in the outbox; tokens and path escapes are enforced on the wire.
@Suite(.serialized, .enabled(if: DaemonHarness.binaryExists, "lmdflow binary not built (run `make test`)"))
struct HTTPAPIIntegrationTests {
    /// A profile that cuts every cell of the sidecar mask, with calibration points.
    static let cutProfile = """
        stages: [ingest, cut]
        LMDSelection:
          calibration_points: [[10, 10], [10, 180], [180, 95]]
          cell_sets: [{name: all, classes: all, well: A1}]
        """

    /// Drops `plate.tif` with its sidecar mask.
    static func dropPlate(_ harness: DaemonHarness) throws {
        let sample = SyntheticSample.nuclei(width: 192, height: 192, count: 12, seed: 4)
        try TIFFWriter.write(sample.labels, to: "\(harness.root)/plate.mask.tif")
        #expect(rename("\(harness.root)/plate.mask.tif", "\(harness.inbox)/plate.mask.tif") == 0)
        try TIFFWriter.write(sample.image, to: "\(harness.root)/plate.tif")
        #expect(rename("\(harness.root)/plate.tif", "\(harness.inbox)/plate.tif") == 0)
    }

    /// GET (or POST) on the daemon's API; returns the status, body and headers.
    static func request(
        _ port: Int, _ path: String, method: String = "GET", token: String? = nil, body: Data? = nil
    ) async throws -> (Int, Data, [AnyHashable: Any]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, data, http.allHeaderFields)
    }

    static func port(_ harness: DaemonHarness) async throws -> Int {
        let file = "\(harness.stateDir)/http.port"
        try await harness.waitFor("API port file", timeout: 20) { FileManager.default.fileExists(atPath: file) }
        let text = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return try #require(Int(text))
    }

    @Test func cutFileOverHTTPEqualsTheOutbox() async throws {
        let harness = try DaemonHarness(profile: Self.cutProfile, extra: "http: {enabled: true, port: 0}")
        try harness.start()
        try await harness.waitReady()
        let port = try await Self.port(harness)
        let (health, _, _) = try await Self.request(port, "/healthz")
        #expect(health == 200)
        try Self.dropPlate(harness)
        try await harness.waitFor("run succeeded", timeout: 30) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 1
        }
        let runID = try #require(try harness.catalog().runs().first?.run.id)
        let (listStatus, listBody, _) = try await Self.request(port, "/api/v1/runs?state=succeeded")
        #expect(listStatus == 200)
        #expect(String(decoding: listBody, as: UTF8.self).contains("plate.tif"))
        let outboxXML = "\(harness.stateDir)/outbox/plate/plate_all.xml"
        let expected = try #require(FileManager.default.contents(atPath: outboxXML))
        let (status, body, headers) = try await Self.request(port, "/api/v1/runs/\(runID)/files/plate_all.xml")
        #expect(status == 200)
        #expect(body == expected, "the downloaded cut file differs from the outbox's")
        #expect((headers["Content-Type"] as? String)?.contains("xml") == true)
        // Path escapes never leave the run directory (a bare `..` is resolved by the client itself).
        for escape in ["..%2F..%2Fcatalog.sqlite", "%2e%2e%2Flmdflow.yml", "..%2f..%2f..%2f..%2fetc%2fpasswd", "%2Fetc%2Fpasswd"] {
            let (code, data, _) = try await Self.request(port, "/api/v1/runs/\(runID)/files/\(escape)")
            #expect([400, 404].contains(code), "\(escape) → \(code)")
            #expect(!String(decoding: data, as: UTF8.self).contains("root:"))
        }
        let (page, html, _) = try await Self.request(port, "/")
        #expect(page == 200 && String(decoding: html, as: UTF8.self).contains("plate"))
        let (metrics, text, _) = try await Self.request(port, "/metrics")
        #expect(metrics == 200 && String(decoding: text, as: UTF8.self).contains("lmdflow_runs"))
        #expect(try await harness.stop() == 0)
    }

    @Test func tokensAreRequiredWhenConfigured() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-tokens-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (name, token) in [("read.tokens", "reader-secret-1"), ("write.tokens", "writer-secret-2")] {
            try "# \(name)\n\(token)\n".write(toFile: "\(root)/\(name)", atomically: true, encoding: .utf8)
            chmod("\(root)/\(name)", 0o600)
        }
        let harness = try DaemonHarness(
            profile: Self.cutProfile,
            extra: "http: {enabled: true, port: 0, read_tokens_file: \(root)/read.tokens, write_tokens_file: \(root)/write.tokens}")
        try harness.start()
        try await harness.waitReady()
        let port = try await Self.port(harness)
        #expect(try await Self.request(port, "/healthz").0 == 200)
        #expect(try await Self.request(port, "/api/v1/runs").0 == 401)
        #expect(try await Self.request(port, "/api/v1/runs", token: "wrong").0 == 401)
        #expect(try await Self.request(port, "/api/v1/runs", token: "reader-secret-1").0 == 200)
        #expect(try await Self.request(port, "/api/v1/runs/1/retry", method: "POST", token: "reader-secret-1").0 == 403)
        let (missing, body, _) = try await Self.request(port, "/api/v1/runs/999/retry", method: "POST", token: "writer-secret-2")
        #expect(missing == 404)
        #expect(String(decoding: body, as: UTF8.self).contains("\"error\""))
        #expect(try await harness.stop() == 0)
    }

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs headless Chromium with `arguments` + the URL; returns its standard output.
    static func chromium(_ arguments: [String], url: String, profile: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(chromium))
        process.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--user-data-dir=\(profile)", "--virtual-time-budget=3000",
        ] + arguments + [url]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// The status page in Debian's headless Chromium: the DOM has one row per run, with the
    /// failed run's state, and the screenshot is a real rendering of the page.
    @Test(.enabled(if: chromium != nil, "chromium not installed (make test installs it)"))
    func statusPageRendersInChromium() async throws {
        let harness = try DaemonHarness(profile: Self.cutProfile, extra: "http: {enabled: true, port: 0}")
        try harness.start()
        try await harness.waitReady()
        let port = try await Self.port(harness)
        try Self.dropPlate(harness)
        try await harness.waitFor("run succeeded", timeout: 30) {
            try harness.catalog().runs(RunFilter(state: .succeeded)).count == 1
        }
        // A damaged file: its run fails at ingest.
        try Data("II*\u{0}garbage".utf8).write(to: URL(fileURLWithPath: "\(harness.root)/broken.tif"))
        #expect(rename("\(harness.root)/broken.tif", "\(harness.inbox)/broken.tif") == 0)
        try await harness.waitFor("run failed", timeout: 30) {
            try harness.catalog().runs(RunFilter(state: .failed)).count == 1
        }
        let url = "http://127.0.0.1:\(port)/"
        let profile = "\(harness.root)/chromium-profile"
        let dom = try Self.chromium(["--dump-dom"], url: url, profile: profile)
        #expect(dom.contains("id=\"run-1\"") && dom.contains("id=\"run-2\""), "\(dom.prefix(2000))")
        #expect(dom.contains("plate.tif") && dom.contains("broken.tif"))
        #expect(dom.contains("failed") && dom.contains("succeeded"))
        #expect(dom.contains("preview.png"))
        let shot = "\(harness.root)/status.png"
        _ = try Self.chromium(["--screenshot=\(shot)", "--window-size=1200,800"], url: url, profile: profile)
        let png = try #require(FileManager.default.contents(atPath: shot), "no screenshot written")
        let image = try PNGDecoder.decode([UInt8](png))
        #expect(image.width == 1200 && image.height == 800)
        let channels = image.pixels.count / (image.width * image.height)
        // A rendered page: many distinct colours (text, table lines, the preview image), not a blank frame.
        var colours = Set<UInt32>()
        for i in stride(from: 0, to: image.width * image.height, by: 7) {
            let p = i * channels
            colours.insert(UInt32(image.pixels[p]) << 16 | UInt32(image.pixels[p + 1]) << 8 | UInt32(image.pixels[p + 2]))
        }
        #expect(colours.count > 20, "the screenshot has only \(colours.count) colours")
        // The preview image was fetched and drawn: the page is white, the preview mostly black.
        var dark = 0
        for i in 0..<(image.width * image.height) {
            let p = i * channels
            if image.pixels[p] < 40 && image.pixels[p + 1] < 40 && image.pixels[p + 2] < 40 { dark += 1 }
        }
        #expect(dark > 4000, "only \(dark) dark pixels: the preview image is not on the page")
        #expect(try await harness.stop() == 0)
    }
}
