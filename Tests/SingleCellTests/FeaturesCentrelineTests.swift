import Foundation
import Testing
@testable import SingleCell

/// PhenoPixel's foot points: both solver paths must return the global minimiser of
/// `(t − a)² + (f(t) − b)²` over `[tMin, tMax]`, checked against a dense brute-force scan.
@Suite struct FeaturesCentrelineTests {
    /// Cell-frame coordinates (mean-centred) of the pixels `inside(x, y)` in a box.
    static func frame(width: Int, height: Int, _ inside: (Int, Int) -> Bool) -> (u: [Double], v: [Double]) {
        var xs: [Double] = [], ys: [Double] = []
        for y in 0..<height { for x in 0..<width where inside(x, y) { xs.append(Double(x)); ys.append(Double(y)) } }
        let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
        // Both test shapes are elongated along x: the frame is the x axis.
        return (xs.map { $0 - mx }, ys.map { $0 - my })
    }

    /// Solves with `FootPointSolver.solve` and, separately, with the branch-and-bound path; both
    /// must reach the brute-force minimum distance. Returns whether the cell counted as convex.
    static func check(_ u: [Double], _ v: [Double], degree: Int = 4) -> Bool? {
        let n = u.count
        let tMin = u.min()!, tMax = u.max()!
        guard
            let polynomial = u.withUnsafeBufferPointer({ ub in
                v.withUnsafeBufferPointer { vb in
                    CentrelinePolynomial(
                        u: ub.baseAddress!, v: vb.baseAddress!, count: n, degree: degree, scale: max(-tMin, tMax))
                }
            })
        else {
            Issue.record("no polynomial")
            return nil
        }
        let solver = FootPointSolver(polynomial, tMin: tMin, tMax: tMax)
        let scratch = FeatureScratch()
        var foot = [Double](repeating: .nan, count: n)
        var sampled = [Double](repeating: .nan, count: n)
        var convex = false
        polynomial.coefficients.withUnsafeBufferPointer { cb in
            let c = cb.baseAddress!
            u.withUnsafeBufferPointer { ub in
                v.withUnsafeBufferPointer { vb in
                    foot.withUnsafeMutableBufferPointer { fb in
                        solver.solve(u: ub.baseAddress!, v: vb.baseAddress!, count: n, foot: fb.baseAddress!, scratch: scratch)
                    }
                    sampled.withUnsafeMutableBufferPointer { sb in
                        solver.sampledSolve(
                            c, u: ub.baseAddress!, v: vb.baseAddress!, count: n, foot: sb.baseAddress!, scratch: scratch)
                    }
                    convex = solver.isConvex(c, vMin: v.min()!, vMax: v.max()!)
                }
            }
            func g(_ t: Double, _ i: Int) -> Double {
                let f = solver.evaluate(c, t).0
                return (t - u[i]) * (t - u[i]) + (f - v[i]) * (f - v[i])
            }
            var worst = 0.0
            for i in 0..<n {
                var brute = min(g(tMin, i), g(tMax, i))
                var t = tMin
                while t < tMax {
                    brute = min(brute, g(t, i))
                    t += 0.002
                }
                #expect(foot[i] >= tMin && foot[i] <= tMax)
                // Never worse than the dense scan (whose own error is ≤ ~1e-6 px²).
                #expect(g(foot[i], i) <= brute + 1e-9, "pixel \(i): solve \(g(foot[i], i)) vs scan \(brute)")
                #expect(g(sampled[i], i) <= brute + 1e-9, "pixel \(i): sampled \(g(sampled[i], i)) vs scan \(brute)")
                worst = max(worst, abs(foot[i] - sampled[i]))
            }
            if convex { #expect(worst < 1e-9, "convex cell: both paths must agree, differ by \(worst)") }
        }
        return convex
    }

    @Test func straightRodIsConvexAndBothPathsAgree() {
        let (u, v) = Self.frame(width: 60, height: 20) { x, y in x >= 5 && x < 55 && y >= 7 && y < 13 }
        #expect(Self.check(u, v) == true)
    }

    @Test func kidneyIsSolvedGlobally() {
        // A strongly bent, thick kidney: the fitted quartic curves enough that far pixels see two
        // basins (the cell must take the branch-and-bound path).
        let (u, v) = Self.frame(width: 70, height: 60) { x, y in
            let dx = Double(x) - 35, dy = Double(y) - 20
            let r = (dx * dx + dy * dy).squareRoot()
            return r >= 12 && r <= 28 && dy > -4
        }
        #expect(Self.check(u, v) == false)
    }

    @Test func blobAndDegreeOne() {
        let (u, v) = Self.frame(width: 50, height: 40) { x, y in
            let dx = Double(x) - 25, dy = Double(y) - 20
            let angle = atan2(dy, dx)
            return (dx * dx) / 400 + (dy * dy) / 196 <= (1 + 0.12 * sin(5 * angle)) * (1 + 0.12 * sin(5 * angle))
        }
        _ = Self.check(u, v)
        #expect(Self.check(u, v, degree: 1) == true)  // a line: always convex
    }
}
