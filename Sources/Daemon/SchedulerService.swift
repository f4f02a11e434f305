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
        dispose(claimed, outcome: outcome, snapshot: snapshot)
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
                let moved = try FileOps.moveIntoDirectory(current, directory: layout.archive)
                try runtime.catalog.moveInput(id: input.id!, to: moved)
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
                    errorFileBase = try FileOps.moveIntoDirectory(current, directory: layout.failed)
                    try runtime.catalog.moveInput(id: input.id!, to: errorFileBase)
                }
                try FileOps.writeAtomically(Data(text.utf8), to: errorFileBase + ".error.txt")
                logger.info("input set aside", metadata: ["run": "\(runID)", "to": "\(errorFileBase)"])
            }
        } catch {
            logger.error("cannot move input after run", metadata: ["run": "\(runID)", "path": "\(current)", "error": "\(error)"])
        }
    }
}
