import Foundation

/// A one-dimensional complex discrete Fourier transform of a fixed length (any length ≥ 1).
///
/// Power-of-two lengths use an iterative radix-2 Cooley–Tukey transform; other lengths use
/// Bluestein's chirp-z algorithm on a power-of-two convolution (so every length is O(n log n),
/// though a power of two is about 3-6x faster: pad to ``fastSize(_:)`` where that is allowed).
///
/// Conventions: the forward transform is `X[k] = Σ x[j]·exp(-2πi·jk/n)` (no scaling); the
/// inverse is `x[j] = (1/n)·Σ X[k]·exp(+2πi·jk/n)`.
public struct FFTPlan: Sendable {
    /// The transform length.
    public let count: Int
    /// Length of the radix-2 core (`count` itself when it is a power of two).
    let coreCount: Int
    /// `cos(2πk/coreCount)` and `sin(2πk/coreCount)` for `k < coreCount/2`.
    let cosTable: [Double]
    let sinTable: [Double]
    /// Bluestein data when `count` is not a power of two: the chirp `exp(-πi k²/n)` and the
    /// forward transform of the convolution kernel `exp(+πi m²/n)` (wrapped to `coreCount`).
    let chirpRe: [Double]
    let chirpIm: [Double]
    let kernelRe: [Double]
    let kernelIm: [Double]

    /// Smallest power of two ≥ `n` (the padded size that the radix-2 path handles directly).
    public static func fastSize(_ n: Int) -> Int {
        var m = 1
        while m < n { m <<= 1 }
        return m
    }

    /// Creates a plan for transforms of length `count`.
    ///
    /// - Precondition: `count >= 1` (sizes come from code, not from files).
    public init(count: Int) {
        precondition(count >= 1, "FFT length must be at least 1, found \(count)")
        self.count = count
        let isPow2 = count & (count - 1) == 0
        let core = isPow2 ? count : FFTPlan.fastSize(2 * count - 1)
        coreCount = core
        var c = [Double](repeating: 0, count: max(1, core / 2))
        var s = [Double](repeating: 0, count: max(1, core / 2))
        for k in 0..<(core / 2) {
            let angle = 2 * Double.pi * Double(k) / Double(core)
            c[k] = cos(angle)
            s[k] = sin(angle)
        }
        cosTable = c
        sinTable = s
        if isPow2 {
            chirpRe = []
            chirpIm = []
            kernelRe = []
            kernelIm = []
            return
        }
        var cr = [Double](repeating: 0, count: count)
        var ci = cr
        let twoN = 2 * count
        for k in 0..<count {
            // k² mod 2n keeps the angle exact for large k.
            let q = (k * k) % twoN
            let angle = Double.pi * Double(q) / Double(count)
            cr[k] = cos(angle)
            ci[k] = -sin(angle)
        }
        chirpRe = cr
        chirpIm = ci
        var kr = [Double](repeating: 0, count: core)
        var ki = kr
        for m in 0..<count {
            kr[m] = cr[m]
            ki[m] = -ci[m]
            if m > 0 {
                kr[core - m] = cr[m]
                ki[core - m] = -ci[m]
            }
        }
        kr.withUnsafeMutableBufferPointer { r in
            ki.withUnsafeMutableBufferPointer { i in
                FFTPlan.radix2(r.baseAddress!, i.baseAddress!, n: core, cosT: c, sinT: s, inverse: false)
            }
        }
        kernelRe = kr
        kernelIm = ki
    }

    /// Forward transform of `count` complex samples in place (`re[0..<count]`, `im[0..<count]`).
    func forward(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>) {
        if chirpRe.isEmpty {
            FFTPlan.radix2(re, im, n: count, cosT: cosTable, sinT: sinTable, inverse: false)
        } else {
            bluestein(re, im)
        }
    }

    /// Inverse transform (scaled by `1/count`) of `count` complex samples in place.
    func inverse(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>) {
        let n = count
        if chirpRe.isEmpty {
            FFTPlan.radix2(re, im, n: n, cosT: cosTable, sinT: sinTable, inverse: true)
        } else {
            // conj(FFT(conj(x))) = n · IFFT(x)
            for k in 0..<n { im[k] = -im[k] }
            bluestein(re, im)
            for k in 0..<n { im[k] = -im[k] }
        }
        let scale = 1.0 / Double(n)
        for k in 0..<n {
            re[k] *= scale
            im[k] *= scale
        }
    }

