import Foundation
import LMDTestSupport
import Testing
@testable import Catalog

@Suite("Catalog: opening and schema")
struct CatalogOpenTests {
    @Test("a new catalog is in WAL mode, migrated and sound")
    func newCatalog() throws {
        let fixture = try CatalogFixture()
        #expect(try fixture.catalog.journalMode() == "wal")
        #expect(try fixture.catalog.appliedMigrations().contains("v1-backbone"))
        #expect(try fixture.catalog.integrityCheck() == ["ok"])
        #expect(FileManager.default.fileExists(atPath: fixture.catalog.path))
    }

    @Test("reopening an existing catalog keeps its rows and schema")
    func reopen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("catalog.sqlite")
        let runID: Int64
        do {
            let first = try Catalog(path: path)
            let registration = try first.register(
                makeInput("/in/a.nd2"), configHash: "h", stageCount: 1, version: "test")
            guard case .queued(_, let run) = registration else {
                Issue.record("expected a queued run")
                return
            }
            runID = try #require(run.id)
        }
        let reopened = try Catalog(path: path)
        #expect(try reopened.appliedMigrations() == ["v1-backbone", "v2-stage-metrics", "v3-single-cells"])
        #expect(try reopened.journalMode() == "wal")
        #expect(try reopened.integrityCheck() == ["ok"])
        let run = try reopened.run(id: runID)
        #expect(run.state == .queued)
        #expect(run.configHash == "h")
    }

    @Test("a catalog that cannot be created is an openFailed error naming the path")
    func openFailure() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("missing-dir/sub/catalog.sqlite")
        let error = catalogError { () throws(CatalogError) in try Catalog(path: path) }
        #expect(error?.code == .openFailed)
        #expect(error?.path == path)
    }
}

@Suite("Catalog: registering inputs")
struct CatalogRegisterTests {
    @Test("the first registration queues a run with the profile's facts")
    func firstRegistration() throws {
        let fixture = try CatalogFixture()
        let registration = try fixture.catalog.register(
            makeInput("/in/a.nd2", profile: "nuclei"), configHash: "hash-1", stageCount: 3, version: "9.9.9")
        guard case .queued(let input, let run) = registration else {
            Issue.record("expected .queued, got \(registration)")
            return
        }
        let inputID = try #require(input.id)
        let runID = try #require(run.id)
        #expect(input.state == .queued)
        #expect(run.inputID == inputID)

        let stored = try fixture.catalog.run(id: runID)
        #expect(stored.state == .queued)
        #expect(stored.attempts == 0)
        #expect(stored.stageCount == 3)
        #expect(stored.configHash == "hash-1")
        #expect(stored.version == "9.9.9")
        #expect(stored.profile == "nuclei")
        #expect(stored.runDir == nil)
        #expect(stored.forced == false)
        #expect(try fixture.catalog.input(id: inputID).state == .queued)
        let kinds = try fixture.catalog.events(runID: runID).map(\.kind)
        #expect(kinds == ["run_queued"])
    }

