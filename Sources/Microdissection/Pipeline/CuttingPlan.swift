/// One shape to cut: a simple polygon in pixels and the exact integers written to the XML.
public struct CutShape: Sendable, Hashable {
    /// The ring in pixel coordinates (py-lmd's pixel-centre frame), same vertex count and order as
    /// ``xmlPoints``.
    public var polygon: PixelPolygon
    /// The ring in XML units as written; always a valid simple polygon with ≥ 3 vertices
    /// (checked with `GEOSisValid_r` on these integers).
    public var xmlPoints: [XMLPoint]
    /// The mask labels this shape was made from (several when cells were merged), ascending.
    public var labels: [Int]
    /// Whether the default processing produced an invalid ring and a fallback was used
    /// (reduced smoothing, topology-preserving simplification or GEOS repair).
    public var repaired: Bool

    /// Creates a shape.
    public init(polygon: PixelPolygon, xmlPoints: [XMLPoint], labels: [Int], repaired: Bool = false) {
        self.polygon = polygon
        self.xmlPoints = xmlPoints
        self.labels = labels
        self.repaired = repaired
    }
}

/// The shapes of one cell set, in cutting order.
public struct CutSet: Sendable, Hashable {
    /// The cell set's name, if it had one.
    public var name: String?
    /// The well (`CapID`) of every shape, or `nil`.
    public var well: String?
    /// Shapes in cutting order.
    public var shapes: [CutShape]
    /// Number of distinct labels used (after dropping 0, duplicates and skipped missing labels).
    public var cellCount: Int
    /// Laser travel inside this set in pixels (last vertex of a shape → first vertex of the next).
    public var travel: Double
    /// The travel the same shapes would need in cell-set order, for comparison.
    public var unorderedTravel: Double

    /// Creates a set.
    public init(
        name: String?, well: String?, shapes: [CutShape], cellCount: Int, travel: Double, unorderedTravel: Double
    ) {
        self.name = name
        self.well = well
        self.shapes = shapes
        self.cellCount = cellCount
        self.travel = travel
        self.unorderedTravel = unorderedTravel
    }
}

/// Wall-clock seconds spent in each phase of ``CuttingPlanner/plan(mask:cellSets:calibration:)``.
public struct PlanTimings: Sendable, Hashable {
    /// One pass over the mask (bounding boxes, counts, centres).
    public var index: Double = 0
    /// Merge pass (`join_intersecting`): dilated rasters and overlap tests.
    public var merge: Double = 0
    /// Rasters, morphology, tracing, smoothing, simplification, validation.
    public var shapes: Double = 0
    /// Path ordering and ring rotation.
    public var order: Double = 0

    /// Creates zero timings.
    public init() {}

    /// Sum of all phases.
    public var total: Double { index + merge + shapes + order }
}

/// The result of planning: shapes per cell set, the calibration, the mapping to XML units and
/// the warnings. ``document`` is what gets written.
public struct CuttingPlan: Sendable, Hashable {
    /// Cell sets in the given order, each with its shapes in cutting order.
    public var sets: [CutSet]
    /// The calibration points (pixels).
    public var calibration: Calibration
    /// Pixel → XML mapping (T and scale).
    public var mapping: CoordinateMapping
    /// Everything noteworthy that did not stop planning.
    public var warnings: [MicrodissectionWarning]
    /// Time per phase.
    public var timings: PlanTimings

    /// Creates a plan.
    public init(
        sets: [CutSet], calibration: Calibration, mapping: CoordinateMapping, warnings: [MicrodissectionWarning],
        timings: PlanTimings = PlanTimings()
    ) {
        self.sets = sets
        self.calibration = calibration
        self.mapping = mapping
        self.warnings = warnings
        self.timings = timings
    }

    /// Total number of shapes over all sets.
    public var shapeCount: Int { sets.reduce(0) { $0 + $1.shapes.count } }

    /// The LMD document: floored calibration points, then every set's shapes with its well.
    public var document: LMDDocument {
        var shapes: [LMDShape] = []
        shapes.reserveCapacity(shapeCount)
        for set in sets {
            for shape in set.shapes { shapes.append(LMDShape(points: shape.xmlPoints, well: set.well)) }
        }
        return LMDDocument(calibrationPoints: calibration.points.map(mapping.calibrationPoint), shapes: shapes)
    }
}
