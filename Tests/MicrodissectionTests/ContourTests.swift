import ImageKit
import Microdissection
import Testing

@Suite("Contours from label masks")
struct ContourTests {
    @Test("a square label gives its exact ring in py-lmd's pixel-centre frame")
    func squareRing() throws {
        // 3×3 square: rows 2…4, columns 5…7 → edges at 1.5/4.5 and 4.5/7.5.
        let mask = Fixtures.mask(width: 12, height: 8, [(1, 2...4, 5...7)])
        let plan = try Fixtures.plan(mask, Fixtures.raw)
        let shape = try #require(plan.sets.first?.shapes.first)
        #expect(plan.shapeCount == 1)
        #expect(shape.polygon.vertices == Fixtures.points([(1.5, 4.5), (1.5, 7.5), (4.5, 7.5), (4.5, 4.5)]))
        #expect(
            shape.xmlPoints == [
                XMLPoint(x: 150, y: 450), XMLPoint(x: 150, y: 750), XMLPoint(x: 450, y: 750), XMLPoint(x: 450, y: 450),
            ])
        #expect(shape.labels == [1])
        #expect(shape.polygon.area == 9)
        #expect(!shape.repaired)
    }

    @Test("holes are filled, as py-lmd does")
    func holesFilled() throws {
        var mask = Fixtures.mask(width: 16, height: 16, [(1, 3...12, 3...12)])
        for r in 6...9 { for c in 6...9 { mask[x: c, y: r] = 0 } }
        let plan = try Fixtures.plan(mask, Fixtures.raw)
        #expect(plan.shapeCount == 1)
        #expect(plan.sets[0].shapes[0].polygon.area == 100)
    }

    @Test("a label nested in another label's hole merges into it with join on (py-lmd §4.2.5)")
    func nestedLabelMerges() throws {
        var mask = Fixtures.mask(width: 16, height: 16, [(1, 3...12, 3...12)])
        for r in 6...9 { for c in 6...9 { mask[x: c, y: r] = 0 } }
        mask[x: 7, y: 7] = 2
        let plan = try Fixtures.plan(mask, Fixtures.raw)
        #expect(plan.shapeCount == 1)
        #expect(plan.sets[0].shapes[0].labels == [1, 2])
        var off = Fixtures.raw
        off.joinIntersecting = false
        #expect(try Fixtures.plan(mask, off).shapeCount == 2)
    }

    @Test("dilation and erosion use skimage disk footprints (areas are pixel counts)")
    func dilationErosionAreas() throws {
        var config = Fixtures.raw
        config.joinIntersecting = false
        // One pixel dilated by disk(2): 13 pixels.
        config.shapeDilation = 2
        let dot = Fixtures.mask(width: 11, height: 11, [(1, 5...5, 5...5)])
        #expect(try Fixtures.plan(dot, config).sets[0].shapes[0].polygon.area == 13)
        // 9×9 square dilated by disk(1) (a cross): 11×11 minus 4 corners.
        config.shapeDilation = 1
        let square = Fixtures.mask(width: 20, height: 20, [(1, 5...13, 5...13)])
        #expect(try Fixtures.plan(square, config).sets[0].shapes[0].polygon.area == 117)
        // Eroded by disk(1): 7×7.
        config.shapeDilation = 0
        config.shapeErosion = 1
        #expect(try Fixtures.plan(square, config).sets[0].shapes[0].polygon.area == 49)
        // Eroded by disk(2): 5×5 minus nothing (disk(2) erosion of a square is the inset square).
        config.shapeErosion = 2
        #expect(try Fixtures.plan(square, config).sets[0].shapes[0].polygon.area == 25)
        // With join_intersecting on, shape_erosion is ignored (py-lmd behaviour).
        config.joinIntersecting = true
        #expect(try Fixtures.plan(square, config).sets[0].shapes[0].polygon.area == 81)
    }

    @Test("closing by binary_smoothing fills a slit except its mouth (disk footprint semantics)")
    func closingFillsSlit() throws {
        var config = Fixtures.raw
        config.binarySmoothing = 1
        var mask = Fixtures.mask(width: 16, height: 16, [(1, 4...10, 4...10)])
        for r in 4...7 { mask[x: 7, y: r] = 0 }  // 1-px slit, 4 px deep, from the top edge
        #expect(try Fixtures.plan(mask, Fixtures.raw).sets[0].shapes[0].polygon.area == 45)
        // A disk can still reach one pixel into the slit, so only its mouth stays open.
        #expect(try Fixtures.plan(mask, config).sets[0].shapes[0].polygon.area == 48)
    }

    @Test("touching cells merge with join on (dilation 1), not with join off or without dilation")
    func touchingCells() throws {
        let mask = Fixtures.mask(width: 20, height: 20, [(1, 5...9, 2...6), (2, 5...9, 7...11)])
        var config = Fixtures.raw
        config.shapeDilation = 1
        let joined = try Fixtures.plan(mask, config)
        #expect(joined.shapeCount == 1)
        #expect(joined.sets[0].shapes[0].labels == [1, 2])
        #expect(joined.warnings.contains { $0.code == .cellsMerged })

        config.joinIntersecting = false
        let separate = try Fixtures.plan(mask, config)
        #expect(separate.shapeCount == 2)

        // Sharing an edge is not sharing a pixel.
        var noDilation = Fixtures.raw
        noDilation.joinIntersecting = true
        #expect(try Fixtures.plan(mask, noDilation).shapeCount == 2)

        // Candidates are limited by distance_heuristic (centres are 5 px apart).
        config.joinIntersecting = true
        config.distanceHeuristic = 4
        #expect(try Fixtures.plan(mask, config).shapeCount == 2)
    }

    @Test("merging is per cell set")
    func mergingPerSet() throws {
        let mask = Fixtures.mask(width: 20, height: 20, [(1, 5...9, 2...6), (2, 5...9, 7...11)])
        var config = Fixtures.raw
        config.shapeDilation = 1
        let plan = try Fixtures.plan(
            mask, config, sets: [CellSet(classes: [1], well: "A1"), CellSet(classes: [2], well: "B1")])
        #expect(plan.shapeCount == 2)
        #expect(plan.document.shapes.map(\.well) == ["A1", "B1"])
    }

    @Test("a label in two blobs becomes two shapes with the same well (or only the largest)")
    func multiBlob() throws {
        let mask = Fixtures.mask(width: 30, height: 20, [(1, 2...5, 2...5), (1, 10...16, 15...22)])
        let plan = try Fixtures.plan(mask, Fixtures.raw)
        #expect(plan.shapeCount == 2)
        #expect(plan.sets[0].shapes.allSatisfy { $0.labels == [1] })
        #expect(plan.warnings.contains { $0.code == .multipleBlobs && $0.labels == [1] })
        #expect(Set(plan.sets[0].shapes.map(\.polygon.area)) == [16, 56])

        var largest = Fixtures.raw
        largest.multiBlob = .largest
        let one = try Fixtures.plan(mask, largest)
        #expect(one.shapeCount == 1)
        #expect(one.sets[0].shapes[0].polygon.area == 56)
    }

    @Test("diagonal pixels (saddles) give one simple, valid ring")
    func saddles() throws {
        let mask = Fixtures.mask([
            "..........",
            ".11.......",
            ".11.......",
            "...11.....",
            "...11.....",
            ".....1....",
            "..........",
        ])
        let plan = try Fixtures.plan(mask, Fixtures.raw)
        #expect(plan.shapeCount == 1)
        let shape = plan.sets[0].shapes[0]
        let geos = GEOSContext()
        #expect(geos.isValid(shape.polygon), "\(geos.validityReason(shape.polygon))")
        // 9 pixels plus two chamfer bridges of 2 × 0.125 px² each.
        #expect(abs(shape.polygon.area - 9.5) < 1e-9)
    }

    @Test("cells at the top/left border are traced along the image edge at -0.5 (not clamped)")
    func topLeftBorder() throws {
        let mask = Fixtures.mask(width: 10, height: 10, [(1, 0...2, 0...3)])
        let plan = try Fixtures.plan(mask, Fixtures.raw)
        #expect(
            plan.sets[0].shapes[0].polygon.vertices
                == Fixtures.points([(-0.5, -0.5), (-0.5, 3.5), (2.5, 3.5), (2.5, -0.5)]))
    }

    @Test("default smoothing keeps a disc's area and centre")
    func discDefaults() throws {
        var mask = Image<UInt32>(width: 64, height: 64, repeating: 0)
        for r in 0..<64 {
            for c in 0..<64 where (r - 30) * (r - 30) + (c - 32) * (c - 32) <= 225 { mask[x: c, y: r] = 7 }
        }
        let plan = try Fixtures.plan(mask, LMDConfig())
        let shape = try #require(plan.sets.first?.shapes.first)
        let pixels = mask.pixels.filter { $0 == 7 }.count
        #expect(abs(shape.polygon.area - Double(pixels)) / Double(pixels) < 0.05)
        #expect(abs(shape.polygon.centroid.row - 30) < 0.5)
        #expect(abs(shape.polygon.centroid.column - 32) < 0.5)
        #expect((20...60).contains(shape.xmlPoints.count))
    }

    @Test("every polygon of random blobby masks is valid with ≥ 3 vertices, for several configs")
    func randomMasksAreValid() throws {
        var rng = SplitMix64(seed: 99)
        var mask = Image<UInt32>(width: 160, height: 160, repeating: 0)
        for label in 1...60 {
            let cr = Int(rng.next() % 160)
            let cc = Int(rng.next() % 160)
            for _ in 0..<40 {
                let r = cr + Int(rng.next() % 9) - 4
                let c = cc + Int(rng.next() % 9) - 4
                if r >= 0 && r < 160 && c >= 0 && c < 160 { mask[x: c, y: r] = UInt32(label) }
            }
        }
        var present = Set<Int>()
        for v in mask.pixels where v != 0 { present.insert(Int(v)) }
        let geos = GEOSContext()
        var configs: [LMDConfig] = [LMDConfig(), Fixtures.raw]
        var c = LMDConfig()
        c.shapeDilation = 2
        c.rdpEpsilon = 1.5
        configs.append(c)
        c.joinIntersecting = false
        c.shapeErosion = 1
        c.convolutionSmoothing = 40
        configs.append(c)
        for config in configs {
            let plan = try Fixtures.plan(mask, config, sets: [CellSet(classes: present.sorted(), well: "C3")])
            #expect(plan.shapeCount > 0)
            for shape in plan.sets.flatMap(\.shapes) {
                #expect(shape.xmlPoints.count >= 3)
                #expect(shape.xmlPoints.count == shape.polygon.vertices.count)
                let xml = PixelPolygon(
                    vertices: shape.xmlPoints.map { PixelPoint(row: Double($0.x), column: Double($0.y)) })
                #expect(geos.isValid(xml), "\(geos.validityReason(xml))")
            }
        }
    }

    @Test("the result does not depend on the number of workers")
    func deterministic() throws {
        let (_, labels) = SyntheticSample.nuclei(width: 200, height: 160, count: 40, seed: 5)
        var config = LMDConfig()
        config.shapeDilation = 2
        let one = try Fixtures.plan(labels, config, parallelism: 1)
        let four = try Fixtures.plan(labels, config, parallelism: 4)
        #expect(one.document == four.document)
        #expect(one.warnings == four.warnings)
    }

    @Test("16-bit masks give the same shapes as 32-bit masks")
    func labelTypes() throws {
        let mask32 = Fixtures.mask(width: 30, height: 30, [(3, 4...12, 4...9), (9, 15...25, 10...20)])
        let mask16 = try Image<UInt16>(width: 30, height: 30, pixels: mask32.pixels.map { UInt16($0) })
        let sets = [CellSet(classes: [3, 9], well: "A1")]
        let a = try CuttingPlanner().plan(mask: mask32, cellSets: sets, calibration: Fixtures.calibration)
        let b = try CuttingPlanner().plan(mask: mask16, cellSets: sets, calibration: Fixtures.calibration)
        #expect(a.document == b.document)
    }
}