    @Test("the same content from another path is a duplicate and makes no run")
    func duplicate() throws {
        let fixture = try CatalogFixture()
        let first = try fixture.queue("/in/a.nd2", sha256: "abc", size: 42)
        let registration = try fixture.catalog.register(
            makeInput("/in/copy-of-a.nd2", sha256: "abc", size: 42), configHash: "cfg", stageCount: 2,
            version: "test")
        guard case .duplicate(let input, let earlier) = registration else {
            Issue.record("expected .duplicate, got \(registration)")
            return
        }
        #expect(earlier.id == first.inputID)
        #expect(input.duplicateOf == first.inputID)
        #expect(input.state == .duplicate)
        let stored = try fixture.catalog.input(id: try #require(input.id))
        #expect(stored.state == .duplicate)
        #expect(stored.duplicateOf == first.inputID)
        #expect(stored.path == "/in/copy-of-a.nd2")
        #expect(try fixture.catalog.runs().count == 1)
        #expect(try fixture.catalog.events().contains { $0.kind == "input_duplicate" && $0.inputID == input.id })
    }

    @Test("a duplicate registered with force makes a second, forced run")
    func forced() throws {
        let fixture = try CatalogFixture()
        let first = try fixture.queue("/in/a.nd2", sha256: "abc", size: 42)
        let registration = try fixture.catalog.register(
            makeInput("/in/a-again.nd2", sha256: "abc", size: 42), configHash: "cfg", stageCount: 2,
            version: "test", force: true)
        guard case .queued(let input, let run) = registration else {
            Issue.record("expected .queued, got \(registration)")
            return
        }
        #expect(run.id != first.id)
        #expect(run.forced)
        #expect(input.duplicateOf == nil)
        #expect(try fixture.catalog.runs().count == 2)
        #expect(try fixture.catalog.runs(RunFilter(state: .queued)).count == 2)
    }

    @Test("the same content under another profile, or with another size, is not a duplicate")
    func otherProfileOrSize() throws {
        let fixture = try CatalogFixture()
        try fixture.queue("/in/a.nd2", sha256: "abc", size: 42, profile: "nuclei")
        let otherProfile = try fixture.catalog.register(
            makeInput("/in2/a.nd2", sha256: "abc", size: 42, profile: "membranes"), configHash: "cfg", stageCount: 2,
            version: "test")
        guard case .queued(_, let run) = otherProfile else {
            Issue.record("expected .queued for another profile, got \(otherProfile)")
            return
        }
        #expect(run.profile == "membranes")
        let otherHash = try fixture.catalog.register(
            makeInput("/in/b.nd2", sha256: "abd", size: 42, profile: "nuclei"), configHash: "cfg", stageCount: 2,
            version: "test")
        guard case .queued = otherHash else {
            Issue.record("expected .queued for other content, got \(otherHash)")
            return
        }
        #expect(try fixture.catalog.runs().count == 3)
    }

    @Test("a duplicate of a duplicate points at the original input")
    func duplicateOfDuplicate() throws {
        let fixture = try CatalogFixture()
        let first = try fixture.queue("/in/a.nd2", sha256: "abc")
        _ = try fixture.catalog.register(makeInput("/in/b.nd2", sha256: "abc"), configHash: "cfg", stageCount: 2,
                                         version: "test")
        let third = try fixture.catalog.register(makeInput("/in/c.nd2", sha256: "abc"), configHash: "cfg",
                                                 stageCount: 2, version: "test")
        guard case .duplicate(let input, _) = third else {
            Issue.record("expected .duplicate, got \(third)")
            return
        }
        #expect(input.duplicateOf == first.inputID)
    }

    @Test("unchangedInput finds an input by exact path, size and mtime only")
    func unchangedInput() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2", size: 1234, mtimeNs: 1_700_000_000_123_456_789)
        let found = try fixture.catalog.unchangedInput(path: "/in/a.nd2", size: 1234,
                                                       mtimeNs: 1_700_000_000_123_456_789)
        #expect(found?.id == run.inputID)
        #expect(try fixture.catalog.unchangedInput(path: "/in/a.nd2", size: 1234,
                                                   mtimeNs: 1_700_000_000_123_456_790) == nil)
        #expect(try fixture.catalog.unchangedInput(path: "/in/a.nd2", size: 1235,
                                                   mtimeNs: 1_700_000_000_123_456_789) == nil)
        #expect(try fixture.catalog.unchangedInput(path: "/in/b.nd2", size: 1234,
                                                   mtimeNs: 1_700_000_000_123_456_789) == nil)
    }

    @Test("register with claimWith returns a run already running in the given directory")
    func registerAndClaim() throws {
        let fixture = try CatalogFixture()
        let registration = try fixture.catalog.register(
            makeInput("/in/a.nd2"), configHash: "cfg", stageCount: 1, version: "test",
            claimWith: { "/state/runs/\($0)-fg" })
        guard case .queued(let input, let run) = registration else {
            Issue.record("expected .queued, got \(registration)")
            return
        }
        let runID = try #require(run.id)
        #expect(run.state == .running)
        #expect(run.attempts == 1)
        #expect(run.runDir == "/state/runs/\(runID)-fg")
        #expect(input.state == .processing)
        let stored = try fixture.catalog.run(id: runID)
        #expect(stored.state == .running)
        #expect(stored.attempts == 1)
        #expect(stored.runDir == "/state/runs/\(runID)-fg")
        #expect(stored.startedAt != nil)
        #expect(try fixture.catalog.input(id: run.inputID).state == .processing)
        // A daemon on the same catalog cannot take it.
        #expect(try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory) == nil)
    }

    @Test("moveInput records the new current path")
    func moveInput() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2")
        try fixture.catalog.moveInput(id: run.inputID, to: "/state/archive/a.nd2")
        let input = try fixture.catalog.input(id: run.inputID)
        #expect(input.currentPath == "/state/archive/a.nd2")
        #expect(input.path == "/in/a.nd2")
        #expect(catalogError { () throws(CatalogError) in try fixture.catalog.input(id: 999) }?.code == .notFound)
    }
}

