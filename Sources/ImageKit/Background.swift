// pyama's tiled background estimate and the interpolating tensor-product spline it rests on
// (scipy `RectBivariateSpline(..., kx=3, ky=3, s=0)`).

// MARK: - Interpolating spline on a rectangular grid

/// One axis of an interpolating spline: the knots and the linear map from data values to the
/// spline's second derivatives at the knots.
///
/// The spline has degree `min(3, m − 1)` for `m` knots. For `m ≥ 4` it is the cubic spline that
/// FITPACK builds for `s = 0` (interior knots at `x[2] … x[m−3]`), which is exactly the
/// "not-a-knot" cubic interpolant; for `m = 3` the interpolating parabola, for `m = 2` the line,
/// for `m = 1` the constant. On each interval `[x_i, x_{i+1}]` the spline is
/// `A·d_i + B·d_{i+1} + C·M_i + D·M_{i+1}` with `A = (x_{i+1} − p)/h`, `B = 1 − A`,
/// `C = (A³ − A)h²/6`, `D = (B³ − B)h²/6` and `M = K·d`.
@usableFromInline
struct SplineAxis: Sendable, Hashable {
    /// Strictly increasing knot positions (the data sites).
    @usableFromInline let knots: [Double]
    /// `K`, `m × m` row-major: second derivatives at the knots = `K · data`.
    @usableFromInline let secondDerivativeMap: [Double]

    init(knots: [Double]) {
        let m = knots.count
        precondition(m >= 1, "a spline axis needs at least one knot")
        for i in 1..<max(m, 1) {
            precondition(knots[i] > knots[i &- 1], "spline knots must be strictly increasing")
        }
        self.knots = knots
        self.secondDerivativeMap = Self.secondDerivativeMap(knots)
    }

    /// Builds `K` column by column (the spline of the `j`-th unit vector).
    private static func secondDerivativeMap(_ x: [Double]) -> [Double] {
        let m = x.count
        var k = [Double](repeating: 0, count: m &* m)
        if m <= 2 { return k }  // constant or line: no curvature
        if m == 3 {
            // The parabola through three points has the constant second derivative
            // 2·[(d2 − d1)/h1 − (d1 − d0)/h0] / (h0 + h1).
            let h0 = x[1] - x[0], h1 = x[2] - x[1]
            let w = 2 / (h0 + h1)
            let row = [w / h0, -w / h0 - w / h1, w / h1]
            for i in 0..<3 { for j in 0..<3 { k[i &* 3 &+ j] = row[j] } }
            return k
        }
        // Not-a-knot cubic: S·M = T·d with
        //   row 0:      third derivative continuous at x1,
        //   rows 1…m−2: h_{i−1}M_{i−1} + 2(h_{i−1}+h_i)M_i + h_iM_{i+1} = 6[(d_{i+1}−d_i)/h_i − (d_i−d_{i−1})/h_{i−1}],
        //   row m−1:    third derivative continuous at x_{m−2}.
        var h = [Double](repeating: 0, count: m &- 1)
        for i in 0..<(m &- 1) { h[i] = x[i &+ 1] - x[i] }
        var s = [Double](repeating: 0, count: m &* m)
        var t = [Double](repeating: 0, count: m &* m)
        s[0] = -1 / h[0]
        s[1] = 1 / h[0] + 1 / h[1]
        s[2] = -1 / h[1]
        for i in 1..<(m &- 1) {
            s[i &* m &+ i &- 1] = h[i &- 1]
            s[i &* m &+ i] = 2 * (h[i &- 1] + h[i])
            s[i &* m &+ i &+ 1] = h[i]
            t[i &* m &+ i &- 1] = 6 / h[i &- 1]
            t[i &* m &+ i] = -6 / h[i &- 1] - 6 / h[i]
            t[i &* m &+ i &+ 1] = 6 / h[i]
        }
        let last = m &- 1
        s[last &* m &+ m &- 3] = -1 / h[m &- 3]
        s[last &* m &+ m &- 2] = 1 / h[m &- 3] + 1 / h[m &- 2]
        s[last &* m &+ m &- 1] = -1 / h[m &- 2]
        // K = S⁻¹·T by Gaussian elimination with partial pivoting on [S | T].
        for col in 0..<m {
            var pivot = col
            for r in (col &+ 1)..<m where abs(s[r &* m &+ col]) > abs(s[pivot &* m &+ col]) { pivot = r }
            if pivot != col {
                for c in 0..<m {
                    s.swapAt(col &* m &+ c, pivot &* m &+ c)
                    t.swapAt(col &* m &+ c, pivot &* m &+ c)
                }
            }
            let p = s[col &* m &+ col]
            for r in 0..<m where r != col {
                let f = s[r &* m &+ col] / p
                if f == 0 { continue }
                for c in 0..<m {
                    s[r &* m &+ c] -= f * s[col &* m &+ c]
                    t[r &* m &+ c] -= f * t[col &* m &+ c]
                }
            }
        }
        for r in 0..<m {
            let p = s[r &* m &+ r]
            for c in 0..<m { k[r &* m &+ c] = t[r &* m &+ c] / p }
        }
        return k
    }

