import Catalog
import Dispatch
import Foundation
import Logging
import Pipeline
import ServiceLifecycle
import Synchronization

/// Watches the drop folders (inotify events plus periodic rescans), decides when each file is
/// complete, and registers it in the catalog with a queued run.
///
/// A file is taken when a close-write or moved-to event was seen for it and its size and
/// modification time have not changed for the folder's settle time. A file found only by a
/// rescan (present at start-up, on a network share, or after an inotify overflow) is taken when
/// its size and modification time are unchanged over max(settle, 1 s). Creation or modification
/// events after a close mean a writer is active again: the file waits for the next close.
final class IntakeService: Service {
    struct Candidate {
        var folder: DropFolder
        var size: Int64
        var mtimeNs: Int64
        var firstSeen: Date
        var lastChange: ContinuousClock.Instant
        /// A close-write or moved-to was seen after the last create/modify.
        var closed: Bool
        /// Some inotify event was seen for it.
        var viaEvent: Bool
    }

    private let runtime: DaemonRuntime
    private let watcher: InotifyWatcher
    private let logger: Logger
    private let state = IntakeState()
    /// Wakes the rescan loop early (inotify overflow, folder gone, reload, shutdown).
    private let rescanWake = WakeSignal()

    /// - Parameter watcher: a watcher already watching the configured drop folders.
    init(runtime: DaemonRuntime, watcher: InotifyWatcher, logger: Logger) {
        self.runtime = runtime
        self.watcher = watcher
        self.logger = logger
        for folder in runtime.current.config.dropFolders { state.setWatched(folder.path, true) }
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.consumeEvents() }
                group.addTask { await self.rescanLoop() }
                await self.evaluateLoop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.state.stop()
            self.runtime.intakeWake.signal()
            self.rescanWake.signal()
        }
        watcher.stop()
    }

    /// Applies a new set of drop folders (SIGHUP): watches are in place before the rescan.
    func apply(old: DaemonConfig, new: DaemonConfig) async {
        let oldPaths = Set(old.dropFolders.map(\.path))
        let newPaths = Set(new.dropFolders.map(\.path))
        for path in oldPaths.subtracting(newPaths) { watcher.unwatch(path) }
        for path in newPaths.subtracting(oldPaths) {
            if new.createFolders { try? FileOps.createDirectory(path) }
            state.setWatched(path, await watcher.watch(path))
        }
        for path in oldPaths.subtracting(newPaths) { state.setWatched(path, false) }
        rescanWake.signal()
    }

    // MARK: - Event and rescan sources

    private func consumeEvents() async {
        for await event in watcher.events {
            if Task.isCancelled || state.isStopped { break }
            switch event.kind {
            case .overflow:
                logger.warning("inotify queue overflowed; rescanning every drop folder")
                rescanWake.signal()
            case .folderGone:
                state.setWatched(event.folder, false)
                logger.error("drop folder is gone or cannot be watched; it is rescanned until it returns",
                             metadata: ["folder": "\(event.folder)"])
                rescanWake.signal()
            default:
                guard let folder = runtime.current.config.dropFolders.first(where: { $0.path == event.folder }) else { continue }
                observe(folder: folder, name: event.name, event: event.kind)
            }
            runtime.intakeWake.signal()
        }
    }

    private func rescanLoop() async {
        while !Task.isCancelled && !state.isStopped {
            for folder in runtime.current.config.dropFolders { await rescan(folder) }
            runtime.initialScanDone.store(true, ordering: .releasing)
            runtime.intakeWake.signal()
            let interval = runtime.current.config.rescanSeconds
            await rescanWake.wait(timeout: .milliseconds(Int(interval * 1000)))
        }
    }

    private func rescan(_ folder: DropFolder) async {
        let config = runtime.current.config
        if !state.isWatched(folder.path) {
            // Not watched (missing at start, or deleted since): create it if configured, watch again.
            if config.createFolders { try? FileOps.createDirectory(folder.path) }
            if await watcher.watch(folder.path) { state.setWatched(folder.path, true) }
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            state.reportOnce(key: "unreadable:\(folder.path)") {
                logger.error("cannot list drop folder", metadata: ["folder": "\(folder.path)"])
            }
            return
        }
        for name in names { observe(folder: folder, name: name, event: nil) }
    }

    /// Records an observation of `folder/name` (from an event, or from a rescan when `event` is nil).
    private func observe(folder: DropFolder, name: String, event: WatchEvent.Kind?) {
        let path = "\(folder.path)/\(name)"
        if event == .removed {
            state.remove(path)
            return
        }
        let config = runtime.current.config
        switch DropFilter.classify(name, extensions: config.extensions) {
        case .temporary, .sidecar: return
        case .unsupported(let ext):
            guard let facts = FileOps.stat(path), facts.isRegular else { return }
            state.reportOnce(key: "unsupported:\(path):\(facts.mtimeNs)") {
                logger.warning("unsupported file left alone", metadata: ["path": "\(path)", "extension": "\(ext)"])
                try? runtime.catalog.log(EventRecord(level: "warning", kind: "input_unsupported", path: path,
                    message: "extension '\(ext)' is not one of \(config.extensions.joined(separator: ", ")); left alone"))
            }
            return
        case .input: break
        }
        guard let facts = FileOps.stat(path) else { return }
        if facts.isSymlink {
            state.reportOnce(key: "symlink:\(path)") {
                logger.warning("symbolic link in drop folder refused", metadata: ["path": "\(path)"])
                try? runtime.catalog.log(EventRecord(level: "warning", kind: "input_refused", path: path,
                    message: "symbolic links are not followed in drop folders; copy or move the file in"))
            }
            return
        }
        guard facts.isRegular else {
            state.reportOnce(key: "dir:\(path)") {
                logger.notice("not a regular file; left alone", metadata: ["path": "\(path)"])
            }
            return
        }
        let now = ContinuousClock.now
        state.update(path) { existing in
            var candidate = existing ?? Candidate(
                folder: folder, size: facts.size, mtimeNs: facts.mtimeNs, firstSeen: Date(), lastChange: now,
                closed: false, viaEvent: false)
            if candidate.size != facts.size || candidate.mtimeNs != facts.mtimeNs {
                candidate.size = facts.size
                candidate.mtimeNs = facts.mtimeNs
                candidate.lastChange = now
            }
            switch event {
            case .closeWrite?, .movedTo?:
                candidate.closed = true
                candidate.viaEvent = true
            case .created?, .modified?:
                candidate.closed = false
                candidate.viaEvent = true
                candidate.lastChange = now
            default: break
            }
            return candidate
        }
        runtime.intakePending.store(state.count, ordering: .releasing)
    }

    // MARK: - Settling and taking

    private func evaluateLoop() async {
        while !Task.isCancelled && !state.isStopped {
            let now = ContinuousClock.now
            var ready: [(String, Candidate)] = []
            var nextCheck: Duration?
            for (path, candidate) in state.all() {
                // A writer has it open (create/modify after the last close): wait for its close event.
                if candidate.viaEvent && !candidate.closed { continue }
                let settle = Duration.milliseconds(Int(candidate.folder.settleSeconds * 1000))
                let needed = candidate.viaEvent ? settle : max(settle, .seconds(1))
                let waited = now - candidate.lastChange
                guard waited >= needed else {
                    nextCheck = min(nextCheck ?? (needed - waited), needed - waited)
                    continue
                }
                // Due: confirm with a fresh stat that nothing changed since the last observation.
                guard let facts = FileOps.stat(path), facts.isRegular else {
                    state.remove(path)
                    continue
                }
                if facts.size != candidate.size || facts.mtimeNs != candidate.mtimeNs {
                    var changed = candidate
                    changed.size = facts.size
                    changed.mtimeNs = facts.mtimeNs
                    changed.lastChange = now
                    state.update(path) { _ in changed }
                    nextCheck = min(nextCheck ?? needed, needed)
                    continue
                }
                ready.append((path, candidate))
            }
            for (path, candidate) in ready.sorted(by: { $0.1.firstSeen < $1.1.firstSeen }) {
                if state.isStopped { break }
                await take(path: path, candidate: candidate)
            }
            runtime.intakePending.store(state.count, ordering: .releasing)
            runtime.statusWake.signal()
            if !ready.isEmpty { continue }
            await runtime.intakeWake.wait(timeout: nextCheck.map { $0 + .milliseconds(5) })
        }
    }

    private func take(path: String, candidate: Candidate) async {
        let catalog = runtime.catalog
        do {
            if let known = try catalog.unchangedInput(path: path, size: candidate.size, mtimeNs: candidate.mtimeNs) {
                state.remove(path)
                try finishKnown(known, folder: candidate.folder)
                return
            }
            let sha256 = try await Blocking.run { () throws(PipelineError) -> String in try FileOps.sha256(ofFile: path) }
            guard let after = FileOps.stat(path), after.size == candidate.size, after.mtimeNs == candidate.mtimeNs else {
                // It changed while we hashed: settle again.
                state.update(path) { existing in
                    var changed = existing ?? candidate
                    changed.lastChange = .now
                    return changed
                }
                return
            }
            state.remove(path)
            guard let profile = runtime.current.profilesByFolder[candidate.folder.path] else { return }
            let record = InputRecord(
                path: path, currentPath: path, profile: profile.name, size: candidate.size, mtimeNs: candidate.mtimeNs,
                sha256: sha256, state: .queued, firstSeen: candidate.firstSeen, settledAt: Date())
            switch try catalog.register(record, configHash: profile.configHash, stageCount: profile.stages.count,
                                        version: LMDFlowVersion.current) {
            case .queued(let input, let run):
                logger.info("input queued", metadata: ["run": "\(run.id!)", "input": "\(input.id!)", "path": "\(path)",
                                                       "profile": "\(profile.name)", "bytes": "\(input.size)"])
                runtime.schedulerWake.signal()
            case .duplicate(let input, let earlier):
                logger.notice("duplicate input; no new run", metadata: [
                    "path": "\(path)", "duplicate_of": "\(earlier.id!)", "earlier_path": "\(earlier.path)"])
                try finishKnown(input, folder: candidate.folder)
            }
        } catch {
            state.remove(path)
            state.reportOnce(key: "takefail:\(path):\(candidate.mtimeNs)") {
                logger.error("cannot take input", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }

    /// A file the catalog already knows is still in the drop folder: finish its disposition if
    /// its run is over (a crash between "run finished" and "input moved" leaves this state).
    private func finishKnown(_ input: InputRecord, folder: DropFolder) throws {
        guard folder.afterRun == .move, input.currentPath == input.path,
              FileManager.default.fileExists(atPath: input.path) else { return }
        let layout = runtime.current.config.layout
        switch input.state {
        case .done, .duplicate:
            let moved = try FileOps.moveIntoDirectory(input.path, directory: layout.archive)
            try runtime.catalog.moveInput(id: input.id!, to: moved)
            logger.info("input archived", metadata: ["path": "\(input.path)", "to": "\(moved)"])
        case .failed:
            let moved = try FileOps.moveIntoDirectory(input.path, directory: layout.failed)
            try runtime.catalog.moveInput(id: input.id!, to: moved)
        case .queued, .processing: break
        }
    }
}

/// The intake's candidates and bookkeeping, behind a lock (touched by the event consumer, the
/// rescan loop and the evaluator).
final class IntakeState: Sendable {
    private struct Inner {
        var candidates: [String: IntakeService.Candidate] = [:]
        var reported: Set<String> = []
        var stopped = false
        var watched: Set<String> = []
    }

    private let inner = Mutex(Inner())

    var count: Int { inner.withLock { $0.candidates.count } }
    var isStopped: Bool { inner.withLock { $0.stopped } }
    func stop() { inner.withLock { $0.stopped = true } }
    func all() -> [(String, IntakeService.Candidate)] { inner.withLock { Array($0.candidates) } }
    func isWatched(_ folder: String) -> Bool { inner.withLock { $0.watched.contains(folder) } }
    func setWatched(_ folder: String, _ watched: Bool) {
        inner.withLock { _ = watched ? $0.watched.insert(folder).inserted : $0.watched.remove(folder) != nil }
    }
    func remove(_ path: String) { _ = inner.withLock { $0.candidates.removeValue(forKey: path) } }

    func update(_ path: String, _ body: (IntakeService.Candidate?) -> IntakeService.Candidate) {
        inner.withLock { $0.candidates[path] = body($0.candidates[path]) }
    }

    /// Runs `body` the first time `key` is reported (bounded memory: forgets after 100,000 keys).
    func reportOnce(key: String, _ body: () -> Void) {
        let first = inner.withLock { inner -> Bool in
            if inner.reported.count > 100_000 { inner.reported.removeAll() }
            return inner.reported.insert(key).inserted
        }
        if first { body() }
    }
}
