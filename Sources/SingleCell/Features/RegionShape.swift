import Foundation

/// The pixels of one region of one cell, gathered from a search box of a label image, with the
/// integer moment sums (coordinates local to the box origin, so they stay exact).
struct RegionPixels {
    /// Number of pixels.
    var count = 0
    /// Search box (inclusive image coordinates) the local buffers refer to.
    var originX = 0, originY = 0, boxWidth = 0, boxHeight = 0
    /// Actual bounds of the pixels (inclusive image coordinates).
    var minX = Int.max, minY = Int.max, maxX = -1, maxY = -1
    /// Σx, Σy, Σx², Σy², Σxy in box-local coordinates.
    var sumX = 0, sumY = 0, sumXX = 0, sumYY = 0, sumXY = 0

    /// Mean column / row in image coordinates.
    var centroidX: Double { Double(originX) + Double(sumX) / Double(count) }
    var centroidY: Double { Double(originY) + Double(sumY) / Double(count) }

    /// Population second central moments per pixel (`Σ(x−x̄)²/n`, …), exact up to the final division.
    var centralXX: Double { Self.central(sumXX, sumX, sumX, count) }
    var centralYY: Double { Self.central(sumYY, sumY, sumY, count) }
    var centralXY: Double { Self.central(sumXY, sumX, sumY, count) }

    private static func central(_ sab: Int, _ sa: Int, _ sb: Int, _ n: Int) -> Double {
        let num = Int128(n) * Int128(sab) - Int128(sa) * Int128(sb)
        return Double(num) / (Double(n) * Double(n))
    }
}

/// Morphology of one region, following `skimage.measure.regionprops` definitions.
enum RegionShape {
    /// Collects the pixels of `labels == id` (and, with `exclude`, `exclude != id`) inside the
    /// inclusive box, filling the scratch's padded mask, pixel lists and row extents.
    /// `capacity` bounds the pixel count (the label's area from the region table).
    static func collect(
        labels: UnsafePointer<UInt32>, exclude: UnsafePointer<UInt32>?, id: UInt32, imageWidth: Int,
        x0: Int, y0: Int, x1: Int, y1: Int, capacity: Int, scratch: FeatureScratch
    ) -> RegionPixels {
        let lw = x1 &- x0 &+ 1, lh = y1 &- y0 &+ 1
        let pw = lw &+ 2, ph = lh &+ 2
        let mask = scratch.mask.reserve(pw &* ph)
        mask.initialize(repeating: 0, count: pw &* ph)
        let cap = min(capacity, lw &* lh)
        let offsets = scratch.offsets.reserve(cap)
        let xs = scratch.xs.reserve(cap)
        let ys = scratch.ys.reserve(cap)
        let rowLeft = scratch.rowLeft.reserve(lh)
        let rowRight = scratch.rowRight.reserve(lh)
        var r = RegionPixels()
        r.originX = x0
        r.originY = y0
        r.boxWidth = lw
        r.boxHeight = lh
        var n = 0
        var minLX = Int.max, maxLX = -1
        for ly in 0..<lh {
            let y = y0 &+ ly
            let rowStart = y &* imageWidth &+ x0
            let m = mask + ((ly &+ 1) &* pw &+ 1)
            let src = labels + rowStart
            var left = -1, right = -2
            var rowCount = 0, rowSumX = 0, rowSumXX = 0
            @inline(__always) func take(_ lx: Int) {
                m[lx] = 1
                offsets[n] = rowStart &+ lx
                xs[n] = Int32(truncatingIfNeeded: x0 &+ lx)
                ys[n] = Int32(truncatingIfNeeded: y)
                n &+= 1
                if left < 0 { left = lx }
                right = lx
                rowCount &+= 1
                rowSumX &+= lx
                rowSumXX &+= lx &* lx
            }
            // Two loops so that the common case (no excluded region) has no second test per pixel.
            if let exclude {
                let ex = exclude + rowStart
                for lx in 0..<lw where src[lx] == id && ex[lx] != id { take(lx) }
            } else {
                for lx in 0..<lw where src[lx] == id { take(lx) }
            }
            rowLeft[ly] = Int32(truncatingIfNeeded: left)
            rowRight[ly] = Int32(truncatingIfNeeded: right)
            if rowCount > 0 {
                if r.minY == Int.max { r.minY = y }
                r.maxY = y
                minLX = min(minLX, left)
                maxLX = max(maxLX, right)
                r.sumX &+= rowSumX
                r.sumXX &+= rowSumXX
                r.sumY &+= ly &* rowCount
                r.sumYY &+= ly &* ly &* rowCount
                r.sumXY &+= ly &* rowSumX
            }
        }
        r.count = n
        if n > 0 {
            r.minX = x0 &+ minLX
            r.maxX = x0 &+ maxLX
        }
        return r
    }

