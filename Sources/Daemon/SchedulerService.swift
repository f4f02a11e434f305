import Catalog
import Foundation
import Logging
import Pipeline
import ServiceLifecycle
import Synchronization

/// Takes queued runs from the catalog and runs them, at most `concurrency` at a time; after each
/// run moves its input to `archive/` or `failed/` (with `<name>.error.txt`) as configured.
///
/// On graceful shutdown it takes no new run, lets running stages finish for
/// `stop_timeout_seconds`, then cancels them: an interrupted run goes back to the queue with its
/// finished stages kept for resume.
final class SchedulerService: Service {
    private let runtime: DaemonRuntime
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    /// How often a failure the catalog could not take (disk full) is written again.
    private let failureRetryInterval: Duration = .seconds(3)

    init(runtime: DaemonRuntime, logger: Logger) {
        self.runtime = runtime
        self.logger = logger
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .releasing)
            self.runtime.schedulerWake.signal()
        }
    }

    private func loop() async {
        let catalog = runtime.catalog
        var deadline: ContinuousClock.Instant?
        await withDiscardingTaskGroup { group in
            while true {
                let isStopping = stopping.load(ordering: .acquiring) || Task.isCancelled
                if !isStopping {
                    let snapshot = runtime.current
                    let layout = snapshot.config.layout
                    while runtime.running.load(ordering: .acquiring) < snapshot.config.concurrency {
                        let claimed: ClaimedRun?
                        do {
                            claimed = try catalog.claimNextRun { id in PipelineRunner.runDirectory(for: id, in: layout) }
                        } catch {
                            logger.error("cannot take a run from the catalog", metadata: ["error": "\(error)"])
                            break
                        }
                        guard let claimed else { break }
                        runtime.running.add(1, ordering: .acquiringAndReleasing)
                        runtime.statusWake.signal()
                        group.addTask {
                            await self.execute(claimed, snapshot: snapshot)
                            self.runtime.running.subtract(1, ordering: .acquiringAndReleasing)
                            self.runtime.statusWake.signal()
                            self.runtime.schedulerWake.signal()
                        }
                    }
                } else {
                    if runtime.running.load(ordering: .acquiring) == 0 { break }
                    if deadline == nil {
                        let timeout = runtime.current.config.stopTimeoutSeconds
                        deadline = .now + .milliseconds(Int(timeout * 1000))
                        logger.notice("stopping: waiting for running stages", metadata: [
                            "running": "\(runtime.running.load(ordering: .acquiring))", "timeout_s": "\(timeout)"])
                    }
                    if let deadline, ContinuousClock.now >= deadline {
                        logger.warning("stop timeout reached: interrupting running stages (their runs are requeued)")
                        group.cancelAll()
                    }
                }
                runtime.ready.store(1, ordering: .releasing)
                // Runs can also be queued by the CLI (`retry`, `process` leftovers): look again
                // every few seconds even without a wake-up.
                let wait: Duration = deadline.map { max(.milliseconds(10), $0 - .now) } ?? .seconds(3)
                await runtime.schedulerWake.wait(timeout: wait)
            }
        }
    }

    private func execute(_ claimed: ClaimedRun, snapshot: DaemonRuntime.Snapshot) async {
        let runID = claimed.run.id!
        let runner = PipelineRunner(catalog: runtime.catalog, layout: snapshot.config.layout, logger: logger)
        let outcome: RunOutcome
        do {
            let profile = try runtime.profile(named: claimed.run.profile)
            outcome = await runner.run(claimed, profile: profile)
        } catch {
            try? runtime.catalog.failRun(id: runID, code: error.code.rawValue, message: error.description)
            logger.error("run failed", metadata: ["run": "\(runID)", "code": "\(error.code)", "error": "\(error)"])
            outcome = .failed(code: error.code.rawValue, message: error.description)
        }
        if case .failed(let code, let message) = outcome {
            guard await recordFailure(runID: runID, code: code, message: message) else { return }
        }
        dispose(claimed, outcome: outcome, snapshot: snapshot)
    }

    /// Makes sure a failed run is recorded as failed. The runner's own write fails when the
    /// catalog's disk is full (the usual reason a run fails then); the run would stay `running`
    /// until the next start, could not be retried, and its input would never be set aside. So
    /// while the catalog still says `running`, the failure is written again every few seconds
    /// until space returns. Returns false when the daemon stops first (the run is then requeued
    /// at the next start, like any interrupted run).
    private func recordFailure(runID: Int64, code: String, message: String) async -> Bool {
        let catalog = runtime.catalog
        return await Persistently.retry(
            every: failureRetryInterval, shouldStop: { stopping.load(ordering: .acquiring) },
            onFirstFailure: { error in
                logger.warning("cannot record the run's failure in the catalog yet; retrying every few seconds",
                               metadata: ["run": "\(runID)", "error": "\(error)"])
            }
        ) {
            guard try catalog.run(id: runID).state == .running else { return }
            try catalog.failRun(id: runID, code: code, message: message)
        }
    }

    /// Moves the input after its run, as configured for its drop folder.
    func dispose(_ claimed: ClaimedRun, outcome: RunOutcome, snapshot: DaemonRuntime.Snapshot) {
        let input = claimed.input
        let runID = claimed.run.id!
        let layout = snapshot.config.layout
        let folderPath = URL(fileURLWithPath: input.path).deletingLastPathComponent().path
        let afterRun = snapshot.config.dropFolders.first { $0.path == folderPath }?.afterRun ?? snapshot.config.afterRun
        let current = input.currentPath
        guard FileManager.default.fileExists(atPath: current) else { return }
        do {
            switch outcome {
            case .interrupted:
                return
            case .succeeded:
                guard afterRun == .move, !current.hasPrefix(layout.archive + "/") else { return }
                let moved = try moveRecorded(input.id!, from: current, into: layout.archive)
                logger.info("input archived", metadata: ["run": "\(runID)", "to": "\(moved)"])
            case .failed(let code, let message):
                let text = """
                    lmdflow run \(runID) failed
                    input:   \(input.path)
                    profile: \(claimed.run.profile)
                    when:    \(ISO8601DateFormatter().string(from: Date()))
                    code:    \(code)
                    error:   \(message)
                    run dir: \(claimed.run.runDir ?? "")
                    retry:   lmdflow retry \(runID)

                    """
                var errorFileBase = current
                if afterRun == .move && !current.hasPrefix(layout.failed + "/") {
                    errorFileBase = try moveRecorded(input.id!, from: current, into: layout.failed)
                }
                try FileOps.writeAtomically(Data(text.utf8), to: errorFileBase + ".error.txt")
                logger.info("input set aside", metadata: ["run": "\(runID)", "to": "\(errorFileBase)"])
            }
        } catch {
            logger.error("cannot move input after run", metadata: ["run": "\(runID)", "path": "\(current)", "error": "\(error)"])
        }
    }

    /// Moves an input and records its new place. When the catalog cannot record it (disk full),
    /// the file goes back where it was, so the catalog's `current_path` stays true (a retry
    /// reads the input from there).
    private func moveRecorded(_ inputID: Int64, from current: String, into directory: String) throws -> String {
        let moved = try FileOps.moveIntoDirectory(current, directory: directory)
        do {
            try runtime.catalog.moveInput(id: inputID, to: moved)
        } catch {
            // link(2) never replaces a file dropped under the same name meanwhile.
            if link(moved, current) == 0 {
                unlink(moved)
            } else {
                logger.error("input moved but not recorded, and cannot be moved back", metadata: [
                    "path": "\(current)", "now": "\(moved)", "error": "\(String(cString: strerror(errno)))"])
            }
            throw error
        }
        return moved
    }
}
