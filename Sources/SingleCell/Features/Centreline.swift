/// PhenoPixel's cell-aligned frame (§1.5 of the reference notes): the principal axes of the
/// pixel coordinates. `major` is the unit eigenvector of the larger covariance eigenvalue, its
/// sign fixed so that its x component is positive (or, when 0, its y component); `minor` is
/// `major` turned by +90°. Ties (isotropic covariance) take the x axis as major.
struct CellFrame {
    var meanX: Double
    var meanY: Double
    var majorX: Double
    var majorY: Double
    /// Population covariance eigenvalues, `lambdaMax >= lambdaMin >= 0`.
    var lambdaMax: Double
    var lambdaMin: Double

    init(_ r: RegionPixels) {
        meanX = r.centroidX
        meanY = r.centroidY
        let sxx = r.centralXX, syy = r.centralYY, sxy = r.centralXY
        let half = (sxx + syy) / 2
        let root = (((sxx - syy) / 2) * ((sxx - syy) / 2) + sxy * sxy).squareRoot()
        lambdaMax = max(0, half + root)
        lambdaMin = max(0, half - root)
        var ex: Double, ey: Double
        if sxy == 0 {
            (ex, ey) = sxx >= syy ? (1, 0) : (0, 1)
        } else if sxx >= syy {
            (ex, ey) = (lambdaMax - syy, sxy)
        } else {
            (ex, ey) = (sxy, lambdaMax - sxx)
        }
        let norm = (ex * ex + ey * ey).squareRoot()
        ex /= norm
        ey /= norm
        if ex < 0 || (ex == 0 && ey < 0) {
            ex = -ex
            ey = -ey
        }
        majorX = ex
        majorY = ey
    }

    /// pyama's `aspect_ratio`: √λmax / √λmin of the pixel-coordinate covariance, 1 when λmin = 0.
    var aspectRatio: Double { lambdaMin == 0 ? 1 : (lambdaMax / lambdaMin).squareRoot() }
}

/// The polynomial `u2 ≈ f(u1)` of PhenoPixel's centreline, stored in the scaled variable
/// `τ = t / scale` (t = mean-centred `u1`) with monomial coefficients, lowest power first.
struct CentrelinePolynomial {
    var coefficients: [Double]
    var scale: Double

