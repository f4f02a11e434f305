import Foundation
import ImageKit
import LMDTestSupport
import Testing

@testable import Stitching

/// Stitching accuracy on `../shared/testdata/stitching` (see `docs/stitching-ashlar.md`, section 7).
@Suite(.enabled(if: hasSharedTestData, "../shared/testdata is not beside the project (set LMD_SHARED_TESTDATA)"))
struct RealDataTests {
    /// truth.json / info.json use snake_case keys.
    var snakeCaseDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    struct Truth: Decodable {
        let grid: [Int]
        let tileShape: [Int]
        let nominalStepPx: Double
        let truthOriginYxPx: [String: [Double]]
    }

    struct Info: Decodable {
        let grid: [Int]
        let tileShape: [Int]
        let nominalOverlap: Double
    }

    /// Tile files `<prefix>r<row:03>_c<col:03>.tif`, row-major.
    func loadGrid(_ folder: URL, prefix: String, rows: Int, columns: Int) throws -> [Image<UInt16>] {
        var tiles: [Image<UInt16>] = []
        for r in 0..<rows {
            for c in 0..<columns {
                let name = prefix + String(format: "r%03d_c%03d.tif", r, c)
                tiles.append(try loadTestImage(folder.appendingPathComponent(name).path))
            }
        }
        return tiles
    }

    /// The gtcut_r002_c000 set: its nominal grid, one channel's tiles and the true origins (row-major).
    func gtcut(channel: String) throws -> (layout: TileLayout, tiles: [Image<UInt16>], expected: [(Double, Double)]) {
        let folder = try #require(sharedTestData).appendingPathComponent("stitching/gtcut_r002_c000")
        let truth = try snakeCaseDecoder.decode(
            Truth.self, from: Data(contentsOf: folder.appendingPathComponent("truth.json")))
        let rows = truth.grid[0]
        let columns = truth.grid[1]
        let layout = try TileLayout.grid(
            rows: rows, columns: columns, tileHeight: truth.tileShape[0], tileWidth: truth.tileShape[1],
            stepY: truth.nominalStepPx, stepX: truth.nominalStepPx)
        let tiles = try loadGrid(folder, prefix: "tile_\(channel)_", rows: rows, columns: columns)
        var expected: [(Double, Double)] = []
        for r in 0..<rows {
            for c in 0..<columns {
                let t = try #require(truth.truthOriginYxPx["r\(r)_c\(c)"])
                expected.append((t[0], t[1]))
            }
        }
        return (layout, tiles, expected)
    }

    /// Tiles cut from a real field with known origins: ≤ 0.5 px RMS (ASHLAR: 0.27 DAPI, 0.22 Alexa488).
    @Test(arguments: ["DAPI", "Alexa488"])
    func gtcutPositionsMatchTruth(channel: String) throws {
        let (layout, tiles, expected) = try gtcut(channel: channel)
        let clock = ContinuousClock()
        let start = clock.now
        let solution = try Registration.solve(tiles: tiles, layout: layout)
        let elapsed = clock.now - start
        let error = positionError(solution.positions, expected)
        let nominalError = positionError(layout.tiles.map { Registration.Position(y: $0.y, x: $0.x) }, expected)
        print(
            "gtcut_r002_c000 \(channel): RMS \(String(format: "%.3f", error.rms)) px, max \(String(format: "%.3f", error.max)) px (nominal grid RMS \(String(format: "%.2f", nominalError.rms))), accepted \(solution.pairs.filter(\.accepted).count)/\(solution.pairs.count), solve \(elapsed)\n\(describe(solution))"
        )
        #expect(solution.pairs.count == 12)
        #expect(error.rms <= 0.5, "RMS \(error.rms) px")
        #expect(error.rms < nominalError.rms / 5)
    }

