/// A point in image-pixel coordinates, py-lmd's convention: `row` grows downwards, `column` to the
/// right, and pixel `(r, c)` has its **centre** at `(r, c)` (so its edges lie at `r ± 0.5`, `c ± 0.5`).
public struct PixelPoint: Sendable, Hashable, CustomStringConvertible {
    /// Vertical coordinate (0 = centre of the top row).
    public var row: Double
    /// Horizontal coordinate (0 = centre of the left column).
    public var column: Double

    /// Creates a point.
    public init(row: Double, column: Double) {
        self.row = row
        self.column = column
    }

    /// Euclidean distance to `other`, in pixels.
    public func distance(to other: PixelPoint) -> Double {
        let dr = row - other.row
        let dc = column - other.column
        return (dr * dr + dc * dc).squareRoot()
    }

    /// `"(row, column)"`.
    public var description: String { "(\(row), \(column))" }
}

/// A point in LMD XML units: the integers written as `X_i` / `Y_i` (or calibration points).
public struct XMLPoint: Sendable, Hashable, CustomStringConvertible {
    /// The `X_…` value.
    public var x: Int
    /// The `Y_…` value.
    public var y: Int

    /// Creates a point.
    public init(x: Int, y: Int) {
        self.x = x
        self.y = y
    }

    /// Euclidean distance to `other`, in XML units.
    public func distance(to other: XMLPoint) -> Double {
        let dx = Double(x) - Double(other.x)
        let dy = Double(y) - Double(other.y)
        return (dx * dx + dy * dy).squareRoot()
    }

    /// `"(x, y)"`.
    public var description: String { "(\(x), \(y))" }
}

/// A simple polygon without holes, given by its ring of vertices in pixel coordinates.
///
/// The ring is **open**: the first vertex is not repeated at the end (the LMD closes rings
/// implicitly). Orientation is not significant.
public struct PixelPolygon: Sendable, Hashable {
    /// The ring's vertices, first vertex not repeated.
    public var vertices: [PixelPoint]

    /// Creates a polygon from an open ring. A trailing copy of the first vertex is removed.
    public init(vertices: [PixelPoint]) {
        var v = vertices
        if v.count > 1, v.first == v.last { v.removeLast() }
        self.vertices = v
    }

    /// Shoelace area in square pixels (always ≥ 0).
    public var area: Double {
        let n = vertices.count
        guard n >= 3 else { return 0 }
        var twice = 0.0
        var prev = vertices[n - 1]
        for p in vertices {
            twice += prev.row * p.column - p.row * prev.column
            prev = p
        }
        return abs(twice) / 2
    }

    /// Area-weighted centroid (falls back to the vertex mean for degenerate rings).
    public var centroid: PixelPoint {
        let n = vertices.count
        guard n > 0 else { return PixelPoint(row: 0, column: 0) }
        var a = 0.0
        var cr = 0.0
        var cc = 0.0
        var prev = vertices[n - 1]
        for p in vertices {
            let cross = prev.row * p.column - p.row * prev.column
            a += cross
            cr += (prev.row + p.row) * cross
            cc += (prev.column + p.column) * cross
            prev = p
        }
        if abs(a) < 1e-12 {
            let sr = vertices.reduce(0) { $0 + $1.row }
            let sc = vertices.reduce(0) { $0 + $1.column }
            return PixelPoint(row: sr / Double(n), column: sc / Double(n))
        }
        return PixelPoint(row: cr / (3 * a), column: cc / (3 * a))
    }

    /// The same ring starting at vertex `index` (a rotation; the geometry is unchanged).
    public func rotated(toStartAt index: Int) -> PixelPolygon {
        guard !vertices.isEmpty else { return self }
        let i = ((index % vertices.count) + vertices.count) % vertices.count
        return PixelPolygon(uncheckedVertices: Array(vertices[i...] + vertices[..<i]))
    }

    /// Internal init that keeps the vertices as given.
    init(uncheckedVertices: [PixelPoint]) {
        self.vertices = uncheckedVertices
    }
}
