import ImageKit
import Microdissection
import Testing

@Suite("LMDConfig, cell sets, calibration")
struct ConfigTests {
    @Test("defaults are py-lmd 1.6.1's")
    func defaults() {
        let c = LMDConfig()
        #expect(c.shapeDilation == 0)
        #expect(c.shapeErosion == 0)
        #expect(c.binarySmoothing == 3)
        #expect(c.convolutionSmoothing == 15)
        #expect(c.rdpEpsilon == 0.1)
        #expect(c.pathOptimization == .hilbert)
        #expect(c.hilbertP == 7)
        #expect(c.greedyK == 0)
        #expect(c.xmlDecimalTransform == 100)
        #expect(c.distanceHeuristic == 300)
        #expect(c.joinIntersecting)
        #expect(c.orientationTransform == .identity)
        #expect(!c.skipMissing)
        #expect(c.multiBlob == .separate)
    }

    @Test("a full py-lmd config.json parses")
    func parseFull() throws {
        let json = """
            {"shape_dilation": 3, "shape_erosion": 1, "binary_smoothing": 5, "convolution_smoothing": 25,
             "rdp_epsilon": 0.7, "path_optimization": "greedy", "hilbert_p": 4, "greedy_k": 20,
             "xml_decimal_transform": 50, "distance_heuristic": 120.5, "join_intersecting": false,
             "orientation_transform": [[0, -1], [1, 0]], "threads": 1, "processes": 2, "skip_missing": true,
             "multi_blob": "largest", "cell_width": 100}
            """
        let c = try LMDConfig(json: Array(json.utf8))
        #expect(c.shapeDilation == 3)
        #expect(c.shapeErosion == 1)
        #expect(c.binarySmoothing == 5)
        #expect(c.convolutionSmoothing == 25)
        #expect(c.rdpEpsilon == 0.7)
        #expect(c.pathOptimization == .greedy)
        #expect(c.hilbertP == 4)
        #expect(c.greedyK == 20)
        #expect(c.xmlDecimalTransform == 50)
        #expect(c.distanceHeuristic == 120.5)
        #expect(!c.joinIntersecting)
        #expect(c.orientationTransform == .scPortrait)
        #expect(c.skipMissing)
        #expect(c.multiBlob == .largest)
        #expect(c.ignoredKeys == ["cell_width", "processes", "threads"])
    }

