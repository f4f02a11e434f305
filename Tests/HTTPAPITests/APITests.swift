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

@Suite struct RunEndpointTests {
    @Test func listsRunsWithFilters() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server()) { client in
            let all = try await client.execute(uri: "/api/v1/runs", method: .get)
            #expect(all.status == .ok)
            #expect(all.object["count"] as? Int == 4)
            let ids = (all.object["runs"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
            #expect(ids == [fixture.queued, fixture.hostile, fixture.failed, fixture.succeeded].map(Int.init))

            let failed = try await client.execute(uri: "/api/v1/runs?state=failed", method: .get)
            let failedRuns = failed.object["runs"] as? [[String: Any]] ?? []
            #expect(failedRuns.count == 1)
            #expect(failedRuns.first?["id"] as? Int == Int(fixture.failed))
            #expect((failedRuns.first?["error"] as? [String: Any])?["code"] as? String == "input_invalid")

            let nuclei = try await client.execute(uri: "/api/v1/runs?profile=nuclei", method: .get)
            #expect(nuclei.object["count"] as? Int == 2)
            let hostile = try await client.execute(
                uri: "/api/v1/runs?profile=%3Cscript%3Ealert(1)%3C%2Fscript%3E", method: .get)
            #expect(hostile.object["count"] as? Int == 1)

            let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
            let since = try await client.execute(uri: "/api/v1/runs?since=\(future)", method: .get)
            #expect(since.object["count"] as? Int == 0)
            let until = try await client.execute(uri: "/api/v1/runs?until=\(future)&limit=2", method: .get)
            #expect(until.object["count"] as? Int == 2)
            let past = try await client.execute(uri: "/api/v1/runs?until=2000-01-01", method: .get)
            #expect(past.object["count"] as? Int == 0)

            let badState = try await client.execute(uri: "/api/v1/runs?state=bogus", method: .get)
            #expect(badState.status == .badRequest)
            #expect(badState.errorCode == "bad_request")
            let badLimit = try await client.execute(uri: "/api/v1/runs?limit=0", method: .get)
            #expect(badLimit.status == .badRequest)
            let badDate = try await client.execute(uri: "/api/v1/runs?since=yesterday", method: .get)
            #expect(badDate.status == .badRequest)
        }
    }

    @Test func showsOneRun() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server()) { client in
            let response = try await client.execute(uri: "/api/v1/runs/\(fixture.succeeded)", method: .get)
            #expect(response.status == .ok)
            let body = response.object
            let run = body["run"] as? [String: Any] ?? [:]
            #expect(run["state"] as? String == "succeeded")
            #expect(run["stages_done"] as? Int == 3)
            #expect(run["stage_count"] as? Int == 3)
            let stages = body["stages"] as? [[String: Any]] ?? []
            #expect(stages.map { $0["name"] as? String } == ["ingest", "segment", "cut"])
            #expect((stages[1]["metrics"] as? [String: Any])?["nucleus_count"] as? Double == 2)
            #expect(stages[1]["duration_s"] as? Double == 3.5)
            #expect((body["cells"] as? [String: Any])?["count"] as? Int == 0)
            let outputs = body["outputs"] as? [[String: Any]] ?? []
            let names = outputs.compactMap { $0["name"] as? String }
            #expect(names == ["cut.xml", "preview.png", "features.csv", "passwd.xml", "hostname"])  // each name once
            #expect(outputs.first?["url"] as? String == "/api/v1/runs/\(fixture.succeeded)/files/cut.xml")
            // No server paths of outputs in the body.
            #expect(!response.text.contains(fixture.layout.runs))

            let failed = try await client.execute(uri: "/api/v1/runs/\(fixture.failed)", method: .get)
            let error = (failed.object["run"] as? [String: Any])?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "input_invalid")
            #expect(error?["message"] as? String == "not an ND2 file")

            let missing = try await client.execute(uri: "/api/v1/runs/999", method: .get)
            #expect(missing.status == .notFound)
            #expect(missing.errorCode == "not_found")
            let bad = try await client.execute(uri: "/api/v1/runs/abc", method: .get)
            #expect(bad.status == .badRequest)
            let noRoute = try await client.execute(uri: "/api/v2/nothing", method: .get)
            #expect(noRoute.status == .notFound)
            #expect(noRoute.errorCode == "not_found")
        }
    }

    @Test func downloadsFilesByteForByte() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server()) { client in
            let base = "/api/v1/runs/\(fixture.succeeded)/files"
            for (name, data, type) in [
                ("cut.xml", fixture.xml, "application/xml"), ("preview.png", fixture.png, "image/png"),
                ("features.csv", fixture.csv, "text/csv; charset=utf-8"),
            ] {
                let response = try await client.execute(uri: "\(base)/\(name)", method: .get)
                #expect(response.status == .ok, "\(name)")
                #expect(Data(buffer: response.body) == data, "\(name)")
                #expect(response.headers[.contentType] == type)
                #expect(response.headers[.contentLength] == String(data.count))
            }
            let hostile = try await client.execute(
                uri: RunFiles.url(runID: fixture.hostile, name: Fixture.hostileFile), method: .get)
            #expect(hostile.status == .ok)
            #expect(Data(buffer: hostile.body) == fixture.csv)

            let unknown = try await client.execute(uri: "\(base)/nope.xml", method: .get)
            #expect(unknown.status == .notFound)
            #expect(unknown.errorCode == "not_found")
            // A name that exists in the run directory but is not a listed output.
            try Data("secret".utf8).write(
                to: URL(fileURLWithPath: "\(fixture.layout.runs)/\(fixture.succeeded)/secret.txt"))
            let unlisted = try await client.execute(uri: "\(base)/secret.txt", method: .get)
            #expect(unlisted.status == .notFound)
            // Another run's file is not this run's.
            let other = try await client.execute(uri: "/api/v1/runs/\(fixture.failed)/files/cut.xml", method: .get)
            #expect(other.status == .notFound)
        }
    }

    @Test func refusesPathEscapes() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server()) { client in
            let base = "/api/v1/runs/\(fixture.succeeded)/files"
            let attempts = [
                "\(base)/..", "\(base)/../../../../etc/passwd", "\(base)/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
                "\(base)/%2e%2e", "\(base)/%2e%2e%2f%2e%2e%2fcatalog.sqlite", "\(base)/%2E%2E%2Fcut.xml",
                "\(base)/%2Fetc%2Fpasswd", "\(base)/cut.xml%00.png", "\(base)/passwd.xml", "\(base)/hostname",
                "/api/v1/runs/\(fixture.succeeded)/files/..%2F..%2Fcatalog.sqlite",
            ]
            for uri in attempts {
                let response = try await client.execute(uri: uri, method: .get)
                #expect([400, 403, 404].contains(response.status.code), "\(uri) → \(response.status.code)")
                #expect(response.errorCode != nil, "\(uri) answers a JSON error")
                #expect(!response.text.contains("root:"), "\(uri) leaks /etc/passwd")
                #expect(!response.text.contains(fixture.root), "\(uri) names a server path")
            }
            // The symbolic link and the outside path are listed outputs, refused as outside the run.
            let link = try await client.execute(uri: "\(base)/passwd.xml", method: .get)
            #expect(link.status == .forbidden)
            #expect(link.errorCode == "path_outside_run")
            let outside = try await client.execute(uri: "\(base)/hostname", method: .get)
            #expect(outside.status == .forbidden)
            let encoded = try await client.execute(uri: "\(base)/..%2F..%2F..%2F..%2Fetc%2Fpasswd", method: .get)
            #expect(encoded.status == .badRequest)
        }
    }

    @Test func retryQueuesANewRun() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server()) { client in
            let response = try await client.execute(uri: "/api/v1/runs/\(fixture.failed)/retry", method: .post)
            #expect(response.status == .accepted)
            let run = response.object["run"] as? [String: Any] ?? [:]
            #expect(run["state"] as? String == "queued")
            #expect(run["retry_of"] as? Int == Int(fixture.failed))
            let newID = Int64(run["id"] as? Int ?? 0)
            #expect(try fixture.catalog.run(id: newID).state == .queued)
            #expect(response.headers[.location] == "/api/v1/runs/\(newID)")

            let again = try await client.execute(uri: "/api/v1/runs/\(fixture.failed)/retry", method: .post)
            #expect(again.status == .conflict)
            #expect(again.errorCode == "invalid_state")
            let succeeded = try await client.execute(uri: "/api/v1/runs/\(fixture.succeeded)/retry", method: .post)
            #expect(succeeded.status == .conflict)
            let missing = try await client.execute(uri: "/api/v1/runs/999/retry", method: .post)
            #expect(missing.status == .notFound)
        }
    }

    @Test func selectRefusesBadDocumentsAndWritesNothing() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let runDir = "\(fixture.layout.runs)/\(fixture.succeeded)"
        let outputsBefore = try fixture.catalog.details(runID: fixture.succeeded).outputs.count
        try await withClient(fixture.server()) { client in
            let uri = "/api/v1/runs/\(fixture.succeeded)/select"
            let cases: [(String, String)] = [
                ("cell_sets: 3\n", "expected a list of cell sets"),
                ("cel_sets:\n  - {name: a, classes: all}\n", "cell_sets"),
                ("cell_sets: [unclosed\n", "not valid YAML"),
                (#"{"cell_sets": [{"name": "a", "select": "area_nucleus >"}]}"#, "cell_sets[0].select"),
            ]
            for (document, expected) in cases {
                let response = try await client.execute(uri: uri, method: .post, body: ByteBuffer(string: document))
                #expect(response.status == .unprocessableContent, "\(document)")
                #expect(response.errorCode == "config_invalid")
                #expect(
                    response.errorMessage?.contains(expected) == true,
                    "\(response.errorMessage ?? "-") lacks \(expected)")
                #expect(!response.text.contains(fixture.root))
            }
            let empty = try await client.execute(uri: uri, method: .post, body: ByteBuffer(string: "  \n"))
            #expect(empty.status == .badRequest)
            // Only succeeded runs can be re-selected.
            let failed = try await client.execute(
                uri: "/api/v1/runs/\(fixture.failed)/select", method: .post,
                body: ByteBuffer(string: "cell_sets: [{name: a, classes: all}]"))
            #expect(failed.status == .conflict)
            let missing = try await client.execute(
                uri: "/api/v1/runs/999/select", method: .post,
                body: ByteBuffer(string: "cell_sets: [{name: a, classes: all}]"))
            #expect(missing.status == .notFound)
            // A valid document on a run without a cut recipe: 409, without server paths.
            let noRecipe = try await client.execute(
                uri: uri, method: .post, body: ByteBuffer(string: "cell_sets: [{name: a, classes: all}]"))
            #expect(noRecipe.status == .conflict)
            #expect(noRecipe.errorMessage?.contains("cut recipe") == true)
            #expect(!noRecipe.text.contains(fixture.root))
        }
        #expect(!FileManager.default.fileExists(atPath: "\(runDir)/selections/v2"))
        #expect(try fixture.catalog.details(runID: fixture.succeeded).outputs.count == outputsBefore)
        #expect(try fixture.catalog.latestSelectionVersion(runID: fixture.succeeded) <= 1)
    }
}

