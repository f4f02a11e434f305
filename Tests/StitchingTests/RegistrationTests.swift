import Foundation
import ImageKit
import Testing

@testable import Stitching

@Suite struct RegistrationTests {
    /// A 3x3 grid of 192 px tiles, nominal step 150 px (22 % overlap), cut from one 512x512
    /// texture at origins jittered by up to ±6 px with sub-pixel parts (exact, via Fourier shifts).
    struct Mosaic {
        var tiles: [Image<Float>]
        var truth: [(Double, Double)]
        var layout: TileLayout
    }

    static func mosaic(noise: Double = 20) throws -> Mosaic {
        let base = try Synthetic.texture(width: 512, height: 512, seed: 11)
        let jitter = Synthetic.uniform(18, seed: 77).map { (Double($0) - 0.5) * 12 }
        let layout = try TileLayout.grid(rows: 3, columns: 3, tileHeight: 192, tileWidth: 192, stepY: 150, stepX: 150)
        var tiles: [Image<Float>] = []
        var truth: [(Double, Double)] = []
        for (k, nominal) in layout.tiles.enumerated() {
            let oy = 8 + nominal.y + jitter[2 * k]
            let ox = 8 + nominal.x + jitter[2 * k + 1]
            let iy = Int(oy.rounded(.down))
            let ix = Int(ox.rounded(.down))
            // tile(u) = base(origin + u) = shifted(iy + u) with shifted(v) = base(v + fraction).
            let shifted = try Synthetic.fourierShift(base, dy: -(oy - Double(iy)), dx: -(ox - Double(ix)))
            let tile = try Synthetic.crop(shifted, y: iy, x: ix, height: 192, width: 192)
            tiles.append(Synthetic.addNoise(tile, sigma: noise, seed: UInt64(100 + k)))
            truth.append((oy, ox))
        }
        return Mosaic(tiles: tiles, truth: truth, layout: layout)
    }

    @Test func synthetic3x3GridIsSolvedToATenthOfAPixel() throws {
        let m = try Self.mosaic()
        let solution = try Registration.solve(tiles: m.tiles, layout: m.layout)
        let error = positionError(solution.positions, m.truth)
        let nominal = positionError(m.layout.tiles.map { Registration.Position(y: $0.y, x: $0.x) }, m.truth)
        print("synthetic 3x3: RMS \(error.rms) px (nominal \(nominal.rms))\n\(describe(solution))")
        #expect(solution.pairs.count == 12, "edge neighbours only (no diagonals)")
        #expect(solution.pairs.allSatisfy { $0.accepted })
        #expect(solution.modelPlacedTiles.isEmpty)
        #expect(solution.warnings.isEmpty, "\(solution.warnings)")
        #expect(error.rms <= 0.1, "RMS \(error.rms) px")
        #expect(nominal.rms > 2, "the jitter must make the test meaningful")
    }

