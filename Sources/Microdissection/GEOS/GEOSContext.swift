import CGEOS

/// One GEOS reentrant-API context (`GEOS_init_r` … `GEOS_finish_r`).
///
/// Deliberately **not** `Sendable`: a context and every geometry made with it belong to one
/// worker at a time. Create one per task or per `concurrentPerform` worker (creation is cheap);
/// only value types (``PixelPolygon``, ``XMLPoint``) cross threads. GEOS error messages are
/// captured into ``lastError`` instead of being printed.
///
/// Polygons are handed to GEOS with `x = row`, `y = column`; all predicates used here
/// (validity, area, buffer, union) are invariant under that axis swap.
public final class GEOSContext {
    /// Receives GEOS's error callback; kept alive as long as the context (userdata pointer).
    final class MessageBox {
        var lastError: String?
    }

    let handle: GEOSContextHandle_t
    private let messages = MessageBox()

    /// Creates a context and routes GEOS error messages into ``lastError``.
    public init() {
        guard let h = GEOS_init_r() else { preconditionFailure("GEOS_init_r failed (out of memory)") }
        handle = h
        let box = Unmanaged.passUnretained(messages).toOpaque()
        _ = GEOSContext_setErrorMessageHandler_r(
            handle,
            { message, userdata in
                guard let message, let userdata else { return }
                Unmanaged<MessageBox>.fromOpaque(userdata).takeUnretainedValue().lastError = String(cString: message)
            },
            box)
        _ = GEOSContext_setNoticeMessageHandler_r(handle, { _, _ in }, nil)
    }

    deinit {
        GEOS_finish_r(handle)
    }

    /// The last error message GEOS reported on this context, if any.
    public var lastError: String? { messages.lastError }

    // MARK: Public predicates and operations on pixel polygons

    /// Whether the polygon is a valid simple polygon by GEOS's rules (`GEOSisValid_r`): at least
    /// three distinct vertices, no self-intersection or self-touching, non-zero area.
    public func isValid(_ polygon: PixelPolygon) -> Bool {
        guard let g = try? polygonGeometry(polygon) else { return false }
        return g.isValid
    }

    /// GEOS's explanation of why a polygon is (in)valid, e.g. `"Self-intersection[3 4]"`.
    public func validityReason(_ polygon: PixelPolygon) -> String {
        do {
            return try polygonGeometry(polygon).validityReason
        } catch {
            return error.message
        }
    }

    /// Area in square pixels as computed by GEOS (0 for rings GEOS cannot build).
    public func area(_ polygon: PixelPolygon) -> Double {
        (try? polygonGeometry(polygon).area) ?? 0
    }

    /// Buffers a polygon by `distance` pixels: positive dilates, negative erodes.
    ///
    /// Erosion can split a polygon or make it vanish, so the result is a list (possibly empty) of
    /// polygons; holes (which a dilation of a concave shape can create) are filled.
    /// - Parameters:
    ///   - quadrantSegments: Segments per quarter circle for round joins (GEOS default 8).
    /// - Throws: ``MicrodissectionError`` `.geometry` with GEOS's message.
    public func buffer(_ polygon: PixelPolygon, distance: Double, quadrantSegments: Int = 8)
        throws(MicrodissectionError)
        -> [PixelPolygon]
    {
        let g = try polygonGeometry(polygon)
        let out = try wrap(GEOSBuffer_r(handle, g.pointer, distance, Int32(quadrantSegments)), "GEOSBuffer_r")
        return try out.polygonShells()
    }

    /// Topology-preserving Douglas–Peucker simplification (`GEOSTopologyPreserveSimplify_r`).
    /// - Returns: The simplified polygon, or `nil` if it collapsed.
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public func simplifyPreservingTopology(_ polygon: PixelPolygon, tolerance: Double) throws(MicrodissectionError)
        -> PixelPolygon?
    {
        let g = try polygonGeometry(polygon)
        let out = try wrap(
            GEOSTopologyPreserveSimplify_r(handle, g.pointer, tolerance), "GEOSTopologyPreserveSimplify_r")
        return try out.polygonShells().max(by: { $0.area < $1.area })
    }

    /// Repairs an invalid ring (`GEOSMakeValid_r`) and returns the outer rings of the polygonal
    /// parts, largest first (holes are dropped: LMD shapes have none).
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public func makeValid(_ polygon: PixelPolygon) throws(MicrodissectionError) -> [PixelPolygon] {
        let g = try polygonGeometry(polygon)
        let out = try wrap(GEOSMakeValid_r(handle, g.pointer), "GEOSMakeValid_r")
        return try out.polygonShells().sorted { $0.area > $1.area }
    }