@Suite struct SecurityTests {
    @Test func tokensSeparateReadAndWrite() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let readFile = try fixture.tokenFile("read.tokens", ["read-token-0123456789"])
        let writeFile = try fixture.tokenFile("write.tokens", ["write-token-0123456789"])
        let tokens = try TokenStore(readFile: readFile, writeFile: writeFile)
        #expect(tokens.counts == (1, 1))
        try await withClient(fixture.server(tokens: tokens)) { client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)

            for uri in [
                "/", "/api/v1/runs", "/metrics", "/readyz", "/api/v1/openapi.json",
                "/api/v1/runs/\(fixture.succeeded)/files/cut.xml", "/nothing",
            ] {
                let none = try await client.execute(uri: uri, method: .get)
                #expect(none.status == .unauthorized, "\(uri)")
                #expect(none.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                #expect(none.errorCode == "unauthorized")
            }
            let wrong = try await client.execute(
                uri: "/api/v1/runs", method: .get, headers: bearer("read-token-012345678"))
            #expect(wrong.status == .unauthorized)
            #expect(wrong.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
            var basic = HTTPFields()
            basic[.authorization] = "Basic cmVhZDp4"
            #expect(try await client.execute(uri: "/api/v1/runs", method: .get, headers: basic).status == .unauthorized)