    /// Least squares over all points, degree at most `degree`: normal equations in the Legendre
    /// basis of τ ∈ [−1, 1] (well conditioned), lowering the degree while the system is
    /// singular (fewer distinct `u1` than coefficients). Returns nil without points or range.
    init?(u: UnsafePointer<Double>, v: UnsafePointer<Double>, count n: Int, degree: Int, scale: Double) {
        guard n > 0, scale > 0 else { return nil }
        let k = degree
        let m = k &+ 1
        var gram = [Double](repeating: 0, count: m &* m)
        var rhs = [Double](repeating: 0, count: m)
        let inv = 1 / scale
        // Recurrence factors of P_{j+1} = ((2j+1)·τ·P_j − j·P_{j−1}) / (j+1).
        var alpha = [Double](repeating: 0, count: m), beta = [Double](repeating: 0, count: m)
        for j in 1..<max(m, 1) {
            alpha[j] = Double(2 &* j &+ 1) / Double(j &+ 1)
            beta[j] = Double(j) / Double(j &+ 1)
        }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: m) { basisBuffer in
            let basis = basisBuffer.baseAddress!
            gram.withUnsafeMutableBufferPointer { gb in
                rhs.withUnsafeMutableBufferPointer { rb in
                    alpha.withUnsafeBufferPointer { ab in
                        beta.withUnsafeBufferPointer { bb in
                            let g = gb.baseAddress!, r = rb.baseAddress!, al = ab.baseAddress!, be = bb.baseAddress!
                            for i in 0..<n {
                                let tau = u[i] * inv
                                basis[0] = 1
                                if m > 1 { basis[1] = tau }
                                var j = 1
                                while j &+ 1 < m {
                                    basis[j &+ 1] = al[j] * tau * basis[j] - be[j] * basis[j &- 1]
                                    j &+= 1
                                }
                                let vi = v[i]
                                for a in 0..<m {
                                    let pa = basis[a]
                                    r[a] += pa * vi
                                    let row = g + a &* m
                                    for b in a..<m { row[b] += pa * basis[b] }
                                }
                            }
                        }
                    }
                }
            }
        }
        for a in 0..<m { for b in 0..<a { gram[a &* m &+ b] = gram[b &* m &+ a] } }
        var effective = m
        var legendre: [Double]? = nil
        while effective >= 1 {
            if let c = Self.solve(gram, rhs, size: effective, rowStride: m) {
                legendre = c
                break
            }
            effective &-= 1
        }
        guard let legendre else { return nil }
        // Legendre → monomial coefficients of τ.
        var mono = [Double](repeating: 0, count: effective)
        var previous = [Double](repeating: 0, count: effective &+ 1)
        var current = [Double](repeating: 0, count: effective &+ 1)
        current[0] = 1
        for j in 0..<effective {
            if j == 1 {
                previous = current
                current = [Double](repeating: 0, count: effective &+ 1)
                current[1] = 1
            } else if j > 1 {
                var next = [Double](repeating: 0, count: effective &+ 1)
                let jj = Double(j &- 1)
                for p in 0..<effective {
                    if p >= 1 { next[p] += (2 * jj + 1) * current[p &- 1] / (jj + 1) }
                    next[p] -= jj * previous[p] / (jj + 1)
                }
                previous = current
                current = next
            }
            for p in 0..<effective { mono[p] += legendre[j] * current[p] }
        }
        coefficients = mono
        self.scale = scale
    }

    /// Gaussian elimination with partial pivoting on the leading `size × size` block; nil when a
    /// pivot is negligible relative to the diagonal.
    private static func solve(_ gram: [Double], _ rhs: [Double], size: Int, rowStride: Int) -> [Double]? {
        var a = [Double](repeating: 0, count: size &* size)
        var b = Array(rhs[0..<size])
        var scale = 0.0
        for r in 0..<size {
            for c in 0..<size { a[r &* size &+ c] = gram[r &* rowStride &+ c] }
            scale = max(scale, abs(gram[r &* rowStride &+ r]))
        }
        guard scale > 0 else { return nil }
        for col in 0..<size {
            var pivot = col
            for r in (col &+ 1)..<size where abs(a[r &* size &+ col]) > abs(a[pivot &* size &+ col]) { pivot = r }
            if abs(a[pivot &* size &+ col]) <= 1e-11 * scale { return nil }
            if pivot != col {
                for c in 0..<size { a.swapAt(col &* size &+ c, pivot &* size &+ c) }
                b.swapAt(col, pivot)
            }
            let p = a[col &* size &+ col]
            for r in (col &+ 1)..<size {
                let f = a[r &* size &+ col] / p
                if f == 0 { continue }
                for c in col..<size { a[r &* size &+ c] -= f * a[col &* size &+ c] }
                b[r] -= f * b[col]
            }
        }
        var x = [Double](repeating: 0, count: size)
        for r in stride(from: size &- 1, through: 0, by: -1) {
            var acc = b[r]
            for c in (r &+ 1)..<size { acc -= a[r &* size &+ c] * x[c] }
            x[r] = acc / a[r &* size &+ r]
        }
        return x
    }
}

/// Foot points of PhenoPixel's centreline: for each pixel `(a, b)` in the cell frame, the `t`
/// in `[tMin, tMax]` minimising `(t − a)² + (f(t) − b)²`.
struct FootPointSolver {
    let coefficients: [Double]
    let inverseScale: Double
    let tMin: Double
    let tMax: Double

    init(_ p: CentrelinePolynomial, tMin: Double, tMax: Double) {
        coefficients = p.coefficients
        inverseScale = 1 / p.scale
        self.tMin = tMin
        self.tMax = tMax
    }

