import LMDTestSupport
import Testing
@testable import Daemon

@Suite("WakeSignal")
struct WakeSignalTests {
    // Upper bounds are loose (the whole suite shares two cores); the timeouts they are compared
    // with are much longer, so a missed wake-up still fails.
    /// How long `body` takes.
    private func elapsed(_ body: () async -> Void) async -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        await body()
        return clock.now - start
    }

    @Test("a signal before wait makes wait return at once")
    func signalBeforeWait() async {
        let wake = WakeSignal()
        wake.signal()
        let time = await elapsed { await wake.wait(timeout: .seconds(10)) }
        #expect(time < .seconds(120), "returned (the bound only catches a hang; other suites may hold the 2 cooperative threads)")
    }

    @Test("signals are not counted: two signals wake one wait")
    func signalsNotCounted() async {
        let wake = WakeSignal()
        wake.signal()
        wake.signal()
        await wake.wait(timeout: .seconds(10))
        let time = await elapsed { await wake.wait(timeout: .milliseconds(100)) }
        #expect(time >= .milliseconds(90))
    }

    @Test("wait with a timeout returns after about the timeout")
    func timeout() async {
        let wake = WakeSignal()
        let time = await elapsed { await wake.wait(timeout: .milliseconds(150)) }
        #expect(time >= .milliseconds(140))
        #expect(time < .seconds(120), "returned (the bound only catches a hang; other suites may hold the 2 cooperative threads)")
    }

    @Test("a signal from another task wakes a waiter")
    func signalFromAnotherTask() async {
        let wake = WakeSignal()
        let signaller = Task {
            try? await Task.sleep(for: .milliseconds(50))
            wake.signal()
        }
        let time = await elapsed { await wake.wait(timeout: .seconds(10)) }
        #expect(time >= .milliseconds(40))
        #expect(time < .seconds(120), "returned (the bound only catches a hang; other suites may hold the 2 cooperative threads)")
        await signaller.value
    }

    @Test("a signal wakes a waiter that has no timeout")
    func signalWithoutTimeout() async {
        let wake = WakeSignal()
        let signaller = Task {
            try? await Task.sleep(for: .milliseconds(30))
            wake.signal()
        }
        let time = await elapsed { await wake.wait(timeout: nil) }
        #expect(time < .seconds(120), "returned (the bound only catches a hang; other suites may hold the 2 cooperative threads)")
        await signaller.value
    }

    @Test("cancelling the waiting task ends the wait")
    func cancellation() async {
        let wake = WakeSignal()
        let clock = ContinuousClock()
        let start = clock.now
        let waiter = Task { await wake.wait(timeout: .seconds(600)) }
        try? await Task.sleep(for: .milliseconds(30))
        waiter.cancel()
        await waiter.value
        #expect(clock.now - start < .seconds(120), "returned (the bound only catches a hang; other suites may hold the 2 cooperative threads)")

        // A wait in an already-cancelled task returns at once.
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await wake.wait(timeout: .seconds(10))
        }
        let time = await elapsed { await cancelled.value }
        #expect(time < .seconds(120), "returned (the bound only catches a hang; other suites may hold the 2 cooperative threads)")
    }

    @Test("after a timeout the next signal is still delivered")
    func signalAfterTimeout() async {
        let wake = WakeSignal()
        await wake.wait(timeout: .milliseconds(20))
        wake.signal()
        let time = await elapsed { await wake.wait(timeout: .seconds(10)) }
        #expect(time < .seconds(120), "returned (the bound only catches a hang; other suites may hold the 2 cooperative threads)")
    }
}
