/// Orders shapes for cutting: Hilbert curve or nearest-neighbour construction, then 2-opt.
///
/// All functions work on plain points (shape centres), so any shape source (masks, XML files
/// from other tools) can be reordered. They return a permutation `order` meaning "visit
/// `points[order[0]]` first" — and callers must *apply* it as such (py-lmd 1.6.1 wrote the inverse
/// permutation; see docs/MICRODISSECTION.md).
public enum PathOrdering {
    /// Hilbert-curve order of `points` on a `2^p × 2^p` grid.
    ///
    /// As py-lmd: each axis is min–max normalised independently to `[0, 2^p − 1]` and rounded
    /// half-to-even. Points in the same cell are ordered along a finer Hilbert curve (order 16)
    /// instead of py-lmd's input order, then by input order. Unlike py-lmd, an axis with no
    /// extent (all points on one row or column) maps to 0 instead of dividing by zero.
    public static func hilbert(_ points: [PixelPoint], p: Int) -> [Int] {
        let n = points.count
        guard n > 1 else { return Array(0..<n) }
        let order = max(1, min(p, 31))
        let fineOrder = max(order, 16)
        func normaliser(_ values: [Double], _ side: Double) -> (Double) -> UInt64 {
            let lo = values.min()!
            let hi = values.max()!
            guard hi > lo else { return { _ in 0 } }
            return { v in UInt64(((v - lo) / (hi - lo) * side).rounded(.toNearestOrEven)) }
        }
        let rows = points.map(\.row)
        let cols = points.map(\.column)
        let side = Double((1 << order) - 1)
        let fineSide = Double((1 << fineOrder) - 1)
        let fr = normaliser(rows, side)
        let fc = normaliser(cols, side)
        let gr = normaliser(rows, fineSide)
        let gc = normaliser(cols, fineSide)
        let keys = points.map { pt in
            (
                hilbertIndex(x: fr(pt.row), y: fc(pt.column), order: order),
                hilbertIndex(x: gr(pt.row), y: gc(pt.column), order: fineOrder)
            )
        }
        return (0..<n).sorted { a, b in
            if keys[a].0 != keys[b].0 { return keys[a].0 < keys[b].0 }
            if keys[a].1 != keys[b].1 { return keys[a].1 < keys[b].1 }
            return a < b
        }
    }

    /// Distance along the Hilbert curve of order `order` of grid cell `(x, y)`.
    public static func hilbertIndex(x: UInt64, y: UInt64, order: Int) -> UInt64 {
        var x = x
        var y = y
        var d: UInt64 = 0
        var s: UInt64 = 1 << UInt64(order - 1)
        while s > 0 {
            let rx: UInt64 = (x & s) > 0 ? 1 : 0
            let ry: UInt64 = (y & s) > 0 ? 1 : 0
            d += s * s * ((3 * rx) ^ ry)
            // Rotate the quadrant.
            if ry == 0 {
                if rx == 1 {
                    let full = (UInt64(1) << UInt64(order)) - 1
                    x = full - x
                    y = full - y
                }
                swap(&x, &y)
            }
            s >>= 1
        }
        return d
    }

    /// Nearest-neighbour chain: start at `points[start]`, always move to the nearest unvisited
    /// point (ties: lowest index). Exact, using a uniform grid; O(n · neighbours).
    public static func greedy(_ points: [PixelPoint], start: Int = 0) -> [Int] {
        let n = points.count
        guard n > 1 else { return Array(0..<n) }
        var order = [start]
        order.reserveCapacity(n)
        var remaining = PointGrid(points)
        remaining.remove(start)
        var current = start
        for _ in 1..<n {
            let next = remaining.nearest(to: points[current], points: points)!
            remaining.remove(next)
            order.append(next)
            current = next
        }
        return order
    }

