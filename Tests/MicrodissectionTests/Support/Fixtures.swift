import ImageKit
import Microdissection

/// Small hand-made masks and configurations.
enum Fixtures {
    /// A mask of `width × height` with rectangles `(label, rows, columns)` painted in order.
    static func mask(width: Int, height: Int, _ rects: [(UInt32, ClosedRange<Int>, ClosedRange<Int>)]) -> Image<UInt32>
    {
        var image = Image<UInt32>(width: width, height: height, repeating: 0)
        for (label, rows, cols) in rects {
            for r in rows { for c in cols { image[x: c, y: r] = label } }
        }
        return image
    }

    /// A mask from text rows: `.` is 0, digits and letters are labels (`1`–`9`, `a` = 10, …).
    static func mask(_ rows: [String]) -> Image<UInt32> {
        let h = rows.count
        let w = rows.map(\.count).max() ?? 0
        var image = Image<UInt32>(width: w, height: h, repeating: 0)
        for (r, line) in rows.enumerated() {
            for (c, ch) in line.enumerated() where ch != "." {
                image[x: c, y: r] = UInt32(String(ch), radix: 36)!
            }
        }
        return image
    }

    /// py-lmd with every smoothing switched off: the raw traced pixel boundary, only exactly
    /// collinear vertices removed, cell-set order.
    static var raw: LMDConfig {
        var c = LMDConfig()
        c.binarySmoothing = 0
        c.convolutionSmoothing = 1
        c.rdpEpsilon = 0
        c.pathOptimization = .none
        return c
    }

    static let calibration = try! Calibration(points: [
        PixelPoint(row: 0, column: 0), PixelPoint(row: 0, column: 100), PixelPoint(row: 100, column: 50),
    ])

    static func plan(
        _ mask: Image<UInt32>, _ config: LMDConfig, sets: [CellSet]? = nil, parallelism: Int = 2
    ) throws -> CuttingPlan {
        var labels = Set<Int>()
        for v in mask.pixels where v != 0 { labels.insert(Int(v)) }
        let cellSets = sets ?? [CellSet(name: "all", classes: labels.sorted(), well: "A1")]
        return try CuttingPlanner(config: config, parallelism: parallelism).plan(
            mask: mask, cellSets: cellSets, calibration: calibration)
    }

    static func points(_ p: [(Double, Double)]) -> [PixelPoint] { p.map { PixelPoint(row: $0.0, column: $0.1) } }
}
