import Dispatch
import Synchronization

/// Bounded data parallelism on Dispatch worker threads (never the Swift cooperative pool): a
/// fixed number of workers pull indices from a shared counter, each with its **own**
/// ``GEOSContext``. Results are returned in index order, so output never depends on scheduling.
enum Parallel {
    /// Calls `body(i, context)` for `i` in `0..<count` on up to `workers` threads.
    /// - Throws: the error of the lowest failing index (remaining work is abandoned).
    static func map<T>(
        _ count: Int, workers: Int, _ body: (Int, GEOSContext) throws(MicrodissectionError) -> T
    ) throws(MicrodissectionError) -> [T] {
        guard count > 0 else { return [] }
        let threads = max(1, min(workers, count))
        if threads == 1 {
            let context = GEOSContext()
            var out: [T] = []
            out.reserveCapacity(count)
            for i in 0..<count { out.append(try body(i, context)) }
            return out
        }
        let results = UnsafeMutablePointer<T?>.allocate(capacity: count)
        results.initialize(repeating: nil, count: count)
        defer {
            results.deinitialize(count: count)
            results.deallocate()
        }
        let next = Atomic<Int>(0)
        let failure = Mutex<(index: Int, error: MicrodissectionError)?>(nil)
        let failed = Atomic<Bool>(false)
        withoutActuallyEscaping(body) { body in
            // Dispatch's closure is @Sendable; the body and the result slots are used by one worker
            // per index only, which the shared counter guarantees.
            let shared = UncheckedSendable((body: body, results: results))
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                let context = GEOSContext()
                while !failed.load(ordering: .relaxed) {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= count { break }
                    do throws(MicrodissectionError) {
                        shared.value.results[i] = try shared.value.body(i, context)
                    } catch {
                        failure.withLock { current in
                            if current == nil || i < current!.index { current = (i, error) }
                        }
                        failed.store(true, ordering: .relaxed)
                    }
                }
            }
        }
        if let f = failure.withLock({ $0 }) { throw f.error }
        return (0..<count).map { results[$0]! }
    }
}

/// Carries a non-Sendable value into a `@Sendable` Dispatch closure where the caller guarantees
/// that concurrent use is safe (disjoint indices, read-only buffers).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