    /// `f(t), f′(t), f″(t)`.
    @inline(__always)
    func evaluate(_ c: UnsafePointer<Double>, _ t: Double) -> (Double, Double, Double) {
        let k = coefficients.count &- 1
        let tau = t * inverseScale
        var p = c[k], d1 = 0.0, d2 = 0.0
        var i = k &- 1
        while i >= 0 {
            d2 = d2 * tau + d1
            d1 = d1 * tau + p
            p = p * tau + c[i]
            i &-= 1
        }
        return (p, d1 * inverseScale, 2 * d2 * inverseScale * inverseScale)
    }

    /// Computes the foot point of every pixel into `foot`.
    ///
    /// Where `h′(t) = 1 + f′² + (f − b)·f″` stays positive over the whole range (checked on a
    /// ¼-px grid with margin; linear in `b`, so it holds for an interval of `b`,
    /// ``convexInterval(_:)``), the squared distance is convex in `t` and its minimiser is the
    /// unique root of `h = (t − a) + (f − b)·f′` (or an end of the range), found by safeguarded
    /// Newton iteration. Pixels outside that interval are solved by ``sampledFoot(_:_:a:b:)``: a
    /// branch and bound over the curve sampled every ½ px, refining every sampled local minimum
    /// it cannot rule out and keeping the best of these, `t = a` and the range ends (PhenoPixel's
    /// candidates). Minima whose basin is narrower than the ½-px sampling can be missed; their
    /// distance then differs from the one found by far less than a pixel.
    func solve(
        u: UnsafePointer<Double>, v: UnsafePointer<Double>, count n: Int, foot: UnsafeMutablePointer<Double>,
        scratch: FeatureScratch
    ) {
        coefficients.withUnsafeBufferPointer { cb in
            let c = cb.baseAddress!
            let convex = convexInterval(c)
            let (f0, d0, _) = evaluate(c, tMin)
            let (f1, d1, _) = evaluate(c, tMax)
            var samples: CurveSamples? = nil
            for i in 0..<n {
                let a = u[i], b = v[i]
                if b > convex.lower && b < convex.upper {
                    if (tMin - a) + (f0 - b) * d0 >= 0 {
                        foot[i] = tMin
                    } else if (tMax - a) + (f1 - b) * d1 <= 0 {
                        foot[i] = tMax
                    } else {
                        foot[i] = root(c, a: a, b: b, lo: tMin, hi: tMax, start: a).t
                    }
                } else {
                    if samples == nil { samples = prepareSamples(c, scratch: scratch) }
                    foot[i] = sampledFoot(c, samples!, a: a, b: b)
                }
            }
        }
    }

    /// The open interval of `b` for which `h′(t) = A(t) − b·B(t) ≥ 0.05` at every ¼-px grid point
    /// of the range, with `A = 1 + f′² + f·f″` and `B = f″` (empty when some `A` fails where
    /// `B = 0`).
    func convexInterval(_ c: UnsafePointer<Double>) -> (lower: Double, upper: Double) {
        if coefficients.count <= 2 { return (-.infinity, .infinity) }  // a line: h′ = 1 + f′² > 0
        let margin = 0.05
        let span = tMax - tMin
        let steps = min(max(Int((span / 0.25).rounded(.up)), 1), 20_000)
        var lower = -Double.infinity, upper = Double.infinity
        for s in 0...steps {
            let t = s == steps ? tMax : tMin + span * Double(s) / Double(steps)
            let (f, d1, d2) = evaluate(c, t)
            let slack = 1 + d1 * d1 + f * d2 - margin  // need slack − b·d2 ≥ 0
            if d2 > 0 {
                upper = min(upper, slack / d2)
            } else if d2 < 0 {
                lower = max(lower, slack / d2)
            } else if slack < 0 {
                return (0, 0)
            }
        }
        return (lower, upper)
    }

    /// Whether `h′ > 0` on `[tMin, tMax]` for every `b ∈ [vMin, vMax]` (every pixel takes the
    /// Newton path).
    func isConvex(_ c: UnsafePointer<Double>, vMin: Double, vMax: Double) -> Bool {
        let interval = convexInterval(c)
        return interval.lower < vMin && vMax < interval.upper
    }

