/// Intensity statistics of one channel over one region, matching numpy on the region's pixels:
/// `mean`, `median` / `q25` / `q75` (`numpy.quantile`, method `'linear'`), `sum`, `std`
/// (population, `ddof = 0`), `min`, `max`.
struct IntensityStatistics {
    var mean: Double
    var median: Double
    var q25: Double
    var q75: Double
    var sum: Double
    var std: Double
    var min: Double
    var max: Double

    /// Sorts `values[0..<n]` in place (n ≥ 1) and computes the statistics. Sums are exact
    /// integers; the variance is `(n·Σx² − (Σx)²) / n²` in 128-bit integers, so the only
    /// rounding is the final division and square root.
    init(sorting values: UnsafeMutablePointer<UInt16>, count n: Int, space: UnsafeMutablePointer<UInt16>) {
        var sum: UInt64 = 0
        var sumSquares: UInt64 = 0
        for i in 0..<n {
            let v = UInt64(values[i])
            sum &+= v
            sumSquares &+= v &* v
        }
        Self.sort(values, count: n, space: space)
        let nn = Int128(n)
        let numerator = nn * Int128(sumSquares) - Int128(sum) * Int128(sum)
        self.sum = Double(sum)
        mean = Double(sum) / Double(n)
        std = (Double(numerator) / (Double(n) * Double(n))).squareRoot()
        min = Double(values[0])
        max = Double(values[n &- 1])
        median = Self.quantile(values, n, 0.5)
        q25 = Self.quantile(values, n, 0.25)
        q75 = Self.quantile(values, n, 0.75)
    }

    /// numpy `'linear'`: virtual index `(n−1)·q`, `a + (b−a)·γ` (or `b − (b−a)·(1−γ)` for γ ≥ ½).
    @inline(__always)
    static func quantile(_ sorted: UnsafeMutablePointer<UInt16>, _ n: Int, _ q: Double) -> Double {
        let position = Double(n &- 1) * q
        let lower = Int(position.rounded(.down))
        let gamma = position - Double(lower)
        let a = Double(sorted[lower])
        let b = Double(sorted[Swift.min(lower &+ 1, n &- 1)])
        let diff = b - a
        return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma
    }

    /// Insertion sort for short runs, else a two-pass LSD radix sort (bytes) through `space`.
    static func sort(_ v: UnsafeMutablePointer<UInt16>, count n: Int, space: UnsafeMutablePointer<UInt16>) {
        if n <= 48 {
            var i = 1
            while i < n {
                let x = v[i]
                var j = i &- 1
                while j >= 0 && v[j] > x {
                    v[j &+ 1] = v[j]
                    j &-= 1
                }
                v[j &+ 1] = x
                i &+= 1
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 512) { counts in
            let low = counts.baseAddress!, high = low + 256
            low.initialize(repeating: 0, count: 512)
            for i in 0..<n {
                let x = Int(v[i])
                low[x & 0xFF] &+= 1
                high[x >> 8] &+= 1
            }
            if high[Int(v[0]) >> 8] == n {
                // All values share the high byte: one pass on the low byte suffices.
                scatter(v, into: space, n, counts: low, shift: 0)
                v.update(from: space, count: n)
                return
            }
            scatter(v, into: space, n, counts: low, shift: 0)
            scatter(space, into: v, n, counts: high, shift: 8)
        }
    }

    /// Stable counting scatter of `src` into `dst` by the byte at `shift`.
    @inline(__always)
    private static func scatter(
        _ src: UnsafeMutablePointer<UInt16>, into dst: UnsafeMutablePointer<UInt16>, _ n: Int,
        counts: UnsafeMutablePointer<Int>, shift: Int
    ) {
        var total = 0
        for b in 0..<256 {
            let c = counts[b]
            counts[b] = total
            total &+= c
        }
        for i in 0..<n {
            let x = src[i]
            let b = (Int(x) >> shift) & 0xFF
            dst[counts[b]] = x
            counts[b] &+= 1
        }
    }
}