    /// Second derivatives `K·data` for data at stride `stride` starting at `data[offset]`.
    func secondDerivatives(_ data: UnsafePointer<Double>, stride: Int, into out: UnsafeMutablePointer<Double>) {
        let m = knots.count
        secondDerivativeMap.withUnsafeBufferPointer { kb in
            let k = kb.baseAddress!
            for i in 0..<m {
                var acc = 0.0
                let row = k + i &* m
                for j in 0..<m { acc += row[j] * data[j &* stride] }
                out[i] = acc
            }
        }
    }

    /// Interval and weights for evaluating at `p`, clamped to `[knots.first, knots.last]` as
    /// FITPACK's `bispev` does.
    func basis(at p: Double) -> SplineBasis {
        let m = knots.count
        if m == 1 { return SplineBasis(lower: 0, upper: 0, a: 1, b: 0, c: 0, d: 0) }
        let q = min(max(p, knots[0]), knots[m &- 1])
        // Largest i in 0...m−2 with knots[i] <= q.
        var lo = 0, hi = m &- 2
        while lo < hi {
            let mid = (lo &+ hi &+ 1) >> 1
            if knots[mid] <= q { lo = mid } else { hi = mid &- 1 }
        }
        let h = knots[lo &+ 1] - knots[lo]
        let a = (knots[lo &+ 1] - q) / h
        let b = 1 - a
        return SplineBasis(
            lower: lo, upper: lo &+ 1, a: a, b: b, c: (a * a * a - a) * h * h / 6, d: (b * b * b - b) * h * h / 6)
    }
}

/// Evaluation weights of a ``SplineAxis`` at one position: value = `a·d[lower] + b·d[upper] +
/// c·M[lower] + d·M[upper]`.
@usableFromInline
struct SplineBasis: Sendable, Hashable {
    @usableFromInline var lower: Int
    @usableFromInline var upper: Int
    @usableFromInline var a: Double
    @usableFromInline var b: Double
    @usableFromInline var c: Double
    @usableFromInline var d: Double
}

/// An interpolating tensor-product spline through values on a rectangular grid: scipy's
/// `RectBivariateSpline(xs, ys, z, kx=3, ky=3, s=0)` (pyama's background interpolant).
///
/// Along each axis with `m` grid lines the spline has degree `min(3, m − 1)`: for `m ≥ 4` it is
/// the cubic FITPACK builds for `s = 0` (the not-a-knot cubic interpolant); with fewer lines
/// scipy would refuse `k = 3`, and the spline is the interpolating polynomial of degree `m − 1`
/// (what `RectBivariateSpline` gives with `k = m − 1`). It passes through every grid value.
/// Like FITPACK's `bispev`, positions outside the grid are clamped to its edge lines, so the
/// surface is constant beyond the outermost knots along each axis.
///
/// ```swift
/// let s = GridSpline(xs: [0, 1, 2, 3], ys: [0, 2], values: [1, 2, 3, 4, 5, 6, 7, 8])
/// s.value(x: 1, y: 2)   // 6
/// ```
public struct GridSpline: Sendable, Hashable {
    /// Grid positions along x (columns), strictly increasing.
    public let xs: [Double]
    /// Grid positions along y (rows), strictly increasing.
    public let ys: [Double]
    /// Values at the grid points, row-major: `values[j * xs.count + i]` is at `(xs[i], ys[j])`.
    public let values: [Double]