    /// A root of `h` in `[lo, hi]` where `h(lo) < 0 < h(hi)`: Newton steps kept inside the
    /// shrinking bracket, bisection when a step leaves it. Returns the root and `f` there (from
    /// the last evaluation, within the 1e-12 tolerance of the root).
    @inline(__always)
    private func root(
        _ c: UnsafePointer<Double>, a: Double, b: Double, lo: Double, hi: Double, start: Double
    ) -> (t: Double, f: Double) {
        var lo = lo, hi = hi
        var t = min(max(start, lo), hi)
        for _ in 0..<80 {
            let (f, d1, d2) = evaluate(c, t)
            let h = (t - a) + (f - b) * d1
            if h == 0 { return (t, f) }
            if h < 0 { lo = t } else { hi = t }
            let dh = 1 + d1 * d1 + (f - b) * d2
            let step = h / dh
            let tolerance = 1e-12 * max(1, abs(t))
            // Converged: the Newton correction is below the tolerance (tested before the bracket,
            // whose end may be t itself by now).
            if dh > 0 && abs(step) <= tolerance { return (min(max(t - step, lo), hi), f) }
            var next = t - step
            if !(next > lo && next < hi) { next = 0.5 * (lo + hi) }
            if hi - lo <= tolerance { return (next, f) }
            t = next
        }
        return (t, evaluate(c, t).0)
    }

    /// Samples per bound segment of ``CurveSamples``.
    private static let segmentSamples = 8

    /// The curve sampled every ½ px (exact points `t, f(t), f′(t)`) and, per 4-px segment, the
    /// range of `f` widened by the segment's largest sample step. Pointers into the scratch.
    struct CurveSamples {
        var ts: UnsafeMutablePointer<Double>
        var fs: UnsafeMutablePointer<Double>
        var ds: UnsafeMutablePointer<Double>
        var bounds: UnsafeMutablePointer<Double>
        var steps: Int
        var step: Double
        var segments: Int
    }

    func prepareSamples(_ c: UnsafePointer<Double>, scratch: FeatureScratch) -> CurveSamples {
        let span = tMax - tMin
        let steps = min(max(Int((span / 0.5).rounded(.up)), 1), 20_000)
        let ts = scratch.curveT.reserve(steps &+ 1)
        let fs = scratch.curveF.reserve(steps &+ 1)
        let ds = scratch.curveD.reserve(steps &+ 1)
        for s in 0...steps {
            let t = s == steps ? tMax : tMin + span * Double(s) / Double(steps)
            let (f, d, _) = evaluate(c, t)
            ts[s] = t
            fs[s] = f
            ds[s] = d
        }
        let k = Self.segmentSamples
        let segments = (steps &+ k &- 1) / k
        let bounds = scratch.curveBounds.reserve(2 &* segments)
        for g in 0..<segments {
            let first = g &* k, last = min(first &+ k, steps)
            var lo = fs[first], hi = fs[first], jump = 0.0
            for j in first...last {
                lo = min(lo, fs[j])
                hi = max(hi, fs[j])
                if j > first { jump = max(jump, abs(fs[j] - fs[j &- 1])) }
            }
            bounds[2 &* g] = lo - jump
            bounds[2 &* g &+ 1] = hi + jump
        }
        return CurveSamples(
            ts: ts, fs: fs, ds: ds, bounds: bounds, steps: steps, step: span / Double(steps), segments: segments)
    }

    /// Foot points of every pixel by ``sampledFoot(_:_:a:b:)`` alone (the path non-convex pixels take).
    func sampledSolve(
        _ c: UnsafePointer<Double>, u: UnsafePointer<Double>, v: UnsafePointer<Double>, count n: Int,
        foot: UnsafeMutablePointer<Double>, scratch: FeatureScratch
    ) {
        let samples = prepareSamples(c, scratch: scratch)
        for i in 0..<n { foot[i] = sampledFoot(c, samples, a: u[i], b: v[i]) }
    }