@Suite("Catalog: run life cycle")
struct CatalogRunLifecycleTests {
    @Test("claimNextRun takes the oldest queued run and marks it running")
    func claimOldestFirst() throws {
        let fixture = try CatalogFixture()
        let first = try fixture.queue("/in/a.nd2", sha256: "1")
        let second = try fixture.queue("/in/b.nd2", sha256: "2")

        let claimed = try #require(try fixture.catalog.claimNextRun(runDirectory: { "/state/runs/\($0)" }))
        #expect(claimed.run.id == first.id)
        #expect(claimed.run.state == .running)
        #expect(claimed.run.attempts == 1)
        #expect(claimed.run.runDir == "/state/runs/\(first.id!)")
        #expect(claimed.input.state == .processing)
        #expect(claimed.input.id == first.inputID)

        let stored = try fixture.catalog.run(id: first.id!)
        #expect(stored.state == .running)
        #expect(stored.attempts == 1)
        #expect(stored.runDir == "/state/runs/\(first.id!)")
        #expect(try fixture.catalog.input(id: first.inputID).state == .processing)

        let next = try #require(try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory))
        #expect(next.run.id == second.id)
        #expect(try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory) == nil)
    }

    @Test("claimNextRun returns nil on an empty catalog")
    func claimEmpty() throws {
        let fixture = try CatalogFixture()
        #expect(try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory) == nil)
    }

