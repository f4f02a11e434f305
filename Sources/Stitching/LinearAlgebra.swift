/// Small dense symmetric positive-definite solves (normal equations of the position and stage
/// model fits; sizes are the tile count, so dense is fine up to a few hundred tiles).
enum DenseSolver {
    /// Solves `M·x = rhs` for symmetric positive-definite `M` (row-major `n x n`) by Cholesky.
    ///
    /// - Returns: `nil` when a pivot falls below `relativeTolerance` times the largest diagonal
    ///   entry (the system is singular or nearly so).
    static func solveSPD(_ m: [Double], _ rhs: [[Double]], n: Int, relativeTolerance: Double = 1e-10) -> [[Double]]? {
        var l = [Double](repeating: 0, count: n * n)
        var maxDiag = 0.0
        for i in 0..<n { maxDiag = max(maxDiag, m[i * n + i]) }
        guard maxDiag > 0 else { return nil }
        for j in 0..<n {
            var d = m[j * n + j]
            for k in 0..<j { d -= l[j * n + k] * l[j * n + k] }
            guard d > relativeTolerance * maxDiag else { return nil }
            let ljj = d.squareRoot()
            l[j * n + j] = ljj
            for i in (j + 1)..<max(j + 1, n) {
                var s = m[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = s / ljj
            }
        }
        return rhs.map { b in
            var y = [Double](repeating: 0, count: n)
            for i in 0..<n {
                var s = b[i]
                for k in 0..<i { s -= l[i * n + k] * y[k] }
                y[i] = s / l[i * n + i]
            }
            var x = [Double](repeating: 0, count: n)
            for i in stride(from: n - 1, through: 0, by: -1) {
                var s = y[i]
                for k in (i + 1)..<max(i + 1, n) { s -= l[k * n + i] * x[k] }
                x[i] = s / l[i * n + i]
            }
            return x
        }
    }
}
