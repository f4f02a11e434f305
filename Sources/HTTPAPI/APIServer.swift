import Catalog
import Daemon
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Pipeline

/// The routes and their handlers. ``APIService`` builds one and serves its router; tests drive
/// the same router in process.
struct APIServer: Sendable {
    /// One registered route, as the OpenAPI document lists it.
    struct Route: Sendable, Hashable {
        var method: HTTPRequest.Method
        var path: String
    }

    let catalog: Catalog
    let layout: StateLayout
    let logger: Logger
    let tokens: TokenStore
    let requireToken: Bool
    let maxBodyBytes: Int
    let limiter: RateLimiter
    let metrics: APIMetrics
    /// A daemon status row older than this makes `/readyz` answer 503.
    let staleAfter: TimeInterval

    /// Creates the server's handlers.
    init(
        catalog: Catalog, layout: StateLayout, settings: HTTPSettings, tokens: TokenStore, logger: Logger,
        staleAfter: TimeInterval = 30, clock: @escaping @Sendable () -> Double = RateLimiter.monotonicSeconds
    ) {
        self.catalog = catalog
        self.layout = layout
        self.logger = logger
        self.tokens = tokens
        self.requireToken = !tokens.isEmpty || !settings.isLoopback
        self.maxBodyBytes = settings.maxBodyBytes
        self.limiter = RateLimiter(perMinute: settings.requestsPerMinute, now: clock)
        self.metrics = APIMetrics(catalog: catalog)
        self.staleAfter = staleAfter
    }

    /// The router with every route, and the list of what was registered.
    func makeRouter() -> (router: Router<APIRequestContext>, routes: [Route]) {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: ObservingMiddleware(metrics: metrics, logger: logger))
        router.add(
            middleware: GuardMiddleware(
                tokens: tokens, requireToken: requireToken, limiter: limiter,
                maxBodyBytes: maxBodyBytes))
        var routes: [Route] = []
        func on(
            _ method: HTTPRequest.Method, _ path: String,
            _ handler: @escaping @Sendable (Request, APIRequestContext) async throws -> Response
        ) {
            router.on(RouterPath(path), method: method, use: handler)
            routes.append(Route(method: method, path: path))
        }
        on(.get, "/healthz") { _, _ in try json(HealthBody(status: "ok", version: LMDFlowVersion.current)) }
        on(.get, "/readyz") { _, _ in try await readiness() }
        on(.get, "/metrics") { _, _ in try await scrape() }
        on(.get, "/") { _, _ in try await statusPage() }
        on(.get, "/api/v1/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        on(.get, "/api/v1/runs") { request, _ in try await listRuns(request) }
        on(.get, "/api/v1/runs/{id}") { _, context in try await runDetails(try runID(context)) }
        on(.get, "/api/v1/runs/{id}/files/{name}") { _, context in
            try await download(try runID(context), rawName: context.parameters.get("name") ?? "")
        }
        on(.post, "/api/v1/runs/{id}/select") { request, context in
            try await select(try runID(context), request: request)
        }
        on(.post, "/api/v1/runs/{id}/retry") { _, context in try await retry(try runID(context)) }
        return (router, routes)
    }

    // MARK: - Handlers

    /// `GET /readyz`.
    func readiness() async throws -> Response {
        let catalog = self.catalog
        let state: (DaemonStatusRecord?, [RunState: Int])
        do {
            state = try await Blocking.run { () throws(CatalogError) in
                (try catalog.daemonStatus(), try catalog.runCounts())
            }
        } catch {
            logger.warning("readiness: catalog does not answer: \(error)")
            throw APIError(code: .notReady, status: .serviceUnavailable, message: "the catalog does not answer")
        }
        guard let daemon = state.0 else {
            throw APIError(
                code: .notReady, status: .serviceUnavailable, message: "no daemon has reported its status yet")
        }
        let age = Date().timeIntervalSince(daemon.heartbeatAt)
        guard daemon.state == "running" || daemon.state == "starting" else {
            throw APIError(code: .notReady, status: .serviceUnavailable, message: "the daemon is \(daemon.state)")
        }
        guard age <= staleAfter else {
            throw APIError(
                code: .notReady, status: .serviceUnavailable,
                message: "the daemon's status is stale: last heartbeat \(Int(age)) s ago (limit \(Int(staleAfter)) s)")
        }
        var runs: [String: Int] = [:]
        for runState in RunState.allCases { runs[runState.rawValue] = state.1[runState] ?? 0 }
        return try json(
            ReadyBody(
                status: "ready",
                daemon: .init(
                    state: daemon.state, heartbeatAt: daemon.heartbeatAt, ageSeconds: max(0, age),
                    version: daemon.version),
                runs: runs))
    }