    @Test("a run claimed again keeps its first run directory")
    func runDirectoryKept() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2")
        _ = try fixture.catalog.claimNextRun(runDirectory: { "/first/\($0)" })
        try fixture.catalog.releaseRun(id: run.id!, reason: "stopping")
        let again = try #require(try fixture.catalog.claimNextRun(runDirectory: { "/second/\($0)" }))
        #expect(again.run.runDir == "/first/\(run.id!)")
    }

    @Test("claim(runID:) takes one queued run and refuses others")
    func claimSpecific() throws {
        let fixture = try CatalogFixture()
        _ = try fixture.queue("/in/a.nd2", sha256: "1")
        let second = try fixture.queue("/in/b.nd2", sha256: "2")
        let claimed = try fixture.catalog.claim(runID: second.id!, runDirectory: CatalogFixture.runDirectory)
        #expect(claimed.run.id == second.id)
        #expect(claimed.run.state == .running)
        #expect(claimed.run.attempts == 1)
        let again = catalogError { () throws(CatalogError) in
            try fixture.catalog.claim(runID: second.id!, runDirectory: CatalogFixture.runDirectory)
        }
        #expect(again?.code == .invalidState)
        let missing = catalogError { () throws(CatalogError) in
            try fixture.catalog.claim(runID: 4242, runDirectory: CatalogFixture.runDirectory)
        }
        #expect(missing?.code == .notFound)
    }

    @Test("recoverInterruptedRuns requeues runs with attempts left and fails the others")
    func recover() throws {
        let fixture = try CatalogFixture()
        let catalog = fixture.catalog
        let once = try fixture.queue("/in/a.nd2", sha256: "1")
        let twice = try fixture.queue("/in/b.nd2", sha256: "2")
        let untouched = try fixture.queue("/in/c.nd2", sha256: "3")

        // `twice` is claimed, "crashes", is requeued and claimed again: attempts 2.
        _ = try catalog.claim(runID: twice.id!, runDirectory: CatalogFixture.runDirectory)
        let first = try catalog.recoverInterruptedRuns(maxAttempts: 5)
        #expect(first.requeued == [twice.id!])
        #expect(first.failed.isEmpty)
        _ = try catalog.claim(runID: twice.id!, runDirectory: CatalogFixture.runDirectory)
        #expect(try catalog.run(id: twice.id!).attempts == 2)
        // `once` is claimed once, with a stage in progress.
        _ = try catalog.claim(runID: once.id!, runDirectory: CatalogFixture.runDirectory)
        try catalog.recordStage(StageRecord(runID: once.id!, ordinal: 0, name: "ingest", state: .succeeded))
        try catalog.recordStage(StageRecord(runID: once.id!, ordinal: 1, name: "segment", state: .running))
        try catalog.recordStage(StageRecord(runID: twice.id!, ordinal: 0, name: "ingest", state: .running))

        let result = try catalog.recoverInterruptedRuns(maxAttempts: 2)
        #expect(result.requeued == [once.id!])
        #expect(result.failed == [twice.id!])

        let requeued = try catalog.run(id: once.id!)
        #expect(requeued.state == .queued)
        #expect(requeued.attempts == 1)
        #expect(try catalog.input(id: once.inputID).state == .queued)

        let failed = try catalog.run(id: twice.id!)
        #expect(failed.state == .failed)
        #expect(failed.errorCode == "attempts_exhausted")
        #expect(failed.finishedAt != nil)
        #expect(try catalog.input(id: twice.inputID).state == .failed)

        let onceStages = try catalog.details(runID: once.id!).stages
        #expect(onceStages.map(\.state) == [.succeeded, .interrupted])
        #expect(try catalog.details(runID: twice.id!).stages.map(\.state) == [.interrupted])

        #expect(try catalog.run(id: untouched.id!).state == .queued)
        #expect(try catalog.run(id: untouched.id!).attempts == 0)
        // Nothing is running any more: a second recovery does nothing.
        let again = try catalog.recoverInterruptedRuns(maxAttempts: 2)
        #expect(again.requeued.isEmpty && again.failed.isEmpty)
    }

    @Test("releaseRun puts a running run back in the queue without counting the attempt")
    func release() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2")
        _ = try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory)
        try fixture.catalog.recordStage(StageRecord(runID: run.id!, ordinal: 0, name: "ingest", state: .succeeded))
        try fixture.catalog.releaseRun(id: run.id!, reason: "daemon stopping")
        let released = try fixture.catalog.run(id: run.id!)
        #expect(released.state == .queued)
        #expect(released.attempts == 0)
        #expect(try fixture.catalog.input(id: run.inputID).state == .queued)
        #expect(try fixture.catalog.details(runID: run.id!).stages.count == 1)
        #expect(try fixture.catalog.events(runID: run.id!).first?.kind == "run_released")
        // It can be claimed again, and the attempt counts from 1 again.
        let again = try #require(try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory))
        #expect(again.run.id == run.id)
        #expect(again.run.attempts == 1)
    }

    @Test(
        "releaseRun leaves a run that is not running, and its input, alone"
    )
    func releaseOnlyRunning() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2")
        _ = try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory)
        try fixture.catalog.completeRun(id: run.id!, outputs: [])
        try fixture.catalog.releaseRun(id: run.id!, reason: "late stop")
        #expect(try fixture.catalog.run(id: run.id!).state == .succeeded)
        #expect(try fixture.catalog.input(id: run.inputID).state == .done)
    }

    @Test("completeRun stores the outputs and marks the input done")
    func complete() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2")
        _ = try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory)
        let outputs = [
            OutputRecord(runID: 0, kind: "run_json", path: "/runs/1/run.json", sha256: "s1", bytes: 10, createdAt: Date()),
            OutputRecord(runID: 0, kind: "ingest", path: "/runs/1/ingest.json", sha256: "s2", bytes: 20, createdAt: Date()),
        ]
        try fixture.catalog.completeRun(id: run.id!, outputs: outputs)
        let details = try fixture.catalog.details(runID: run.id!)
        #expect(details.run.state == .succeeded)
        #expect(details.run.finishedAt != nil)
        #expect(details.run.errorCode == nil)
        #expect(details.input.state == .done)
        #expect(details.outputs.map(\.kind) == ["run_json", "ingest"])
        #expect(details.outputs.map(\.path) == ["/runs/1/run.json", "/runs/1/ingest.json"])
        #expect(details.outputs.allSatisfy { $0.runID == run.id })
        #expect(details.outputs.map(\.bytes) == [10, 20])
        #expect(details.events.last?.kind == "run_succeeded")
    }

    @Test("input count and failed runs per code (the API's metrics)")
    func countsForMetrics() throws {
        let fixture = try CatalogFixture()
        #expect(try fixture.catalog.inputCount() == 0)
        #expect(try fixture.catalog.failedRunsByCode().isEmpty)
        let runs = try ["/in/a.nd2", "/in/b.nd2", "/in/c.nd2"].enumerated().map { try fixture.queue($1, sha256: "h\($0)") }
        for (run, code) in zip(runs.prefix(2), ["input_changed", "input_changed"]) {
            _ = try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory)
            try fixture.catalog.failRun(id: run.id!, code: code, message: "x")
        }
        #expect(try fixture.catalog.inputCount() == 3)
        #expect(try fixture.catalog.failedRunsByCode() == ["input_changed": 2])
    }

    @Test("failRun stores the code and message and marks the input failed")
    func fail() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2")
        _ = try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory)
        try fixture.catalog.failRun(id: run.id!, code: "input_changed", message: "size differs")
        let stored = try fixture.catalog.run(id: run.id!)
        #expect(stored.state == .failed)
        #expect(stored.errorCode == "input_changed")
        #expect(stored.errorMessage == "size differs")
        #expect(stored.finishedAt != nil)
        #expect(try fixture.catalog.input(id: run.inputID).state == .failed)
        let event = try #require(try fixture.catalog.events(runID: run.id!).first)
        #expect(event.kind == "run_failed")
        #expect(event.level == "error")
        #expect(event.message.contains("input_changed"))
    }

    @Test("cancel only cancels queued runs")
    func cancel() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2", sha256: "1")
        let running = try fixture.queue("/in/b.nd2", sha256: "2")
        _ = try fixture.catalog.claim(runID: running.id!, runDirectory: CatalogFixture.runDirectory)
        try fixture.catalog.cancel(runID: run.id!)
        #expect(try fixture.catalog.run(id: run.id!).state == .cancelled)
        let error = catalogError { () throws(CatalogError) in try fixture.catalog.cancel(runID: running.id!) }
        #expect(error?.code == .invalidState)
        #expect(catalogError { () throws(CatalogError) in try fixture.catalog.cancel(runID: 777) }?.code == .notFound)
    }
}