    @usableFromInline let xAxis: SplineAxis
    @usableFromInline let yAxis: SplineAxis
    /// Second derivatives along y of every grid column, row-major like ``values``.
    let ySecond: [Double]

    /// Creates the interpolating spline.
    ///
    /// - Precondition: `xs` and `ys` are non-empty and strictly increasing, and
    ///   `values.count == xs.count * ys.count`. (Grids come from code, not from files.)
    public init(xs: [Double], ys: [Double], values: [Double]) {
        precondition(values.count == xs.count &* ys.count, "GridSpline needs xs.count * ys.count values")
        self.xs = xs
        self.ys = ys
        self.values = values
        xAxis = SplineAxis(knots: xs)
        yAxis = SplineAxis(knots: ys)
        let nx = xs.count, ny = ys.count
        var second = [Double](repeating: 0, count: nx &* ny)
        let yAxis = yAxis
        values.withUnsafeBufferPointer { v in
            second.withUnsafeMutableBufferPointer { out in
                var column = [Double](repeating: 0, count: ny)
                column.withUnsafeMutableBufferPointer { col in
                    for i in 0..<nx {
                        yAxis.secondDerivatives(v.baseAddress! + i, stride: nx, into: col.baseAddress!)
                        for j in 0..<ny { out[j &* nx &+ i] = col[j] }
                    }
                }
            }
        }
        ySecond = second
    }

    /// The spline's value at `(x, y)` (clamped to the grid's extent along each axis).
    public func value(x: Double, y: Double) -> Double {
        let nx = xs.count
        let by = yAxis.basis(at: y)
        var row = [Double](repeating: 0, count: nx)
        for i in 0..<nx {
            row[i] = by.a * values[by.lower &* nx &+ i] + by.b * values[by.upper &* nx &+ i]
                + by.c * ySecond[by.lower &* nx &+ i] + by.d * ySecond[by.upper &* nx &+ i]
        }
        var second = [Double](repeating: 0, count: nx)
        row.withUnsafeBufferPointer { r in
            second.withUnsafeMutableBufferPointer { s in
                xAxis.secondDerivatives(r.baseAddress!, stride: 1, into: s.baseAddress!)
            }
        }
        let bx = xAxis.basis(at: x)
        return bx.a * row[bx.lower] + bx.b * row[bx.upper] + bx.c * second[bx.lower] + bx.d * second[bx.upper]
    }

    /// Prepares evaluation at every integer pixel `(x, y)` with `0 <= x < width`,
    /// `0 <= y < height` (pyama evaluates its background at `np.arange(W)`, `np.arange(H)`).
    ///
    /// - Precondition: `width >= 1`, `height >= 1`.
    public func raster(width: Int, height: Int) -> SplineRaster {
        SplineRaster(spline: self, width: width, height: height)
    }
}

/// A ``GridSpline`` prepared for evaluation on the integer pixel grid of a `width × height`
/// image: per row the spline along y of every grid column and its x-curvatures, per column the
/// interval and weights. ``value(x:y:)`` then costs four multiply-adds.
public struct SplineRaster: Sendable {
    /// Image width the raster was prepared for.
    public let width: Int
    /// Image height the raster was prepared for.
    public let height: Int
    /// Number of grid lines along x.
    @usableFromInline let nx: Int
    /// `height × nx`: the spline along y of grid column `i`, at row `y`.
    @usableFromInline let rowValues: [Double]
    /// `height × nx`: second derivatives along x of `rowValues` for each row.
    @usableFromInline let rowSecond: [Double]
    /// `width × 2`: lower and upper grid index of each pixel column.
    @usableFromInline let columnIndex: [Int32]
    /// `width × 4`: the weights `a, b, c, d` of each pixel column.
    @usableFromInline let columnWeights: [Double]

