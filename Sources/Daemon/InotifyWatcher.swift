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
        case add(String)
        case remove(String)
    }

    private let commands = Mutex<[Command]>([])
    private let stopped = Atomic<Bool>(false)
    private let continuation: AsyncStream<WatchEvent>.Continuation
    /// The events, in order; the stream ends when the watcher stops.
    public let events: AsyncStream<WatchEvent>

    /// Starts the watcher thread.
    /// - Throws: `DaemonError` (`.watcher`) when another watcher is active or inotify cannot start.
    public init() throws(DaemonError) {
        guard !Self.inUse.exchange(true, ordering: .acquiringAndReleasing) else {
            throw DaemonError(code: .watcher, message: "a file watcher is already running in this process")
        }
        (events, continuation) = AsyncStream.makeStream(of: WatchEvent.self, bufferingPolicy: .unbounded)
        let ready = DispatchSemaphore(value: 0)
        let initResult = Mutex<Int32>(0)
        let thread = Thread { [self] in
            let ok = inotifytools_initialize()
            initResult.withLock { $0 = ok != 0 ? 0 : inotifytools_error() }
            ready.signal()
            guard ok != 0 else { return }
            self.loop()
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

    /// Starts watching a folder (applied by the watcher thread within a second).
    public func watch(_ folder: String) { commands.withLock { $0.append(.add(folder)) } }

    /// Stops watching a folder.
    public func unwatch(_ folder: String) { commands.withLock { $0.append(.remove(folder)) } }

    /// Stops the thread and ends the event stream.
    public func stop() { stopped.store(true, ordering: .releasing) }

    private func loop() {
        let mask = Int32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM
            | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
        var watched: [Int32: String] = [:]
        while !stopped.load(ordering: .acquiring) {
            for command in commands.withLock({ pending in defer { pending.removeAll() }; return pending }) {
                switch command {
                case .add(let folder):
                    if inotifytools_watch_file(folder, mask) != 0 {
                        let wd = inotifytools_wd_from_filename(folder)
                        watched[wd] = folder
                    } else {
                        continuation.yield(WatchEvent(kind: .folderGone, folder: folder, name: ""))
                    }
                case .remove(let folder):
                    if let wd = watched.first(where: { $0.value == folder })?.key {
                        inotifytools_remove_watch_by_wd(wd)
                        watched[wd] = nil
                    }
                }
            }
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
        continuation.finish()
    }
}