    /// Union of polygons (`GEOSUnaryUnion_r`); the result's parts, holes filled, largest first.
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public func union(_ polygons: [PixelPolygon]) throws(MicrodissectionError) -> [PixelPolygon] {
        guard !polygons.isEmpty else { return [] }
        let collection = try multiPolygon(polygons)
        let out = try wrap(GEOSUnaryUnion_r(handle, collection.pointer), "GEOSUnaryUnion_r")
        return try out.polygonShells().sorted { $0.area > $1.area }
    }

    /// Whether two polygons share at least one point.
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public func intersects(_ a: PixelPolygon, _ b: PixelPolygon) throws(MicrodissectionError) -> Bool {
        let ga = try polygonGeometry(a)
        let gb = try polygonGeometry(b)
        let r = GEOSIntersects_r(handle, ga.pointer, gb.pointer)
        guard r != 2 else { throw error("GEOSIntersects_r") }
        return r == 1
    }

    /// Area of the intersection of two polygons (both must be valid).
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public func intersectionArea(_ a: PixelPolygon, _ b: PixelPolygon) throws(MicrodissectionError) -> Double {
        let ga = try polygonGeometry(a)
        let gb = try polygonGeometry(b)
        let out = try wrap(GEOSIntersection_r(handle, ga.pointer, gb.pointer), "GEOSIntersection_r")
        return out.area
    }

    /// Intersection over union of two valid polygons (0 when both are empty).
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public func iou(_ a: PixelPolygon, _ b: PixelPolygon) throws(MicrodissectionError) -> Double {
        let inter = try intersectionArea(a, b)
        let union = area(a) + area(b) - inter
        return union > 0 ? inter / union : 0
    }

    /// Convex hull of the points, or `nil` when they are collinear or fewer than three.
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public func convexHull(_ points: [PixelPoint]) throws(MicrodissectionError) -> PixelPolygon? {
        guard points.count >= 3 else { return nil }
        var coords = [Double]()
        coords.reserveCapacity(points.count * 2 + 2)
        for p in points {
            coords.append(p.row)
            coords.append(p.column)
        }
        let seq = try coords.withUnsafeBufferPointer { (buf) throws(MicrodissectionError) -> OpaquePointer in
            guard let s = GEOSCoordSeq_copyFromBuffer_r(handle, buf.baseAddress, UInt32(points.count), 0, 0) else {
                throw error("GEOSCoordSeq_copyFromBuffer_r")
            }
            return s
        }
        guard let mp = GEOSGeom_createLineString_r(handle, seq) else { throw error("GEOSGeom_createLineString_r") }
        let line = Geometry(self, mp)
        let hull = try wrap(GEOSConvexHull_r(handle, line.pointer), "GEOSConvexHull_r")
        guard hull.typeID == Int32(GEOS_POLYGON.rawValue) else { return nil }
        return try hull.polygonShells().first
    }

    // MARK: Internal helpers (raw coordinates)

    /// Builds a polygon from interleaved `(x, y)` coordinates of a ring whose first point is
    /// repeated at the end (`count` includes the repeat).
    func polygon(closedCoordinates coordinates: UnsafeBufferPointer<Double>, count: Int) throws(MicrodissectionError)
        -> Geometry
    {
        guard count >= 4, let base = coordinates.baseAddress else {
            throw MicrodissectionError(
                code: .geometry, message: "a polygon needs at least 3 vertices, found \(max(count - 1, 0))")
        }
        guard let seq = GEOSCoordSeq_copyFromBuffer_r(handle, base, UInt32(count), 0, 0) else {
            throw error("GEOSCoordSeq_copyFromBuffer_r")
        }
        guard let ring = GEOSGeom_createLinearRing_r(handle, seq) else {
            throw error("GEOSGeom_createLinearRing_r")
        }
        guard let poly = GEOSGeom_createPolygon_r(handle, ring, nil, 0) else {
            GEOSGeom_destroy_r(handle, ring)
            throw error("GEOSGeom_createPolygon_r")
        }
        return Geometry(self, poly)
    }

    /// Builds a GEOS polygon from an open ring of `(x, y)` pairs (closed here).
    func polygon(ring: [(Double, Double)]) throws(MicrodissectionError) -> Geometry {
        var coords = [Double]()
        coords.reserveCapacity(ring.count * 2 + 2)
        for (x, y) in ring {
            coords.append(x)
            coords.append(y)
        }
        if let first = ring.first {
            coords.append(first.0)
            coords.append(first.1)
        }
        return try coords.withUnsafeBufferPointer { (buf) throws(MicrodissectionError) -> Geometry in
            try polygon(closedCoordinates: buf, count: ring.count + 1)
        }
    }

    /// Builds a GEOS polygon from a pixel polygon (`x = row`, `y = column`).
    func polygonGeometry(_ polygon: PixelPolygon) throws(MicrodissectionError) -> Geometry {
        try self.polygon(ring: polygon.vertices.map { ($0.row, $0.column) })
    }