    init(spline: GridSpline, width: Int, height: Int) {
        precondition(width >= 1 && height >= 1, "raster sizes must be at least 1")
        self.width = width
        self.height = height
        let nx = spline.xs.count
        self.nx = nx
        var values = [Double](repeating: 0, count: height &* nx)
        var second = [Double](repeating: 0, count: height &* nx)
        spline.values.withUnsafeBufferPointer { vb in
            spline.ySecond.withUnsafeBufferPointer { sb in
                values.withUnsafeMutableBufferPointer { rvb in
                    second.withUnsafeMutableBufferPointer { rsb in
                        let v = vb.baseAddress!, s = sb.baseAddress!
                        let rv = rvb.baseAddress!, rs = rsb.baseAddress!
                        let xAxis = spline.xAxis, yAxis = spline.yAxis
                        let bands = ParallelFor.bands(height, parts: max(1, min(height, 64)))
                        ParallelFor.run(bands.count) { band in
                            for y in bands[band] {
                                let by = yAxis.basis(at: Double(y))
                                let lo = by.lower &* nx, up = by.upper &* nx
                                let out = rv + y &* nx
                                for i in 0..<nx {
                                    out[i] = by.a * v[lo &+ i] + by.b * v[up &+ i] + by.c * s[lo &+ i] + by.d * s[up &+ i]
                                }
                                xAxis.secondDerivatives(out, stride: 1, into: rs + y &* nx)
                            }
                        }
                    }
                }
            }
        }
        rowValues = values
        rowSecond = second
        var index = [Int32](repeating: 0, count: width &* 2)
        var weights = [Double](repeating: 0, count: width &* 4)
        for x in 0..<width {
            let b = spline.xAxis.basis(at: Double(x))
            index[2 &* x] = Int32(truncatingIfNeeded: b.lower)
            index[2 &* x &+ 1] = Int32(truncatingIfNeeded: b.upper)
            weights[4 &* x] = b.a
            weights[4 &* x &+ 1] = b.b
            weights[4 &* x &+ 2] = b.c
            weights[4 &* x &+ 3] = b.d
        }
        columnIndex = index
        columnWeights = weights
    }

    /// The spline's value at pixel `(x, y)`.
    ///
    /// - Precondition: `0 <= x < width`, `0 <= y < height` (not checked in release builds).
    @inlinable
    public func value(x: Int, y: Int) -> Double {
        let lo = Int(columnIndex[2 &* x]), up = Int(columnIndex[2 &* x &+ 1])
        let row = y &* nx
        let w = 4 &* x
        return columnWeights[w] * rowValues[row &+ lo] + columnWeights[w &+ 1] * rowValues[row &+ up]
            + columnWeights[w &+ 2] * rowSecond[row &+ lo] + columnWeights[w &+ 3] * rowSecond[row &+ up]
    }

    /// Sum of the spline over the pixels `x0 ..< x1` of row `y`.
    ///
    /// - Precondition: `0 <= x0 <= x1 <= width`, `0 <= y < height`.
    public func rowSum(y: Int, x0: Int, x1: Int) -> Double {
        precondition(x0 >= 0 && x0 <= x1 && x1 <= width && y >= 0 && y < height, "row span outside the raster")
        var acc = 0.0
        for x in x0..<x1 { acc += value(x: x, y: y) }
        return acc
    }

    /// The whole surface as a `Float` image (pyama stores its background as `float32`).
    public func image() -> Image<Float> {
        var out = Image<Float>(width: width, height: height, repeating: 0)
        let width = width
        out.withUnsafeMutableBufferPointer { buf in
            let p = buf.baseAddress!
            let bands = ParallelFor.bands(height, parts: max(1, min(height, 64)))
            ParallelFor.run(bands.count) { b in
                for y in bands[b] {
                    let row = p + y &* width
                    for x in 0..<width { row[x] = Float(self.value(x: x, y: y)) }
                }
            }
        }
        return out
    }
}