    /// Forward transform of `count` complex samples held in two arrays (real, imaginary parts).
    public func forward(_ re: inout [Double], _ im: inout [Double]) {
        precondition(re.count == count && im.count == count, "arrays must have \(count) samples")
        re.withUnsafeMutableBufferPointer { r in
            im.withUnsafeMutableBufferPointer { i in forward(re: r.baseAddress!, im: i.baseAddress!) }
        }
    }

    /// Inverse transform (scaled by `1/count`) of `count` complex samples held in two arrays.
    public func inverse(_ re: inout [Double], _ im: inout [Double]) {
        precondition(re.count == count && im.count == count, "arrays must have \(count) samples")
        re.withUnsafeMutableBufferPointer { r in
            im.withUnsafeMutableBufferPointer { i in inverse(re: r.baseAddress!, im: i.baseAddress!) }
        }
    }

    private func bluestein(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>) {
        let n = count
        let m = coreCount
        var ar = [Double](repeating: 0, count: m)
        var ai = ar
        chirpRe.withUnsafeBufferPointer { cr in
            chirpIm.withUnsafeBufferPointer { ci in
                ar.withUnsafeMutableBufferPointer { arb in
                    ai.withUnsafeMutableBufferPointer { aib in
                        let pr = arb.baseAddress!
                        let pi = aib.baseAddress!
                        for k in 0..<n {
                            pr[k] = re[k] * cr[k] - im[k] * ci[k]
                            pi[k] = re[k] * ci[k] + im[k] * cr[k]
                        }
                        FFTPlan.radix2(pr, pi, n: m, cosT: cosTable, sinT: sinTable, inverse: false)
                        kernelRe.withUnsafeBufferPointer { kr in
                            kernelIm.withUnsafeBufferPointer { ki in
                                for k in 0..<m {
                                    let xr = pr[k] * kr[k] - pi[k] * ki[k]
                                    let xi = pr[k] * ki[k] + pi[k] * kr[k]
                                    pr[k] = xr
                                    pi[k] = xi
                                }
                            }
                        }
                        FFTPlan.radix2(pr, pi, n: m, cosT: cosTable, sinT: sinTable, inverse: true)
                        let scale = 1.0 / Double(m)
                        for k in 0..<n {
                            let xr = pr[k] * scale
                            let xi = pi[k] * scale
                            re[k] = xr * cr[k] - xi * ci[k]
                            im[k] = xr * ci[k] + xi * cr[k]
                        }
                    }
                }
            }
        }
    }

    /// Unscaled iterative radix-2 transform; `inverse` flips the twiddle sign only.
    static func radix2(
        _ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, n: Int,
        cosT: [Double], sinT: [Double], inverse: Bool
    ) {
        guard n > 1 else { return }
        var j = 0
        for i in 1..<n {
            var bit = n &>> 1
            while j & bit != 0 {
                j ^= bit
                bit &>>= 1
            }
            j |= bit
            if i < j {
                let tr = re[i]
                let ti = im[i]
                re[i] = re[j]
                im[i] = im[j]
                re[j] = tr
                im[j] = ti
            }
        }
        let sign: Double = inverse ? 1 : -1
        cosT.withUnsafeBufferPointer { cb in
            sinT.withUnsafeBufferPointer { sb in
                let c = cb.baseAddress!
                let s = sb.baseAddress!
                var len = 2
                while len <= n {
                    let half = len &>> 1
                    let step = n / len
                    var start = 0
                    while start < n {
                        var k = 0
                        while k < half {
                            let wr = c[k &* step]
                            let wi = sign * s[k &* step]
                            let a = start &+ k
                            let b = a &+ half
                            let xr = re[b] * wr - im[b] * wi
                            let xi = re[b] * wi + im[b] * wr
                            re[b] = re[a] - xr
                            im[b] = im[a] - xi
                            re[a] += xr
                            im[a] += xi
                            k &+= 1
                        }
                        start &+= len
                    }
                    len &<<= 1
                }
            }
        }
    }
}

/// A complex 2D array (row-major, `height` rows of `width` samples) as split real/imaginary parts.
public struct ComplexPlane: Sendable, Equatable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Real parts, row-major.
    public var re: [Double]
    /// Imaginary parts, row-major.
    public var im: [Double]

    /// A plane of zeros.
    ///
    /// - Precondition: `width >= 1`, `height >= 1`.
    public init(width: Int, height: Int) {
        precondition(width >= 1 && height >= 1, "plane sizes must be at least 1, found \(width)x\(height)")
        self.width = width
        self.height = height
        re = [Double](repeating: 0, count: width * height)
        im = re
    }
}