    /// `skimage.measure.perimeter(region_image, neighborhood=4)`: border pixels are region pixels
    /// with a 4-neighbour outside the region; each border pixel is weighted by the configuration
    /// of its border neighbours (code `1 + 2·#edge + 10·#corner`; weight 1 for straight runs, √2
    /// for diagonals, (1+√2)/2 for corners).
    static func perimeter(_ r: RegionPixels, scratch: FeatureScratch) -> Double {
        let lw = r.boxWidth, lh = r.boxHeight
        let pw = lw &+ 2, ph = lh &+ 2
        let mask = UnsafePointer(scratch.mask.base)
        let border = scratch.border.reserve(pw &* ph)
        border.initialize(repeating: 0, count: pw &* ph)
        for ly in 1...lh {
            var i = ly &* pw &+ 1
            for _ in 0..<lw {
                if mask[i] != 0 && (mask[i &- 1] == 0 || mask[i &+ 1] == 0 || mask[i &- pw] == 0 || mask[i &+ pw] == 0) {
                    border[i] = 1
                }
                i &+= 1
            }
        }
        var straight = 0, diagonal = 0, corner = 0
        for ly in 1...lh {
            var i = ly &* pw &+ 1
            for _ in 0..<lw {
                if border[i] != 0 {
                    let edge = Int(border[i &- 1]) &+ Int(border[i &+ 1]) &+ Int(border[i &- pw]) &+ Int(border[i &+ pw])
                    let diag =
                        Int(border[i &- pw &- 1]) &+ Int(border[i &- pw &+ 1]) &+ Int(border[i &+ pw &- 1])
                        &+ Int(border[i &+ pw &+ 1])
                    switch 1 &+ 2 &* edge &+ 10 &* diag {
                    case 5, 7, 15, 17, 25, 27: straight &+= 1
                    case 21, 33: diagonal &+= 1
                    case 13, 23: corner &+= 1
                    default: break
                    }
                }
                i &+= 1
            }
        }
        return Double(straight) + Double(diagonal) * 2.0.squareRoot() + Double(corner) * (1 + 2.0.squareRoot()) / 2
    }

    /// Pixel count of skimage's `convex_hull_image(region_image)`: the convex hull of the
    /// pixels' edge midpoints (each pixel centre ± ½ along each axis), and every pixel centre
    /// inside it or on its boundary. Computed exactly in doubled integer coordinates: per
    /// half-row level the extreme points, the left and right hull chains, then per pixel row
    /// the integer span between the chains.
    static func convexArea(_ r: RegionPixels, scratch: FeatureScratch) -> Int {
        let lw = r.boxWidth, lh = r.boxHeight
        let rowLeft = UnsafePointer(scratch.rowLeft.base)
        let rowRight = UnsafePointer(scratch.rowRight.base)
        let levels = 2 &* lh &+ 1
        let levelY = scratch.levelY.reserve(levels)
        let levelLo = scratch.levelLo.reserve(levels)
        let levelHi = scratch.levelHi.reserve(levels)
        var count = 0
        var yy = -1
        while yy <= 2 &* lh &- 1 {
            var lo = Int.max, hi = Int.min
            if yy & 1 == 0 {
                let row = yy >> 1
                if rowLeft[row] >= 0 {
                    lo = 2 &* Int(rowLeft[row]) &- 1
                    hi = 2 &* Int(rowRight[row]) &+ 1
                }
            } else {
                let row = (yy &- 1) >> 1  // levels 2·row+1 touch rows `row` and `row + 1`
                for k in row...(row &+ 1) where k >= 0 && k < lh && rowLeft[k] >= 0 {
                    lo = min(lo, 2 &* Int(rowLeft[k]))
                    hi = max(hi, 2 &* Int(rowRight[k]))
                }
            }
            if lo <= hi {
                levelY[count] = yy
                levelLo[count] = lo
                levelHi[count] = hi
                count &+= 1
            }
            yy &+= 1
        }
        if count == 0 { return 0 }
        // Chains in the (Y, X) plane: left = lower hull of (Y, lo), right = upper hull of (Y, hi).
        let left = scratch.chainLeft.reserve(count)
        let right = scratch.chainRight.reserve(count)
        var nl = 0, nr = 0
        for k in 0..<count {
            while nl >= 2 && cross(levelY, levelLo, left[nl &- 2], left[nl &- 1], k) <= 0 { nl &-= 1 }
            left[nl] = k
            nl &+= 1
            while nr >= 2 && cross(levelY, levelHi, right[nr &- 2], right[nr &- 1], k) >= 0 { nr &-= 1 }
            right[nr] = k
            nr &+= 1
        }
        var total = 0
        var li = 0, ri = 0
        let firstY = levelY[0], lastY = levelY[count &- 1]
        for row in 0..<lh {
            let y = 2 &* row
            if y < firstY || y > lastY { continue }
            while li &+ 1 < nl && levelY[left[li &+ 1]] < y { li &+= 1 }
            while ri &+ 1 < nr && levelY[right[ri &+ 1]] < y { ri &+= 1 }
            let lowest = ceilHalf(levelY, levelLo, left, li, nl, y)
            let highest = floorHalf(levelY, levelHi, right, ri, nr, y)
            let a = max(0, lowest), b = min(lw &- 1, highest)
            if b >= a { total &+= b &- a &+ 1 }
        }
        return total
    }

