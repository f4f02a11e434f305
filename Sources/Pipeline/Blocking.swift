import Dispatch

/// Runs blocking work (hashing, large file copies) on a Dispatch queue, off the cooperative pool.
public enum Blocking {
    static let queue = DispatchQueue(label: "lmdflow.blocking", qos: .utility, attributes: .concurrent)

    /// Runs `body` on the blocking queue and returns its result.
    public static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(E) { continuation.resume(returning: .success(try body())) } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