/// A two-dimensional complex FFT of a fixed size: 1D transforms along rows, then along columns.
public struct FFT2D: Sendable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    let rowPlan: FFTPlan
    let columnPlan: FFTPlan

    /// Creates a transform for `height` x `width` planes (any sizes ≥ 1).
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        rowPlan = FFTPlan(count: width)
        columnPlan = FFTPlan(count: height)
    }

    /// Forward transform in place (unscaled).
    ///
    /// - Precondition: the plane has this transform's size.
    public func forward(_ plane: inout ComplexPlane) { forwardRowsFirst(&plane, rows: 0..<height) }

    /// Forward transform of a plane whose rows from `nonZeroRows` on are all zero (a zero-padded
    /// window): their row transforms are zero too and are skipped. Same result as ``forward(_:)``.
    ///
    /// - Precondition: the plane has this transform's size; `0 ≤ nonZeroRows ≤ height`.
    public func forward(_ plane: inout ComplexPlane, nonZeroRows: Int) {
        precondition((0...height).contains(nonZeroRows), "nonZeroRows \(nonZeroRows) outside 0...\(height)")
        forwardRowsFirst(&plane, rows: 0..<nonZeroRows)
    }

    /// Inverse transform in place (scaled by `1/(width·height)`).
    ///
    /// - Precondition: the plane has this transform's size.
    public func inverse(_ plane: inout ComplexPlane) {
        inverseColumnsFirst(&plane, rows: [0..<height])
    }

    /// Inverse transform that finishes only the given rows (e.g. the rows of small shifts of a
    /// correlation surface, at both ends of the plane): those rows equal ``inverse(_:)``'s, the
    /// others hold intermediate values.
    ///
    /// - Precondition: the plane has this transform's size; the ranges lie in `0..<height`.
    public func inverse(_ plane: inout ComplexPlane, onlyRows rows: [Range<Int>]) {
        precondition(rows.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= height }, "rows outside 0..<\(height)")
        inverseColumnsFirst(&plane, rows: rows)
    }

    /// Forward: the row transforms of `rows` (the others are zero), then every column.
    private func forwardRowsFirst(_ plane: inout ComplexPlane, rows: Range<Int>) {
        precondition(
            plane.width == width && plane.height == height,
            "plane is \(plane.width)x\(plane.height), transform expects \(width)x\(height)")
        let w = width
        plane.re.withUnsafeMutableBufferPointer { rb in
            plane.im.withUnsafeMutableBufferPointer { ib in
                let re = rb.baseAddress!
                let im = ib.baseAddress!
                for y in rows {
                    let o = y &* w
                    rowPlan.forward(re: re + o, im: im + o)
                }
                columns(re, im, inverse: false)
            }
        }
    }

    /// Inverse: every column first, then the row transforms of `rows` only.
    private func inverseColumnsFirst(_ plane: inout ComplexPlane, rows: [Range<Int>]) {
        precondition(
            plane.width == width && plane.height == height,
            "plane is \(plane.width)x\(plane.height), transform expects \(width)x\(height)")
        let w = width
        plane.re.withUnsafeMutableBufferPointer { rb in
            plane.im.withUnsafeMutableBufferPointer { ib in
                let re = rb.baseAddress!
                let im = ib.baseAddress!
                columns(re, im, inverse: true)
                for range in rows {
                    for y in range {
                        let o = y &* w
                        rowPlan.inverse(re: re + o, im: im + o)
                    }
                }
            }
        }
    }

    /// Transforms every column, in blocks of up to 16 columns gathered into contiguous rows so
    /// that the strided reads touch each cache line once.
    private func columns(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, inverse: Bool) {
        let w = width
        let h = height
        let block = 16
        var colRe = [Double](repeating: 0, count: h &* block)
        var colIm = colRe
        colRe.withUnsafeMutableBufferPointer { crb in
            colIm.withUnsafeMutableBufferPointer { cib in
                let cr = crb.baseAddress!
                let ci = cib.baseAddress!
                var x0 = 0
                while x0 < w {
                    let count = min(block, w &- x0)
                    for y in 0..<h {
                        let src = y &* w &+ x0
                        for b in 0..<count {
                            cr[b &* h &+ y] = re[src &+ b]
                            ci[b &* h &+ y] = im[src &+ b]
                        }
                    }
                    for b in 0..<count {
                        if inverse {
                            columnPlan.inverse(re: cr + b &* h, im: ci + b &* h)
                        } else {
                            columnPlan.forward(re: cr + b &* h, im: ci + b &* h)
                        }
                    }
                    for y in 0..<h {
                        let dst = y &* w &+ x0
                        for b in 0..<count {
                            re[dst &+ b] = cr[b &* h &+ y]
                            im[dst &+ b] = ci[b &* h &+ y]
                        }
                    }
                    x0 &+= count
                }
            }
        }
    }
}
