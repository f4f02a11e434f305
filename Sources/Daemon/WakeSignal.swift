import Synchronization

/// A "something changed, look again" signal between tasks: `signal()` wakes the one waiter (or
/// makes its next `wait` return at once); `wait(timeout:)` sleeps until a signal or the timeout.
/// Signals are not counted: a waiter re-examines its state after every wake.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or the next one.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Waits for a signal, the timeout (if any) or cancellation.
    func wait(timeout: Duration?) async {
        if state.withLock({ state in defer { state.pending = false }; return state.pending }) { return }
        if Task.isCancelled { return }
        await withTaskGroup(of: Void.self) { group in
            if let timeout {
                group.addTask {
                    do {
                        try await Task.sleep(for: timeout)
                        self.signal()
                    } catch {}
                }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if state.pending {
                            state.pending = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                self.signal()
            }
            group.cancelAll()
        }
        state.withLock { $0.pending = false }
    }
}