@Suite("Catalog: retry")
struct CatalogRetryTests {
    @Test("a failed run can be retried: a new queued run for the same input")
    func retryFailed() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2", stageCount: 4, configHash: "cfg-x")
        _ = try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory)
        try fixture.catalog.failRun(id: run.id!, code: "stage_failed", message: "boom")

        let retried = try fixture.catalog.retry(runID: run.id!, version: "2.0.0")
        let retriedID = try #require(retried.id)
        #expect(retriedID != run.id)
        #expect(retried.retryOf == run.id)
        #expect(retried.state == .queued)
        #expect(retried.inputID == run.inputID)
        #expect(retried.configHash == "cfg-x")
        #expect(retried.stageCount == 4)
        #expect(retried.version == "2.0.0")
        #expect(retried.attempts == 0)
        #expect(retried.runDir == nil)
        let stored = try fixture.catalog.run(id: retriedID)
        #expect(stored.retryOf == run.id)
        #expect(stored.state == .queued)
        #expect(try fixture.catalog.input(id: run.inputID).state == .queued)
        // The old run is unchanged.
        #expect(try fixture.catalog.run(id: run.id!).state == .failed)

        // Retrying the old run again while the new one is queued is refused.
        let twice = catalogError { () throws(CatalogError) in
            try fixture.catalog.retry(runID: run.id!, version: "2.0.0")
        }
        #expect(twice?.code == .invalidState)
        // So is retrying the queued run itself.
        let queued = catalogError { () throws(CatalogError) in
            try fixture.catalog.retry(runID: retriedID, version: "2.0.0")
        }
        #expect(queued?.code == .invalidState)
    }

    @Test("a cancelled run can be retried")
    func retryCancelled() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2")
        try fixture.catalog.cancel(runID: run.id!)
        let retried = try fixture.catalog.retry(runID: run.id!, version: "test")
        #expect(retried.retryOf == run.id)
        #expect(retried.state == .queued)
    }

    @Test("succeeded, running or unknown runs cannot be retried")
    func retryRefused() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2", sha256: "1")
        _ = try fixture.catalog.claim(runID: run.id!, runDirectory: CatalogFixture.runDirectory)
        let running = catalogError { () throws(CatalogError) in try fixture.catalog.retry(runID: run.id!, version: "t") }
        #expect(running?.code == .invalidState)
        try fixture.catalog.completeRun(id: run.id!, outputs: [])
        let succeeded = catalogError { () throws(CatalogError) in
            try fixture.catalog.retry(runID: run.id!, version: "t")
        }
        #expect(succeeded?.code == .invalidState)
        #expect(succeeded?.path == fixture.catalog.path)
        let unknown = catalogError { () throws(CatalogError) in try fixture.catalog.retry(runID: 9999, version: "t") }
        #expect(unknown?.code == .notFound)
        #expect(try fixture.catalog.runs().count == 1)
    }
}

