import Catalog
import Foundation
import Logging
import Pipeline
import Synchronization

/// The state the daemon's services share: the current configuration and profiles (replaced on
/// SIGHUP), the wake-up signals between services, and counters for status and idleness.
final class DaemonRuntime: Sendable {
    struct Snapshot: Sendable {
        var config: DaemonConfig
        /// Profiles by drop-folder path.
        var profilesByFolder: [String: Profile]
        /// Profiles by profile name.
        var profilesByName: [String: Profile]
    }

    let catalog: Catalog
    let registry: StageRegistry
    let logger: Logger
    let exitWhenIdle: Bool
    private let snapshot: Mutex<Snapshot>
    /// Wakes the scheduler (new run queued, run finished, shutdown).
    let schedulerWake = WakeSignal()
    /// Wakes the intake evaluator (file event, rescan, shutdown).
    let intakeWake = WakeSignal()
    /// Wakes the notifier (counts changed).
    let statusWake = WakeSignal()
    /// Files noticed but not yet taken.
    let intakePending = Atomic<Int>(0)
    /// Runs executing now.
    let running = Atomic<Int>(0)
    /// Set once the first full scan of every drop folder is done.
    let initialScanDone = Atomic<Bool>(false)
    /// Set when the intake has watches in place and the scheduler loop is up.
    let ready = Atomic<Int>(0)

    init(config: DaemonConfig, catalog: Catalog, registry: StageRegistry, logger: Logger, exitWhenIdle: Bool) throws(PipelineError) {
        self.catalog = catalog
        self.registry = registry
        self.logger = logger
        self.exitWhenIdle = exitWhenIdle
        snapshot = Mutex(try Self.load(config, registry: registry))
    }

    static func load(_ config: DaemonConfig, registry: StageRegistry) throws(PipelineError) -> Snapshot {
        var byFolder: [String: Profile] = [:]
        var byName: [String: Profile] = [:]
        for folder in config.dropFolders {
            let profile = try config.profile(for: folder, registry: registry)
            byFolder[folder.path] = profile
            byName[profile.name] = profile
        }
        return Snapshot(config: config, profilesByFolder: byFolder, profilesByName: byName)
    }

    var current: Snapshot { snapshot.withLock { $0 } }

    /// Replaces configuration and profiles (after a validated reload).
    func replace(_ new: Snapshot) { snapshot.withLock { $0 = new } }

    /// The profile for a run, by name: from the loaded profiles, else looked up in the profile
    /// directories (for retries of runs whose folder is no longer configured).
    func profile(named name: String) throws(PipelineError) -> Profile {
        let current = self.current
        if let profile = current.profilesByName[name] { return profile }
        return try Profile.resolve(name, directories: current.config.profileDirectories, registry: registry)
    }
}