    /// Improves an open path by 2-opt moves (segment reversals) on k-nearest-neighbour candidate
    /// lists until no move shortens it (or a deterministic work budget is used up).
    ///
    /// - Parameters:
    ///   - order: The initial visiting order (a permutation of `points.indices`).
    ///   - neighbours: Candidate list size per point.
    /// - Returns: An order whose ``pathLength(_:order:)`` is never longer than the input's.
    public static func twoOpt(_ points: [PixelPoint], order: [Int], neighbours: Int = 10) -> [Int] {
        let n = order.count
        guard n > 3 else { return order }
        let k = min(neighbours, n - 1)
        let grid = PointGrid(points)
        let candidates = (0..<points.count).map { grid.kNearest(to: $0, k: k, points: points) }
        var tour = order
        var pos = [Int](repeating: 0, count: points.count)
        for (i, v) in tour.enumerated() { pos[v] = i }
        @inline(__always) func dist(_ a: Int, _ b: Int) -> Double { points[a].distance(to: points[b]) }
        func reverse(_ lo: Int, _ hi: Int) {
            var i = lo
            var j = hi
            while i < j {
                tour.swapAt(i, j)
                pos[tour[i]] = i
                pos[tour[j]] = j
                i += 1
                j -= 1
            }
            if i == j { pos[tour[i]] = i }
        }
        var budget = 200 * n + 5_000_000  // element moves, keeps runtime bounded and deterministic
        let maxSegment = max(1000, n / 10)
        var improved = true
        var rounds = 0
        while improved && budget > 0 && rounds < 50 {
            improved = false
            rounds += 1
            for i in 0..<n {
                let a = tour[i]
                // Successor direction: replace (a, succ a) and (c, succ c) by (a, c) and (succ a, succ c).
                if i + 1 < n {
                    let an = tour[i + 1]
                    let dA = dist(a, an)
                    for c in candidates[a] {
                        let dAC = dist(a, c)
                        if dAC >= dA { break }
                        let j = pos[c]
                        if j > i + 1 {
                            let gain: Double
                            if j + 1 < n {
                                let cn = tour[j + 1]
                                gain = dA + dist(c, cn) - dAC - dist(an, cn)
                            } else {
                                gain = dA - dAC  // c is the last point: reverse the tail
                            }
                            if gain > 1e-9 && j - i <= maxSegment {
                                reverse(i + 1, j)
                                budget -= j - i
                                improved = true
                                break
                            }
                        }
                    }
                }
                // Predecessor direction: replace (pred a, a) and (pred c, c) by (c, a) and (pred c, pred a).
                let ia = pos[a]
                if ia > 0 {
                    let ap = tour[ia - 1]
                    let dA = dist(ap, a)
                    for c in candidates[a] {
                        let dAC = dist(a, c)
                        if dAC >= dA { break }
                        let j = pos[c]
                        if j < ia - 1 {
                            let gain: Double
                            if j > 0 {
                                let cp = tour[j - 1]
                                gain = dA + dist(cp, c) - dAC - dist(cp, ap)
                            } else {
                                gain = dA - dAC  // c is the first point: reverse the head
                            }
                            if gain > 1e-9 && ia - j <= maxSegment {
                                reverse(j, ia - 1)
                                budget -= ia - j
                                improved = true
                                break
                            }
                        }
                    }
                }
                if budget <= 0 { break }
            }
        }
        return tour
    }

    /// Length of the open path visiting `points` in `order`.
    public static func pathLength(_ points: [PixelPoint], order: [Int]) -> Double {
        guard order.count > 1 else { return 0 }
        var total = 0.0
        for i in 1..<order.count { total += points[order[i - 1]].distance(to: points[order[i]]) }
        return total
    }

    /// Laser travel as lmdcompare.py defines it: the sum over consecutive rings of the distance from
    /// the last vertex of one to the first vertex of the next.
    public static func travel(_ rings: [[PixelPoint]]) -> Double {
        var total = 0.0
        var last: PixelPoint?
        for ring in rings {
            guard let first = ring.first else { continue }
            if let last { total += last.distance(to: first) }
            last = ring.last
        }
        return total
    }
}

/// A uniform grid over points for nearest-neighbour queries (with removal).
struct PointGrid {
    private var cells: [[Int]]
    private var cellOf: [Int]
    private let minRow: Double, minCol: Double, cellSize: Double
    private let rows: Int, cols: Int
    private var live: Int