// MARK: - pyama's tiled background

/// Background estimation of pyama (`pyama-core`, `background.py`): the foreground is dilated with
/// a 21 × 21 square, the remaining pixels are split into ~50 %-overlapping tiles of about
/// 256 px, each tile's median is its support value, and a bicubic interpolating spline through
/// the tile centres (``GridSpline``) is the background at every pixel.
///
/// ```swift
/// let background = Background.pyama(image, foreground: mask)      // Image<Float>
/// let corrected = Double(image[x: 5, y: 7]) - Double(background[x: 5, y: 7])
/// ```
public enum Background {
    /// The tiles of one image axis: pyama's `n_div = max(ceil(L / tileSize) + 1, 2)`, edges
    /// `rint(linspace(0, L, 2·n_div − 1))` (round half to even), tile `i` spanning
    /// `edges[i] ..< edges[i + 2]`, centre `(edges[i] + edges[i + 2]) / 2`.
    public struct Tiles: Sendable, Hashable {
        /// Pixel span of each tile along the axis (half-open), `2·n_div − 3` tiles.
        public let ranges: [Range<Int>]
        /// Centre of each tile (the spline's knots along this axis), strictly increasing.
        public let centres: [Double]
    }

    /// Tiles of an axis of `length` pixels, pyama's `_tile_image` geometry.
    ///
    /// - Precondition: `length >= 1`, `tileSize >= 4` (so that tile centres are distinct).
    public static func pyamaTiles(length: Int, tileSize: Int = 256) -> Tiles {
        precondition(length >= 1, "axis length must be at least 1")
        precondition(tileSize >= 4, "tile size must be at least 4")
        let divisions = max((length &+ tileSize &- 1) / tileSize &+ 1, 2)
        let count = 2 &* divisions &- 1
        // numpy.linspace(0, L, count): i·(L/div), the last one exactly L; then numpy.rint.
        let step = Double(length) / Double(count &- 1)
        var edges = [Int](repeating: 0, count: count)
        for i in 0..<count {
            let v = i == count &- 1 ? Double(length) : Double(i) * step
            edges[i] = Int(v.rounded(.toNearestOrEven))
        }
        var ranges: [Range<Int>] = []
        var centres: [Double] = []
        for i in 0..<(count &- 2) {
            ranges.append(edges[i]..<edges[i &+ 2])
            centres.append(Double(edges[i] &+ edges[i &+ 2]) * 0.5)
        }
        return Tiles(ranges: ranges, centres: centres)
    }

    /// The pixels pyama excludes from the background statistics: `foreground` dilated with a
    /// `dilation × dilation` square (`scipy.ndimage.binary_dilation`, outside = background).
    ///
    /// - Precondition: `foreground.channels == 1`, `dilation >= 1`.
    public static func pyamaExclusion(_ foreground: Image<UInt8>, dilation: Int = 21) -> Image<UInt8> {
        Morphology.binaryDilation(foreground, square: dilation)
    }

