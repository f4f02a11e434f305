/// Retries a catalog write that failed for a reason that may pass (a full disk: SQLite's
/// `SQLITE_FULL`), so a run's outcome is not lost while the disk is full.
enum Persistently {
    /// Calls `attempt` until it succeeds, `shouldStop` returns true, or the task is cancelled,
    /// sleeping `interval` between attempts. `onFirstFailure` is called once, with the first error.
    /// - Returns: true when `attempt` succeeded.
    @discardableResult
    static func retry(
        every interval: Duration, shouldStop: () -> Bool, onFirstFailure: (any Error) -> Void,
        _ attempt: () throws -> Void
    ) async -> Bool {
        var failures = 0
        while true {
            do {
                try attempt()
                return true
            } catch {
                if failures == 0 { onFirstFailure(error) }
                failures += 1
            }
            if shouldStop() || Task.isCancelled { return false }
            do { try await Task.sleep(for: interval) } catch { return false }
            if shouldStop() { return false }
        }
    }
}