            let read = try await client.execute(
                uri: "/api/v1/runs", method: .get, headers: bearer("read-token-0123456789"))
            #expect(read.status == .ok)
            let file = try await client.execute(
                uri: "/api/v1/runs/\(fixture.succeeded)/files/cut.xml", method: .get,
                headers: bearer("read-token-0123456789"))
            #expect(Data(buffer: file.body) == fixture.xml)
            let readPost = try await client.execute(
                uri: "/api/v1/runs/\(fixture.failed)/retry", method: .post,
                headers: bearer("read-token-0123456789"))
            #expect(readPost.status == .forbidden)
            #expect(readPost.errorCode == "forbidden")
            let anonymousPost = try await client.execute(uri: "/api/v1/runs/\(fixture.failed)/retry", method: .post)
            #expect(anonymousPost.status == .unauthorized)
            #expect(try fixture.catalog.runs(RunFilter(state: .queued)).count == 1)  // nothing was retried

            let writeGet = try await client.execute(
                uri: "/api/v1/runs", method: .get, headers: bearer("write-token-0123456789"))
            #expect(writeGet.status == .ok)
            let writePost = try await client.execute(
                uri: "/api/v1/runs/\(fixture.failed)/retry", method: .post,
                headers: bearer("write-token-0123456789"))
            #expect(writePost.status == .accepted)
        }
    }

    @Test func refusesWorldReadableAndEmptyTokenFiles() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let open = try fixture.tokenFile("open.tokens", ["abcdefghijklmnop"], mode: 0o644)
        var settings = HTTPSettings()
        settings.enabled = true
        settings.readTokensFile = open
        do {
            _ = try APIService(
                settings: settings, catalogPath: fixture.layout.catalog, layout: fixture.layout,
                logger: Logger(label: "test"))
            Issue.record("a world-readable token file was accepted")
        } catch {
            #expect(error.code == .tokenFileInsecure)
            #expect(error.description.contains("0644"))
            #expect(error.description.contains(open))
        }
        let empty = try fixture.tokenFile("empty.tokens", [], mode: 0o640)
        #expect(throws: APIServiceError.self) { try TokenStore(readFile: nil, writeFile: empty) }
        #expect(throws: APIServiceError.self) { try TokenStore(readFile: "\(fixture.root)/missing", writeFile: nil) }
        // Group-readable (0640) is fine.
        let group = try fixture.tokenFile("group.tokens", ["abcdefghijklmnop"], mode: 0o640)
        settings.readTokensFile = group
        let service = try APIService(
            settings: settings, catalogPath: fixture.layout.catalog, layout: fixture.layout,
            logger: Logger(label: "test"))
        #expect(service.server.requireToken)
        // Not loopback and no tokens: refused.
        var exposed = HTTPSettings()
        exposed.bind = "0.0.0.0"
        #expect(throws: APIServiceError.self) {
            try APIService(
                settings: exposed, catalogPath: fixture.layout.catalog, layout: fixture.layout,
                logger: Logger(label: "test"))
        }
    }

    @Test func comparesTokensExactly() {
        let store = TokenStore(read: ["alpha-token"], write: ["bravo-token", "alpha-token"])
        #expect(store.access(of: "alpha-token") == .write)  // the stronger grant wins
        #expect(store.access(of: "bravo-token") == .write)
        #expect(store.access(of: "alpha-toke") == nil)
        #expect(store.access(of: "alpha-token ") == nil)
        #expect(store.access(of: "") == nil)
        #expect(TokenStore.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!TokenStore.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!TokenStore.constantTimeEqual([], Array("a".utf8)))
    }

    @Test func limitsBodySize() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server(configure: { $0.maxBodyBytes = 1024 })) { client in
            let big = "cell_sets:\n" + String(repeating: "  - {name: a, classes: all}\n", count: 100)
            let response = try await client.execute(
                uri: "/api/v1/runs/\(fixture.succeeded)/select", method: .post,
                body: ByteBuffer(string: big))
            #expect(response.status == .contentTooLarge)
            #expect(response.errorCode == "body_too_large")
        }
    }

    @Test func limitsRequestRate() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        // A stopped clock: on a loaded machine the four requests may take longer than the 20 s
        // in which one token comes back.
        try await withClient(fixture.server(configure: { $0.requestsPerMinute = 3 }, clock: { 1000 })) { client in
            for _ in 0..<3 {
                #expect(try await client.execute(uri: "/api/v1/runs", method: .get).status == .ok)
            }
            let limited = try await client.execute(uri: "/api/v1/runs", method: .get)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.errorCode == "rate_limited")
            let retryAfter = Int(limited.headers[.retryAfter] ?? "") ?? 0
            #expect((1...20).contains(retryAfter))
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
        }
    }

    @Test func tokenBucketRefills() {
        let time = TestClock()
        let limiter = RateLimiter(perMinute: 60, now: { time.now })
        for _ in 0..<60 { #expect(limiter.take("a") == nil) }
        #expect(limiter.take("a") == 1)
        #expect(limiter.take("b") == nil)  // per client
        time.advance(1)
        #expect(limiter.take("a") == nil)
        #expect(limiter.take("a") == 1)
        #expect(RateLimiter(perMinute: 0).take("a") == nil)
    }
}

