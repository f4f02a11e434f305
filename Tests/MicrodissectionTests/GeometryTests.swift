import Foundation
import ImageKit
import Microdissection
import Testing

@Suite("Ring processing, GEOS and shape operations")
struct GeometryTests {
    static let square = PixelPolygon(vertices: Fixtures.points([(0, 0), (0, 10), (10, 10), (10, 0)]))

    @Test("moving average: window 1 is the identity, window n is the centroid, mean is preserved")
    func movingAverage() {
        let ring = Fixtures.points([(0, 0), (0, 2), (2, 2), (2, 0)])
        #expect(RingProcessing.movingAverage(ring, window: 1) == ring)
        #expect(RingProcessing.movingAverage(ring, window: 4).allSatisfy { $0 == PixelPoint(row: 1, column: 1) })
        // Output i averages inputs i-k+1 … i (wrapping), as py-lmd's full convolution.
        let two = RingProcessing.movingAverage(ring, window: 2)
        #expect(two[0] == PixelPoint(row: 1, column: 0))
        #expect(two[1] == PixelPoint(row: 0, column: 1))
        // Windows longer than the ring wrap several times.
        let long = RingProcessing.movingAverage(ring, window: 9)
        #expect(abs(long[0].row - (1.0 * 8 / 9)) < 1e-12)
    }

    @Test("RDP: epsilon 0 drops only collinear points; larger epsilon keeps the farthest vertex")
    func rdp() {
        let line = Fixtures.points([(0, 0), (0, 1), (0, 2), (0, 3), (1, 3), (2, 3)])
        #expect(RingProcessing.simplifyPolyline(line, epsilon: 0) == [0, 3, 5])
        let bump = Fixtures.points([(0, 0), (0.0625, 1), (0.25, 2), (0, 3)])
        #expect(RingProcessing.simplifyPolyline(bump, epsilon: 0.125) == [0, 2, 3])
        #expect(RingProcessing.simplifyPolyline(bump, epsilon: 0.25) == [0, 3])  // strict >
        let ring = Fixtures.points([(0, 0), (0, 5), (0, 10), (5, 10), (10, 10), (10, 5), (10, 0), (5, 0)])
        #expect(RingProcessing.simplify(ring, epsilon: 0) == Fixtures.points([(0, 0), (0, 10), (10, 10), (10, 0)]))
    }

    @Test("GEOS validity, areas and repair")
    func geos() throws {
        let geos = GEOSContext()
        #expect(geos.isValid(Self.square))
        #expect(geos.area(Self.square) == 100)
        let bowtie = PixelPolygon(vertices: Fixtures.points([(0, 0), (10, 10), (10, 0), (0, 10)]))
        #expect(!geos.isValid(bowtie))
        #expect(geos.validityReason(bowtie).contains("Self-intersection"))
        let parts = try geos.makeValid(bowtie)
        #expect(parts.count == 2)
        #expect(parts.allSatisfy { geos.isValid($0) && abs($0.area - 25) < 1e-9 })
        #expect(!geos.isValid(PixelPolygon(vertices: Fixtures.points([(0, 0), (1, 1)]))))
        #expect(try geos.convexHull(Fixtures.points([(0, 0), (1, 1), (2, 2)])) == nil)
        let hullResult = try geos.convexHull(Fixtures.points([(0, 0), (0, 4), (4, 4), (4, 0), (2, 2)]))
        let hull = try #require(hullResult)
        #expect(hull.area == 16)
        #expect(try geos.iou(Self.square, Self.square) == 1)
    }

    @Test("buffer dilates and erodes; erosion can split or remove a shape")
    func buffer() throws {
        let geos = GEOSContext()
        let grown = try ShapeOperations.buffer(Self.square, radius: 1, context: geos)
        #expect(grown.count == 1)
        #expect(abs(grown[0].area - (100 + 40 + Double.pi)) < 0.05)
        let shrunk = try ShapeOperations.buffer(Self.square, radius: -1, context: geos)
        #expect(abs(shrunk[0].area - 64) < 1e-9)
        #expect(try ShapeOperations.buffer(Self.square, radius: -6, context: geos).isEmpty)
        // A dumbbell: two squares joined by a 1-px neck split under erosion by 1.
        let dumbbell = PixelPolygon(
            vertices: Fixtures.points([
                (0, 0), (0, 10), (4.5, 10), (4.5, 20), (0, 20), (0, 30), (10, 30), (10, 20), (5.5, 20), (5.5, 10),
                (10, 10), (10, 0),
            ]))
        #expect(try ShapeOperations.buffer(dumbbell, radius: -1, context: geos).count == 2)
        let closed = try ShapeOperations.close(dumbbell, radius: 1, context: geos)
        #expect(closed.count == 1)
    }

