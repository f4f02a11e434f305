public import Foundation
import GRDB

/// The SQLite catalog of inputs, runs, stages, outputs and events.
///
/// Backed by a GRDB `DatabasePool` in WAL mode, so the CLI can read while the daemon writes.
/// Every state change is one transaction. `Catalog` is a `Sendable` value; copies share the pool.
///
/// ```swift
/// let catalog = try Catalog(path: "/var/lib/lmdflow/catalog.sqlite")
/// let runs = try catalog.runs(RunFilter(state: .failed))
/// ```
public struct Catalog: Sendable {
    let pool: DatabasePool
    /// The database file.
    public let path: String

    /// Opens (creating if needed) the catalog at `path` and migrates it to the current schema.
    /// - Throws: `CatalogError` with `.openFailed` or `.migrationFailed`.
    public init(path: String) throws(CatalogError) {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.label = "lmdflow.catalog"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw CatalogError(code: .openFailed, path: path, message: Self.describe(error))
        }
        do {
            let migrator = CatalogMigrations.migrator
            // The common case (CLI, a restart): nothing to do, no lock needed.
            if try pool.read({ db in try migrator.hasCompletedMigrations(db) }) { return }
            // GRDB checks which migrations are applied outside a transaction, so two processes
            // opening a new catalog at once (the daemon starting, `lmdflow status`) would both
            // run them. An exclusive lock on `<catalog>.lock` serialises them across processes.
            let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
            guard lock >= 0 else {
                throw CatalogError(code: .migrationFailed, path: path,
                                   message: "cannot create \(path).lock: \(String(cString: strerror(errno)))")
            }
            defer { close(lock) }
            while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
            defer { flock(lock, LOCK_UN) }
            try migrator.migrate(pool)
        } catch let error as CatalogError {
            throw error
        } catch {
            throw CatalogError(code: .migrationFailed, path: path, message: Self.describe(error))
        }
    }

    /// The names of the migrations applied, oldest first (the schema version).
    public func appliedMigrations() throws(CatalogError) -> [String] {
        try read { db in try CatalogMigrations.migrator.appliedMigrations(db) }
    }

    /// Runs `PRAGMA integrity_check`; returns `["ok"]` on a sound database.
    public func integrityCheck() throws(CatalogError) -> [String] {
        try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    /// The SQLite journal mode (`wal` for the catalog).
    public func journalMode() throws(CatalogError) -> String {
        try read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: - Inputs

    /// An input already registered for this exact file (same path, size and modification time),
    /// so the daemon need not hash it again.
    public func unchangedInput(path: String, size: Int64, mtimeNs: Int64) throws(CatalogError) -> InputRecord? {
        try read { db in
            try InputRecord
                .filter(Column("path") == path && Column("size") == size && Column("mtime_ns") == mtimeNs)
                .order(Column("id").desc)
                .fetchOne(db)
        }
    }

    /// Registers a settled input and queues a run for it, unless the same content was already
    /// registered for this profile (then it is recorded as a duplicate and no run is made).
    ///
    /// - Parameters:
    ///   - input: the file's facts; `id` is ignored and `state` is set here.
    ///   - configHash: the profile's configuration hash, stored on the run.
    ///   - stageCount: the number of stages in the profile.
    ///   - version: the lmdflow version.
    ///   - force: make a run even for a duplicate.
    ///   - claimWith: when given, the new run starts `running` at once in the directory this returns
    ///     (for `lmdflow process`, so that a daemon on the same catalog cannot take it too).
    public func register(
        _ input: InputRecord, configHash: String, stageCount: Int, version: String, force: Bool = false,
        claimWith runDirectory: (@Sendable (Int64) -> String)? = nil
    ) throws(CatalogError) -> Registration {
        try write { db in
            var input = input
            if !force,
               let earlier = try InputRecord
                   .filter(Column("profile") == input.profile && Column("sha256") == input.sha256
                       && Column("size") == input.size && Column("state") != InputState.duplicate.rawValue)
                   .order(Column("id"))
                   .fetchOne(db)
            {
                input.state = .duplicate
                input.duplicateOf = earlier.id
                try input.insert(db)
                try EventRecord(
                    kind: "input_duplicate", inputID: input.id, path: input.path,
                    message: "same content as input \(earlier.id ?? 0) (\(earlier.path)); no new run"
                ).append(to: db)
                return .duplicate(input: input, of: earlier)
            }
            input.state = .queued
            try input.insert(db)
            var run = RunRecord(
                inputID: input.id!, profile: input.profile, configHash: configHash, stageCount: stageCount,
                createdAt: Date(), version: version, forced: force)
            try run.insert(db)
            try EventRecord(kind: "run_queued", runID: run.id, inputID: input.id, path: input.path,
                            message: "queued run \(run.id!) for \(input.path) (profile \(input.profile))").append(to: db)
            if let runDirectory {
                let started = try Self.start(run, input: input, runDirectory: runDirectory, db: db)
                return .queued(input: started.input, run: started.run)
            }
            return .queued(input: input, run: run)
        }
    }

    /// Records where the input file is now (after it was moved to `archive/` or `failed/`).
    public func moveInput(id: Int64, to newPath: String) throws(CatalogError) {
        try write { db in
            try db.execute(sql: "UPDATE inputs SET current_path = ? WHERE id = ?", arguments: [newPath, id])
        }
    }

    /// One input by id.
    public func input(id: Int64) throws(CatalogError) -> InputRecord {
        let path = self.path
        return try read { db in
            guard let input = try InputRecord.fetchOne(db, key: id) else {
                throw CatalogError(code: .notFound, path: path, message: "no input \(id)")
            }
            return input
        }
    }

    // MARK: - Runs

    /// Takes the oldest queued run: marks it running, counts the attempt and records the run
    /// directory the caller chose through `runDirectory`. Returns nil when nothing is queued.
    public func claimNextRun(runDirectory: @Sendable (Int64) -> String) throws(CatalogError) -> ClaimedRun? {
        try write { db in
            guard let run = try RunRecord
                .filter(Column("state") == RunState.queued.rawValue)
                .order(Column("id"))
                .fetchOne(db)
            else { return nil }
            guard let input = try InputRecord.fetchOne(db, key: run.inputID) else { return nil }
            return try Self.start(run, input: input, runDirectory: runDirectory, db: db)
        }
    }

    /// Takes one specific queued run (for `lmdflow process`, which runs it in the foreground).
    public func claim(runID: Int64, runDirectory: @Sendable (Int64) -> String) throws(CatalogError) -> ClaimedRun {
        let path = self.path
        return try write { db in
            guard let run = try RunRecord.fetchOne(db, key: runID) else {
                throw CatalogError(code: .notFound, path: path, message: "no run \(runID)")
            }
            guard run.state == .queued else {
                throw CatalogError(code: .invalidState, path: path,
                                   message: "run \(runID) is \(run.state.rawValue), not queued")
            }
            guard let input = try InputRecord.fetchOne(db, key: run.inputID) else {
                throw CatalogError(code: .notFound, path: path, message: "no input \(run.inputID)")
            }
            return try Self.start(run, input: input, runDirectory: runDirectory, db: db)
        }
    }

    /// The one transition queued → running: counts the attempt, keeps an existing run directory
    /// (a resumed run) or asks for a new one, and marks the input processing.
    private static func start(
        _ run: RunRecord, input: InputRecord, runDirectory: (Int64) -> String, db: Database
    ) throws -> ClaimedRun {
        var run = run
        var input = input
        run.state = .running
        run.attempts += 1
        run.startedAt = Date()
        if run.runDir == nil { run.runDir = runDirectory(run.id!) }
        try run.update(db)
        input.state = .processing
        try input.update(db)
        return ClaimedRun(run: run, input: input)
    }

    /// Marks a running run succeeded and records its outputs, in one transaction.
    public func completeRun(id: Int64, outputs: [OutputRecord]) throws(CatalogError) {
        try write { db in
            try db.execute(
                sql: "UPDATE runs SET state = 'succeeded', finished_at = ?, error_code = NULL, error_message = NULL WHERE id = ?",
                arguments: [Date(), id])
            for var output in outputs {
                output.runID = id
                try output.upsert(db)
            }
            try db.execute(sql: "UPDATE inputs SET state = 'done' WHERE id = (SELECT input_id FROM runs WHERE id = ?)",
                           arguments: [id])
            try EventRecord(kind: "run_succeeded", runID: id, message: "run \(id) succeeded").append(to: db)
        }
    }

    /// Marks a run failed with a code and message.
    public func failRun(id: Int64, code: String, message: String) throws(CatalogError) {
        try write { db in
            try db.execute(
                sql: "UPDATE runs SET state = 'failed', finished_at = ?, error_code = ?, error_message = ? WHERE id = ?",
                arguments: [Date(), code, message, id])
            try db.execute(sql: "UPDATE inputs SET state = 'failed' WHERE id = (SELECT input_id FROM runs WHERE id = ?)",
                           arguments: [id])
            try EventRecord(level: "error", kind: "run_failed", runID: id, message: "\(code): \(message)").append(to: db)
        }
    }

    /// Puts a running run back in the queue because the daemon is stopping; the attempt is not
    /// counted (it was not the run's fault). Its finished stages stay recorded for resume.
    public func releaseRun(id: Int64, reason: String) throws(CatalogError) {
        try write { db in
            try db.execute(
                sql: "UPDATE runs SET state = 'queued', attempts = MAX(attempts - 1, 0) WHERE id = ? AND state = 'running'",
                arguments: [id])
            guard db.changesCount > 0 else { return }  // not running: nothing to release
            try db.execute(
                sql: "UPDATE inputs SET state = 'queued' WHERE id = (SELECT input_id FROM runs WHERE id = ?)",
                arguments: [id])
            try EventRecord(level: "warning", kind: "run_released", runID: id, message: reason).append(to: db)
        }
    }

    /// At start-up: runs left `running` by a crash go back to the queue, or fail when they have
    /// used `maxAttempts` attempts. Returns the ids requeued and failed.
    public func recoverInterruptedRuns(maxAttempts: Int) throws(CatalogError) -> (requeued: [Int64], failed: [Int64]) {
        try write { db in
            let stuck = try RunRecord.filter(Column("state") == RunState.running.rawValue).fetchAll(db)
            var requeued: [Int64] = []
            var failed: [Int64] = []
            for var run in stuck {
                if run.attempts >= maxAttempts {
                    run.state = .failed
                    run.finishedAt = Date()
                    run.errorCode = "attempts_exhausted"
                    run.errorMessage = "interrupted \(run.attempts) times (limit \(maxAttempts)); last stages in \(run.runDir ?? "?")"
                    try run.update(db)
                    try db.execute(sql: "UPDATE inputs SET state = 'failed' WHERE id = ?", arguments: [run.inputID])
                    try EventRecord(level: "error", kind: "run_failed", runID: run.id,
                                    message: run.errorMessage ?? "").append(to: db)
                    failed.append(run.id!)
                } else {
                    run.state = .queued
                    try run.update(db)
                    try db.execute(sql: "UPDATE inputs SET state = 'queued' WHERE id = ?", arguments: [run.inputID])
                    try EventRecord(level: "warning", kind: "run_requeued", runID: run.id,
                                    message: "run \(run.id!) was interrupted (attempt \(run.attempts)); requeued").append(to: db)
                    requeued.append(run.id!)
                }
                try db.execute(sql: "UPDATE stages SET state = 'interrupted' WHERE run_id = ? AND state = 'running'",
                               arguments: [run.id!])
            }
            return (requeued, failed)
        }
    }

    /// Queues a new run for the same input as a failed or cancelled run (`lmdflow retry`).
    /// - Parameter inputPath: where the input is now, if the caller moved it back.
    public func retry(runID: Int64, version: String) throws(CatalogError) -> RunRecord {
        let path = self.path
        return try write { db in
            guard let old = try RunRecord.fetchOne(db, key: runID) else {
                throw CatalogError(code: .notFound, path: path, message: "no run \(runID)")
            }
            guard old.state == .failed || old.state == .cancelled else {
                throw CatalogError(code: .invalidState, path: path,
                                   message: "run \(runID) is \(old.state.rawValue); only failed or cancelled runs can be retried")
            }
            if let newer = try RunRecord
                .filter(Column("input_id") == old.inputID && Column("id") > runID
                    && [RunState.queued.rawValue, RunState.running.rawValue].contains(Column("state")))
                .fetchOne(db)
            {
                throw CatalogError(code: .invalidState, path: path,
                                   message: "input of run \(runID) already has run \(newer.id!) \(newer.state.rawValue)")
            }
            var run = RunRecord(
                inputID: old.inputID, profile: old.profile, configHash: old.configHash, stageCount: old.stageCount,
                createdAt: Date(), version: version, forced: true, retryOf: runID)
            try run.insert(db)
            try db.execute(sql: "UPDATE inputs SET state = 'queued' WHERE id = ?", arguments: [old.inputID])
            try EventRecord(kind: "run_retried", runID: run.id, inputID: old.inputID,
                            message: "run \(run.id!) retries run \(runID)").append(to: db)
            return run
        }
    }

    /// Cancels a queued run.
    public func cancel(runID: Int64) throws(CatalogError) {
        let path = self.path
        try write { db in
            guard let run = try RunRecord.fetchOne(db, key: runID) else {
                throw CatalogError(code: .notFound, path: path, message: "no run \(runID)")
            }
            guard run.state == .queued else {
                throw CatalogError(code: .invalidState, path: path,
                                   message: "run \(runID) is \(run.state.rawValue); only queued runs can be cancelled")
            }
            try db.execute(sql: "UPDATE runs SET state = 'cancelled', finished_at = ? WHERE id = ?",
                           arguments: [Date(), runID])
            try EventRecord(kind: "run_cancelled", runID: runID, message: "run \(runID) cancelled").append(to: db)
        }
    }

    /// One run.
    public func run(id: Int64) throws(CatalogError) -> RunRecord {
        let path = self.path
        return try read { db in
            guard let run = try RunRecord.fetchOne(db, key: id) else {
                throw CatalogError(code: .notFound, path: path, message: "no run \(id)")
            }
            return run
        }
    }

    /// Everything known about one run: the run, its input, stages, outputs and events.
    public func details(runID: Int64) throws(CatalogError) -> RunDetails {
        let path = self.path
        return try read { db in
            guard let run = try RunRecord.fetchOne(db, key: runID) else {
                throw CatalogError(code: .notFound, path: path, message: "no run \(runID)")
            }
            guard let input = try InputRecord.fetchOne(db, key: run.inputID) else {
                throw CatalogError(code: .notFound, path: path, message: "no input \(run.inputID)")
            }
            let stages = try StageRecord.filter(Column("run_id") == runID).order(Column("ordinal")).fetchAll(db)
            let outputs = try OutputRecord.filter(Column("run_id") == runID).order(Column("id")).fetchAll(db)
            let events = try EventRecord.filter(Column("run_id") == runID).order(Column("id")).fetchAll(db)
            return RunDetails(run: run, input: input, stages: stages, outputs: outputs, events: events)
        }
    }

    /// Runs matching a filter, newest first, each with its input path and stage progress.
    public func runs(_ filter: RunFilter = RunFilter()) throws(CatalogError) -> [RunSummary] {
        try read { db in
            var request = RunRecord.all()
            if let state = filter.state { request = request.filter(Column("state") == state.rawValue) }
            if let profile = filter.profile { request = request.filter(Column("profile") == profile) }
            if let since = filter.since { request = request.filter(Column("created_at") >= since) }
            if let until = filter.until { request = request.filter(Column("created_at") < until) }
            let runs = try request.order(Column("id").desc).limit(filter.limit).fetchAll(db)
            return try runs.map { run in
                let input = try InputRecord.fetchOne(db, key: run.inputID)
                let done = try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM stages WHERE run_id = ? AND state IN ('succeeded','skipped')",
                    arguments: [run.id!]) ?? 0
                let current = try String.fetchOne(
                    db, sql: "SELECT name FROM stages WHERE run_id = ? AND state = 'running' ORDER BY ordinal LIMIT 1",
                    arguments: [run.id!])
                return RunSummary(run: run, inputPath: input?.path ?? "", stagesDone: done, currentStage: current)
            }
        }
    }

    /// How many runs are in each state.
    public func runCounts() throws(CatalogError) -> [RunState: Int] {
        try read { db in
            var counts: [RunState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM runs GROUP BY state") {
                if let state = RunState(rawValue: row["state"]) { counts[state] = row["n"] }
            }
            return counts
        }
    }

    /// Number of inputs ever registered (inputs are never deleted).
    public func inputCount() throws(CatalogError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inputs") ?? 0 }
    }

    /// Failed runs per error code (`unknown` for a failed run without one).
    public func failedRunsByCode() throws(CatalogError) -> [String: Int] {
        try read { db in
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT COALESCE(error_code, 'unknown') AS code, COUNT(*) AS n FROM runs WHERE state = 'failed' GROUP BY code")
            {
                counts[row["code"]] = row["n"]
            }
            return counts
        }
    }

    // MARK: - Stages, outputs, events

    /// Inserts or replaces the record of one stage of a run (keyed by run and ordinal).
    public func recordStage(_ stage: StageRecord) throws(CatalogError) {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO stages (run_id, ordinal, name, state, started_at, finished_at, duration_s,
                                        artifact_path, artifact_sha256, message, metrics_json)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(run_id, ordinal) DO UPDATE SET
                      name = excluded.name, state = excluded.state, started_at = excluded.started_at,
                      finished_at = excluded.finished_at, duration_s = excluded.duration_s,
                      artifact_path = excluded.artifact_path, artifact_sha256 = excluded.artifact_sha256,
                      message = excluded.message, metrics_json = COALESCE(excluded.metrics_json, stages.metrics_json)
                    """,
                arguments: [stage.runID, stage.ordinal, stage.name, stage.state.rawValue, stage.startedAt,
                            stage.finishedAt, stage.durationSeconds, stage.artifactPath, stage.artifactSHA256,
                            stage.message, stage.metricsJSON])
        }
    }

    /// Appends an event.
    public func log(_ event: EventRecord) throws(CatalogError) {
        try write { db in
            var event = event
            try event.insert(db)
        }
    }

    /// The newest events, newest first.
    public func events(limit: Int = 100, runID: Int64? = nil) throws(CatalogError) -> [EventRecord] {
        try read { db in
            var request = EventRecord.all()
            if let runID { request = request.filter(Column("run_id") == runID) }
            return try request.order(Column("id").desc).limit(limit).fetchAll(db)
        }
    }

    // MARK: - Daemon status

    /// Writes the daemon's status row.
    public func saveDaemonStatus(_ status: DaemonStatusRecord) throws(CatalogError) {
        try write { db in try status.upsert(db) }
    }

    /// The daemon's last status row, if a daemon ever ran on this catalog.
    public func daemonStatus() throws(CatalogError) -> DaemonStatusRecord? {
        try read { db in try DaemonStatusRecord.fetchOne(db, key: 1) }
    }

    // MARK: - Plumbing

    func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(CatalogError) -> T {
        do { return try pool.read(body) } catch let error as CatalogError { throw error } catch {
            throw CatalogError(code: .queryFailed, path: path, message: Self.describe(error))
        }
    }

    func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(CatalogError) -> T {
        do { return try pool.write(body) } catch let error as CatalogError { throw error } catch {
            throw CatalogError(code: .queryFailed, path: path, message: Self.describe(error))
        }
    }

    static func describe(_ error: any Error) -> String {
        if let db = error as? DatabaseError {
            return "SQLite error \(db.resultCode.rawValue): \(db.message ?? "\(db)")"
        }
        return "\(error)"
    }
}

/// The outcome of registering a settled input.
public enum Registration: Sendable {
    /// A new input with a queued run.
    case queued(input: InputRecord, run: RunRecord)
    /// The same content was registered before for this profile; no run was made.
    case duplicate(input: InputRecord, of: InputRecord)
}

/// A run a worker has taken, with its input.
public struct ClaimedRun: Sendable {
    /// The run, now `running`.
    public var run: RunRecord
    /// Its input.
    public var input: InputRecord

    /// Pairs a run with its input.
    public init(run: RunRecord, input: InputRecord) {
        self.run = run
        self.input = input
    }
}

/// Which runs to list.
public struct RunFilter: Sendable {
    /// Only runs in this state.
    public var state: RunState?
    /// Only runs of this profile.
    public var profile: String?
    /// Only runs created at or after this time.
    public var since: Date?
    /// Only runs created before this time.
    public var until: Date?
    /// At most this many runs.
    public var limit: Int

    /// Creates a filter; every criterion is optional.
    public init(state: RunState? = nil, profile: String? = nil, since: Date? = nil, until: Date? = nil,
                limit: Int = 1000) {
        self.state = state
        self.profile = profile
        self.since = since
        self.until = until
        self.limit = limit
    }
}

/// A run with what a listing shows about it.
public struct RunSummary: Sendable, Codable {
    /// The run.
    public var run: RunRecord
    /// Where its input was dropped.
    public var inputPath: String
    /// How many stages are finished (succeeded or skipped).
    public var stagesDone: Int
    /// The stage running now, if any.
    public var currentStage: String?
}

/// Everything the catalog knows about one run.
public struct RunDetails: Sendable, Codable {
    /// The run.
    public var run: RunRecord
    /// Its input.
    public var input: InputRecord
    /// Its stages in profile order.
    public var stages: [StageRecord]
    /// Its recorded outputs.
    public var outputs: [OutputRecord]
    /// Its events, oldest first.
    public var events: [EventRecord]
}

extension EventRecord {
    /// Inserts this event inside an ongoing transaction.
    func append(to db: Database) throws {
        var event = self
        try event.insert(db)
    }
}
