import ImageKit

/// Seeded sampling without replacement, reproducible across runs and platforms.
enum SeededSample {
    /// `count` ids drawn from `candidates` with `seed`, returned in ascending order. The candidates
    /// are sorted first, so the result does not depend on their order. All candidates are returned
    /// when there are no more than `count`.
    static func draw(_ count: Int, from candidates: [Int], seed: UInt64) -> [Int] {
        var pool = candidates.sorted()
        guard count < pool.count else { return pool }
        var generator = SplitMix64(seed: seed)
        for index in 0..<count {
            let pick = index + Int(uniform(below: UInt64(pool.count - index), using: &generator))
            pool.swapAt(index, pick)
        }
        return pool[0..<count].sorted()
    }

    /// A uniform integer in `0..<bound` with no modulo bias (Lemire's multiply-shift with
    /// rejection), written out so it cannot change with the standard library.
    static func uniform(below bound: UInt64, using generator: inout SplitMix64) -> UInt64 {
        precondition(bound > 0, "bound must be positive")
        var product = generator.next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = generator.next().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }
}
