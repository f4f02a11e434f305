import CInotifyTools
import Foundation
import Synchronization

/// What the watcher saw.
public struct WatchEvent: Sendable, Hashable {
    /// The kinds of change lmdflow cares about.
    public enum Kind: Sendable, Hashable {
        /// A file opened for writing was closed (the writer is done).
        case closeWrite
        /// A file was moved or renamed into the folder (complete by construction).
        case movedTo
        /// A file was created (a writer may still be writing).
        case created
        /// A file's content changed (a writer is writing).
        case modified
        /// A file was deleted or moved away.
        case removed
        /// The kernel queue overflowed: events were lost, rescan everything.
        case overflow
        /// A watched folder itself was deleted or moved away.
        case folderGone
    }

    /// The kind of change.
    public var kind: Kind
    /// The watched folder.
    public var folder: String
    /// The file name inside the folder (empty for folder-level events).
    public var name: String
}

/// Watches folders with libinotifytools on one dedicated thread and delivers events as an
/// `AsyncStream`.
///
/// libinotifytools keeps one inotify descriptor and one watch table per process and is not
/// thread-safe, so everything that touches it happens on the watcher thread: watches are added
/// and removed by posting commands that the thread applies between reads (it waits at most one
/// second for an event, so commands and `stop()` take effect within a second; there is no busy
/// polling). Only one watcher may exist per process.
public final class InotifyWatcher: Sendable {
    private static let inUse = Atomic<Bool>(false)

    private enum Command: Sendable {
        case add(String, CheckedContinuation<Bool, Never>?)
        case remove(String)
    }

    private let commands = Mutex<[Command]>([])
    private let stopped = Atomic<Bool>(false)
    private let continuation: AsyncStream<WatchEvent>.Continuation
    /// The events, in order; the stream ends when the watcher stops.
    public let events: AsyncStream<WatchEvent>

    /// Starts the watcher thread with watches on `folders` already in place when it returns, so
    /// nothing written after `init` is missed.
    /// - Throws: `DaemonError` (`.watcher`) when another watcher is active or inotify cannot start.
    public init(folders: [String] = []) throws(DaemonError) {
        guard !Self.inUse.exchange(true, ordering: .acquiringAndReleasing) else {
            throw DaemonError(code: .watcher, message: "a file watcher is already running in this process")
        }
        (events, continuation) = AsyncStream.makeStream(of: WatchEvent.self, bufferingPolicy: .unbounded)
        let ready = DispatchSemaphore(value: 0)
        let initResult = Mutex<Int32>(0)
        for folder in folders { commands.withLock { $0.append(.add(folder, nil)) } }
        let thread = Thread { [self] in
            let ok = inotifytools_initialize()
            initResult.withLock { $0 = ok != 0 ? 0 : inotifytools_error() }
            var watched: [Int32: String] = [:]
            if ok != 0 { self.applyCommands(&watched) }
            ready.signal()
            guard ok != 0 else { return }
            self.loop(&watched)
            inotifytools_cleanup()
            Self.inUse.store(false, ordering: .releasing)
        }
        thread.name = "lmdflow-inotify"
        thread.start()
        ready.wait()
        let error = initResult.withLock { $0 }
        if error != 0 {
            Self.inUse.store(false, ordering: .releasing)
            continuation.finish()
            throw DaemonError(code: .watcher, message: "inotify cannot start: \(String(cString: strerror(error)))")
        }
        continuation.onTermination = { [weak self] _ in self?.stopped.store(true, ordering: .releasing) }
    }

    /// Starts watching a folder; returns once the watch is in place (within about a second),
    /// true when it could be set.
    @discardableResult
    public func watch(_ folder: String) async -> Bool {
        await withCheckedContinuation { continuation in
            commands.withLock { $0.append(.add(folder, continuation)) }
        }
    }

    /// Stops watching a folder.
    public func unwatch(_ folder: String) { commands.withLock { $0.append(.remove(folder)) } }

    /// Stops the thread and ends the event stream.
    public func stop() { stopped.store(true, ordering: .releasing) }

    /// Applies queued watch/unwatch commands (watcher thread only).
    private func applyCommands(_ watched: inout [Int32: String]) {
        let mask = Int32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM
            | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
        for command in commands.withLock({ pending in defer { pending.removeAll() }; return pending }) {
            switch command {
            case .add(let folder, let done):
                if watched.values.contains(folder) {
                    done?.resume(returning: true)
                } else if inotifytools_watch_file(folder, mask) != 0 {
                    // libinotifytools records directories under their name with a trailing '/'.
                    var wd = inotifytools_wd_from_filename(folder + "/")
                    if wd < 0 { wd = inotifytools_wd_from_filename(folder) }
                    watched[wd] = folder
                    done?.resume(returning: wd >= 0)
                } else {
                    continuation.yield(WatchEvent(kind: .folderGone, folder: folder, name: ""))
                    done?.resume(returning: false)
                }
            case .remove(let folder):
                if let wd = watched.first(where: { $0.value == folder })?.key {
                    inotifytools_remove_watch_by_wd(wd)
                    watched[wd] = nil
                }
            }
        }
    }

    private func loop(_ watched: inout [Int32: String]) {
        while !stopped.load(ordering: .acquiring) {
            applyCommands(&watched)
            guard let event = inotifytools_next_event(1) else { continue }
            // The event lives in a library-owned buffer: copy what we need at once.
            let flags = event.pointee.mask
            let wd = event.pointee.wd
            let name = String(cString: lmdflow_inotify_event_name(event))
            if flags & UInt32(IN_Q_OVERFLOW) != 0 {
                continuation.yield(WatchEvent(kind: .overflow, folder: "", name: ""))
                continue
            }
            guard let folder = watched[wd] else { continue }
            if flags & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
                if flags & UInt32(IN_IGNORED) != 0 { watched[wd] = nil }
                continuation.yield(WatchEvent(kind: .folderGone, folder: folder, name: ""))
                continue
            }
            let kind: WatchEvent.Kind
            if flags & UInt32(IN_CLOSE_WRITE) != 0 { kind = .closeWrite }
            else if flags & UInt32(IN_MOVED_TO) != 0 { kind = .movedTo }
            else if flags & UInt32(IN_CREATE) != 0 { kind = .created }
            else if flags & UInt32(IN_MODIFY) != 0 { kind = .modified }
            else { kind = .removed }
            continuation.yield(WatchEvent(kind: kind, folder: folder, name: name))
        }
        for wd in watched.keys { inotifytools_remove_watch_by_wd(wd) }
        // Anyone still waiting for a watch gets an answer.
        for command in commands.withLock({ pending in defer { pending.removeAll() }; return pending }) {
            if case .add(_, let done) = command { done?.resume(returning: false) }
        }
        continuation.finish()
    }
}