@Suite("Catalog: listings")
struct CatalogListingTests {
    @Test("runs filters by state, profile, since and limit, newest first")
    func filters() async throws {
        let fixture = try CatalogFixture()
        let catalog = fixture.catalog
        let a = try fixture.queue("/in/a.nd2", sha256: "1", profile: "nuclei")
        let b = try fixture.queue("/in/b.nd2", sha256: "2", profile: "membranes")
        // Dates are stored with millisecond precision: keep clear of the boundary.
        try await Task.sleep(for: .milliseconds(15))
        let middle = Date()
        try await Task.sleep(for: .milliseconds(15))
        let c = try fixture.queue("/in/c.nd2", sha256: "3", profile: "nuclei")
        _ = try catalog.claim(runID: b.id!, runDirectory: CatalogFixture.runDirectory)
        try catalog.failRun(id: b.id!, code: "x", message: "y")

        #expect(try catalog.runs().map(\.run.id) == [c.id, b.id, a.id])
        #expect(try catalog.runs(RunFilter(state: .queued)).map(\.run.id) == [c.id, a.id])
        #expect(try catalog.runs(RunFilter(state: .failed)).map(\.run.id) == [b.id])
        #expect(try catalog.runs(RunFilter(state: .succeeded)).isEmpty)
        #expect(try catalog.runs(RunFilter(profile: "nuclei")).map(\.run.id) == [c.id, a.id])
        #expect(try catalog.runs(RunFilter(profile: "membranes")).map(\.run.id) == [b.id])
        #expect(try catalog.runs(RunFilter(since: middle)).map(\.run.id) == [c.id])
        #expect(try catalog.runs(RunFilter(until: middle)).map(\.run.id) == [b.id, a.id])
        #expect(try catalog.runs(RunFilter(limit: 2)).map(\.run.id) == [c.id, b.id])
        #expect(try catalog.runs(RunFilter(state: .queued, profile: "nuclei", limit: 1)).map(\.run.id) == [c.id])
        #expect(try catalog.runs().map(\.inputPath) == ["/in/c.nd2", "/in/b.nd2", "/in/a.nd2"])
    }