    /// ASHLAR's failure mode on sparse sets: with most pairs rejected, its fallback put pieces at
    /// nominal-grid centroids and ended worse than no stitching. Here a fixed threshold keeps
    /// only the 4 best of the 12 gtcut pairs; the pieces must be placed by the stage model with
    /// warnings, and the result must stay better than the nominal grid.
    @Test func sparseAcceptanceStaysBetterThanNominal() throws {
        let (layout, tiles, expected) = try gtcut(channel: "DAPI")
        // Keep only the 4 best-scoring pairs: 4 edges cannot connect 9 tiles.
        let full = try Registration.solve(tiles: tiles, layout: layout)
        let ranked = full.pairs.map(\.score).sorted(by: >)
        var options = Registration.Options()
        options.fixedScoreThreshold = ranked[4]
        let solution = try Registration.solve(tiles: tiles, layout: layout, options: options)
        let error = positionError(solution.positions, expected)
        let nominalError = positionError(layout.tiles.map { Registration.Position(y: $0.y, x: $0.x) }, expected)
        let accepted = solution.pairs.filter(\.accepted).count
        print(
            "gtcut DAPI, threshold \(ranked[4]): accepted \(accepted)/12, model-placed \(solution.modelPlacedTiles), RMS \(String(format: "%.2f", error.rms)) px (nominal \(String(format: "%.2f", nominalError.rms)))\n\(describe(solution))"
        )
        #expect(accepted == 4, "the threshold must make the set sparse to test anything")
        #expect(!solution.modelPlacedTiles.isEmpty)
        #expect(solution.warnings.count >= 1)
        #expect(
            error.rms < nominalError.rms,
            "sparse result \(error.rms) px is worse than the nominal grid \(nominalError.rms) px")
    }

    /// A real acquisition (no truth): aligning on DAPI or on Alexa488 should give the same positions.
    /// File row 000 is the bottom row of the mosaic (ASHLAR needed `--flip-y`).
    ///
    /// Measured: 1.49 px RMS after removing the mean offset (1.35 px without the NCC guard of
    /// ``PhaseCorrelation``; ASHLAR: 1.1 px). The issue's 1 px
    /// target is NOT met, and the data explain why: every overlap offset in Alexa488 is ~1.3 px (y)
    /// and ~0.5 px (x) longer than in DAPI, a spatial-NCC search gives the same difference, and
    /// each channel closes its own loops to ≤ 0.45 px. A per-channel magnification-like difference
    /// cannot be removed by a shift; after removing a fitted affine map the channels agree to
    /// 0.20 px. Asserted: the per-channel loop closure, the affine agreement, and a 1.5 px bound on
    /// the shift-only agreement (a regression guard, not the issue's target).
    @Test func scportraitChannelsAgree() throws {
        let folder = try #require(sharedTestData).appendingPathComponent("stitching/real_scportrait_3x3")
        let info = try snakeCaseDecoder.decode(
            Info.self, from: Data(contentsOf: folder.appendingPathComponent("info.json")))
        let rows = info.grid[0]
        let columns = info.grid[1]
        let layout = try TileLayout.grid(
            rows: rows, columns: columns, tileHeight: info.tileShape[0], tileWidth: info.tileShape[1],
            overlap: info.nominalOverlap, rowsBottomUp: true)
        var options = Registration.Options()
        options.maxShift = 30
        var solved: [[Registration.Position]] = []
        for channel in ["DAPI", "Alexa488"] {
            let tiles = try loadGrid(
                folder, prefix: "Timepoint001_Row02_Well04_\(channel)_zstack001_", rows: rows, columns: columns)
            let clock = ContinuousClock()
            let start = clock.now
            let solution = try Registration.solve(tiles: tiles, layout: layout, options: options)
            let elapsed = clock.now - start
            print(
                "real_scportrait_3x3 \(channel): accepted \(solution.pairs.filter(\.accepted).count)/\(solution.pairs.count), solve \(elapsed)\n\(describe(solution))"
            )
            #expect(solution.pairs.filter(\.accepted).count >= 8, "\(channel): too few accepted pairs")
            let worstResidual = solution.pairs.filter(\.accepted).compactMap(\.residual).max() ?? .infinity
            #expect(worstResidual <= 0.5, "\(channel): loop closure residual \(worstResidual) px")
            solved.append(solution.positions)
        }
        let agreement = positionError(solved[0], solved[1].map { ($0.y, $0.x) })
        let affine = affineResidualRMS(from: solved[1], to: solved[0])
        print(
            "real_scportrait_3x3 DAPI vs Alexa488: RMS \(String(format: "%.3f", agreement.rms)) px, max \(String(format: "%.3f", agreement.max)) px after removing the mean offset; \(String(format: "%.3f", affine)) px RMS after removing a fitted affine map"
        )
        #expect(agreement.rms <= 1.5, "channels disagree by \(agreement.rms) px RMS")
        #expect(affine <= 0.3, "channels disagree by \(affine) px RMS beyond an affine map")
    }

    /// RMS residual of the least-squares affine map `from → to` (per axis: y' = a·y + b·x + c).
    func affineResidualRMS(from: [Registration.Position], to: [Registration.Position]) -> Double {
        var total = 0.0
        for axis in 0..<2 {
            var normal = [Double](repeating: 0, count: 9)
            var rhs = [Double](repeating: 0, count: 3)
            for (f, t) in zip(from, to) {
                let row = [f.y, f.x, 1.0]
                let target = axis == 0 ? t.y : t.x
                for r in 0..<3 {
                    rhs[r] += row[r] * target
                    for c in 0..<3 { normal[r * 3 + c] += row[r] * row[c] }
                }
            }
            guard let sol = DenseSolver.solveSPD(normal, [rhs], n: 3, relativeTolerance: 1e-14)?.first else {
                return .infinity
            }
            for (f, t) in zip(from, to) {
                let e = sol[0] * f.y + sol[1] * f.x + sol[2] - (axis == 0 ? t.y : t.x)
                total += e * e
            }
        }
        return (total / Double(from.count)).squareRoot()
    }
}
