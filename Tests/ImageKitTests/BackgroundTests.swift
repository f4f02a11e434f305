import Foundation
import ImageKit
import Testing

/// scipy reference values, computed once with the anchors venv (scipy 1.17.1):
///
/// ```python
/// from scipy.interpolate import RectBivariateSpline, InterpolatedUnivariateSpline
/// xs = np.array([0, 1.5, 3, 5, 6.5, 9.]); ys = np.array([0, 2, 3, 4.5, 7.])
/// z = np.array([[np.sin(x) + np.cos(0.7*y) + 0.05*x*y for x in xs] for y in ys])
/// pts = [(-1,-2),(0,0),(0.7,1.1),(2.2,2.9),(4.4,4.4),(6.0,6.9),(8.9,0.3),(10,8),(3,3),(7.7,5.2)]
/// cubic = [RectBivariateSpline(xs, ys, z.T).ev(x, y) for x, y in pts]          # kx = ky = 3, s = 0
/// xs2 = np.array([0, 2, 5.]); ys2 = np.array([1, 4.])                           # same z formula
/// pts2 = [(-1,0),(0.5,1.5),(1.9,3.3),(3.7,2.2),(6,5)]
/// low = [RectBivariateSpline(xs2, ys2, z2.T, kx=2, ky=1).ev(x, y) for x, y in pts2]
/// xs3 = np.array([0, 1, 2, 3, 4.]); v3 = np.sin(xs3)*3 + xs3
/// line = InterpolatedUnivariateSpline(xs3, v3, k=3, ext=3)([-0.5, 0.25, 1.5, 2.75, 3.9, 5])
/// ```
enum SplineReference {
    static let cubic: [Double] = [
        1.0, 1.0, 1.5739012148854412, 0.6097774238920936, -0.911461569169836, 1.8529758649794266,
        1.7145971951672978, 3.7486308546643317, 0.08627390346001039, 2.235492175174345,
    ]
    static let low: [Double] = [
        0.7648421872844886, 0.9067641814184181, 0.6743660640000201, 0.8158609007664082, -0.9011466153317964,
    ]
    static let line: [Double] = [
        3.7869210003407626e-17, 1.0569345891384332, 4.4639906662848965, 3.89126670185984, 1.8396705143813006,
        1.7295925140762156,
    ]

    static func z(_ x: Double, _ y: Double) -> Double { sin(x) + cos(0.7 * y) + 0.05 * x * y }

    static func grid(_ xs: [Double], _ ys: [Double]) -> GridSpline {
        GridSpline(xs: xs, ys: ys, values: ys.flatMap { y in xs.map { x in z(x, y) } })
    }
}

@Suite struct BackgroundTests {
    @Test func tileGeometryFollowsPyama() {
        // L = 700: n_div = ceil(700/256)+1 = 4 → rint(linspace(0, 700, 7)) = 0 117 233 350 467 583 700.
        let t = Background.pyamaTiles(length: 700, tileSize: 256)
        #expect(t.ranges == [0..<233, 117..<350, 233..<467, 350..<583, 467..<700])
        #expect(t.centres == [116.5, 233.5, 350, 466.5, 583.5])
        // L = 6, tile 4: linspace(0, 6, 5) = 0 1.5 3 4.5 6 → rint (half to even) 0 2 3 4 6.
        let h = Background.pyamaTiles(length: 6, tileSize: 4)
        #expect(h.ranges == [0..<3, 2..<4, 3..<6])
        #expect(h.centres == [1.5, 3, 4.5])
        // L ≤ tile: n_div = 2 → one tile over everything.
        let one = Background.pyamaTiles(length: 200, tileSize: 256)
        #expect(one.ranges == [0..<200])
        #expect(one.centres == [100])
        // 512 px: three tiles (a quadratic spline); 513 px: five.
        #expect(Background.pyamaTiles(length: 512).ranges.count == 3)
        #expect(Background.pyamaTiles(length: 513).ranges.count == 5)
    }

    @Test func splineMatchesScipy() {
        let pts: [(Double, Double)] = [
            (-1, -2), (0, 0), (0.7, 1.1), (2.2, 2.9), (4.4, 4.4), (6.0, 6.9), (8.9, 0.3), (10, 8), (3, 3), (7.7, 5.2),
        ]
        let cubic = SplineReference.grid([0, 1.5, 3, 5, 6.5, 9], [0, 2, 3, 4.5, 7])
        for (k, (x, y)) in pts.enumerated() {
            #expect(abs(cubic.value(x: x, y: y) - SplineReference.cubic[k]) < 1e-12, "cubic at (\(x), \(y))")
        }
        let low = SplineReference.grid([0, 2, 5], [1, 4])
        let pts2: [(Double, Double)] = [(-1, 0), (0.5, 1.5), (1.9, 3.3), (3.7, 2.2), (6, 5)]
        for (k, (x, y)) in pts2.enumerated() {
            #expect(abs(low.value(x: x, y: y) - SplineReference.low[k]) < 1e-12, "quadratic × linear at (\(x), \(y))")
        }
        let xs3: [Double] = [0, 1, 2, 3, 4]
        let line = GridSpline(xs: xs3, ys: [5], values: xs3.map { sin($0) * 3 + $0 })
        for (k, x) in [-0.5, 0.25, 1.5, 2.75, 3.9, 5].enumerated() {
            #expect(abs(line.value(x: x, y: -3) - SplineReference.line[k]) < 1e-12, "one row at x = \(x)")
        }
        #expect(GridSpline(xs: [2], ys: [3], values: [7.5]).value(x: 100, y: -4) == 7.5)
    }