    init(_ points: [PixelPoint]) {
        let n = max(points.count, 1)
        let r0 = points.map(\.row).min() ?? 0
        let r1 = points.map(\.row).max() ?? 0
        let c0 = points.map(\.column).min() ?? 0
        let c1 = points.map(\.column).max() ?? 0
        let extent = max(r1 - r0, c1 - c0, 1e-9)
        let perSide = max(1, Int((Double(n) / 2).squareRoot()))
        cellSize = max(extent / Double(perSide), 1e-9)
        minRow = r0
        minCol = c0
        rows = min(Int((r1 - r0) / cellSize) + 1, 1 << 15)
        cols = min(Int((c1 - c0) / cellSize) + 1, 1 << 15)
        cells = [[Int]](repeating: [], count: rows * cols)
        cellOf = [Int](repeating: 0, count: points.count)
        live = points.count
        for (i, p) in points.enumerated() {
            let cell = cellIndex(p)
            cells[cell].append(i)
            cellOf[i] = cell
        }
    }

    private func cellCoords(_ p: PixelPoint) -> (Int, Int) {
        (
            min(max(Int((p.row - minRow) / cellSize), 0), rows - 1),
            min(max(Int((p.column - minCol) / cellSize), 0), cols - 1)
        )
    }

    private func cellIndex(_ p: PixelPoint) -> Int {
        let (r, c) = cellCoords(p)
        return r * cols + c
    }

    mutating func remove(_ i: Int) {
        let cell = cellOf[i]
        if let k = cells[cell].firstIndex(of: i) {
            cells[cell].swapAt(k, cells[cell].count - 1)
            cells[cell].removeLast()
            live -= 1
        }
    }

    /// Nearest live point (ties: lowest index).
    func nearest(to q: PixelPoint, points: [PixelPoint]) -> Int? {
        guard live > 0 else { return nil }
        let (qr, qc) = cellCoords(q)
        var best: Int?
        var bestD = Double.infinity
        var ring = 0
        while true {
            var any = false
            for r in (qr - ring)...(qr + ring) where r >= 0 && r < rows {
                for c in (qc - ring)...(qc + ring) where c >= 0 && c < cols {
                    if max(abs(r - qr), abs(c - qc)) != ring { continue }
                    any = true
                    for i in cells[r * cols + c] {
                        let d = points[i].distance(to: q)
                        if d < bestD || (d == bestD && i < best!) {
                            bestD = d
                            best = i
                        }
                    }
                }
            }
            // Every unvisited cell is at least (ring) * cellSize away from q.
            if best != nil, Double(ring) * cellSize >= bestD { return best }
            if !any && ring > rows + cols { return best }
            ring += 1
        }
    }

    /// All points (live or not) within `radius` of `q`, ascending.
    func within(_ radius: Double, of q: PixelPoint, points: [PixelPoint]) -> [Int] {
        let (qr, qc) = cellCoords(q)
        let reach = Int((radius / cellSize).rounded(.up)) + 1
        var out: [Int] = []
        for r in max(0, qr - reach)...min(rows - 1, qr + reach) {
            for c in max(0, qc - reach)...min(cols - 1, qc + reach) {
                for i in cells[r * cols + c] where points[i].distance(to: q) <= radius { out.append(i) }
            }
        }
        return out.sorted()
    }

    /// The `k` nearest other points of point `i`, nearest first.
    func kNearest(to i: Int, k: Int, points: [PixelPoint]) -> [Int] {
        let q = points[i]
        let (qr, qc) = cellCoords(q)
        var found: [(Double, Int)] = []
        var ring = 0
        while true {
            var any = false
            for r in (qr - ring)...(qr + ring) where r >= 0 && r < rows {
                for c in (qc - ring)...(qc + ring) where c >= 0 && c < cols {
                    if max(abs(r - qr), abs(c - qc)) != ring { continue }
                    any = true
                    for j in cells[r * cols + c] where j != i {
                        found.append((points[j].distance(to: q), j))
                    }
                }
            }
            if found.count >= k {
                found.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
                if Double(ring) * cellSize >= found[k - 1].0 { return found.prefix(k).map(\.1) }
            }
            if !any && ring > rows + cols {
                found.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
                return found.prefix(k).map(\.1)
            }
            ring += 1
        }
    }
}