    @Test("recordStage upserts on (run, ordinal); runs shows stages done and the current stage")
    func stageProgress() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2", stageCount: 3)
        let id = run.id!
        _ = try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory)

        var summary = try #require(try fixture.catalog.runs().first)
        #expect(summary.stagesDone == 0)
        #expect(summary.currentStage == nil)

        try fixture.catalog.recordStage(StageRecord(runID: id, ordinal: 0, name: "ingest", state: .running))
        summary = try #require(try fixture.catalog.runs().first)
        #expect(summary.stagesDone == 0)
        #expect(summary.currentStage == "ingest")

        try fixture.catalog.recordStage(StageRecord(
            runID: id, ordinal: 0, name: "ingest", state: .succeeded, durationSeconds: 0.5,
            artifactPath: "ingest.json", artifactSHA256: "abc", message: "tiff 10x10"))
        try fixture.catalog.recordStage(StageRecord(runID: id, ordinal: 1, name: "segment", state: .skipped))
        try fixture.catalog.recordStage(StageRecord(runID: id, ordinal: 2, name: "cut", state: .running))
        summary = try #require(try fixture.catalog.runs().first)
        #expect(summary.stagesDone == 2)
        #expect(summary.currentStage == "cut")

        let stages = try fixture.catalog.details(runID: id).stages
        #expect(stages.count == 3)
        let ingest = try #require(stages.first)
        #expect(ingest.state == .succeeded)
        #expect(ingest.artifactPath == "ingest.json")
        #expect(ingest.artifactSHA256 == "abc")
        #expect(ingest.message == "tiff 10x10")
        #expect(ingest.durationSeconds == 0.5)
    }

    @Test("runCounts counts runs per state")
    func counts() throws {
        let fixture = try CatalogFixture()
        #expect(try fixture.catalog.runCounts().isEmpty)
        let a = try fixture.queue("/in/a.nd2", sha256: "1")
        _ = try fixture.queue("/in/b.nd2", sha256: "2")
        let c = try fixture.queue("/in/c.nd2", sha256: "3")
        let d = try fixture.queue("/in/d.nd2", sha256: "4")
        _ = try fixture.catalog.claim(runID: a.id!, runDirectory: CatalogFixture.runDirectory)
        try fixture.catalog.completeRun(id: a.id!, outputs: [])
        _ = try fixture.catalog.claim(runID: c.id!, runDirectory: CatalogFixture.runDirectory)
        try fixture.catalog.cancel(runID: d.id!)
        #expect(try fixture.catalog.runCounts() == [.succeeded: 1, .queued: 1, .running: 1, .cancelled: 1])
    }

    @Test("details returns the run, its input, stages in ordinal order, outputs and events")
    func details() throws {
        let fixture = try CatalogFixture()
        let run = try fixture.queue("/in/a.nd2", stageCount: 3)
        let id = run.id!
        _ = try fixture.catalog.claimNextRun(runDirectory: CatalogFixture.runDirectory)
        try fixture.catalog.recordStage(StageRecord(runID: id, ordinal: 2, name: "c", state: .succeeded))
        try fixture.catalog.recordStage(StageRecord(runID: id, ordinal: 0, name: "a", state: .succeeded))
        try fixture.catalog.recordStage(StageRecord(runID: id, ordinal: 1, name: "b", state: .succeeded))
        try fixture.catalog.log(EventRecord(kind: "custom", runID: id, message: "hello"))
        try fixture.catalog.completeRun(id: id, outputs: [
            OutputRecord(runID: id, kind: "k", path: "/runs/x/out", sha256: "s", bytes: 1, createdAt: Date())
        ])
        let details = try fixture.catalog.details(runID: id)
        #expect(details.run.id == id)
        #expect(details.input.id == run.inputID)
        #expect(details.input.path == "/in/a.nd2")
        #expect(details.stages.map(\.ordinal) == [0, 1, 2])
        #expect(details.stages.map(\.name) == ["a", "b", "c"])
        #expect(details.outputs.map(\.path) == ["/runs/x/out"])
        #expect(details.events.map(\.kind) == ["run_queued", "custom", "run_succeeded"])
        #expect(catalogError { () throws(CatalogError) in try fixture.catalog.details(runID: 12345) }?.code == .notFound)
    }

    @Test("events are newest first and can be limited")
    func events() throws {
        let fixture = try CatalogFixture()
        for index in 0..<5 { try fixture.catalog.log(EventRecord(kind: "k\(index)", message: "m")) }
        #expect(try fixture.catalog.events(limit: 3).map(\.kind) == ["k4", "k3", "k2"])
    }
}

