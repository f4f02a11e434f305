import Foundation
import ImageKit

/// Translation between two equally sized windows by phase correlation, with sub-pixel
/// refinement and a quality score.
///
/// Method (see `stitching-ashlar.md` for ASHLAR's variant):
/// 1. Each window has its mean removed and is multiplied by a 2D Hann window (outer product of
///    1D Hann windows), then zero-padded to `fastSize(size + maxShift)` per axis, so that
///    correlation lags up to `maxShift` do not wrap around (no quadrant ambiguity to resolve).
/// 2. Normalized cross-power spectrum `conj(A)·B / |conj(A)·B|`, multiplied by a Gaussian
///    low-pass `exp(-2π²σ²f²)`: the same as smoothing the phase-correlation surface with a
///    Gaussian of `correlationSigma` px, which tames the high-frequency noise that pure phase
///    correlation amplifies without moving a symmetric peak.
/// 3. Integer peak of the real part inside `|lag| ≤ maxShift`.
/// 4. Sub-pixel: the correlation is evaluated on a `1/upsampleFactor` grid over ±1 px around
///    the integer peak by a matrix DFT of the spectrum (the upsampled-DFT idea of Guizar-Sicairos
///    et al., used by scikit-image's `phase_cross_correlation`), then a parabola through the best
///    fine-grid sample and its neighbours refines each axis. Measured on synthetic Fourier-shifted
///    images: errors ≤ 0.05 px (tests assert ≤ 0.1 px).
///    When the integer shift is not 0, steps 1-4 run again on the windows' common part at that
///    shift (search ±2 px), because the fixed Hann window pulls large shifts toward 0.
///    Then a guard: the score's NCC is evaluated on the integer grid ±`nccCheckRadius` around
///    the result; if its maximum is more than 0.75 px from it on an axis (phase correlation weights every
///    frequency equally and can lock one pixel off on sparse, noisy content: 1 px errors on two
///    DAPI pairs of gtcut_r002_c000, RMS 0.27 → 0.04 px with the guard), that maximum is used,
///    refined by a Gaussian fit per axis.
/// 5. Score: the normalized cross-correlation (Pearson r, in [-1, 1]) of the two windows after a
///    difference-of-Gaussians band-pass (`scoreInnerSigma`, `scoreOuterSigma`), over the part where they overlap after
///    the found (sub-pixel, bilinear) shift. ASHLAR's error is `-log` of a similar NCC; we keep
///    the NCC itself (1 = identical content, ~0 = unrelated).
public enum PhaseCorrelation {
    /// Settings of one registration.
    public struct Options: Sendable, Hashable {
        /// Largest |shift| searched on each axis, in pixels (also sets the zero padding).
        public var maxShift: Int
        /// Sub-pixel grid factor of the upsampled DFT (20 → 0.05 px grid before the parabola fit).
        /// 1 is a quick, whole-pixel registration (no upsampled DFT, no second pass), enough where
        /// only the score matters (null samples, orientation checks).
        public var upsampleFactor: Int
        /// Sigma (px) of the Gaussian that smooths the phase-correlation surface; 0 = plain phase correlation.
        public var correlationSigma: Double
        /// Exponent `p` of the spectrum normalization `conj(A)·B / |conj(A)·B|^p`: 1 = phase
        /// correlation (all frequencies equal), 0 = plain cross-correlation, between = partial
        /// whitening that keeps more weight on frequencies where the signal is strong. Measured on
        /// gtcut_r002_c000 (RMS DAPI/Alexa488): 1 → 0.27/0.03 px (without the NCC guard), 0.5 →
        /// 0.26/0.02, 0 → 0.62/0.45; the default stays 1.
        public var normalizationExponent: Double
        /// Radius (px) of the integer-grid NCC check around the phase-correlation result (0 = off).
        public var nccCheckRadius: Int
        /// Sigma (px) of a wide Gaussian whose weight is subtracted from the spectrum weight (a
        /// difference-of-Gaussians on the correlation surface): suppresses the lowest frequencies,
        /// where flat-field shading that is the same in every tile lives. 0 = off (no measurable
        /// effect on the shared test sets at 4, 8 or 20 px).
        public var correlationHighPassSigma: Double
        /// Inner sigma of the score band-pass (noise suppression).
        public var scoreInnerSigma: Double
        /// Outer sigma of the score band-pass (removes shading and large-scale intensity).
        public var scoreOuterSigma: Double

