import Catalog
public import Daemon
import Foundation
import Glibc
import Hummingbird
public import Logging
import NIOCore
public import Pipeline
public import ServiceLifecycle

/// The HTTP API, status page and metrics of the daemon (configuration section `http:`), as a
/// ServiceLifecycle `Service`.
///
/// ```swift
/// let api = try APIService(settings: config.http, catalogPath: config.layout.catalog,
///                          layout: config.layout, logger: logger)
/// let group = ServiceGroup(services: [..., api], gracefulShutdownSignals: [.sigterm], logger: logger)
/// ```
///
/// `run()` binds `settings.bind:settings.port` (port 0 lets the kernel choose), logs the address,
/// writes the bound port to `<state_dir>/http.port` (atomically) and serves until graceful
/// shutdown; then it stops accepting connections, lets open requests finish and removes the
/// port file. docs/API.md describes the endpoints.
public struct APIService: Service {
    /// The settings it serves with.
    public let settings: HTTPSettings
    /// The state layout (run directories, outbox, the port file's directory).
    public let layout: StateLayout
    let server: APIServer
    let logger: Logger

    /// Validates the settings and token files and opens the catalog; nothing is bound yet.
    /// - Parameters:
    ///   - settings: the `http:` section.
    ///   - catalogPath: the catalog file.
    ///   - layout: the state layout.
    ///   - logger: where requests that fail and the bound address are logged.
    /// - Throws: ``APIServiceError``: `token_file_insecure` for a token file readable by every user,
    ///   `token_file_unreadable`/`token_file_empty` for unusable ones, `config_invalid` for a
    ///   non-loopback bind without tokens, `catalog_error` when the catalog cannot be opened.
    public init(settings: HTTPSettings, catalogPath: String, layout: StateLayout, logger: Logger)
        throws(APIServiceError)
    {
        let tokens = try TokenStore(readFile: settings.readTokensFile, writeFile: settings.writeTokensFile)
        try self.init(settings: settings, tokens: tokens, catalogPath: catalogPath, layout: layout, logger: logger)
    }

    /// Creates the service with tokens given in code (tests, embedding).
    /// - Throws: ``APIServiceError`` as ``init(settings:catalogPath:layout:logger:)`` without the token file checks.
    public init(settings: HTTPSettings, tokens: TokenStore, catalogPath: String, layout: StateLayout, logger: Logger)
        throws(APIServiceError)
    {
        if !settings.isLoopback, tokens.isEmpty {
            throw APIServiceError(
                code: .configInvalid,
                message: "binding the API to \(settings.bind) (not loopback) requires read or write tokens")
        }
        let catalog: Catalog
        do { catalog = try Catalog(path: catalogPath) } catch {
            throw APIServiceError(code: .catalog, path: catalogPath, message: error.message)
        }
        self.settings = settings
        self.layout = layout
        self.logger = logger
        self.server = APIServer(catalog: catalog, layout: layout, settings: settings, tokens: tokens, logger: logger)
    }

    /// Where the bound port is written.
    public var portFile: String { "\(layout.stateDirectory)/http.port" }

    /// Serves until graceful shutdown (or cancellation).
    /// - Throws: ``APIServiceError`` `http_server_failed` when the address cannot be bound.
    public func run() async throws {
        let counts = server.tokens.counts
        logger.info(
            "HTTP API: \(server.requireToken ? "bearer tokens required (\(counts.read) read, \(counts.write) write)" : "no tokens (loopback only)")"
        )
        let portFile = self.portFile
        let logger = self.logger
        let bind = settings.bind
        let application = Application(
            router: server.makeRouter().router,
            configuration: ApplicationConfiguration(
                address: .hostname(bind, port: settings.port), serverName: "lmdflow/\(LMDFlowVersion.current)"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice(
                    "HTTP API listening on http://\(bind.contains(":") ? "[\(bind)]" : bind):\(port)/",
                    metadata: ["port": "\(port)"])
                do {
                    try FileOps.writeAtomically(Data("\(port)\n".utf8), to: portFile, mode: 0o644)
                } catch {
                    logger.error("HTTP API: cannot write the port file: \(error)")
                }
            },
            logger: logger)
        defer { unlink(portFile) }
        do {
            try await application.run()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw APIServiceError(
                code: .serverFailed, message: "the HTTP server on \(bind):\(settings.port) failed: \(error)")
        }
    }
}
