/// Contour smoothing and simplification on plain rings (no GEOS): py-lmd's circular moving
/// average and Ramer–Douglas–Peucker, applied to *closed* rings.
public enum RingProcessing {
    /// Circular moving average of window `window`: vertex `i` becomes the mean of vertices
    /// `i − window + 1 … i` (indices modulo the ring length), as py-lmd's wrap-around convolution.
    ///
    /// Unlike py-lmd, the result has exactly as many vertices as the input: py-lmd's "full"
    /// convolution appends `window − 1` vertices that retrace the start of the ring, which makes
    /// its rings overlap themselves. A window of 1 (or an empty ring) returns the input.
    public static func movingAverage(_ ring: [PixelPoint], window: Int) -> [PixelPoint] {
        let n = ring.count
        guard window > 1, n > 0 else { return ring }
        // Prefix sums over two laps make any window ≤ n a difference of two prefixes; longer
        // windows add whole laps.
        var pr = [Double](repeating: 0, count: 2 * n + 1)
        var pc = [Double](repeating: 0, count: 2 * n + 1)
        for k in 0..<(2 * n) {
            let p = ring[k % n]
            pr[k + 1] = pr[k] + p.row
            pc[k + 1] = pc[k] + p.column
        }
        let laps = window / n
        let rest = window % n
        let totalRow = pr[n]
        let totalCol = pc[n]
        let inv = 1.0 / Double(window)
        var out = [PixelPoint]()
        out.reserveCapacity(n)
        for i in 0..<n {
            // Window of `rest` vertices ending at i: indices i-rest+1 … i → prefix positions in lap 2.
            let end = i + n + 1
            let start = end - rest
            let sr = Double(laps) * totalRow + (pr[end] - pr[start])
            let sc = Double(laps) * totalCol + (pc[end] - pc[start])
            out.append(PixelPoint(row: sr * inv, column: sc * inv))
        }
        return out
    }

    /// Ramer–Douglas–Peucker on a closed ring with tolerance `epsilon` (pixels).
    ///
    /// Vertex 0 and the vertex farthest from it anchor the ring; each half is simplified as an open
    /// polyline with py-lmd's rule (see ``simplifyPolyline(_:epsilon:)``). `epsilon = 0` removes
    /// only exactly collinear vertices.
    public static func simplify(_ ring: [PixelPoint], epsilon: Double) -> [PixelPoint] {
        let n = ring.count
        guard n > 3 else { return ring }
        // The open polyline 0 … n (vertex n = vertex 0) has coinciding ends, so the first split
        // falls on the vertex farthest from vertex 0.
        let kept = simplifyPolyline(ring + [ring[0]], epsilon: epsilon)
        return kept.filter { $0 < n }.map { ring[$0] }
    }

    /// Smooths a traced ring and simplifies it the way py-lmd 1.6.1 does, but returns a simple
    /// closed ring.
    ///
    /// py-lmd runs RDP on its "over-closed" polyline: the `n` averaged vertices followed by the
    /// first `window − 1` of them again, with both ends fixed. The repeated tail lies on top of the
    /// ring's start and adds no area, but it decides which vertices RDP keeps. We run RDP on the
    /// same polyline (so the kept vertices match py-lmd's) and return only the first lap.
    /// - Parameters:
    ///   - ring: The traced boundary, starting where py-lmd's chain starts (its top-left corner).
    ///   - window: `convolution_smoothing` (1 = no smoothing).
    ///   - epsilon: `rdp_epsilon` in pixels.
    public static func smoothAndSimplify(_ ring: [PixelPoint], window: Int, epsilon: Double) -> [PixelPoint] {
        let smoothed = movingAverage(ring, window: window)
        let n = smoothed.count
        guard n > 3 else { return smoothed }
        var polyline = smoothed
        if window > 1 {
            polyline.reserveCapacity(n + window - 1)
            for i in 0..<(window - 1) { polyline.append(smoothed[i % n]) }
        }
        var ring = simplifyPolyline(polyline, epsilon: epsilon).filter { $0 < n }.map { smoothed[$0] }
        // py-lmd keeps both ends of its open polyline (the "seam" of our ring); keep them too, so
        // the vertices match py-lmd's, except where they are exactly collinear with their ring
        // neighbours (a straight edge through the seam).
        for _ in 0..<2 where ring.count > 3 {
            let last = ring.count - 1
            if distanceToLine(ring[last], ring[last - 1], ring[0]) <= 1e-12 {
                ring.removeLast()
            } else if distanceToLine(ring[0], ring[last], ring[1]) <= 1e-12 {
                ring.removeFirst()
            } else {
                break
            }
        }
        return ring
    }

    /// py-lmd's `_point_line_distance_2d`: distance from `p` to the infinite line through `a`
    /// and `b` (to `a` when they coincide), with numpy's operation order.
    static func distanceToLine(_ p: PixelPoint, _ a: PixelPoint, _ b: PixelPoint) -> Double {
        let lr = b.row - a.row
        let lc = b.column - a.column
        let len = (lr * lr + lc * lc).squareRoot()
        if len == 0 { return p.distance(to: a) }
        return abs(lr * (a.column - p.column) - lc * (a.row - p.row)) / len
    }

    /// Ramer–Douglas–Peucker on an open polyline (iterative, as the `rdp` package 0.8): both ends
    /// are kept; between two kept vertices the one farthest from the line through them (first
    /// maximum wins) is kept if its perpendicular distance is strictly greater than `epsilon`
    /// (point distance when the ends coincide).
    /// - Returns: Indices of the kept vertices, ascending.
    public static func simplifyPolyline(_ points: [PixelPoint], epsilon: Double) -> [Int] {
        let n = points.count
        guard n > 2 else { return Array(0..<n) }
        var keep = [Bool](repeating: false, count: n)
        keep[0] = true
        keep[n - 1] = true
        var stack: [(Int, Int)] = [(0, n - 1)]
        while let (s, e) = stack.popLast() {
            guard e - s > 1 else { continue }
            let p0 = points[s]
            let p1 = points[e]
            var maxD = -1.0
            var idx = s + 1
            for k in (s + 1)..<e {
                let d = distanceToLine(points[k], p0, p1)
                if d > maxD {
                    maxD = d
                    idx = k
                }
            }
            if maxD > epsilon {
                keep[idx] = true
                stack.append((idx, e))
                stack.append((s, idx))
            }
        }
        return (0..<n).filter { keep[$0] }
    }
}