        /// Creates options; the defaults suit 8-16 bit fluorescence tiles.
        public init(
            maxShift: Int = 15, upsampleFactor: Int = 20, correlationSigma: Double = 1.0,
            correlationHighPassSigma: Double = 0, normalizationExponent: Double = 1.0, nccCheckRadius: Int = 2,
            scoreInnerSigma: Double = 1.0, scoreOuterSigma: Double = 6.0
        ) {
            self.maxShift = maxShift
            self.upsampleFactor = upsampleFactor
            self.correlationSigma = correlationSigma
            self.correlationHighPassSigma = correlationHighPassSigma
            self.normalizationExponent = normalizationExponent
            self.nccCheckRadius = nccCheckRadius
            self.scoreInnerSigma = scoreInnerSigma
            self.scoreOuterSigma = scoreOuterSigma
        }
    }

    /// The outcome of one registration.
    public struct Result: Sendable, Hashable {
        /// Shift along y: `b(y, x) ≈ a(y - dy, x - dx)`, i.e. content of `a` appears `dy` rows lower in `b`.
        public var dy: Double
        /// Shift along x (same convention as ``dy``).
        public var dx: Double
        /// Normalized cross-correlation of the band-passed windows at the shift, in [-1, 1].
        public var score: Double
        /// Height of the (smoothed) phase-correlation peak; 1 would be a perfect cyclic shift.
        public var peak: Double
    }