    @Test func tileWithoutContentIsPlacedByTheStageModelWithAWarning() throws {
        var m = try Self.mosaic()
        // Tile 8 (bottom right) becomes pure noise: its two pairs must fail the threshold.
        m.tiles[8] = Synthetic.addNoise(Image(width: 192, height: 192, repeating: 500), sigma: 300, seed: 9)
        let solution = try Registration.solve(tiles: m.tiles, layout: m.layout)
        print(describe(solution))
        let rejected = solution.pairs.filter { $0.second == 8 }
        #expect(rejected.count == 2)
        #expect(
            rejected.allSatisfy { $0.status == .lowScore || $0.status == .shiftAtLimit }, "\(rejected.map(\.status))")
        #expect(solution.modelPlacedTiles == [8])
        #expect(solution.warnings.contains { $0.contains("tile 8") })
        let error = positionError(Array(solution.positions.prefix(8)), Array(m.truth.prefix(8)))
        #expect(error.rms <= 0.1, "connected tiles RMS \(error.rms)")
        // The model (fitted on the 8 others, near identity here) puts tile 8 near its nominal
        // place in the solved frame: within the ±6 px jitter (plus the fitted offset).
        let mean = (0..<8).map { solution.positions[$0].y - m.truth[$0].0 }.reduce(0, +) / 8
        let meanX = (0..<8).map { solution.positions[$0].x - m.truth[$0].1 }.reduce(0, +) / 8
        let dy = solution.positions[8].y - m.truth[8].0 - mean
        let dx = solution.positions[8].x - m.truth[8].1 - meanX
        #expect((dy * dy + dx * dx).squareRoot() < 10, "model-placed tile off by (\(dy), \(dx))")
    }

    @Test func inconsistentPairIsRejectedByLoopClosure() throws {
        // A 3x3 grid (4 loops): offsets consistent with true positions, except the interior pair
        // 3-4, off by 5 px. (One loop alone could not tell which of its pairs is wrong.)
        let layout = try TileLayout.grid(rows: 3, columns: 3, tileHeight: 100, tileWidth: 100, stepY: 90, stepX: 90)
        let jitter = Synthetic.uniform(18, seed: 3).map { Double($0) * 6 - 3 }
        let truth = layout.tiles.enumerated().map { ($1.y + jitter[2 * $0], $1.x + jitter[2 * $0 + 1]) }
        func pair(_ i: Int, _ j: Int, error: Double = 0) -> Registration.PairResult {
            Registration.PairResult(
                first: i, second: j, nominalOffsetY: layout.tiles[j].y - layout.tiles[i].y,
                nominalOffsetX: layout.tiles[j].x - layout.tiles[i].x,
                measuredOffsetY: truth[j].0 - truth[i].0, measuredOffsetX: truth[j].1 - truth[i].1 + error,
                score: 0.9, status: .accepted, residual: nil, windowHeight: 10, windowWidth: 80)
        }
        let edges = [(0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (0, 3), (3, 6), (1, 4), (4, 7), (2, 5), (5, 8)]
        var pairs = edges.map { pair($0.0, $0.1, error: $0 == (3, 4) ? 5 : 0) }
        let positions = Registration.solveRejectingInconsistent(layout: layout, pairs: &pairs, tolerance: 1.0)
        #expect(pairs.filter { !$0.accepted }.map { "\($0.first)-\($0.second)" } == ["3-4"])
        #expect(pairs[2].status == .inconsistent)
        let error = positionError(positions, truth)
        #expect(error.rms < 1e-4, "RMS \(error.rms)")
        // With a loose tolerance the bad pair stays and bends the solution.
        var kept = edges.map { pair($0.0, $0.1, error: $0 == (3, 4) ? 5 : 0) }
        let bent = Registration.solveRejectingInconsistent(layout: layout, pairs: &kept, tolerance: 10)
        #expect(kept.allSatisfy { $0.accepted })
        #expect(positionError(bent, truth).rms > 0.5)
    }

    @Test func stageModelRecoversAnAffineMapAcrossComponents() throws {
        let layout = try TileLayout.grid(rows: 3, columns: 3, tileHeight: 100, tileWidth: 100, stepY: 90, stepX: 90)
        // True map: scale 1.02 in y, 0.99 in x, shear 0.01; two components (rows 0-1, row 2)
        // with different offsets, as the per-component gauge of the solve would leave them.
        let a = [1.02, 0.01, -0.005, 0.99]
        var positions: [Registration.Position] = []
        for (k, t) in layout.tiles.enumerated() {
            let shift = k >= 6 ? 7.0 : 0.0
            positions.append(.init(y: a[0] * t.y + a[1] * t.x + 3 + shift, x: a[2] * t.y + a[3] * t.x - 2 - shift))
        }
        var warnings: [String] = []
        let model = Registration.fitStageModel(
            layout: layout, positions: positions,
            components: [[0, 1, 2, 3, 4, 5], [6, 7, 8]], warnings: &warnings)
        #expect(zip(model.matrix, a).allSatisfy { abs($0 - $1) < 1e-9 }, "\(model.matrix)")
        #expect(abs(model.offsetY - 3) < 1e-9 && abs(model.offsetX + 2) < 1e-9)
        #expect(model.fitKind == ["affine", "affine"] && warnings.isEmpty)
        // Rows only: within each component y is constant, so the y scale cannot be fitted (identity
        // with a warning); along x the scale error (0.99) is fitted.
        var w2: [String] = []
        let rowsOnly = Registration.fitStageModel(
            layout: layout, positions: positions, components: [[0, 1, 2], [3, 4, 5], [6], [7], [8]], warnings: &w2)
        #expect(rowsOnly.fitKind[0] == "identity")
        #expect(rowsOnly.fitKind[1] != "identity")
        #expect(w2.count == 1)
        // Random per-tile errors and no systematic stage error: the identity model wins.
        let noise = Synthetic.uniform(18, seed: 4).map { Double($0) * 8 - 4 }
        let jittered = layout.tiles.enumerated().map {
            Registration.Position(y: $1.y + noise[2 * $0], x: $1.x + noise[2 * $0 + 1])
        }
        var w3: [String] = []
        let plain = Registration.fitStageModel(
            layout: layout, positions: jittered, components: [[0, 3, 6], [4, 5], [7, 8], [1], [2]], warnings: &w3)
        #expect(plain.fitKind == ["identity", "identity"], "\(plain.fitKind)")
    }

    @Test func gridLayoutAndNeighbourWindows() throws {
        let up = try TileLayout.grid(
            rows: 2, columns: 3, tileHeight: 100, tileWidth: 120, overlap: 0.1, rowsBottomUp: true)
        #expect(up.tiles[0].y == 90 && up.tiles[3].y == 0 && up.tiles[2].x == 216)
        let options = Registration.Options()
        // Horizontal neighbours: window = 12 px wide overlap, full height, right edge of the left tile.
        let w = try #require(Registration.overlapWindows(up.tiles[0], up.tiles[1], options: options))
        #expect(w.width == 12 && w.height == 100 && w.ax == 108 && w.bx == 0)
        // Diagonal neighbours touch in a corner only: not a pair.
        #expect(Registration.overlapWindows(up.tiles[0], up.tiles[4], options: options) == nil)
        #expect(throws: StitchingError.self) {
            try TileLayout.grid(rows: 0, columns: 3, tileHeight: 10, tileWidth: 10, overlap: 0.1)
        }
        #expect(throws: StitchingError.self) {
            try TileLayout.grid(rows: 1, columns: 3, tileHeight: 10, tileWidth: 10, overlap: 1.0)
        }
        let tiles = [Image<Float>(width: 10, height: 10, repeating: 0)]
        #expect(throws: StitchingError.self) { try Registration.solve(tiles: tiles, layout: up) }
    }
}
