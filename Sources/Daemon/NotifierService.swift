import Catalog
import Foundation
import Logging
import Pipeline
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Tells systemd and the catalog how the daemon is doing: `READY=1` once the drop folders are
/// watched and scanned, `STATUS=` with queue counts whenever they change, `WATCHDOG=1` at half
/// the watchdog interval, `STOPPING=1` on shutdown; and the catalog's `daemon` row (read by
/// `lmdflow status`) every 10 seconds and on every change of state.
final class NotifierService: Service {
    private let runtime: DaemonRuntime
    private let notifier: SystemdNotifier
    private let logger: Logger
    private let startedAt = Date()

    init(runtime: DaemonRuntime, notifier: SystemdNotifier, logger: Logger) {
        self.runtime = runtime
        self.notifier = notifier
        self.logger = logger
    }

    func run() async throws {
        saveStatus("starting")
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if let interval = notifier.watchdogInterval {
                    group.addTask {
                        while !Task.isCancelled {
                            self.notifier.notify("WATCHDOG=1")
                            do { try await Task.sleep(for: interval / 2) } catch { return }
                        }
                    }
                }
                await self.statusLoop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.notifier.notify("STOPPING=1\nSTATUS=stopping")
            self.runtime.statusWake.signal()
        }
        saveStatus("stopped")
    }

    private func statusLoop() async {
        var lastStatus = ""
        var lastHeartbeat = ContinuousClock.now - .seconds(60)
        var announced = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if !announced, runtime.initialScanDone.load(ordering: .acquiring), runtime.ready.load(ordering: .acquiring) == 1 {
                announced = true
                notifier.notify("READY=1")
                logger.notice("ready", metadata: ["folders": "\(runtime.current.config.dropFolders.count)"])
                saveStatus("running")
                lastHeartbeat = .now
            }
            let status = statusLine()
            if status != lastStatus {
                notifier.notify("STATUS=\(status)")
                lastStatus = status
            }
            if ContinuousClock.now - lastHeartbeat >= .seconds(10) {
                saveStatus(announced ? "running" : "starting")
                lastHeartbeat = .now
            }
            await runtime.statusWake.wait(timeout: .seconds(10))
        }
    }

    private func statusLine() -> String {
        let counts = (try? runtime.catalog.runCounts()) ?? [:]
        let folders = runtime.current.config.dropFolders.count
        return "queued \(counts[.queued] ?? 0), running \(runtime.running.load(ordering: .acquiring)), "
            + "settling \(runtime.intakePending.load(ordering: .acquiring)); watching \(folders) folder\(folders == 1 ? "" : "s")"
    }

    private func saveStatus(_ state: String) {
        let config = runtime.current.config
        let record = DaemonStatusRecord(
            pid: getpid(), startedAt: startedAt, heartbeatAt: Date(), state: state, version: LMDFlowVersion.current,
            configPath: config.path,
            watching: config.dropFolders.map { "\($0.path) → \($0.profile)" }.joined(separator: "\n"))
        do { try runtime.catalog.saveDaemonStatus(record) } catch {
            logger.warning("cannot write daemon status", metadata: ["error": "\(error)"])
        }
    }
}

/// Reloads the configuration and profiles on SIGHUP. A file with an error is reported and the
/// running configuration is kept. The state directory cannot change without a restart.
final class ReloadService: Service {
    private let runtime: DaemonRuntime
    private let intake: IntakeService
    private let notifier: SystemdNotifier
    private let logger: Logger

    init(runtime: DaemonRuntime, intake: IntakeService, notifier: SystemdNotifier, logger: Logger) {
        self.runtime = runtime
        self.intake = intake
        self.notifier = notifier
        self.logger = logger
    }

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            await reload()
        }
    }

    func reload() async {
        let old = runtime.current.config
        var monotonic = timespec()
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(Int64(monotonic.tv_sec) * 1_000_000 + Int64(monotonic.tv_nsec) / 1000)")
        defer { notifier.notify("READY=1") }
        do {
            let new = try DaemonConfig.load(path: old.path, registry: runtime.registry)
            guard new.layout == old.layout else {
                logger.error("reload refused: state directories changed; restart the service to move them",
                             metadata: ["config": "\(old.path)"])
                return
            }
            let snapshot = try DaemonRuntime.load(new, registry: runtime.registry)
            runtime.replace(snapshot)
            await intake.apply(old: old, new: new)
            runtime.schedulerWake.signal()
            logger.notice("configuration reloaded", metadata: [
                "config": "\(new.path)", "folders": "\(new.dropFolders.count)", "concurrency": "\(new.concurrency)"])
        } catch {
            logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
        }
    }
}

/// For `--exit-when-idle` (the demo, scripts): ends the daemon gracefully once the first scan
/// is done, nothing is settling, nothing is queued and nothing runs, twice in a row 250 ms apart.
final class IdleExitService: Service {
    private let runtime: DaemonRuntime

    init(runtime: DaemonRuntime) { self.runtime = runtime }

    func run() async throws {
        var quietChecks = 0
        while quietChecks < 2 {
            try await Task.sleep(for: .milliseconds(250))
            if Task.isShuttingDownGracefully { return }
            let queued = (try? runtime.catalog.runCounts()[.queued]) ?? 0
            let idle = runtime.initialScanDone.load(ordering: .acquiring)
                && runtime.intakePending.load(ordering: .acquiring) == 0
                && runtime.running.load(ordering: .acquiring) == 0 && queued == 0
            quietChecks = idle ? quietChecks + 1 : 0
        }
    }
}