    /// Cross product of `(a − o) × (b − o)` in the (Y, X) plane for level indices.
    @inline(__always)
    private static func cross(
        _ ys: UnsafeMutablePointer<Int>, _ xs: UnsafeMutablePointer<Int>, _ o: Int, _ a: Int, _ b: Int
    ) -> Int {
        (ys[a] &- ys[o]) &* (xs[b] &- xs[o]) &- (xs[a] &- xs[o]) &* (ys[b] &- ys[o])
    }

    /// `ceil(X(y) / 2)` on the chain segment starting at chain index `i` (X(y) linear between
    /// vertices; doubled coordinates, so pixel columns are the even X).
    @inline(__always)
    private static func ceilHalf(
        _ ys: UnsafeMutablePointer<Int>, _ xs: UnsafeMutablePointer<Int>, _ chain: UnsafeMutablePointer<Int>,
        _ i: Int, _ n: Int, _ y: Int
    ) -> Int {
        let (num, den) = chainX(ys, xs, chain, i, n, y)
        return -floorDiv(-num, 2 &* den)
    }

    /// `floor(X(y) / 2)` on the chain segment starting at chain index `i`.
    @inline(__always)
    private static func floorHalf(
        _ ys: UnsafeMutablePointer<Int>, _ xs: UnsafeMutablePointer<Int>, _ chain: UnsafeMutablePointer<Int>,
        _ i: Int, _ n: Int, _ y: Int
    ) -> Int {
        let (num, den) = chainX(ys, xs, chain, i, n, y)
        return floorDiv(num, 2 &* den)
    }

    /// X(y) = num / den on the segment from chain vertex `i` to `i + 1` (or the vertex itself).
    @inline(__always)
    private static func chainX(
        _ ys: UnsafeMutablePointer<Int>, _ xs: UnsafeMutablePointer<Int>, _ chain: UnsafeMutablePointer<Int>,
        _ i: Int, _ n: Int, _ y: Int
    ) -> (Int, Int) {
        let p = chain[i]
        if i &+ 1 >= n || ys[p] == y { return (xs[p], 1) }
        let q = chain[i &+ 1]
        let dy = ys[q] &- ys[p]
        return (xs[p] &* dy &+ (xs[q] &- xs[p]) &* (y &- ys[p]), dy)
    }

    @inline(__always)
    private static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q &- 1 : q
    }
}

/// Ellipse features from the inertia tensor of a region (skimage `regionprops`).
struct InertiaFeatures {
    var eccentricity: Double
    var majorAxis: Double
    var minorAxis: Double
    var orientation: Double

    /// From the population central moments per pixel: skimage's tensor
    /// `[[Σdc²/n, −Σdr·dc/n], [−Σdr·dc/n, Σdr²/n]]` (axis 0 = rows), eigenvalues clipped at 0.
    init(centralXX sxx: Double, centralYY syy: Double, centralXY sxy: Double) {
        let a = sxx, b = -sxy, c = syy
        let half = (a + c) / 2
        let root = (((a - c) / 2) * ((a - c) / 2) + b * b).squareRoot()
        let l1 = max(0, half + root), l2 = max(0, half - root)
        eccentricity = l1 == 0 ? 0 : (1 - l2 / l1).squareRoot()
        majorAxis = 4 * l1.squareRoot()
        minorAxis = 4 * l2.squareRoot()
        if a - c == 0 {
            orientation = b < 0 ? Double.pi / 4 : -Double.pi / 4
        } else {
            orientation = 0.5 * atan2(-2 * b, c - a)
        }
    }
}