    @Test func splineInterpolatesAndRasterAgrees() {
        let xs: [Double] = [1.5, 4, 7, 11, 12.5], ys: [Double] = [0.5, 3, 6.5, 9]
        let spline = SplineReference.grid(xs, ys)
        for y in ys { for x in xs { #expect(abs(spline.value(x: x, y: y) - SplineReference.z(x, y)) < 1e-12) } }
        let raster = spline.raster(width: 15, height: 11)
        let image = raster.image()
        for y in 0..<11 {
            for x in 0..<15 {
                let v = spline.value(x: Double(x), y: Double(y))
                #expect(abs(raster.value(x: x, y: y) - v) < 1e-12)
                #expect(image[x: x, y: y] == Float(raster.value(x: x, y: y)))
            }
        }
        #expect(abs(raster.rowSum(y: 4, x0: 2, x1: 9) - (2..<9).reduce(0) { $0 + raster.value(x: $1, y: 4) }) < 1e-12)
    }

    @Test func tileMediansSkipExcludedPixelsAndFallBack() {
        // 8 × 8, I = x + 8y, tiles of 4: spans [0,4) [2,6) [4,8) per axis, centres 2, 4, 6.
        // The top-left quadrant is excluded, so tile (0, 0) has no pixel → global median.
        var image = Image<UInt16>(width: 8, height: 8, repeating: 0)
        var excluded = Image<UInt8>(width: 8, height: 8, repeating: 0)
        for y in 0..<8 {
            for x in 0..<8 {
                image[x: x, y: y] = UInt16(x + 8 * y)
                if x < 4 && y < 4 { excluded[x: x, y: y] = 1 }
            }
        }
        func median(_ xr: Range<Int>, _ yr: Range<Int>) -> Double? {
            var v: [Int] = []
            for y in yr { for x in xr where !(x < 4 && y < 4) { v.append(x + 8 * y) } }
            guard !v.isEmpty else { return nil }
            v.sort()
            return Double(v[(v.count - 1) / 2] + v[v.count / 2]) / 2
        }
        let spans = [0..<4, 2..<6, 4..<8]
        let global = median(0..<8, 0..<8)!
        var expected: [Double] = []
        for yr in spans { for xr in spans { expected.append(median(xr, yr) ?? global) } }
        guard let spline = Background.pyamaSupport(image, excluded: excluded, tileSize: 4) else {
            Issue.record("no support")
            return
        }
        #expect(spline.xs == [2, 4, 6] && spline.ys == [2, 4, 6])
        #expect(spline.values == expected)
        #expect(spline.values[0] == global)
        // Everything excluded: no background at all.
        let all = Image<UInt8>(width: 8, height: 8, repeating: 1)
        #expect(Background.pyamaSupport(image, excluded: all, tileSize: 4) == nil)
        #expect(Background.pyama(image, foreground: all, tileSize: 4).pixels.allSatisfy { $0.isNaN })
    }

    /// The whole estimate against `Benchmarks/features_ref.py background` (pyama's formula
    /// restated with scipy), on a frame with cubic tiles along both axes (700 × 900) and one that
    /// degrades to a quadratic × constant surface (300 × 200).
    @Test(arguments: [(700, 900, 3), (300, 200, 5)])
    func pyamaMatchesScipyReimplementation(_ size: (Int, Int, Int)) throws {
        guard let python = backgroundAnchorsPython else {
            print("SKIP pyama background comparison: anchors venv not installed")
            return
        }
        let (width, height, seed) = size
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-bg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [backgroundReferenceScript.path, "background", dir.path, "\(width)", "\(height)", "\(seed)"]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        func raw<T: BitwiseCopyable>(_ name: String, _: T.Type) throws -> [T] {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            return data.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
        }
        let image = try Image(width: width, height: height, pixels: raw("image.u16", UInt16.self))
        let foreground = try Image(width: width, height: height, pixels: raw("foreground.u8", UInt8.self))
        let reference = try raw("background.f64", Double.self)
        let tiles = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("tiles.json")))
            as! [String: [Double]]
        let spline = try #require(
            Background.pyamaSupport(image, excluded: Background.pyamaExclusion(foreground), tileSize: 256))
        #expect(spline.xs == tiles["centres_x"]!)
        #expect(spline.ys == tiles["centres_y"]!)
        #expect(spline.values == tiles["support"]!)
        let ours = Background.pyama(image, foreground: foreground)
        var worst = 0.0
        for i in 0..<(width * height) { worst = max(worst, abs(Double(ours.pixels[i]) - reference[i])) }
        print("pyama background \(width)x\(height): max |ours − scipy| = \(worst)")
        #expect(worst < 1e-3)  // Float storage of values ~700: ≤ 3e-5 expected
        let raster = spline.raster(width: width, height: height)
        var worstDouble = 0.0
        for y in stride(from: 0, to: height, by: 7) {
            for x in stride(from: 0, to: width, by: 5) {
                worstDouble = max(worstDouble, abs(raster.value(x: x, y: y) - reference[y * width + x]))
            }
        }
        #expect(worstDouble < 1e-9)
    }
}

/// The anchors venv's python (`LMDFLOW_ANCHORS` or `~/.cache/lmdflow-anchors`), when present.
private let backgroundAnchorsPython: String? = {
    let root = ProcessInfo.processInfo.environment["LMDFLOW_ANCHORS"] ?? (NSHomeDirectory() + "/.cache/lmdflow-anchors")
    let python = root + "/bin/python"
    return FileManager.default.isExecutableFile(atPath: python) && FileManager.default.fileExists(
        atPath: backgroundReferenceScript.path) ? python : nil
}()

/// `Benchmarks/features_ref.py` of this checkout.
private let backgroundReferenceScript = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Benchmarks/features_ref.py")