    /// `GET /metrics`.
    func scrape() async throws -> Response {
        let metrics = self.metrics
        let text: String
        do {
            text = try await Blocking.run { () throws(CatalogError) in try metrics.scrape() }
        } catch {
            logger.error("metrics: \(error)")
            throw APIError(code: .notReady, status: .serviceUnavailable, message: "the catalog does not answer")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// `GET /`.
    func statusPage() async throws -> Response {
        let catalog = self.catalog
        let page = try await catalogCall { () throws(CatalogError) -> String in
            let summaries = try catalog.runs(RunFilter(limit: StatusPage.runLimit))
            var rows: [StatusPage.Row] = []
            for summary in summaries {
                let outputs = try catalog.details(runID: summary.run.id ?? 0).outputs
                let files = Self.distinctNames(outputs)
                let preview = outputs.last { $0.kind == "preview" }.map { RunFiles.baseName($0.path) }
                rows.append(StatusPage.Row(summary: summary, files: files, preview: preview))
            }
            return StatusPage.render(
                rows: rows, counts: try catalog.runCounts(), daemon: try catalog.daemonStatus(),
                version: LMDFlowVersion.current, now: Date())
        }
        // No scripts, no frames, images and links only from here: a hostile value that slipped past
        // escaping still could not run.
        let policy = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: policy,
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
    }

    /// `GET /api/v1/runs`.
    func listRuns(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var filter = RunFilter(limit: 100)
        if let value = query["state"].map(String.init), !value.isEmpty {
            guard let state = RunState(rawValue: value) else {
                throw APIError.badRequest(
                    "unknown state '\(RunFiles.printable(value))'; expected one of "
                        + RunState.allCases.map(\.rawValue).joined(separator: ", "))
            }
            filter.state = state
        }
        if let value = query["profile"].map(String.init), !value.isEmpty { filter.profile = value }
        if let value = query["since"].map(String.init), !value.isEmpty {
            filter.since = try Self.date(value, name: "since")
        }
        if let value = query["until"].map(String.init), !value.isEmpty {
            filter.until = try Self.date(value, name: "until")
        }
        if let value = query["limit"].map(String.init), !value.isEmpty {
            guard let limit = Int(value), (1...1000).contains(limit) else {
                throw APIError.badRequest("limit must be a whole number from 1 to 1000")
            }
            filter.limit = limit
        }
        let catalog = self.catalog
        let chosen = filter
        let runs = try await catalogCall { () throws(CatalogError) in try catalog.runs(chosen) }
        return try json(RunListBody(runs: runs.map(RunBody.init), count: runs.count))
    }

    /// `GET /api/v1/runs/{id}`.
    func runDetails(_ id: Int64) async throws -> Response {
        let catalog = self.catalog
        let body = try await catalogCall { () throws(CatalogError) -> RunDetailsBody in
            let details = try catalog.details(runID: id)
            let done = details.stages.count { $0.state == .succeeded || $0.state == .skipped }
            let current = details.stages.first { $0.state == .running }?.name
            let cellCount = try catalog.cellCount(runID: id)
            let sets = try catalog.cellSets(runID: id).map {
                CellSetBody(version: $0.version, name: $0.name, well: $0.well, count: $0.cellIDs.count)
            }
            return RunDetailsBody(
                run: RunBody(details.run, inputPath: details.input.path, stagesDone: done, currentStage: current),
                stages: details.stages.map(StageBody.init),
                cells: CellsBody(count: cellCount, sets: sets),
                outputs: Self.outputBodies(details.outputs, runID: id),
                events: details.events.map { EventBody(at: $0.at, level: $0.level, kind: $0.kind, message: $0.message) }
            )
        }
        return try json(body)
    }

    /// `GET /api/v1/runs/{id}/files/{name}`.
    func download(_ id: Int64, rawName: String) async throws -> Response {
        let name = try RunFiles.decodeName(rawName)
        let catalog = self.catalog
        let details = try await catalogCall { () throws(CatalogError) in try catalog.details(runID: id) }
        let layout = self.layout
        let file = try await Blocking.run { () throws(APIError) in
            try RunFiles.resolve(name, in: details, layout: layout)
        }
        var headers: HTTPFields = [.contentType: file.contentType, .cacheControl: "no-cache"]
        let safeName = String(
            String.UnicodeScalarView(
                name.unicodeScalars.map {
                    $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0))
                        ? $0 : "_"
                }))
        headers[.contentDisposition] =
            "\(file.contentType.hasPrefix("image/") ? "inline" : "attachment"); filename=\"\(safeName)\""
        let path = file.path
        let size = file.size
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody(contentLength: size) { writer in
                let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                guard fd >= 0 else { throw APIError.internalError }
                defer { close(fd) }
                var offset = 0
                while offset < size {
                    let chunk = min(256 << 10, size - offset)
                    let start = offset
                    let bytes = try await Blocking.run { () throws(APIError) -> [UInt8] in
                        var buffer = [UInt8](repeating: 0, count: chunk)
                        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, chunk, off_t(start)) }
                        guard n > 0 else { throw APIError.internalError }
                        buffer.removeLast(chunk - n)
                        return buffer
                    }
                    try await writer.write(ByteBuffer(bytes: bytes))
                    offset += bytes.count
                }
                try await writer.finish(nil)
            })
    }

    /// `POST /api/v1/runs/{id}/retry`.
    func retry(_ id: Int64) async throws -> Response {
        let catalog = self.catalog
        let summary = try await catalogCall { () throws(CatalogError) -> RunBody in
            let run = try catalog.retry(runID: id, version: LMDFlowVersion.current)
            let input = try catalog.input(id: run.inputID)
            return RunBody(run, inputPath: input.path, stagesDone: 0, currentStage: nil)
        }
        logger.info("API: run \(id) retried as run \(summary.id)")
        var response = try json(RetryBody(run: summary), status: .accepted)
        response.headers[.location] = summary.url
        return response
    }

    /// `POST /api/v1/runs/{id}/select`.
    func select(_ id: Int64, request: Request) async throws -> Response {
        let catalog = self.catalog
        let run = try await catalogCall { () throws(CatalogError) in try catalog.run(id: id) }
        guard run.state == .succeeded, let runDirectory = run.runDir else {
            throw APIError(
                code: .invalidState, status: .conflict,
                message: "run \(id) is \(run.state.rawValue); only a succeeded run can be re-selected")
        }
        var body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw GuardMiddleware.tooLarge(maxBodyBytes)
        }
        guard let text = body.readString(length: body.readableBytes),
            !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            throw APIError.badRequest("the body must be a sets document (YAML or JSON with cell_sets), UTF-8")
        }
        let plan: SelectionPlan
        do {
            // ids_csv paths are resolved inside the run directory (and may not leave it).
            plan = try SelectionPlan.parse(
                try ConfigNode.parse(yaml: text, file: "request body"), baseDirectory: runDirectory)
        } catch {
            throw Self.documentError(error)
        }
        let reselection = Reselection(catalog: catalog, layout: layout, logger: logger)
        let outcome: Reselection.Outcome
        do {
            outcome = try await reselection.run(runID: id, plan: plan, source: "api")
        } catch {
            switch error.code.rawValue {
            case "not_found": throw APIError.noRun(id)
            case "invalid_state": throw APIError(code: .invalidState, status: .conflict, message: error.message)
            case PipelineError.Code.config.rawValue: throw Self.documentError(error)
            case PipelineError.Code.inputUnreadable.rawValue:
                // The run has no cut recipe or features to re-select from (its profile has no cut).
                throw APIError(
                    code: .invalidState, status: .conflict, message: "run \(id) cannot be re-selected: \(error.message)"
                )
            default:
                logger.error("API: re-selection of run \(id) failed: \(error)")
                throw APIError(
                    code: APIError.Code(rawValue: error.code.rawValue), status: .internalServerError,
                    message: "re-selection failed (\(error.code.rawValue)); the service log has the details")
            }
        }
        let outputs = try await catalogCall { () throws(CatalogError) in try catalog.details(runID: id).outputs }
        let made = Set([outcome.xml, outcome.preview].map(RunFiles.baseName))
        let files = Self.outputBodies(outputs, runID: id).filter { made.contains($0.name) }
        return try json(
            SelectBody(
                runID: id, version: outcome.version,
                sets: outcome.sets.map { .init(name: $0.name, well: $0.well, count: $0.cellIDs.count) },
                summary: outcome.summary, files: files), status: .created)
    }

    // MARK: - Helpers

    /// The `{id}` path parameter.
    func runID(_ context: APIRequestContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else {
            throw APIError.badRequest("the run id must be a positive whole number")
        }
        return id
    }

    /// Runs catalog work off the cooperative pool; `not_found` becomes 404, `invalid_state` 409,
    /// anything else a 503 whose details only the log gets.
    func catalogCall<T: Sendable>(_ body: @escaping @Sendable () throws(CatalogError) -> T) async throws(APIError) -> T
    {
        do {
            return try await Blocking.run(body)
        } catch {
            switch error.code {
            case .notFound: throw APIError(code: .notFound, status: .notFound, message: error.message)
            case .invalidState: throw APIError(code: .invalidState, status: .conflict, message: error.message)
            default:
                logger.error("catalog: \(error)")
                throw APIError(code: .notReady, status: .serviceUnavailable, message: "the catalog does not answer")
            }
        }
    }

    /// A selection document error as a 422 that keeps the location and the message (the
    /// "file" is the request body itself).
    static func documentError(_ error: PipelineError) -> APIError {
        var message = error.message
        if let location = error.location { message = "line \(location): \(message)" }
        return APIError(code: .invalidDocument, status: .unprocessableContent, message: message)
    }

    /// A JSON response.
    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try APIJSON.encode(value))))
    }

    /// ISO 8601 (with or without fractional seconds, or a date alone) or seconds since 1970.
    static func date(_ text: String, name: String) throws(APIError) -> Date {
        if let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds], [.withFullDate],
        ] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        throw APIError.badRequest(
            "\(name) must be an ISO 8601 time (2025-01-31T12:00:00Z), a date or seconds since 1970")
    }

    /// Each output name once, the run directory's copy first.
    static func distinctNames(_ outputs: [OutputRecord]) -> [String] {
        var seen = Set<String>()
        return outputs.compactMap { output in
            let name = RunFiles.baseName(output.path)
            return seen.insert(name).inserted ? name : nil
        }
    }

    /// The outputs as download entries, one per name (outbox copies share their original's name).
    static func outputBodies(_ outputs: [OutputRecord], runID: Int64) -> [OutputBody] {
        var seen = Set<String>()
        return outputs.compactMap { output in
            let name = RunFiles.baseName(output.path)
            guard seen.insert(name).inserted else { return nil }
            return OutputBody(
                name: name, kind: output.kind, bytes: output.bytes, sha256: output.sha256,
                createdAt: output.createdAt, url: RunFiles.url(runID: runID, name: name))
        }
    }
}
