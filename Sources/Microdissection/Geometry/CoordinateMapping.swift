/// py-lmd's 2×2 `orientation_transform` T, applied to a point as a row vector: `q = (row, col) · T`.
///
/// So `q.x = row·m00 + col·m10` and `q.y = row·m01 + col·m11`. Common values:
/// - ``identity`` (py-lmd's default): `X = row`, `Y = col`.
/// - ``scPortrait`` `[[0, -1], [1, 0]]`: `X = col`, `Y = -row` (x right, y up — the Leica stage frame).
public struct OrientationTransform: Sendable, Hashable, CustomStringConvertible {
    /// Row 0, column 0 of T.
    public var m00: Double
    /// Row 0, column 1 of T.
    public var m01: Double
    /// Row 1, column 0 of T.
    public var m10: Double
    /// Row 1, column 1 of T.
    public var m11: Double

    /// Creates T from its rows: `[[m00, m01], [m10, m11]]`.
    public init(_ m00: Double, _ m01: Double, _ m10: Double, _ m11: Double) {
        self.m00 = m00
        self.m01 = m01
        self.m10 = m10
        self.m11 = m11
    }

    /// Creates T from a nested array `[[m00, m01], [m10, m11]]`, as in py-lmd configs.
    /// - Throws: ``MicrodissectionError`` `.invalidTransform` unless it is 2×2, finite and invertible.
    public init(rows: [[Double]]) throws(MicrodissectionError) {
        guard rows.count == 2, rows.allSatisfy({ $0.count == 2 }) else {
            throw MicrodissectionError(
                code: .invalidTransform, message: "orientation_transform must be a 2x2 matrix, found \(rows)",
                context: .init(key: "orientation_transform"))
        }
        self.init(rows[0][0], rows[0][1], rows[1][0], rows[1][1])
        try validate()
    }

    /// The identity (py-lmd's default).
    public static let identity = OrientationTransform(1, 0, 0, 1)
    /// scPortrait's default `[[0, -1], [1, 0]]`: X = column, Y = −row.
    public static let scPortrait = OrientationTransform(0, -1, 1, 0)

    /// The determinant `m00·m11 − m01·m10`.
    public var determinant: Double { m00 * m11 - m01 * m10 }

    /// The matrix as nested rows `[[m00, m01], [m10, m11]]`.
    public var rows: [[Double]] { [[m00, m01], [m10, m11]] }

    /// Checks that T is finite and invertible.
    /// - Throws: ``MicrodissectionError`` `.invalidTransform`.
    public func validate() throws(MicrodissectionError) {
        guard [m00, m01, m10, m11].allSatisfy(\.isFinite) else {
            throw MicrodissectionError(
                code: .invalidTransform, message: "orientation_transform has non-finite entries: \(rows)",
                context: .init(key: "orientation_transform"))
        }
        let scale = max(abs(m00), abs(m01), abs(m10), abs(m11))
        guard scale > 0, abs(determinant) > 1e-12 * scale * scale else {
            throw MicrodissectionError(
                code: .invalidTransform,
                message: "orientation_transform \(rows) is singular; shapes would collapse onto a line",
                context: .init(key: "orientation_transform"))
        }
    }

    /// `[[m00, m01], [m10, m11]]`.
    public var description: String { "\(rows)" }
}

/// The export mapping of py-lmd (SPEC §1.2): pixel `(row, col)` → `(row, col) · T · scale`, then
/// half-to-even rounding for shape vertices and floor for calibration points; plus its inverse.
///
/// The floating-point operation order is the same as numpy's `points @ T * scale`, so results
/// agree with py-lmd bit for bit for the transforms used in practice (entries 0 and ±1).
public struct CoordinateMapping: Sendable, Hashable {
    /// The orientation transform T.
    public var transform: OrientationTransform
    /// The `xml_decimal_transform` factor (py-lmd default 100).
    public var scale: Double

    /// Creates a mapping.
    /// - Throws: ``MicrodissectionError`` `.invalidTransform` if T is singular or `scale` is not
    ///   finite and positive.
    public init(transform: OrientationTransform = .identity, scale: Double = 100) throws(MicrodissectionError) {
        try transform.validate()
        guard scale.isFinite, scale > 0 else {
            throw MicrodissectionError(
                code: .invalidConfigValue, message: "xml_decimal_transform must be a positive number, found \(scale)",
                context: .init(key: "xml_decimal_transform"))
        }
        self.transform = transform
        self.scale = scale
    }

    /// The unrounded XML-space position `(x, y)` of a pixel point.
    public func xmlPosition(_ p: PixelPoint) -> (x: Double, y: Double) {
        let t = transform
        let qx = p.row * t.m00 + p.column * t.m10
        let qy = p.row * t.m01 + p.column * t.m11
        return (qx * scale, qy * scale)
    }

    /// A shape vertex in XML units: rounded half-to-even, as numpy's `round` does.
    public func shapeVertex(_ p: PixelPoint) -> XMLPoint {
        let q = xmlPosition(p)
        return XMLPoint(x: Self.roundHalfEven(q.x), y: Self.roundHalfEven(q.y))
    }

    /// A calibration point in XML units: rounded toward −∞ (py-lmd floors calibration points).
    public func calibrationPoint(_ p: PixelPoint) -> XMLPoint {
        let q = xmlPosition(p)
        return XMLPoint(x: Self.floorToInt(q.x), y: Self.floorToInt(q.y))
    }

    /// The pixel position of an XML point (inverse of T and scale; rounding cannot be undone).
    public func pixel(fromXML p: XMLPoint) -> PixelPoint {
        pixel(fromXMLX: Double(p.x), y: Double(p.y))
    }

    /// The pixel position of an XML-space position given as doubles.
    public func pixel(fromXMLX x: Double, y: Double) -> PixelPoint {
        let qx = x / scale
        let qy = y / scale
        let t = transform
        let det = t.determinant
        // (row, col) = q · T⁻¹, T⁻¹ = [[m11, -m01], [-m10, m00]] / det
        let row = (qx * t.m11 - qy * t.m10) / det
        let col = (-qx * t.m01 + qy * t.m00) / det
        return PixelPoint(row: row, column: col)
    }

    /// Half-to-even rounding to `Int` (`2.5 → 2`, `3.5 → 4`, `-2.5 → -2`); never yields `-0`.
    public static func roundHalfEven(_ v: Double) -> Int {
        Int(clampedForInt(v.rounded(.toNearestOrEven)))
    }

    /// Floor to `Int` (`-10.347 → -11`).
    public static func floorToInt(_ v: Double) -> Int {
        Int(clampedForInt(v.rounded(.down)))
    }

    private static func clampedForInt(_ v: Double) -> Double {
        if v.isNaN { return 0 }
        return min(max(v, -9.0e18), 9.0e18)
    }
}
