/// Polygon-level shape operations with GEOS, for shapes that do not come from a mask (e.g. XML
/// read back, or polygons from another tool — py-lmd issue #9). The mask pipeline in
/// ``CuttingPlanner`` does its morphology on rasters instead, to match py-lmd's `disk`
/// footprints pixel for pixel; these are the vector equivalents.
///
/// All functions take the worker's ``GEOSContext`` and return valid polygons without holes.
public enum ShapeOperations {
    /// Dilates (`radius > 0`) or erodes (`radius < 0`) by a round buffer; erosion may split a shape
    /// (several results) or remove it (none).
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public static func buffer(
        _ polygon: PixelPolygon, radius: Double, context: GEOSContext
    ) throws(MicrodissectionError) -> [PixelPolygon] {
        guard radius != 0 else { return try valid(polygon, context: context) }
        return try context.buffer(try valid(polygon, context: context).first ?? polygon, distance: radius)
    }

    /// Morphological closing (dilate by `radius`, then erode by `radius`), the vector analogue of
    /// `binary_smoothing`. Rounds convex corners off nothing, fills notches narrower than ~2·radius.
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public static func close(
        _ polygon: PixelPolygon, radius: Double, context: GEOSContext
    ) throws(MicrodissectionError) -> [PixelPolygon] {
        guard radius > 0 else { return try valid(polygon, context: context) }
        var out: [PixelPolygon] = []
        for grown in try buffer(polygon, radius: radius, context: context) {
            out += try context.buffer(grown, distance: -radius)
        }
        return out
    }

    /// Circular moving average (py-lmd's `convolution_smoothing`) after resampling the ring to
    /// 0.5 px spacing (the spacing py-lmd's traced contours have), then RDP with `epsilon`; the
    /// result is validated and repaired if smoothing made it cross itself.
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public static func smooth(
        _ polygon: PixelPolygon, window: Int, epsilon: Double, context: GEOSContext
    ) throws(MicrodissectionError) -> [PixelPolygon] {
        let dense = resample(polygon.vertices, spacing: 0.5)
        let ring = RingProcessing.simplify(RingProcessing.movingAverage(dense, window: window), epsilon: epsilon)
        let candidate = PixelPolygon(vertices: ring)
        if ring.count >= 3, context.isValid(candidate) { return [candidate] }
        return try context.makeValid(candidate)
    }

    /// Douglas–Peucker with tolerance `epsilon` px; `preserveTopology` uses GEOS's
    /// topology-preserving variant (never self-intersecting), otherwise py-lmd's closed-ring RDP.
    /// - Returns: `nil` if the result has fewer than 3 vertices or is invalid.
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public static func simplify(
        _ polygon: PixelPolygon, epsilon: Double, preserveTopology: Bool = true, context: GEOSContext
    ) throws(MicrodissectionError) -> PixelPolygon? {
        if preserveTopology {
            return try context.simplifyPreservingTopology(polygon, tolerance: epsilon)
        }
        let ring = PixelPolygon(vertices: RingProcessing.simplify(polygon.vertices, epsilon: epsilon))
        return ring.vertices.count >= 3 && context.isValid(ring) ? ring : nil
    }

    /// Unions polygons that intersect (`join_intersecting` for vectors): only pairs whose
    /// centroids are at most `distanceHeuristic` apart are tested. Returns the merged polygons
    /// (holes filled) with the input indices each came from, ordered by lowest member index.
    /// - Throws: ``MicrodissectionError`` `.geometry`.
    public static func joinIntersecting(
        _ polygons: [PixelPolygon], distanceHeuristic: Double = 300, context: GEOSContext
    ) throws(MicrodissectionError) -> [(polygon: PixelPolygon, members: [Int])] {
        let n = polygons.count
        let centres = polygons.map(\.centroid)
        var parent = Array(0..<n)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x {
                parent[x] = parent[parent[x]]
                x = parent[x]
            }
            return x
        }
        let grid = PointGrid(centres)
        for i in 0..<n {
            for j in grid.within(distanceHeuristic, of: centres[i], points: centres) where j > i {
                if try context.intersects(polygons[i], polygons[j]) {
                    let a = find(i)
                    let b = find(j)
                    if a != b { parent[max(a, b)] = min(a, b) }
                }
            }
        }
        var groups: [Int: [Int]] = [:]
        for i in 0..<n { groups[find(i), default: []].append(i) }
        var out: [(polygon: PixelPolygon, members: [Int])] = []
        for root in groups.keys.sorted() {
            let members = groups[root]!
            if members.count == 1 {
                out.append((polygons[members[0]], members))
            } else {
                let parts = try context.union(members.map { polygons[$0] })
                if let largest = parts.first { out.append((largest, members)) }
            }
        }
        return out
    }

    /// The polygon itself if valid, else its GEOS repair (largest part first).
    static func valid(_ polygon: PixelPolygon, context: GEOSContext) throws(MicrodissectionError) -> [PixelPolygon] {
        context.isValid(polygon) ? [polygon] : try context.makeValid(polygon)
    }

    /// Inserts vertices so that no edge is longer than `spacing`.
    static func resample(_ ring: [PixelPoint], spacing: Double) -> [PixelPoint] {
        guard ring.count >= 2 else { return ring }
        var out: [PixelPoint] = []
        for i in ring.indices {
            let a = ring[i]
            let b = ring[(i + 1) % ring.count]
            let steps = max(1, Int((a.distance(to: b) / spacing).rounded(.up)))
            for s in 0..<steps {
                let t = Double(s) / Double(steps)
                out.append(PixelPoint(row: a.row + (b.row - a.row) * t, column: a.column + (b.column - a.column) * t))
            }
        }
        return out
    }
}