    @Test("vector smoothing and simplification keep shapes valid")
    func smoothAndSimplify() throws {
        let geos = GEOSContext()
        let smooth = try ShapeOperations.smooth(Self.square, window: 15, epsilon: 0.1, context: geos)
        #expect(smooth.count == 1)
        #expect(geos.isValid(smooth[0]))
        #expect(smooth[0].area < 100 && smooth[0].area > 75)
        let dense = PixelPolygon(
            vertices: (0..<100).map { i in
                let a = Double(i) / 100 * 2 * Double.pi
                return PixelPoint(row: 20 * (1 + 0.01 * sin(7 * a)) * sin(a), column: 20 * cos(a))
            })
        let simplified = try ShapeOperations.simplify(dense, epsilon: 0.5, context: geos)
        let simple = try #require(simplified)
        #expect(simple.vertices.count < 40)
        #expect(geos.isValid(simple))
        let rdpResult = try ShapeOperations.simplify(dense, epsilon: 0.5, preserveTopology: false, context: geos)
        let rdp = try #require(rdpResult)
        #expect(rdp.vertices.count < 40)
    }

    @Test("joinIntersecting unions overlapping polygons within distance_heuristic")
    func join() throws {
        let geos = GEOSContext()
        let a = Self.square
        let b = PixelPolygon(vertices: Fixtures.points([(5, 5), (5, 15), (15, 15), (15, 5)]))
        let c = PixelPolygon(vertices: Fixtures.points([(50, 50), (50, 60), (60, 60), (60, 50)]))
        let joined = try ShapeOperations.joinIntersecting([a, c, b], context: geos)
        #expect(joined.count == 2)
        #expect(joined[0].members == [0, 2])
        #expect(abs(joined[0].polygon.area - 175) < 1e-9)
        #expect(joined[1].members == [1])
        #expect(try ShapeOperations.joinIntersecting([a, b], distanceHeuristic: 5, context: geos).count == 2)
    }

    @Test("one GEOS context per worker in parallel tasks")
    func contextsPerTask() async throws {
        let areas = try await withThrowingTaskGroup(of: Double.self) { group in
            for k in 1...8 {
                group.addTask {
                    let geos = GEOSContext()
                    let p = PixelPolygon(
                        vertices: Fixtures.points([(0, 0), (0, Double(k)), (Double(k), Double(k)), (Double(k), 0)]))
                    return try ShapeOperations.buffer(p, radius: 0.5, context: geos)[0].area
                }
            }
            var out: [Double] = []
            for try await a in group { out.append(a) }
            return out
        }
        #expect(areas.count == 8)
    }
}

@Suite("Preview rendering")
struct PreviewTests {
    @Test("outlines in well colours, path lines, calibration crosses, auto-contrast")
    func render() throws {
        let mask = Fixtures.mask(width: 120, height: 100, [(1, 10...30, 10...30), (2, 60...80, 70...100)])
        var gray = Image<UInt16>(width: 120, height: 100, repeating: 100)
        for i in 0..<60 { gray[x: i, y: 50] = 5000 }  // bright outliers beyond the 99.5th percentile
        gray[x: 0, y: 0] = 0
        let plan = try Fixtures.plan(
            mask, Fixtures.raw, sets: [CellSet(classes: [1], well: "A1"), CellSet(classes: [2], well: "B1")])
        var options = PreviewRenderer.Options()
        options.maxSide = 240  // no downsampling: scale 1
        let image = PreviewRenderer.render(background: gray, plan: plan, options: options)
        #expect(image.width == 120 && image.height == 100)
        #expect(image.bytes.count == 120 * 100 * 4)
        // The top edge of cell 1 lies at row 9.5 → output row 10 (pixel centre 9.5 + 0.5).
        let onOutline = image.pixel(x: 20, y: 10)
        let c0 = PreviewRenderer.palette[0]
        #expect(onOutline.r == c0.r && onOutline.g == c0.g && onOutline.b == c0.b)
        let c1 = PreviewRenderer.palette[1]
        let second = image.pixel(x: 85, y: 60)
        #expect(second.r == c1.r && second.g == c1.g && second.b == c1.b)
        // Calibration point (row 0, column 100) → cross centre at (100.5, 0.5).
        let marker = image.pixel(x: 100, y: 0)
        #expect(marker.r == 255 && marker.g == 0 && marker.b == 255)
        // Background: 100 sits between the 0.5/99.5 percentiles → mid-gray, not black/white.
        let bg = image.pixel(x: 5, y: 95)
        #expect(bg.a == 255 && bg.r == bg.g && bg.g == bg.b)
        // Downsampling.
        options.maxSide = 60
        let small = PreviewRenderer.render(background: gray, plan: plan, options: options)
        #expect(small.width == 60 && small.height == 50)
        let blank = PreviewRenderer.render(
            background: Image<UInt8>?.none, plan: plan, canvasWidth: 120, canvasHeight: 100)
        #expect(blank.width == 120)
    }
}
