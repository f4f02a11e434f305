/// A small, fast, seedable pseudo-random generator (SplitMix64, Steele/Lea/Flood 2014).
///
/// Its output depends only on the seed: the same seed gives the same sequence on every run,
/// platform and Swift version. Use it for synthetic data and tests, never for secrets.
///
/// The helpers ``nextUnit()`` and ``next(below:)`` are defined here on purpose: the standard
/// library's `random(in:using:)` algorithms are not promised to stay the same across releases.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    /// The internal state; advancing it by the golden-ratio increment gives the next output.
    public var state: UInt64

    /// Creates a generator whose sequence is fully determined by `seed`.
    public init(seed: UInt64) {
        self.state = seed
    }

    /// Returns the next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Returns a uniform `Double` in `[0, 1)` built from the top 53 bits of ``next()``.
    @inlinable
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Returns a uniform `Double` in `[lower, upper)`.
    @inlinable
    public mutating func nextDouble(in lower: Double, _ upper: Double) -> Double {
        lower + (upper - lower) * nextUnit()
    }

    /// Returns a uniform integer in `0..<bound` (Lemire's multiply-shift; the tiny bias of
    /// skipping the rejection step is irrelevant for synthetic data).
    ///
    /// - Precondition: `bound > 0`.
    @inlinable
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "bound must be positive")
        return next().multipliedFullWidth(by: bound).high
    }
}