    /// The tile medians of `image` over the pixels where `excluded` is 0, as the interpolating
    /// spline through the tile centres (pyama's `_tile_image` + `RectBivariateSpline`).
    ///
    /// A tile without any usable pixel takes the median of all usable pixels of the image
    /// (`numpy.nanmedian` of the masked frame). Returns `nil` when no pixel is usable at all
    /// (pyama's background would be NaN everywhere). Medians are exact (average of the two
    /// middle values for even counts). Fewer than 4 tiles along an axis (an axis of 512 px or
    /// less with 256-px tiles) lower the spline's degree along that axis, see ``GridSpline``.
    ///
    /// - Precondition: `image` and `excluded` are single-channel and the same size,
    ///   `tileSize >= 4`.
    public static func pyamaSupport(_ image: Image<UInt16>, excluded: Image<UInt8>, tileSize: Int = 256) -> GridSpline? {
        precondition(image.channels == 1 && excluded.channels == 1, "pyamaSupport needs 1-channel images")
        precondition(image.width == excluded.width && image.height == excluded.height, "image and mask sizes differ")
        let width = image.width, height = image.height
        let tx = pyamaTiles(length: width, tileSize: tileSize)
        let ty = pyamaTiles(length: height, tileSize: tileSize)
        let nx = tx.ranges.count, ny = ty.ranges.count
        var support = [Double](repeating: .nan, count: nx &* ny)
        var global = Double.nan
        image.withUnsafeBufferPointer { ib in
            excluded.withUnsafeBufferPointer { mb in
                let img = ib.baseAddress!, msk = mb.baseAddress!
                support.withUnsafeMutableBufferPointer { sb in
                    let out = sb.baseAddress!
                    // One job per tile row; each job owns one 65 536-bin histogram.
                    ParallelFor.run(ny &+ 1) { job in
                        let histogram = MedianHistogram()
                        if job == ny {
                            global = histogram.median(
                                img, msk, width: width, rows: 0..<height, columns: 0..<width)
                            return
                        }
                        for i in 0..<nx {
                            out[job &* nx &+ i] = histogram.median(
                                img, msk, width: width, rows: ty.ranges[job], columns: tx.ranges[i])
                        }
                    }
                }
            }
        }
        if global.isNaN { return nil }
        for k in support.indices where support[k].isNaN { support[k] = global }
        return GridSpline(xs: tx.centres, ys: ty.centres, values: support)
    }

    /// pyama's background of one frame, evaluated at every pixel and stored as `Float`
    /// (pyama's `estimate_background` for one frame): ``pyamaExclusion(_:dilation:)``, then
    /// ``pyamaSupport(_:excluded:tileSize:)``, then the spline at every pixel. All pixels are
    /// NaN when the dilated foreground covers the whole image.
    ///
    /// - Precondition: `image` and `foreground` are single-channel and the same size,
    ///   `tileSize >= 4`, `dilation >= 1`.
    public static func pyama(
        _ image: Image<UInt16>, foreground: Image<UInt8>, tileSize: Int = 256, dilation: Int = 21
    ) -> Image<Float> {
        let excluded = pyamaExclusion(foreground, dilation: dilation)
        guard let spline = pyamaSupport(image, excluded: excluded, tileSize: tileSize) else {
            return Image<Float>(width: image.width, height: image.height, repeating: .nan)
        }
        return spline.raster(width: image.width, height: image.height).image()
    }
}

/// Exact median of the `UInt16` samples of a rectangle whose mask byte is 0, by counting; the
/// histogram is reused between calls and only its touched range is cleared.
struct MedianHistogram: ~Copyable {
    private let counts: UnsafeMutablePointer<UInt32>

    init() {
        counts = .allocate(capacity: 65_536)
        counts.initialize(repeating: 0, count: 65_536)
    }

    deinit { counts.deallocate() }

    /// The median (NaN when no sample is usable).
    func median(
        _ image: UnsafePointer<UInt16>, _ mask: UnsafePointer<UInt8>, width: Int, rows: Range<Int>, columns: Range<Int>
    ) -> Double {
        var n = 0
        var lo = 65_535, hi = 0
        for y in rows {
            let row = y &* width
            for x in columns where mask[row &+ x] == 0 {
                let v = Int(image[row &+ x])
                counts[v] &+= 1
                n &+= 1
                lo = v < lo ? v : lo
                hi = v > hi ? v : hi
            }
        }
        if n == 0 { return .nan }
        let rankA = (n &- 1) / 2, rankB = n / 2
        var seen = 0
        var a = -1, b = -1
        var v = lo
        while v <= hi {
            let c = Int(counts[v])
            if c != 0 {
                if a < 0 && seen &+ c > rankA { a = v }
                if b < 0 && seen &+ c > rankB { b = v }
                seen &+= c
                counts[v] = 0
            }
            v &+= 1
        }
        return (Double(a) + Double(b)) * 0.5
    }
}
