import Dispatch
import Foundation
import Synchronization

/// A token bucket per client: each client may send `perMinute` requests in a burst, and the
/// bucket refills at `perMinute / 60` requests per second.
final class RateLimiter: Sendable {
    /// One client's bucket.
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    /// Requests per minute per client (0 = unlimited).
    let perMinute: Int
    /// Seconds on a monotonic clock (injectable for tests).
    private let now: @Sendable () -> Double
    private let buckets = Mutex<[String: Bucket]>([:])

    /// Creates a limiter.
    /// - Parameters:
    ///   - perMinute: requests per minute per client; 0 turns limiting off.
    ///   - now: the clock, in seconds.
    init(perMinute: Int, now: @escaping @Sendable () -> Double = RateLimiter.monotonicSeconds) {
        self.perMinute = perMinute
        self.now = now
    }

    /// Seconds since an arbitrary start, never going back.
    static func monotonicSeconds() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    /// Takes one request from `client`'s bucket. Returns nil when allowed, else the whole number
    /// of seconds after which the next request would be (the `Retry-After` value).
    func take(_ client: String) -> Int? {
        guard perMinute > 0 else { return nil }
        let capacity = Double(perMinute)
        let rate = capacity / 60
        let time = now()
        return buckets.withLock { buckets -> Int? in
            var bucket = buckets[client] ?? Bucket(tokens: capacity, updated: time)
            bucket.tokens = min(capacity, bucket.tokens + max(0, time - bucket.updated) * rate)
            bucket.updated = time
            defer {
                buckets[client] = bucket
                if buckets.count > 10_000 { Self.prune(&buckets, capacity: capacity, rate: rate, time: time) }
            }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }

    /// Forgets clients whose bucket has refilled (they would start full anyway).
    private static func prune(_ buckets: inout [String: Bucket], capacity: Double, rate: Double, time: Double) {
        buckets = buckets.filter { $0.value.tokens + (time - $0.value.updated) * rate < capacity }
    }
}