/// A settable clock for the rate limiter.
final class TestClock: @unchecked Sendable {
    // Only touched from the test's own task.
    var now = 1000.0
    func advance(_ seconds: Double) { now += seconds }
}

@Suite struct HealthTests {
    @Test func healthAndReadiness() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server(staleAfter: 30)) { client in
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            #expect(health.object["status"] as? String == "ok")

            let missing = try await client.execute(uri: "/readyz", method: .get)
            #expect(missing.status == .serviceUnavailable)
            #expect(missing.errorCode == "not_ready")
            #expect(missing.errorMessage?.contains("no daemon") == true)

            try fixture.heartbeat(age: 120)
            let stale = try await client.execute(uri: "/readyz", method: .get)
            #expect(stale.status == .serviceUnavailable)
            #expect(stale.errorMessage?.contains("stale") == true)

            try fixture.heartbeat(age: 1, state: "stopped")
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .serviceUnavailable)

            try fixture.heartbeat(age: 1)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            #expect(ready.object["status"] as? String == "ready")
            #expect((ready.object["runs"] as? [String: Any])?["succeeded"] as? Int == 2)
        }
    }
}

@Suite struct PageAndMetricsTests {
    @Test func statusPageListsAndEscapes() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server()) { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            let html = page.text
            for id in [fixture.succeeded, fixture.failed, fixture.hostile, fixture.queued] {
                #expect(html.contains("<tr id=\"run-\(id)\">"))
            }
            #expect(html.components(separatedBy: "<tr id=\"run-").count - 1 == 4)
            #expect(html.contains("<meta http-equiv=\"refresh\" content=\"10\">"))
            #expect(html.contains("<img src=\"/api/v1/runs/\(fixture.succeeded)/files/preview.png\""))
            #expect(html.contains("href=\"/api/v1/runs/\(fixture.succeeded)/files/cut.xml\""))
            #expect(html.contains("3/3 stages"))
            #expect(html.contains("0/3 stages"))
            #expect(html.contains("input_invalid"))
            // Hostile values appear only escaped.
            #expect(!html.contains("<script>"))
            #expect(!html.contains("<img src=x"))
            #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(html.contains("&lt;img src=x onerror=alert(2)&gt;.csv"))
        }
    }

    @Test func metricsCountRunsOnce() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try await withClient(fixture.server()) { client in
            _ = try await client.execute(uri: "/api/v1/runs", method: .get)
            let first = try await client.execute(uri: "/metrics", method: .get)
            #expect(first.status == .ok)
            #expect(first.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = first.text
            #expect(text.contains(#"lmdflow_runs{state="succeeded"} 2.0"#))
            #expect(text.contains(#"lmdflow_runs{state="failed"} 1.0"#))
            #expect(text.contains("lmdflow_queue_length 1.0"))
            #expect(text.contains("lmdflow_inputs_seen_total 4"))
            #expect(text.contains(#"lmdflow_errors_total{code="input_invalid"} 1"#))
            #expect(text.contains(#"lmdflow_stage_duration_seconds_count{stage="segment"} 1"#))
            #expect(text.contains("lmdflow_stage_duration_seconds_bucket"))
            #expect(text.contains(#"lmdflow_http_requests_total{route="/api/v1/runs",status="200"} 1"#))

            // A second scrape counts nothing twice.
            let second = try await client.execute(uri: "/metrics", method: .get).text
            #expect(second.contains("lmdflow_inputs_seen_total 4"))
            #expect(second.contains(#"lmdflow_errors_total{code="input_invalid"} 1"#))
            #expect(second.contains(#"lmdflow_stage_duration_seconds_count{stage="segment"} 1"#))
            #expect(second.contains(#"lmdflow_http_requests_total{route="/metrics",status="200"} 1"#))
        }
    }
}
