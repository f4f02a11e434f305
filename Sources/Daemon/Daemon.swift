import Catalog
import Foundation
public import Logging
public import Pipeline
public import ServiceLifecycle
import UnixSignals

/// The drop-folder daemon: one `ServiceGroup` of the notifier (systemd + status row), the
/// scheduler (runs), the intake (watcher, rescans, settling) and the SIGHUP reloader.
///
/// Start-up: validate the configuration, take the state directory's lock (one daemon per state
/// directory), open and migrate the catalog, requeue runs a crash left `running` (failing those
/// past `max_attempts`), remove the temporaries a crash left in the outbox, archive and failed
/// folders, then start the services. SIGTERM/SIGINT stop gracefully: no new input
/// or run is taken, running stages get `stop_timeout_seconds` to finish, then are interrupted
/// and requeued; the process exits 0.
public enum LMDFlowDaemon {
    /// Runs the daemon until SIGTERM/SIGINT (or, with `exitWhenIdle`, until there is nothing
    /// left to do).
    /// - Parameters:
    ///   - config: the validated configuration (see `DaemonConfig.load`).
    ///   - exitWhenIdle: stop once the drop folders are scanned and every run is finished.
    ///   - registry: the stages profiles may use.
    ///   - logger: the root logger.
    ///   - additionalServices: services that run beside the daemon's own and stop with them
    ///     (the HTTP API); made once the catalog is open and migrated, so they may use it.
    /// - Throws: `DaemonError`, `CatalogError` or `PipelineError` when start-up fails, or what
    ///   `additionalServices` throws.
    public static func run(
        config: DaemonConfig, exitWhenIdle: Bool = false, registry: StageRegistry = .standard, logger: Logger,
        additionalServices: () throws -> [any Service] = { [] }
    ) async throws {
        try config.layout.createDirectories()
        let lock = try StateLock(directory: config.layout.stateDirectory)
        defer { lock.release() }
        let catalog = try Catalog(path: config.layout.catalog)
        let recovered = try catalog.recoverInterruptedRuns(maxAttempts: config.maxAttempts)
        if !recovered.requeued.isEmpty {
            logger.warning("requeued runs interrupted by a crash", metadata: ["runs": "\(recovered.requeued)"])
        }
        let stale = StaleTemporaries.sweep([config.layout.outbox, config.layout.archive, config.layout.failed])
        if !stale.isEmpty {
            logger.notice("removed temporaries of writes a crash interrupted", metadata: ["files": "\(stale)"])
        }
        let runtime = try DaemonRuntime(config: config, catalog: catalog, registry: registry, logger: logger,
                                        exitWhenIdle: exitWhenIdle)
        let scheduler = SchedulerService(runtime: runtime, logger: logger)
        for id in recovered.failed {
            logger.error("run failed after too many interrupted attempts", metadata: ["run": "\(id)"])
            if let details = try? catalog.details(runID: id) {
                scheduler.dispose(ClaimedRun(run: details.run, input: details.input),
                                  outcome: .failed(code: details.run.errorCode ?? "attempts_exhausted",
                                                   message: details.run.errorMessage ?? ""),
                                  snapshot: runtime.current)
            }
        }
        if config.createFolders {
            for folder in config.dropFolders { try FileOps.createDirectory(folder.path) }
        }
        let watcher = try InotifyWatcher(folders: config.dropFolders.map(\.path))
        let notifier = SystemdNotifier()
        let intake = IntakeService(runtime: runtime, watcher: watcher, logger: logger)
        let reload = ReloadService(runtime: runtime, intake: intake, notifier: notifier, logger: logger)
        let status = NotifierService(runtime: runtime, notifier: notifier, logger: logger)
        // Graceful shutdown runs in reverse order: stop the reloader and intake first, then let
        // the scheduler finish its runs, and report STOPPING last.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: status),
            .init(service: scheduler),
            .init(service: intake),
            .init(service: reload),
        ]
        // Extra services stop first on shutdown (they come last): the API stops taking requests
        // before runs are wound down.
        for service in try additionalServices() { services.append(.init(service: service)) }
        if exitWhenIdle {
            services.append(.init(service: IdleExitService(runtime: runtime),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        var groupConfig = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfig.gracefulShutdownSignals = [.sigterm, .sigint]
        // Past the scheduler's own stop timeout, cancel whatever is left.
        groupConfig.maximumGracefulShutdownDuration = .milliseconds(Int((config.stopTimeoutSeconds + 15) * 1000))
        logger.notice("lmdflow daemon starting", metadata: [
            "version": "\(LMDFlowVersion.current)", "config": "\(config.path)", "state_dir": "\(config.layout.stateDirectory)",
            "folders": "\(config.dropFolders.map { "\($0.path)→\($0.profile)" }.joined(separator: ", "))",
            "concurrency": "\(config.concurrency)"])
        try await ServiceGroup(configuration: groupConfig).run()
        logger.notice("lmdflow daemon stopped")
    }
}

/// An exclusive `flock` on `<state_dir>/lmdflow.lock`: two daemons on one state directory would
/// race for the same files. The kernel drops the lock when the process dies, even by `kill -9`.
struct StateLock: ~Copyable {
    let fd: Int32

    init(directory: String) throws(DaemonError) {
        let path = "\(directory)/lmdflow.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw DaemonError(code: .startup, path: path, message: "cannot open lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw DaemonError(code: .alreadyRunning, path: path,
                              message: "another lmdflow daemon is running on this state directory")
        }
        let pid = "\(getpid())\n"
        ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