    /// Registers `b` against `a` (equal sizes, at least 4x4).
    ///
    /// - Returns: The shift with `b(y, x) ≈ a(y - dy, x - dx)`, its score and peak height.
    /// - Throws: ``StitchingError`` `.sizeMismatch` when the windows differ in size, `.tooSmall`
    ///   when they are below 4x4, `.invalidParameter` for an option out of range (negative
    ///   `maxShift` or sigma, `upsampleFactor` below 1, `normalizationExponent` outside [0, 1]).
    public static func register(a: Image<Float>, b: Image<Float>, options: Options = Options()) throws(StitchingError)
        -> Result
    {
        guard a.width == b.width, a.height == b.height else {
            throw StitchingError(
                code: .sizeMismatch,
                message: "windows must have equal sizes, found \(a.width)x\(a.height) and \(b.width)x\(b.height)")
        }
        guard a.width >= 4, a.height >= 4 else {
            throw StitchingError(code: .tooSmall, message: "windows must be at least 4x4, found \(a.width)x\(a.height)")
        }
        guard options.maxShift >= 0, options.upsampleFactor >= 1, options.correlationSigma >= 0,
            options.correlationHighPassSigma >= 0, (0...1).contains(options.normalizationExponent),
            options.nccCheckRadius >= 0, options.scoreInnerSigma >= 0, options.scoreOuterSigma >= 0
        else {
            throw StitchingError(
                code: .invalidParameter,
                message:
                    "expected maxShift ≥ 0, upsampleFactor ≥ 1, sigmas ≥ 0, 0 ≤ normalizationExponent ≤ 1, nccCheckRadius ≥ 0; found \(options)"
            )
        }
        var first = correlate(a: a, b: b, options: options)
        var dy = first.dy
        var dx = first.dx
        // Second pass: the fixed Hann window biases large shifts toward zero (≈0.1 px at 13 px in a
        // 90 px window), so the windows are cut to their common part at the integer shift and the
        // small residual is measured again.
        let iy = Int(dy.rounded())
        let ix = Int(dx.rounded())
        if options.upsampleFactor > 1, iy != 0 || ix != 0, a.height - abs(iy) >= 8, a.width - abs(ix) >= 8 {
            let h = a.height - abs(iy)
            let w = a.width - abs(ix)
            // b(y, x) ≈ a(y - iy, x - ix): b's row y pairs with a's row y - iy.
            let ca = cut(a, y: max(0, -iy), x: max(0, -ix), height: h, width: w)
            let cb = cut(b, y: max(0, iy), x: max(0, ix), height: h, width: w)
            var fine = options
            fine.maxShift = 2
            let residual = correlate(a: ca, b: cb, options: fine)
            dy = Double(iy) + residual.dy
            dx = Double(ix) + residual.dx
        }
        // Guard against a phase-correlation peak locked one pixel off (seen on sparse, noisy DAPI
        // overlaps, where every frequency gets the same weight although most are noise): the
        // band-passed NCC is evaluated on the integer grid ±nccCheckRadius around the result; if
        // its maximum lies more than 0.75 px away (on either axis), that maximum wins, refined per axis by a
        // Gaussian (log-parabola) fit through the NCC values.
        let fa = bandPass(a.plane(0), inner: options.scoreInnerSigma, outer: options.scoreOuterSigma)
        let fb = bandPass(b.plane(0), inner: options.scoreInnerSigma, outer: options.scoreOuterSigma)
        if options.nccCheckRadius > 0 {
            let cy = Int(dy.rounded())
            let cx = Int(dx.rounded())
            let r = options.nccCheckRadius
            let side = 2 * r + 3
            // NCC on the (2r+1)² grid; the outer ring is evaluated only if the vertex fit needs it.
            var grid = [Double](repeating: .nan, count: side * side)
            var best = -Double.infinity
            var by = cy
            var bx = cx
            for oy in -r...r {
                for ox in -r...r {
                    let v = pearson(fa, fb, dy: Double(cy + oy), dx: Double(cx + ox))
                    grid[(oy + r + 1) * side + ox + r + 1] = v
                    if v > best {
                        best = v
                        by = cy + oy
                        bx = cx + ox
                    }
                }
            }
            // Only a clear disagreement counts: near a half-pixel shift the two estimators may
            // round to different integers while both are right, and phase correlation is the
            // more precise sub-pixel estimator then.
            if abs(Double(by) - dy) > 0.75 || abs(Double(bx) - dx) > 0.75 {
                func value(_ y: Int, _ x: Int) -> Double {
                    let k = (y - cy + r + 1) * side + x - cx + r + 1
                    if grid[k].isNaN { grid[k] = pearson(fa, fb, dy: Double(y), dx: Double(x)) }
                    return grid[k]
                }
                // Gaussian peak fit (parabola through the logs) when all three are positive: a
                // smooth correlation peak is close to Gaussian, and a plain parabola is biased
                // toward the integer sample.
                func vertex(_ m0: Double, _ c0: Double, _ p0: Double) -> Double {
                    let useLog = m0 > 0 && c0 > 0 && p0 > 0
                    let m = useLog ? log(m0) : m0
                    let c = useLog ? log(c0) : c0
                    let p = useLog ? log(p0) : p0
                    let d = m - 2 * c + p
                    return d < 0 ? min(0.5, max(-0.5, 0.5 * (m - p) / d)) : 0
                }
                dy = Double(by) + vertex(value(by - 1, bx), best, value(by + 1, bx))
                dx = Double(bx) + vertex(value(by, bx - 1), best, value(by, bx + 1))
            }
        }
        first.dy = dy
        first.dx = dx
        first.score = pearson(fa, fb, dy: dy, dx: dx)
        return first
    }

    /// A copy of the window `height` x `width` at (y, x) of a single-channel image.
    static func cut(_ image: Image<Float>, y: Int, x: Int, height: Int, width: Int) -> Image<Float> {
        var out = [Float](repeating: 0, count: height * width)
        image.withUnsafeBufferPointer { src in
            for r in 0..<height {
                for c in 0..<width { out[r &* width &+ c] = src[(y &+ r) &* image.width &+ x &+ c] }
            }
        }
        return Image(width: width, height: height, repeating: 0).replacing(out)
    }

