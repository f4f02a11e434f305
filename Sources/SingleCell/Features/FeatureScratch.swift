/// A growable raw buffer reused from cell to cell by one worker (never shrinks, never zeroed
/// unless asked).
struct ScratchBuffer<Element: BitwiseCopyable>: ~Copyable {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    init() {
        capacity = 16
        base = .allocate(capacity: 16)
    }

    /// A pointer to at least `count` elements (contents unspecified after growth).
    mutating func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            base.deallocate()
            capacity = max(count, capacity &* 2)
            base = .allocate(capacity: capacity)
        }
        return base
    }

    deinit { base.deallocate() }
}

/// Per-worker scratch memory for measuring one region at a time. Not shared between threads:
/// every parallel job creates its own.
final class FeatureScratch {
    /// Padded local mask of the region's bounding box (1-px zero frame).
    var mask = ScratchBuffer<UInt8>()
    /// Border pixels of the local mask (perimeter).
    var border = ScratchBuffer<UInt8>()
    /// Plane offsets `y * width + x` of the region's pixels, raster order.
    var offsets = ScratchBuffer<Int>()
    /// Image column of each pixel.
    var xs = ScratchBuffer<Int32>()
    /// Image row of each pixel.
    var ys = ScratchBuffer<Int32>()
    /// Leftmost / rightmost local column per local row (-1 / -2 when the row is empty).
    var rowLeft = ScratchBuffer<Int32>()
    var rowRight = ScratchBuffer<Int32>()
    /// Convex-hull work arrays (doubled coordinates).
    var levelY = ScratchBuffer<Int>()
    var levelLo = ScratchBuffer<Int>()
    var levelHi = ScratchBuffer<Int>()
    var chainLeft = ScratchBuffer<Int>()
    var chainRight = ScratchBuffer<Int>()
    /// Intensities of one channel over the region, and radix-sort space.
    var values = ScratchBuffer<UInt16>()
    var sortSpace = ScratchBuffer<UInt16>()
    /// Centreline: cell-frame coordinates and foot points.
    var u = ScratchBuffer<Double>()
    var v = ScratchBuffer<Double>()
    var foot = ScratchBuffer<Double>()
    var bin = ScratchBuffer<Int32>()
    var curveT = ScratchBuffer<Double>()
    var curveF = ScratchBuffer<Double>()
    var curveD = ScratchBuffer<Double>()
    /// Centreline: per 4-px curve segment the (widened) range of f.
    var curveBounds = ScratchBuffer<Double>()
    /// Centreline: best pixel per bin of the current channel.
    var pathBest = ScratchBuffer<Int>()
}
