import Synchronization
import Testing
@testable import Daemon

/// The retry behind "a failed run is recorded even while the catalog's disk is full"
/// (docs/RELIABILITY.md, disk full).
@Suite("Persistently")
struct PersistentlyTests {
    struct Full: Error {}

    @Test("retries until the write succeeds, reporting only the first failure")
    func retriesUntilSuccess() async {
        let calls = Mutex(0)
        let reported = Mutex(0)
        let ok = await Persistently.retry(every: .milliseconds(1), shouldStop: { false },
                                          onFirstFailure: { _ in reported.withLock { $0 += 1 } }) {
            let call = calls.withLock { $0 += 1; return $0 }
            if call < 4 { throw Full() }
        }
        #expect(ok)
        #expect(calls.withLock { $0 } == 4)
        #expect(reported.withLock { $0 } == 1)
    }

    @Test("a first success needs no retry and reports nothing")
    func firstSuccess() async {
        let reported = Mutex(false)
        let ok = await Persistently.retry(every: .seconds(60), shouldStop: { false },
                                          onFirstFailure: { _ in reported.withLock { $0 = true } }) {}
        #expect(ok)
        #expect(!reported.withLock { $0 })
    }

    @Test("gives up when the daemon stops")
    func stops() async {
        let calls = Mutex(0)
        let ok = await Persistently.retry(every: .milliseconds(1), shouldStop: { calls.withLock { $0 } >= 3 },
                                          onFirstFailure: { _ in }) {
            calls.withLock { $0 += 1 }
            throw Full()
        }
        #expect(!ok)
        #expect(calls.withLock { $0 } == 3)
    }

    @Test("gives up when the task is cancelled")
    func cancelled() async {
        let task = Task {
            await Persistently.retry(every: .seconds(3600), shouldStop: { false }, onFirstFailure: { _ in }) { throw Full() }
        }
        task.cancel()
        #expect(await task.value == false)
    }
}