    /// One phase-correlation pass (steps 1-4); the score is left 0.
    static func correlate(a: Image<Float>, b: Image<Float>, options: Options) -> Result {
        // A window just too long for a power-of-two transform (with its padding) loses a few
        // rows or columns at both ends instead, when at least 80 % of it stays: the transform
        // is then half as long. The Hann window gives those edges little weight anyway, and
        // cutting both windows the same way leaves their relative shift unchanged.
        func trimmed(_ n: Int, _ shift: Int) -> Int {
            let m = min(shift, n - 1)
            let smaller = FFTPlan.fastSize(n + m) / 2 - m
            return smaller >= 16 && 5 * smaller >= 4 * n && smaller < n ? smaller : n
        }
        let th = trimmed(a.height, options.maxShift), tw = trimmed(a.width, options.maxShift)
        if th != a.height || tw != a.width {
            let y = (a.height - th) / 2, x = (a.width - tw) / 2
            return correlate(
                a: cut(a, y: y, x: x, height: th, width: tw), b: cut(b, y: y, x: x, height: th, width: tw),
                options: options)
        }
        let h = a.height
        let w = a.width
        let my = min(options.maxShift, h - 1)
        let mx = min(options.maxShift, w - 1)
        let ny = FFTPlan.fastSize(h + my)
        let nx = FFTPlan.fastSize(w + mx)
        let fft = FFT2D(width: nx, height: ny)
        // Both windows are real: one complex transform of a + i·b gives both spectra,
        // A[k] = (Z[k] + conj(Z[-k])) / 2 and B[k] = (Z[k] - conj(Z[-k])) / 2i.
        var z = ComplexPlane(width: nx, height: ny)
        paddedWindow(a.plane(0), into: &z.re, nx: nx)
        paddedWindow(b.plane(0), into: &z.im, nx: nx)
        fft.forward(&z, nonZeroRows: h)

        // Normalized cross-power spectrum conj(A)·B with Gaussian weighting; Nyquist rows/columns
        // zeroed so the upsampled DFT (signed frequencies) and the FFT agree. The weight
        // exp(-s2·f²) [- exp(-hp·f²)] is separable in fy and fx, so it comes from 1-D tables.
        var spectrum = ComplexPlane(width: nx, height: ny)
        let s2 = 2 * Double.pi * Double.pi * options.correlationSigma * options.correlationSigma
        let hp =
            options.correlationHighPassSigma > options.correlationSigma
            ? 2 * Double.pi * Double.pi * options.correlationHighPassSigma * options.correlationHighPassSigma : 0
        func table(_ n: Int, _ c: Double) -> [Double] {
            (0..<n).map { k in
                if n > 1 && 2 * k == n { return 0 }  // Nyquist
                let f = Double(signedFrequency(k, n)) / Double(n)
                return exp(-c * f * f)
            }
        }
        let gy = table(ny, s2), gx = table(nx, s2)
        let hy = hp > 0 ? table(ny, hp) : [], hx = hp > 0 ? table(nx, hp) : []
        let nyquistY = ny > 1 && ny % 2 == 0 ? ny / 2 : -1, nyquistX = nx > 1 && nx % 2 == 0 ? nx / 2 : -1
        var maxMagnitude = 0.0
        spectrum.re.withUnsafeMutableBufferPointer { sr in
            spectrum.im.withUnsafeMutableBufferPointer { si in
                z.re.withUnsafeBufferPointer { zr in
                    z.im.withUnsafeBufferPointer { zi in
                        var largest = 0.0
                        for ky in 0..<ny {
                            let row = ky &* nx
                            let mirrorRow = (ky == 0 ? 0 : ny &- ky) &* nx
                            for kx in 0..<nx {
                                let i = row &+ kx
                                let j = mirrorRow &+ (kx == 0 ? 0 : nx &- kx)
                                let ar = 0.5 * (zr[i] + zr[j]), ai = 0.5 * (zi[i] - zi[j])
                                let br = 0.5 * (zi[i] + zi[j]), bi = 0.5 * (zr[j] - zr[i])
                                let r = ar * br + ai * bi
                                let m = -ai * br + ar * bi
                                sr[i] = r
                                si[i] = m
                                let q = r * r + m * m
                                if q > largest { largest = q }
                            }
                        }
                        maxMagnitude = largest.squareRoot()
                    }
                }
            }
        }
        let eps = max(maxMagnitude * 1e-12, Double.leastNormalMagnitude)
        let exponent = options.normalizationExponent
        // Magnitudes are scaled by the largest before the power so the peak height stays comparable.
        let maxMagnitudeSafe = max(maxMagnitude, Double.leastNormalMagnitude)
        var weightSum = 0.0
        spectrum.re.withUnsafeMutableBufferPointer { sr in
            spectrum.im.withUnsafeMutableBufferPointer { si in
                for ky in 0..<ny {
                    let row = ky &* nx
                    if ky == nyquistY {
                        for kx in 0..<nx {
                            sr[row &+ kx] = 0
                            si[row &+ kx] = 0
                        }
                        continue
                    }
                    for kx in 0..<nx {
                        let i = row &+ kx
                        if kx == nyquistX {
                            sr[i] = 0
                            si[i] = 0
                            continue
                        }
                        let weight = hp > 0 ? gy[ky] * gx[kx] - hy[ky] * hx[kx] : gy[ky] * gx[kx]
                        weightSum += weight
                        let mag = (sr[i] * sr[i] + si[i] * si[i]).squareRoot() + eps
                        let scale =
                            weight / (exponent == 1 ? mag : pow(mag / maxMagnitudeSafe, exponent) * maxMagnitudeSafe)
                        sr[i] *= scale
                        si[i] *= scale
                    }
                }
            }
        }
        // The upsampled refinement needs the spectrum afterwards; a whole-pixel pass does not.
        let upsample = options.upsampleFactor > 1
        var surface = upsample ? spectrum : ComplexPlane(width: 1, height: 1)
        // Only the rows of shifts within ±my are searched: the other rows are not finished.
        let searched = 2 * my + 1 >= ny ? [0..<ny] : [0..<(my + 1), (ny - my)..<ny]
        if upsample {
            fft.inverse(&surface, onlyRows: searched)
        } else {
            fft.inverse(&spectrum, onlyRows: searched)
            swap(&surface, &spectrum)
        }
        // Normalize so that a perfect cyclic shift would give a peak of 1.
        let norm = Double(nx * ny) / max(weightSum, 1e-300)

        var best = -Double.infinity
        var by = 0
        var bx = 0
        for dy in -my...my {
            let row = ((dy % ny) + ny) % ny
            for dx in -mx...mx {
                let col = ((dx % nx) + nx) % nx
                let v = surface.re[row * nx + col]
                if v > best {
                    best = v
                    by = dy
                    bx = dx
                }
            }
        }
        let (fy, fx) = refine(spectrum: spectrum, peakY: by, peakX: bx, factor: options.upsampleFactor)
        return Result(dy: Double(by) + fy, dx: Double(bx) + fx, score: 0, peak: best * norm)
    }

