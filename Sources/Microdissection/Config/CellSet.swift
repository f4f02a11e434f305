/// One py-lmd cell set: the labels to cut and the collection well (CapID) they go to.
///
/// py-lmd also accepts a CSV path in `classes`; lmdflow's domain module takes values only, so the
/// caller reads such files and passes the ids.
public struct CellSet: Sendable, Hashable {
    /// Optional name (py-lmd ignores it; scPortrait uses it for the output file name).
    public var name: String?
    /// Labels of the mask to cut, in cell-set order. Label 0 is dropped with a warning.
    public var classes: [Int]
    /// Well written as `CapID` on every shape of this set; `nil` writes no `CapID`.
    public var well: String?

    /// Creates a cell set.
    public init(name: String? = nil, classes: [Int], well: String? = nil) {
        self.name = name
        self.classes = classes
        self.well = well
    }

    /// Parses a `cellsets.json` document: a list of `{name?, classes, well?}` objects.
    /// - Throws: ``MicrodissectionError`` `.invalidJSON` or `.invalidCellSet` naming the set and key.
    public static func list(json bytes: some Sequence<UInt8>) throws(MicrodissectionError) -> [CellSet] {
        let value = try ConfigValue.parseJSON(bytes)
        guard case .array(let items) = value else {
            throw MicrodissectionError(
                code: .invalidJSON, message: "cell sets must be a JSON list of objects, found \(value.kindName)")
        }
        var sets: [CellSet] = []
        for (index, item) in items.enumerated() {
            sets.append(try CellSet(value: item, index: index))
        }
        return sets
    }

    /// Builds one cell set from a mapping with keys `classes` (required), `well` and `name`.
    /// - Throws: ``MicrodissectionError`` `.invalidCellSet`.
    public init(value: ConfigValue, index: Int = 0) throws(MicrodissectionError) {
        let label = "#\(index)"
        guard case .object(let object) = value else {
            throw MicrodissectionError(
                code: .invalidCellSet, message: "cell set must be an object, found \(value.kindName)",
                context: .init(cellSet: label))
        }
        var name: String?
        if let n = object["name"] {
            guard case .string(let s) = n else {
                throw MicrodissectionError(
                    code: .invalidCellSet, message: "`name` must be a string, found \(n)",
                    context: .init(key: "name", cellSet: label))
            }
            name = s
        }
        let setName = name ?? label
        for key in object.keys.sorted() where !["name", "classes", "well"].contains(key) {
            throw MicrodissectionError(
                code: .invalidCellSet, message: "unknown cell set key `\(key)` (expected name, classes, well)",
                context: .init(key: key, cellSet: setName))
        }
        var well: String?
        if let w = object["well"] {
            guard case .string(let s) = w else {
                throw MicrodissectionError(
                    code: .invalidCellSet, message: "`well` must be a string (py-lmd requires str), found \(w)",
                    context: .init(key: "well", cellSet: setName))
            }
            well = s
        }
        guard let classesValue = object["classes"] else {
            throw MicrodissectionError(
                code: .invalidCellSet, message: "cell set has no `classes`",
                context: .init(key: "classes", cellSet: setName))
        }
        var classes: [Int] = []
        switch classesValue {
        case .array(let ids):
            classes.reserveCapacity(ids.count)
            for id in ids {
                guard let i = id.integer, i >= 0 else {
                    throw MicrodissectionError(
                        code: .invalidCellSet, message: "`classes` must hold non-negative integer labels, found \(id)",
                        context: .init(key: "classes", cellSet: setName))
                }
                classes.append(i)
            }
        case .string(let path):
            throw MicrodissectionError(
                code: .invalidCellSet,
                message: "`classes` is a path (\(path)); read the CSV first and pass the label list",
                context: .init(key: "classes", cellSet: setName, path: path))
        default:
            throw MicrodissectionError(
                code: .invalidCellSet, message: "`classes` must be a list of labels, found \(classesValue.kindName)",
                context: .init(key: "classes", cellSet: setName))
        }
        self.init(name: name, classes: classes, well: well)
    }
}

/// Calibration points in (row, column) pixel coordinates of the mask (at least three, not collinear).
///
/// The LMD software registers the XML by these points, so they are exported with the same mapping
/// as the shapes (floored rather than rounded, as py-lmd does).
public struct Calibration: Sendable, Hashable {
    /// The points, in order (written as `X_CalibrationPoint_1`, …).
    public let points: [PixelPoint]

    /// Validates and stores the points.
    /// - Throws: ``MicrodissectionError`` `.invalidCalibration` when there are fewer than three
    ///   points, a value is not finite, or all points lie on one line (or coincide).
    public init(points: [PixelPoint]) throws(MicrodissectionError) {
        guard points.count >= 3 else {
            throw MicrodissectionError(
                code: .invalidCalibration,
                message: "at least 3 calibration points are needed, found \(points.count)")
        }
        guard points.allSatisfy({ $0.row.isFinite && $0.column.isFinite }) else {
            throw MicrodissectionError(
                code: .invalidCalibration, message: "calibration points must be finite: \(points)")
        }
        // Collinear unless some triple spans a triangle with a non-negligible area.
        let extent = points.reduce(0.0) { max($0, abs($1.row), abs($1.column)) }
        let tolerance = 1e-9 * max(extent * extent, 1)
        var spans = false
        let a = points[0]
        search: for i in 1..<points.count {
            for j in (i + 1)..<points.count {
                let b = points[i]
                let c = points[j]
                let cross = (b.row - a.row) * (c.column - a.column) - (b.column - a.column) * (c.row - a.row)
                if abs(cross) > tolerance {
                    spans = true
                    break search
                }
            }
        }
        guard spans else {
            throw MicrodissectionError(
                code: .invalidCalibration,
                message: "calibration points are collinear (or coincide), so they cannot register the image: \(points)")
        }
        self.points = points
    }

    /// Parses a `calibration.json` object `{"points_row_col_px": [[row, col], …]}`.
    /// - Throws: ``MicrodissectionError`` `.invalidJSON` or `.invalidCalibration`.
    public init(json bytes: some Sequence<UInt8>) throws(MicrodissectionError) {
        let value = try ConfigValue.parseJSON(bytes)
        guard case .object(let object) = value, let list = object["points_row_col_px"] else {
            throw MicrodissectionError(
                code: .invalidCalibration, message: "expected an object with `points_row_col_px`",
                context: .init(key: "points_row_col_px"))
        }
        guard case .array(let rows) = list else {
            throw MicrodissectionError(
                code: .invalidCalibration, message: "`points_row_col_px` must be a list of [row, col] pairs",
                context: .init(key: "points_row_col_px"))
        }
        var points: [PixelPoint] = []
        for row in rows {
            guard case .array(let pair) = row, pair.count == 2, let r = pair[0].number, let c = pair[1].number else {
                throw MicrodissectionError(
                    code: .invalidCalibration, message: "calibration point must be [row, col], found \(row)",
                    context: .init(key: "points_row_col_px"))
            }
            points.append(PixelPoint(row: r, column: c))
        }
        try self.init(points: points)
    }
}
