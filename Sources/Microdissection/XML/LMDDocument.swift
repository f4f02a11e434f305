/// The content of a Leica LMD shape file (`ImageData` root): calibration points and shapes, all
/// in integer XML units. Produced by ``CuttingPlan/document`` or ``LMDXMLReader``, written by
/// ``LMDXMLWriter``.
public struct LMDDocument: Sendable, Hashable {
    /// The `GlobalCoordinates` value (py-lmd writes the number of calibration points; Leica files
    /// may carry other values, which are kept).
    public var globalCoordinates: Int
    /// Calibration points (`X_CalibrationPoint_k`, `Y_CalibrationPoint_k`), k = 1…n in order.
    public var calibrationPoints: [XMLPoint]
    /// The shapes (`Shape_1` … `Shape_N`), in cutting order.
    public var shapes: [LMDShape]

    /// Creates a document; `globalCoordinates` defaults to the number of calibration points.
    public init(calibrationPoints: [XMLPoint], shapes: [LMDShape], globalCoordinates: Int? = nil) {
        self.calibrationPoints = calibrationPoints
        self.shapes = shapes
        self.globalCoordinates = globalCoordinates ?? calibrationPoints.count
    }

    /// Laser travel in XML units, as lmdcompare.py defines it: the sum over consecutive shapes (file
    /// order) of the distance from the last vertex of one shape to the first vertex of the next.
    public var travel: Double {
        var total = 0.0
        var last: XMLPoint?
        for shape in shapes {
            guard let first = shape.points.first else { continue }
            if let last { total += last.distance(to: first) }
            last = shape.points.last
        }
        return total
    }

    /// The shapes mapped back to image pixels with `mapping` (inverse of T and scale).
    public func pixelPolygons(using mapping: CoordinateMapping) -> [PixelPolygon] {
        shapes.map { PixelPolygon(vertices: $0.points.map(mapping.pixel(fromXML:))) }
    }

    /// The calibration points mapped back to image pixels with `mapping`.
    public func pixelCalibrationPoints(using mapping: CoordinateMapping) -> [PixelPoint] {
        calibrationPoints.map(mapping.pixel(fromXML:))
    }
}

/// One `Shape_N` element.
public struct LMDShape: Sendable, Hashable {
    /// The vertices (`X_i`, `Y_i`); the ring is closed implicitly (first point not repeated).
    public var points: [XMLPoint]
    /// The collection well (`CapID`), or `nil` for none.
    public var well: String?
    /// Other child elements, in document order, written after `CapID` (py-lmd's custom attributes).
    public var attributes: [LMDAttribute]

    /// Creates a shape.
    public init(points: [XMLPoint], well: String? = nil, attributes: [LMDAttribute] = []) {
        self.points = points
        self.well = well
        self.attributes = attributes
    }
}

/// A custom per-shape element `<name>value</name>`.
public struct LMDAttribute: Sendable, Hashable {
    /// The element name (must be a valid XML name to be written).
    public var name: String
    /// The element's text.
    public var value: String

    /// Creates an attribute.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