@Suite("Catalog: daemon status")
struct CatalogDaemonStatusTests {
    @Test("saveDaemonStatus and daemonStatus round-trip; a second save replaces the row")
    func roundTrip() throws {
        let fixture = try CatalogFixture()
        #expect(try fixture.catalog.daemonStatus() == nil)
        let started = Date(timeIntervalSince1970: 1_700_000_000)
        var status = DaemonStatusRecord(
            pid: 4321, startedAt: started, heartbeatAt: started.addingTimeInterval(5), state: "running",
            version: "0.1.0", configPath: "/etc/lmdflow/lmdflow.yml", watching: "/in/a → nuclei\n/in/b → membranes")
        try fixture.catalog.saveDaemonStatus(status)
        let stored = try #require(try fixture.catalog.daemonStatus())
        #expect(stored.pid == 4321)
        #expect(stored.state == "running")
        #expect(stored.version == "0.1.0")
        #expect(stored.configPath == "/etc/lmdflow/lmdflow.yml")
        #expect(stored.watching == "/in/a → nuclei\n/in/b → membranes")
        #expect(abs(stored.startedAt.timeIntervalSince(started)) < 0.001)
        #expect(abs(stored.heartbeatAt.timeIntervalSince(started) - 5) < 0.001)

        status.state = "stopped"
        status.heartbeatAt = started.addingTimeInterval(60)
        try fixture.catalog.saveDaemonStatus(status)
        let replaced = try #require(try fixture.catalog.daemonStatus())
        #expect(replaced.state == "stopped")
        #expect(abs(replaced.heartbeatAt.timeIntervalSince(started) - 60) < 0.001)
    }
}

/// Several connections opening one new catalog at once must not run the migrations twice.
@Suite("Catalog concurrent opening")
struct CatalogConcurrentOpenTests {
    @Test("eight catalogs opened at once on one new file all succeed")
    func concurrentOpen() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("catalog.sqlite")
        try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask { try Catalog(path: path).appliedMigrations() }
            }
            for try await applied in group { #expect(applied.contains("v1-backbone")) }
        }
        #expect(try Catalog(path: path).integrityCheck() == ["ok"])
    }
}