    /// Whether an open ring of XML points is a valid polygon (the writer's final check).
    func isValid(xmlRing: [XMLPoint]) -> Bool {
        guard xmlRing.count >= 3 else { return false }
        let g = try? polygon(ring: xmlRing.map { (Double($0.x), Double($0.y)) })
        return g?.isValid ?? false
    }

    func multiPolygon(_ polygons: [PixelPolygon]) throws(MicrodissectionError) -> Geometry {
        var parts: [OpaquePointer?] = []
        parts.reserveCapacity(polygons.count)
        for p in polygons {
            let g = try polygonGeometry(p)
            parts.append(g.release())
        }
        let collection = parts.withUnsafeMutableBufferPointer { buf in
            GEOSGeom_createCollection_r(
                handle, Int32(GEOS_MULTIPOLYGON.rawValue), buf.baseAddress, UInt32(buf.count))
        }
        guard let collection else {
            for case let p? in parts { GEOSGeom_destroy_r(handle, p) }
            throw error("GEOSGeom_createCollection_r")
        }
        return Geometry(self, collection)
    }

    func wrap(_ pointer: OpaquePointer?, _ function: String) throws(MicrodissectionError) -> Geometry {
        guard let pointer else { throw error(function) }
        return Geometry(self, pointer)
    }

    func error(_ function: String) -> MicrodissectionError {
        let message = messages.lastError
        messages.lastError = nil
        return MicrodissectionError(
            code: .geometry, message: "\(function) failed", context: .init(libraryMessage: message ?? "no message"))
    }
}

/// An owned GEOS geometry handle, destroyed with its context's `GEOSGeom_destroy_r`.
final class Geometry {
    unowned let context: GEOSContext
    private(set) var pointer: OpaquePointer
    private var owned = true

    init(_ context: GEOSContext, _ pointer: OpaquePointer) {
        self.context = context
        self.pointer = pointer
    }

    deinit {
        if owned { GEOSGeom_destroy_r(context.handle, pointer) }
    }

    /// Gives up ownership (e.g. when a collection takes over the handle).
    func release() -> OpaquePointer {
        owned = false
        return pointer
    }

    var isValid: Bool { GEOSisValid_r(context.handle, pointer) == 1 }

    var validityReason: String {
        guard let c = GEOSisValidReason_r(context.handle, pointer) else { return "unknown" }
        defer { GEOSFree_r(context.handle, c) }
        return String(cString: c)
    }

    var area: Double {
        var a = 0.0
        return GEOSArea_r(context.handle, pointer, &a) == 1 ? a : 0
    }

    var typeID: Int32 { GEOSGeomTypeId_r(context.handle, pointer) }

    var isEmpty: Bool { GEOSisEmpty_r(context.handle, pointer) == 1 }

    /// Exterior rings of every polygon in this geometry (recursing into collections).
    func polygonShells() throws(MicrodissectionError) -> [PixelPolygon] {
        var out: [PixelPolygon] = []
        try collectShells(pointer, into: &out)
        return out
    }

    private func collectShells(_ g: OpaquePointer, into out: inout [PixelPolygon]) throws(MicrodissectionError) {
        let h = context.handle
        if GEOSisEmpty_r(h, g) == 1 { return }
        let type = GEOSGeomTypeId_r(h, g)
        if type == Int32(GEOS_POLYGON.rawValue) {
            guard let ring = GEOSGetExteriorRing_r(h, g), let seq = GEOSGeom_getCoordSeq_r(h, ring) else {
                throw context.error("GEOSGetExteriorRing_r")
            }
            var size: UInt32 = 0
            guard GEOSCoordSeq_getSize_r(h, seq, &size) == 1 else { throw context.error("GEOSCoordSeq_getSize_r") }
            var coords = [Double](repeating: 0, count: Int(size) * 2)
            let ok = coords.withUnsafeMutableBufferPointer {
                GEOSCoordSeq_copyToBuffer_r(h, seq, $0.baseAddress, 0, 0)
            }
            guard ok == 1 else { throw context.error("GEOSCoordSeq_copyToBuffer_r") }
            var vertices: [PixelPoint] = []
            vertices.reserveCapacity(Int(size))
            for i in 0..<Int(size) { vertices.append(PixelPoint(row: coords[2 * i], column: coords[2 * i + 1])) }
            out.append(PixelPolygon(vertices: vertices))
        } else if type == Int32(GEOS_MULTIPOLYGON.rawValue) || type == Int32(GEOS_GEOMETRYCOLLECTION.rawValue) {
            let n = GEOSGetNumGeometries_r(h, g)
            for i in 0..<max(n, 0) {
                if let part = GEOSGetGeometryN_r(h, g, i) { try collectShells(part, into: &out) }
            }
        }
    }
}