    /// Global minimisation by branch and bound over the sampled curve. The pixel first descends
    /// from the sample nearest to `t = a` to a sampled local minimum and refines it; then every
    /// segment within reach whose lower bound `dist(a, t-range)² + dist(b, f-range)²` is below
    /// the best distance so far is scanned for sampled local minima, each refined by
    /// ``root(_:a:b:lo:hi:start:)`` between its neighbours.
    @inline(__always)
    func sampledFoot(_ c: UnsafePointer<Double>, _ curve: CurveSamples, a: Double, b: Double) -> Double {
        let ts = curve.ts, fs = curve.fs, ds = curve.ds, bounds = curve.bounds
        let steps = curve.steps, step = curve.step, segments = curve.segments
        let k = Self.segmentSamples
        @inline(__always) func sampled(_ j: Int) -> Double {
            (ts[j] - a) * (ts[j] - a) + (fs[j] - b) * (fs[j] - b)
        }
        let fa = evaluate(c, a).0
        var bestT = a
        var bestG = (fa - b) * (fa - b)
        // The samples are exact curve points: g and h there need no evaluation.
        @inline(__always) func refine(_ j: Int) {
            let jl = max(j &- 1, 0), jh = min(j &+ 1, steps)
            let dl = sampled(jl), dj = sampled(j), dh = sampled(jh)
            if dl < bestG { bestG = dl; bestT = ts[jl] }
            if dj < bestG { bestG = dj; bestT = ts[j] }
            if dh < bestG { bestG = dh; bestT = ts[jh] }
            let hl = (ts[jl] - a) + (fs[jl] - b) * ds[jl]
            let hh = (ts[jh] - a) + (fs[jh] - b) * ds[jh]
            if hl < 0 && hh > 0 {
                // Start at the vertex of the parabola through the three samples.
                var start = ts[j]
                let curvature = dl - 2 * dj + dh
                if jl < j && j < jh && curvature > 0 { start = ts[j] - 0.5 * step * (dh - dl) / curvature }
                let (t, f) = root(c, a: a, b: b, lo: ts[jl], hi: ts[jh], start: start)
                let d = (t - a) * (t - a) + (f - b) * (f - b)
                if d < bestG { bestG = d; bestT = t }
            }
        }
        // Descend from the sample nearest to a.
        var j = min(max(Int(((a - tMin) / step).rounded()), 0), steps)
        var gj = sampled(j)
        while j > 0 {
            let left = sampled(j &- 1)
            if left >= gj { break }
            j &-= 1
            gj = left
        }
        while j < steps {
            let right = sampled(j &+ 1)
            if right >= gj { break }
            j &+= 1
            gj = right
        }
        let descended = j
        refine(descended)
        // Branch and bound over the segments; those further than √best from a along t are out
        // of reach (their bound exceeds best), so only the ones around a are visited.
        let reach = bestG.squareRoot()
        let segmentWidth = step * Double(k)
        let gFirst = max(0, Int(((a - reach - tMin) / segmentWidth).rounded(.down)) &- 1)
        let gLast = min(segments &- 1, Int(((a + reach - tMin) / segmentWidth).rounded(.down)) &+ 1)
        for g in gFirst..<max(gFirst, gLast &+ 1) {
            let first = g &* k, last = min(first &+ k, steps)
            let t0 = ts[first], t1 = ts[last]
            let dt = a < t0 ? t0 - a : (a > t1 ? a - t1 : 0)
            let f0 = bounds[2 &* g], f1 = bounds[2 &* g &+ 1]
            let df = b < f0 ? f0 - b : (b > f1 ? b - f1 : 0)
            if dt * dt + df * df >= bestG { continue }
            var previous = first > 0 ? sampled(first &- 1) : Double.infinity
            var current = sampled(first)
            for s in first...last {
                let next = s < steps ? sampled(s &+ 1) : Double.infinity
                if current <= previous && current <= next && s != descended { refine(s) }
                previous = current
                current = next
            }
        }
        return bestT
    }
}