    @Test("unknown keys are rejected by name; scPortrait's `rdp` gets a hint")
    func unknownKeys() {
        do {
            _ = try LMDConfig(json: Array(#"{"shape_dilation": 1, "rpd_epsilon": 0.1}"#.utf8))
            Issue.record("accepted an unknown key")
        } catch {
            #expect(error.code == .unknownConfigKey)
            #expect(error.context.key == "rpd_epsilon")
            #expect(error.description.contains("rpd_epsilon"))
        }
        do {
            _ = try LMDConfig(json: Array(#"{"rdp": 0.7}"#.utf8))
            Issue.record("accepted rdp")
        } catch {
            #expect(error.context.key == "rdp")
            #expect(error.message.contains("rdp_epsilon"))
        }
    }

    @Test("wrong types and ranges name the key")
    func invalidValues() {
        let cases: [(String, String)] = [
            (#"{"shape_dilation": -1}"#, "shape_dilation"),
            (#"{"shape_dilation": 1.5}"#, "shape_dilation"),
            (#"{"convolution_smoothing": 0}"#, "convolution_smoothing"),
            (#"{"rdp_epsilon": "0.1"}"#, "rdp_epsilon"),
            (#"{"join_intersecting": 1}"#, "join_intersecting"),
            (#"{"path_optimization": "tsp"}"#, "path_optimization"),
            (#"{"hilbert_p": 40}"#, "hilbert_p"),
            (#"{"xml_decimal_transform": 0}"#, "xml_decimal_transform"),
            (#"{"orientation_transform": [[1, 0]]}"#, "orientation_transform"),
            (#"{"orientation_transform": [[1, 2], [2, 4]]}"#, "orientation_transform"),
        ]
        for (json, key) in cases {
            do {
                _ = try LMDConfig(json: Array(json.utf8))
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.context.key == key, "\(json): \(error)")
            }
        }
        #expect(throws: MicrodissectionError.self) { try LMDConfig(json: Array("[1, 2]".utf8)) }
        #expect(throws: MicrodissectionError.self) { try LMDConfig(json: Array("{not json".utf8)) }
        // Integral floats are fine where integers are expected.
        #expect((try? LMDConfig(json: Array(#"{"shape_dilation": 3.0}"#.utf8)))?.shapeDilation == 3)
    }

    @Test("cellsets.json parses; CSV paths and bad wells are rejected")
    func cellSets() throws {
        let sets = try CellSet.list(
            json: Array(#"[{"name": "a", "classes": [1, 2, 3], "well": "A1"}, {"classes": [4]}]"#.utf8))
        #expect(sets == [CellSet(name: "a", classes: [1, 2, 3], well: "A1"), CellSet(classes: [4])])
        for bad in [
            #"[{"classes": "cells.csv"}]"#, #"[{"classes": [1], "well": 3}]"#, #"[{"well": "A1"}]"#,
            #"[{"classes": [-1]}]"#, #"[{"classes": [1], "wel": "A1"}]"#,
        ] {
            #expect(throws: MicrodissectionError.self, "\(bad)") { try CellSet.list(json: Array(bad.utf8)) }
        }
    }

    @Test("calibration needs ≥ 3 non-collinear finite points")
    func calibration() throws {
        let good = try Calibration(json: Array(#"{"points_row_col_px": [[-10, -10], [-10, 520], [520, 255]]}"#.utf8))
        #expect(good.points.count == 3)
        for points in [
            [(0.0, 0.0), (1.0, 1.0)],
            [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)],
            [(5.0, 5.0), (5.0, 5.0), (5.0, 5.0)],
            [(0.0, 0.0), (0.0, 10.0), (0.0, 500.0), (0.0, -3.0)],
            [(0.0, 0.0), (Double.nan, 1.0), (2.0, 0.0)],
        ] {
            do {
                _ = try Calibration(points: Fixtures.points(points))
                Issue.record("accepted \(points)")
            } catch {
                #expect(error.code == .invalidCalibration)
            }
        }
        // Four points, the first three collinear, the fourth off the line: fine.
        _ = try Calibration(points: Fixtures.points([(0, 0), (0, 10), (0, 20), (5, 5)]))
    }

    @Test("half-to-even for vertices, floor for calibration points, no -0")
    func rounding() throws {
        let m = try CoordinateMapping(transform: .identity, scale: 20)
        // 0.125·20 = 2.5, 0.375·20 = 7.5, -0.125·20 = -2.5: exact in binary.
        #expect(m.shapeVertex(PixelPoint(row: 0.125, column: 0.375)) == XMLPoint(x: 2, y: 8))
        #expect(m.shapeVertex(PixelPoint(row: -0.125, column: -0.375)) == XMLPoint(x: -2, y: -8))
        #expect(m.calibrationPoint(PixelPoint(row: 0.125, column: -0.125)) == XMLPoint(x: 2, y: -3))
        let hundred = try CoordinateMapping()
        // The SPEC's example: calibration (-10.347, -9.653) → (-1035, -966); vertex 60.4 → 6040.
        #expect(hundred.calibrationPoint(PixelPoint(row: -10.347, column: -9.653)) == XMLPoint(x: -1035, y: -966))
        #expect(hundred.shapeVertex(PixelPoint(row: 60.4, column: 0)) == XMLPoint(x: 6040, y: 0))
        #expect(hundred.calibrationPoint(PixelPoint(row: 0.999, column: 0)).x == 99)
        #expect(hundred.shapeVertex(PixelPoint(row: 0.999, column: -0.001)) == XMLPoint(x: 100, y: 0))
        #expect(CoordinateMapping.roundHalfEven(-0.4) == 0)
        #expect(String(CoordinateMapping.roundHalfEven(-0.4)) == "0")
    }

    @Test("orientation transforms map as a row vector times T, and invert exactly")
    func orientation() throws {
        let p = PixelPoint(row: 12.5, column: 40.25)
        let sc = try CoordinateMapping(transform: .scPortrait, scale: 100)
        let q = sc.xmlPosition(p)
        #expect(q.x == 4025 && q.y == -1250)  // X = col, Y = -row
        let flip = try CoordinateMapping(transform: OrientationTransform(1, 0, 0, -1), scale: 1)
        #expect(flip.xmlPosition(p).x == 12.5 && flip.xmlPosition(p).y == -40.25)
        let odd = try CoordinateMapping(transform: OrientationTransform(0.8, 0.3, -0.2, 1.1), scale: 37)
        let back = odd.pixel(fromXMLX: odd.xmlPosition(p).x, y: odd.xmlPosition(p).y)
        #expect(abs(back.row - p.row) < 1e-9 && abs(back.column - p.column) < 1e-9)
        #expect(sc.pixel(fromXML: XMLPoint(x: 4025, y: -1250)) == p)
        #expect(throws: MicrodissectionError.self) {
            try CoordinateMapping(transform: OrientationTransform(1, 1, 1, 1))
        }
        #expect(throws: MicrodissectionError.self) { try CoordinateMapping(scale: 0) }
    }
}

@Suite("Planner errors and warnings")
struct PlannerErrorTests {
    let mask = Fixtures.mask(width: 20, height: 20, [(1, 2...5, 2...5), (2, 10...14, 10...14)])

    @Test("labels not in the mask are an error naming them, or skipped with skip_missing")
    func missingLabels() throws {
        let sets = [CellSet(name: "picked", classes: [1, 2, 77, 5], well: "A1")]
        do {
            _ = try Fixtures.plan(mask, LMDConfig(), sets: sets)
            Issue.record("missing labels accepted")
        } catch let error as MicrodissectionError {
            #expect(error.code == .missingLabels)
            #expect(error.context.labels == [5, 77])
            #expect(error.context.cellSet == "picked")
        }
        var skip = LMDConfig()
        skip.skipMissing = true
        let plan = try Fixtures.plan(mask, skip, sets: sets)
        #expect(plan.shapeCount == 2)
        #expect(plan.warnings.contains { $0.code == .missingLabelsSkipped && $0.labels == [5, 77] })
    }

    @Test("label 0 is dropped with a warning; duplicates are used once")
    func labelZeroAndDuplicates() throws {
        let plan = try Fixtures.plan(mask, LMDConfig(), sets: [CellSet(classes: [0, 1, 2, 1], well: "A1")])
        #expect(plan.shapeCount == 2)
        #expect(plan.warnings.contains { $0.code == .labelZeroDropped })
        #expect(plan.warnings.contains { $0.code == .duplicateLabels && $0.labels == [1] })
    }

    @Test("an empty set, a set of only 0, and no sets are clear errors")
    func emptySets() {
        for sets in [[CellSet(classes: [], well: "A1")], [CellSet(classes: [0], well: "A1")], []] {
            do {
                _ = try Fixtures.plan(mask, LMDConfig(), sets: sets)
                Issue.record("accepted \(sets)")
            } catch let error as MicrodissectionError {
                #expect(error.code == .emptyCellSet || error.code == .emptyDocument)
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        var skip = LMDConfig()
        skip.skipMissing = true
        #expect(throws: MicrodissectionError.self) {
            try Fixtures.plan(mask, skip, sets: [CellSet(classes: [9, 10])])
        }
    }

    @Test("a multi-channel mask is rejected")
    func multiChannel() {
        let mask = Image<UInt32>(width: 4, height: 4, channels: 2, repeating: 1)
        #expect(throws: MicrodissectionError.self) {
            try CuttingPlanner().plan(mask: mask, cellSets: [CellSet(classes: [1])], calibration: Fixtures.calibration)
        }
    }

    @Test("sets without a well write no CapID; several sets share one document")
    func wells() throws {
        let plan = try Fixtures.plan(
            mask, LMDConfig(), sets: [CellSet(classes: [1]), CellSet(name: "b", classes: [2], well: "B2")])
        #expect(plan.document.shapes.map(\.well) == [nil, "B2"])
        #expect(plan.sets.map(\.cellCount) == [1, 1])
        #expect(plan.document.calibrationPoints.count == 3)
    }
}