    /// Signed frequency index of bin `k` of an `n`-point transform.
    @inline(__always)
    static func signedFrequency(_ k: Int, _ n: Int) -> Int { k <= (n - 1) / 2 ? k : k - n }

    /// Writes the mean-removed, Hann-windowed `image` into the top-left corner of `dst` (rows of
    /// `nx`, already zero).
    static func paddedWindow(_ image: Image<Float>, into dst: inout [Double], nx: Int) {
        let h = image.height
        let w = image.width
        let hy = hann(h)
        let hx = hann(w)
        image.withUnsafeBufferPointer { src in
            var mean = 0.0
            for v in src { mean += Double(v) }
            mean /= Double(src.count)
            dst.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let wy = hy[y]
                    for x in 0..<w {
                        dst[y &* nx &+ x] = (Double(src[y &* w &+ x]) - mean) * wy * hx[x]
                    }
                }
            }
        }
    }

    /// Symmetric Hann window of length `n` that is 0 only outside the window (`sin²(π(i+1)/(n+1))`).
    static func hann(_ n: Int) -> [Double] {
        (0..<n).map { i in
            let s = sin(Double.pi * Double(i + 1) / Double(n + 1))
            return s * s
        }
    }

    /// Sub-pixel offset (each in (-1, 1)) of the correlation maximum near the integer peak.
    ///
    /// The correlation is evaluated from the spectrum by matrix DFTs, in two stages: a 1/4-px grid
    /// over ±1 px, then a `1/factor` grid over ±1/4 px around its best sample, and a parabola
    /// through the fine maximum and its neighbours. (One `1/factor` grid over ±1 px gives the
    /// same maximum; two stages need about half the work.)
    static func refine(spectrum: ComplexPlane, peakY: Int, peakX: Int, factor: Int) -> (Double, Double) {
        guard factor > 1 else { return (0, 0) }
        let coarseStep = 0.25
        let coarse = (-4...4).map { Double($0) * coarseStep }
        let (cy, cx, _) = bestSample(
            upsampled(spectrum, ys: coarse.map { Double(peakY) + $0 }, xs: coarse.map { Double(peakX) + $0 }),
            count: coarse.count)
        let half = max(1, Int((coarseStep * Double(factor)).rounded(.up)))
        let fine = (-half...half).map { Double($0) / Double(factor) }
        let oy0 = coarse[cy], ox0 = coarse[cx]
        let values = upsampled(
            spectrum, ys: fine.map { Double(peakY) + oy0 + $0 }, xs: fine.map { Double(peakX) + ox0 + $0 })
        let count = fine.count
        let (bl, bm, best) = bestSample(values, count: count)
        func parabola(_ minus: Double, _ center: Double, _ plus: Double) -> Double {
            let denom = minus - 2 * center + plus
            guard denom < 0 else { return 0 }
            return min(0.5, max(-0.5, 0.5 * (minus - plus) / denom))
        }
        var oy = oy0 + fine[bl]
        var ox = ox0 + fine[bm]
        if bl > 0 && bl < count - 1 {
            oy += parabola(values[(bl - 1) * count + bm], best, values[(bl + 1) * count + bm]) / Double(factor)
        }
        if bm > 0 && bm < count - 1 {
            ox += parabola(values[bl * count + bm - 1], best, values[bl * count + bm + 1]) / Double(factor)
        }
        return (min(max(oy, -1), 1), min(max(ox, -1), 1))
    }

    /// Row and column of the largest of `count × count` values (the centre on ties with it).
    static func bestSample(_ values: [Double], count: Int) -> (Int, Int, Double) {
        var bl = count / 2
        var bm = count / 2
        var best = values[bl * count + bm]
        for l in 0..<count {
            for m in 0..<count where values[l * count + m] > best {
                best = values[l * count + m]
                bl = l
                bm = m
            }
        }
        return (bl, bm, best)
    }

    /// The inverse transform of `spectrum` (real part, unnormalized) at the points `ys × xs`
    /// (row-major, `ys.count × xs.count`; `ys.count == xs.count`), by two matrix DFTs.
    static func upsampled(_ spectrum: ComplexPlane, ys: [Double], xs: [Double]) -> [Double] {
        let ny = spectrum.height
        let nx = spectrum.width
        let count = xs.count
        // T[ky][m] = Σ_kx S[ky,kx]·exp(+2πi·kx·x_m/nx)
        var tRe = [Double](repeating: 0, count: ny * count)
        var tIm = tRe
        var eRe = [Double](repeating: 0, count: count * nx)
        var eIm = eRe
        for m in 0..<count {
            for kx in 0..<nx {
                let angle = 2 * Double.pi * Double(signedFrequency(kx, nx)) * xs[m] / Double(nx)
                eRe[m * nx + kx] = cos(angle)
                eIm[m * nx + kx] = sin(angle)
            }
        }
        spectrum.re.withUnsafeBufferPointer { sr in
            spectrum.im.withUnsafeBufferPointer { si in
                eRe.withUnsafeBufferPointer { er in
                    eIm.withUnsafeBufferPointer { ei in
                        tRe.withUnsafeMutableBufferPointer { tr in
                            tIm.withUnsafeMutableBufferPointer { ti in
                                for ky in 0..<ny {
                                    let row = ky &* nx
                                    for m in 0..<count {
                                        var accR = 0.0
                                        var accI = 0.0
                                        let e = m &* nx
                                        for kx in 0..<nx {
                                            let ar = sr[row &+ kx]
                                            let ai = si[row &+ kx]
                                            let br = er[e &+ kx]
                                            let bi = ei[e &+ kx]
                                            accR += ar * br - ai * bi
                                            accI += ar * bi + ai * br
                                        }
                                        tr[ky &* count &+ m] = accR
                                        ti[ky &* count &+ m] = accI
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var values = [Double](repeating: 0, count: ys.count * count)
        var cy = [Double](repeating: 0, count: ny)
        var sy = cy
        for l in 0..<ys.count {
            for ky in 0..<ny {
                let angle = 2 * Double.pi * Double(signedFrequency(ky, ny)) * ys[l] / Double(ny)
                cy[ky] = cos(angle)
                sy[ky] = sin(angle)
            }
            for m in 0..<count {
                var acc = 0.0
                for ky in 0..<ny {
                    // real part of exp(iθ)·T
                    acc += cy[ky] * tRe[ky &* count &+ m] - sy[ky] * tIm[ky &* count &+ m]
                }
                values[l * count + m] = acc
            }
        }
        return values
    }

    /// Band-pass (difference of Gaussians) of a single-channel image.
    static func bandPass(_ image: Image<Float>, inner: Double, outer: Double) -> Image<Float> {
        let fine = inner > 0 ? Filters.gaussian(image, sigma: inner) : image
        guard outer > 0 else { return fine }
        let coarse = Filters.gaussian(image, sigma: outer)
        var out = fine
        out.withUnsafeMutableBufferPointer { o in
            coarse.withUnsafeBufferPointer { c in
                for i in 0..<o.count { o[i] -= c[i] }
            }
        }
        return out
    }

    /// Pearson correlation of `fb(y, x)` and `fa(y - dy, x - dx)` (bilinear) where both exist; 0
    /// when fewer than 16 pixels overlap or a side is constant.
    static func pearson(_ fa: Image<Float>, _ fb: Image<Float>, dy: Double, dx: Double) -> Double {
        let h = fa.height
        let w = fa.width
        let iy = Int(floor(dy))
        let ix = Int(floor(dx))
        let ty = dy - Double(iy)
        let tx = dx - Double(ix)
        var n = 0.0
        var sa = 0.0
        var sb = 0.0
        var saa = 0.0
        var sbb = 0.0
        var sab = 0.0
        fa.withUnsafeBufferPointer { pa in
            fb.withUnsafeBufferPointer { pb in
                if ty == 0 && tx == 0 {
                    // Whole-pixel shift: b(y, x) pairs with a(y - iy, x - ix).
                    let y0 = max(0, iy), y1 = min(h, h + iy)
                    let x0 = max(0, ix), x1 = min(w, w + ix)
                    guard y1 > y0, x1 > x0 else { return }
                    for y in y0..<y1 {
                        let rowB = y &* w
                        let rowA = (y &- iy) &* w &- ix
                        var ra = 0.0, rb = 0.0, raa = 0.0, rbb = 0.0, rab = 0.0
                        for x in x0..<x1 {
                            let va = Double(pa[rowA &+ x])
                            let vb = Double(pb[rowB &+ x])
                            ra += va
                            rb += vb
                            raa += va * va
                            rbb += vb * vb
                            rab += va * vb
                        }
                        sa += ra
                        sb += rb
                        saa += raa
                        sbb += rbb
                        sab += rab
                    }
                    n = Double((y1 - y0) * (x1 - x0))
                    return
                }
                // a sample at (y - dy) = (y - iy - 1) + (1 - ty): rows y0 = y - iy - 1 and y0 + 1.
                for y in 0..<h {
                    let y0 = y &- iy &- 1
                    guard y0 >= 0, y0 &+ 1 < h else { continue }
                    for x in 0..<w {
                        let x0 = x &- ix &- 1
                        guard x0 >= 0, x0 &+ 1 < w else { continue }
                        let r0 = y0 &* w &+ x0
                        let v00 = Double(pa[r0])
                        let v01 = Double(pa[r0 &+ 1])
                        let v10 = Double(pa[r0 &+ w])
                        let v11 = Double(pa[r0 &+ w &+ 1])
                        // weight of the upper-left sample is ty (distance 1-ty from it), see above.
                        let va = ty * (tx * v00 + (1 - tx) * v01) + (1 - ty) * (tx * v10 + (1 - tx) * v11)
                        let vb = Double(pb[y &* w &+ x])
                        n += 1
                        sa += va
                        sb += vb
                        saa += va * va
                        sbb += vb * vb
                        sab += va * vb
                    }
                }
            }
        }
        guard n >= 16 else { return 0 }
        let cov = sab - sa * sb / n
        let va = saa - sa * sa / n
        let vb = sbb - sb * sb / n
        guard va > 0, vb > 0 else { return 0 }
        return cov / (va * vb).squareRoot()
    }
}

extension Image where Pixel == Float {
    /// The same image with its samples replaced by `pixels` (same count; internal helper).
    func replacing(_ pixels: [Float]) -> Image<Float> {
        var out = self
        out.withUnsafeMutableBufferPointer { dst in
            for i in 0..<dst.count { dst[i] = pixels[i] }
        }
        return out
    }
}
