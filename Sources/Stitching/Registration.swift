import Foundation
import ImageKit

/// Registers neighbouring tiles and solves all tile positions at once.
///
/// Steps (rationale in `stitching-ashlar.md`, section 8):
/// 1. **Pairs.** Tiles whose nominal rectangles overlap by at least ``Options/minimumOverlap`` px
///    across and at least half a tile along (edge neighbours, not corner-only contacts).
/// 2. **Windows.** The nominal overlap rectangle is cut from both tiles (whole pixels; the long
///    side centred and capped at ``Options/maxWindowLength``) and registered with
///    ``PhaseCorrelation`` (search ±``Options/maxShift``).
/// 3. **Acceptance threshold** from a null distribution, as ASHLAR does: windows of the same sizes
///    are cut at random places whose nominal mosaic rectangles are farther apart than the window
///    plus the search range (so they cannot share content), registered the same way, and the
///    `1 - falsePositiveRate` quantile of their scores (at least ``Options/minimumScore``) is
///    the threshold a real pair's score must exceed.
/// 4. **Outliers.** A pair whose correction reaches the search limit is rejected
///    (`shiftAtLimit`); after each global solve the accepted pair with the largest residual is
///    rejected (`inconsistent`) while that residual exceeds ``Options/residualTolerance``
///    (loop closure: only pairs in loops can be caught this way).
/// 5. **Global weighted least squares** over all accepted pairs (weight = score), separately per
///    axis, with a tiny prior (1e-6) pulling every tile to its nominal position: it fixes the gauge
///    of each connected component (its centroid stays at its nominal centroid) without bending it.
/// 6. **Stage model.** A map nominal → solved (shared by all components with ≥ 2 tiles, one
///    translation per component) is fitted per axis: identity (nominal step), own-axis scale or
///    a full affine row, chosen by AICc so that few, noisy tiles do not buy parameters. Tiles outside the largest component are
///    placed by it (single tiles at the model prediction, smaller components moved as a block so
///    their mean matches it) and listed in ``Solution/modelPlacedTiles`` with a warning.
public enum Registration {
    /// Settings of a stitching solve.
    public struct Options: Sendable, Hashable {
        /// Largest correction (px, per axis) of a pair's offset versus nominal that is searched and accepted.
        public var maxShift: Int
        /// Phase-correlation settings other than the search range (which comes from ``maxShift``).
        public var phase: PhaseCorrelation.Options
        /// False-positive rate of the null-distribution threshold (ASHLAR's `--stitch-alpha`).
        public var falsePositiveRate: Double
        /// Number of null (non-overlapping) window pairs registered to set the threshold.
        public var nullSamples: Int
        /// Floor of the acceptance threshold (NCC score), also used when no null samples can be drawn.
        public var minimumScore: Double
        /// A fixed acceptance threshold that replaces the null distribution (nil = use it).
        public var fixedScoreThreshold: Double?
        /// Largest residual (px) an accepted pair may keep after the global solve.
        public var residualTolerance: Double
        /// Minimum nominal overlap (px) across the seam for a pair to be registered.
        public var minimumOverlap: Int
        /// Longest window side (px) used for registration; longer overlaps are cut to their centre.
        public var maxWindowLength: Int
        /// Seed of the null-sample generator (results are deterministic for a seed).
        public var seed: UInt64

        /// Creates options; defaults follow ASHLAR's where it has one (15 px, 1 % false positives).
        public init(
            maxShift: Int = 15, phase: PhaseCorrelation.Options = PhaseCorrelation.Options(),
            falsePositiveRate: Double = 0.01, nullSamples: Int = 100, minimumScore: Double = 0.1,
            fixedScoreThreshold: Double? = nil, residualTolerance: Double = 2.0, minimumOverlap: Int = 8,
            maxWindowLength: Int = 960, seed: UInt64 = 0
        ) {
            self.maxShift = maxShift
            self.phase = phase
            self.falsePositiveRate = falsePositiveRate
            self.nullSamples = nullSamples
            self.minimumScore = minimumScore
            self.fixedScoreThreshold = fixedScoreThreshold
            self.residualTolerance = residualTolerance
            self.minimumOverlap = minimumOverlap
            self.maxWindowLength = maxWindowLength
            self.seed = seed
        }
    }

    /// Why a pair was or was not used.
    public struct PairStatus: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable name, e.g. `"accepted"`.
        public let rawValue: String
        /// Creates a status from its name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// Used in the global solve.
        public static let accepted = PairStatus(rawValue: "accepted")
        /// Score at or below the acceptance threshold.
        public static let lowScore = PairStatus(rawValue: "lowScore")
        /// The correction reached the search limit (``Options/maxShift``): the true peak may lie outside.
        public static let shiftAtLimit = PairStatus(rawValue: "shiftAtLimit")
        /// Disagreed with the other accepted pairs (residual above tolerance after the solve).
        public static let inconsistent = PairStatus(rawValue: "inconsistent")
        /// The name.
        public var description: String { rawValue }
    }

    /// Diagnostics of one registered neighbour pair.
    public struct PairResult: Sendable, Hashable {
        /// Index of the first tile (the lower index).
        public var first: Int
        /// Index of the second tile.
        public var second: Int
        /// Nominal offset `position(second) - position(first)`, (y, x) in px.
        public var nominalOffsetY: Double
        /// Nominal offset along x.
        public var nominalOffsetX: Double
        /// Measured offset `position(second) - position(first)` along y.
        public var measuredOffsetY: Double
        /// Measured offset along x.
        public var measuredOffsetX: Double
        /// Registration score (NCC of the band-passed windows, see ``PhaseCorrelation``).
        public var score: Double
        /// Whether and why the pair is used.
        public var status: PairStatus
        /// Distance (px) between the measured offset and the solved positions' offset (after the solve).
        public var residual: Double?
        /// Window size used, rows.
        public var windowHeight: Int
        /// Window size used, columns.
        public var windowWidth: Int

        /// Whether the pair entered the final solve.
        public var accepted: Bool { status == .accepted }
    }

    /// A tile's solved top-left corner in mosaic pixels.
    public struct Position: Sendable, Hashable {
        /// Top edge (px).
        public var y: Double
        /// Left edge (px).
        public var x: Double
        /// Creates a position.
        public init(y: Double, x: Double) {
            self.y = y
            self.x = x
        }
    }

    /// The fitted map from nominal to solved positions: `solved = matrix·nominal + offset`.
    public struct StageModel: Sendable, Hashable {
        /// Row-major 2x2 matrix acting on (y, x): `[yy, yx, xy, xx]`.
        public var matrix: [Double]
        /// Translation (y, x) of the reference (largest) component.
        public var offsetY: Double
        /// Translation along x.
        public var offsetX: Double
        /// How each axis was fitted, y then x: `"affine"`, `"scale"` or `"identity"` (nominal step: chosen by
        /// AICc, or forced by degenerate data or too few tiles).
        public var fitKind: [String]

        /// The model's prediction for a nominal position.
        public func apply(y: Double, x: Double) -> Position {
            Position(y: matrix[0] * y + matrix[1] * x + offsetY, x: matrix[2] * y + matrix[3] * x + offsetX)
        }
    }

    /// The outcome of ``solve(tiles:layout:options:)``.
    public struct Solution: Sendable {
        /// Solved top-left corner of every tile (same order as the input).
        public var positions: [Position]
        /// Every registered neighbour pair with its diagnostics.
        public var pairs: [PairResult]
        /// The acceptance threshold that was applied to pair scores.
        public var scoreThreshold: Double
        /// Scores of the null (non-overlapping) samples, sorted ascending.
        public var nullScores: [Double]
        /// The fitted stage model.
        public var stageModel: StageModel
        /// Tiles not connected to the largest component by accepted pairs, placed by the stage model.
        public var modelPlacedTiles: [Int]
        /// Human-readable warnings (model-placed tiles, degenerate model fits, missing null samples).
        public var warnings: [String]
    }

    /// Solves positions for 16-bit tiles: converts channel 0 of each to `Float` and solves as for `Float` tiles.
    public static func solve(tiles: [Image<UInt16>], layout: TileLayout, options: Options = Options())
        throws(StitchingError) -> Solution
    {
        try solve(tiles: tiles.map { $0.plane(0).toFloat() }, layout: layout, options: options)
    }

    /// Registers all neighbour pairs and solves every tile's position (channel 0 of each tile is used).
    ///
    /// - Parameters:
    ///   - tiles: One image per tile, in the layout's order; sizes must match the layout.
    ///   - layout: Nominal tile rectangles in mosaic pixels.
    ///   - options: Search range, acceptance and solve settings.
    /// - Throws: ``StitchingError`` `.sizeMismatch` when the tile count or a tile size differs from
    ///   the layout, `.tooSmall` when there are no tiles, `.invalidParameter` for invalid options.
    public static func solve(tiles: [Image<Float>], layout: TileLayout, options: Options = Options())
        throws(StitchingError) -> Solution
    {
        guard !tiles.isEmpty else {
            throw StitchingError(code: .tooSmall, message: "expected at least one tile, found none")
        }
        guard tiles.count == layout.tiles.count else {
            throw StitchingError(
                code: .sizeMismatch,
                message: "expected \(layout.tiles.count) tiles (layout), found \(tiles.count) images")
        }
        for (i, (t, n)) in zip(tiles, layout.tiles).enumerated() where t.width != n.width || t.height != n.height {
            throw StitchingError(
                code: .sizeMismatch,
                message: "tile \(i): layout says \(n.width)x\(n.height), image is \(t.width)x\(t.height)")
        }
        guard options.maxShift >= 0, options.falsePositiveRate > 0, options.falsePositiveRate < 1,
            options.nullSamples >= 0,
            options.residualTolerance > 0, options.minimumOverlap >= 4, options.maxWindowLength >= 16
        else {
            throw StitchingError(
                code: .invalidParameter,
                message:
                    "expected maxShift ≥ 0, 0 < falsePositiveRate < 1, nullSamples ≥ 0, residualTolerance > 0, minimumOverlap ≥ 4, maxWindowLength ≥ 16; found \(options)"
            )
        }
        var phase = options.phase
        phase.maxShift = options.maxShift + 1
        var warnings: [String] = []

        // 1-2. Candidate pairs and their registration.
        var pairs = try registerPairs(tiles: tiles, layout: layout, options: options, phase: phase)
        let windowSizes = pairs.map { ($0.windowHeight, $0.windowWidth) }

        // 3. Threshold.
        var nullScores: [Double] = []
        let threshold: Double
        if let fixed = options.fixedScoreThreshold {
            threshold = fixed
        } else {
            nullScores = try nullDistribution(
                tiles: tiles, layout: layout, windowSizes: windowSizes, phase: phase, options: options)
            if nullScores.count < 10 {
                if !pairs.isEmpty {
                    warnings.append(
                        "only \(nullScores.count) null samples fit in the layout; using the score floor \(options.minimumScore) as threshold"
                    )
                }
                threshold = options.minimumScore
            } else {
                let q = Int((Double(nullScores.count) * (1 - options.falsePositiveRate)).rounded(.up)) - 1
                threshold = max(options.minimumScore, nullScores[min(max(q, 0), nullScores.count - 1)])
            }
        }
        for k in pairs.indices where pairs[k].status == .accepted && !(pairs[k].score > threshold) {
            pairs[k].status = .lowScore
        }

        // 4-5. Global solve with loop-closure outlier rejection.
        var positions = solveRejectingInconsistent(layout: layout, pairs: &pairs, tolerance: options.residualTolerance)
        for k in pairs.indices { pairs[k].residual = residual(pairs[k], positions) }

        // 6. Stage model and placement of tiles outside the largest component.
        let components = connectedComponents(count: tiles.count, pairs: pairs)
        let model = fitStageModel(layout: layout, positions: positions, components: components, warnings: &warnings)
        var modelPlaced: [Int] = []
        let reference = components.max { $0.count < $1.count } ?? []
        for component in components where component != reference {
            var sy = 0.0
            var sx = 0.0
            for t in component {
                let m = model.apply(y: layout.tiles[t].y, x: layout.tiles[t].x)
                sy += m.y - positions[t].y
                sx += m.x - positions[t].x
            }
            sy /= Double(component.count)
            sx /= Double(component.count)
            for t in component {
                positions[t].y += sy
                positions[t].x += sx
                modelPlaced.append(t)
            }
            warnings.append(
                component.count == 1
                    ? "tile \(component[0]) has no accepted pair; placed by the stage model"
                    : "tiles \(component) are not connected to the largest group; placed as a block by the stage model")
        }
        for k in pairs.indices { pairs[k].residual = residual(pairs[k], positions) }
        return Solution(
            positions: positions, pairs: pairs, scoreThreshold: threshold, nullScores: nullScores,
            stageModel: model, modelPlacedTiles: modelPlaced.sorted(), warnings: warnings)
    }

    /// Registers every edge-neighbour pair of the layout (in parallel); statuses are `accepted` or
    /// `shiftAtLimit`, before any score threshold. `limit` caps the number of pairs (evenly spread
    /// over the list, for quick orientation checks); nil registers all.
    static func registerPairs(
        tiles: [Image<Float>], layout: TileLayout, options: Options, phase: PhaseCorrelation.Options, limit: Int? = nil
    ) throws(StitchingError) -> [PairResult] {
        var candidates: [(i: Int, j: Int, w: Windows)] = []
        for i in 0..<tiles.count {
            for j in (i + 1)..<max(i + 1, tiles.count) {
                guard let w = overlapWindows(layout.tiles[i], layout.tiles[j], options: options) else { continue }
                candidates.append((i, j, w))
            }
        }
        if let limit, candidates.count > limit, limit > 0 {
            let step = Double(candidates.count) / Double(limit)
            candidates = (0..<limit).map { candidates[Int(Double($0) * step)] }
        }
        var results = [Result<PairResult, StitchingError>?](repeating: nil, count: candidates.count)
        results.withUnsafeMutableBufferPointer { out in
            let slots = UnsafeSendableBox(out)
            // Each job writes only its own slot.
            ParallelFor.run(candidates.count) { k in
                let (i, j, w) = candidates[k]
                let a = PhaseCorrelation.cut(tiles[i].plane(0), y: w.ay, x: w.ax, height: w.height, width: w.width)
                let b = PhaseCorrelation.cut(tiles[j].plane(0), y: w.by, x: w.bx, height: w.height, width: w.width)
                do throws(StitchingError) {
                    let r = try PhaseCorrelation.register(a: a, b: b, options: phase)
                    // Feature at window pixel u: tile i local (ay + u), tile j local (by + u + s);
                    // p_i + ay + u = p_j + by + u + s  →  p_j - p_i = ay - by - s.
                    let my = Double(w.ay - w.by) - r.dy
                    let mx = Double(w.ax - w.bx) - r.dx
                    let ny = layout.tiles[j].y - layout.tiles[i].y
                    let nx = layout.tiles[j].x - layout.tiles[i].x
                    let atLimit = abs(my - ny) > Double(options.maxShift) || abs(mx - nx) > Double(options.maxShift)
                    slots.value[k] = .success(
                        PairResult(
                            first: i, second: j, nominalOffsetY: ny, nominalOffsetX: nx,
                            measuredOffsetY: my, measuredOffsetX: mx, score: r.score,
                            status: atLimit ? .shiftAtLimit : .accepted, residual: nil,
                            windowHeight: w.height, windowWidth: w.width))
                } catch {
                    slots.value[k] = .failure(error)
                }
            }
        }
        var pairs: [PairResult] = []
        for result in results {
            switch result {
            case .success(let pair)?: pairs.append(pair)
            case .failure(let error)?: throw error
            case nil: continue
            }
        }
        return pairs
    }

    /// Window placement for one pair: the same size in both tiles, local origins in each.
    struct Windows {
        var ay: Int, ax: Int, by: Int, bx: Int, height: Int, width: Int
    }

    /// The nominal overlap of two tiles as equally sized windows, or nil when they are not edge neighbours.
    static func overlapWindows(_ a: TileLayout.Tile, _ b: TileLayout.Tile, options: Options) -> Windows? {
        let y0 = max(a.y, b.y)
        let y1 = min(a.y + Double(a.height), b.y + Double(b.height))
        let x0 = max(a.x, b.x)
        let x1 = min(a.x + Double(a.width), b.x + Double(b.width))
        var h = Int((y1 - y0).rounded(.down))
        var w = Int((x1 - x0).rounded(.down))
        guard min(h, w) >= options.minimumOverlap else { return nil }
        let smallest = min(a.height, a.width, b.height, b.width)
        guard 2 * max(h, w) >= smallest else { return nil }
        var cy = y0
        var cx = x0
        if h > options.maxWindowLength {
            cy += Double((h - options.maxWindowLength) / 2)
            h = options.maxWindowLength
        }
        if w > options.maxWindowLength {
            cx += Double((w - options.maxWindowLength) / 2)
            w = options.maxWindowLength
        }
        func local(_ start: Double, _ origin: Double, _ size: Int, _ tileSize: Int) -> Int {
            min(max(Int((start - origin).rounded()), 0), tileSize - size)
        }
        return Windows(
            ay: local(cy, a.y, h, a.height), ax: local(cx, a.x, w, a.width),
            by: local(cy, b.y, h, b.height), bx: local(cx, b.x, w, b.width), height: h, width: w)
    }

    /// Scores of window pairs that cannot share content, sorted ascending.
    static func nullDistribution(
        tiles: [Image<Float>], layout: TileLayout, windowSizes: [(Int, Int)], phase: PhaseCorrelation.Options,
        options: Options
    ) throws(StitchingError) -> [Double] {
        guard !windowSizes.isEmpty, options.nullSamples > 0 else { return [] }
        var rng = SplitMix64(seed: options.seed)
        func draw(_ bound: Int) -> Int { Int(rng.next(below: UInt64(bound))) }
        struct Sample { var i: Int, j: Int, ay: Int, ax: Int, by: Int, bx: Int, h: Int, w: Int }
        var samples: [Sample] = []
        let n = tiles.count
        let margin = Double(options.maxShift + 2)
        // Draw all window pairs first (deterministic for a seed), then register them in parallel.
        for sample in 0..<options.nullSamples {
            let (h, w) = windowSizes[sample % windowSizes.count]
            for _ in 0..<50 {
                let i = draw(n)
                let j = draw(n)
                let ti = layout.tiles[i]
                let tj = layout.tiles[j]
                guard ti.height >= h, ti.width >= w, tj.height >= h, tj.width >= w else { continue }
                let ay = draw(ti.height - h + 1)
                let ax = draw(ti.width - w + 1)
                let by = draw(tj.height - h + 1)
                let bx = draw(tj.width - w + 1)
                let dy = (ti.y + Double(ay)) - (tj.y + Double(by))
                let dx = (ti.x + Double(ax)) - (tj.x + Double(bx))
                guard abs(dy) >= Double(h) + margin || abs(dx) >= Double(w) + margin else { continue }
                samples.append(Sample(i: i, j: j, ay: ay, ax: ax, by: by, bx: bx, h: h, w: w))
                break
            }
        }
        // Only the score matters here: a whole-pixel registration (no upsampled DFT, no second
        // pass) finds the same best overlap of unrelated windows at a fraction of the cost.
        var phase = phase
        phase.upsampleFactor = 1
        var scores = [Double](repeating: .nan, count: samples.count)
        scores.withUnsafeMutableBufferPointer { out in
            let slots = UnsafeSendableBox(out)
            // Each job writes only its own slot.
            ParallelFor.run(samples.count) { k in
                let s = samples[k]
                let a = PhaseCorrelation.cut(tiles[s.i].plane(0), y: s.ay, x: s.ax, height: s.h, width: s.w)
                let b = PhaseCorrelation.cut(tiles[s.j].plane(0), y: s.by, x: s.bx, height: s.h, width: s.w)
                // Sizes were validated above, so registration cannot fail; a failure would leave NaN (dropped).
                slots.value[k] = (try? PhaseCorrelation.register(a: a, b: b, options: phase))?.score ?? .nan
            }
        }
        scores = scores.filter { !$0.isNaN }
        return scores.sorted()
    }

    /// Global solve; then, while the largest residual of an accepted pair exceeds `tolerance`,
    /// marks that pair `inconsistent` and solves again. Sets every pair's residual.
    static func solveRejectingInconsistent(layout: TileLayout, pairs: inout [PairResult], tolerance: Double)
        -> [Position]
    {
        var positions = globalSolve(layout: layout, pairs: pairs)
        while true {
            var worst = -1
            var worstResidual = 0.0
            for k in pairs.indices where pairs[k].accepted {
                let r = residual(pairs[k], positions)
                if r > worstResidual {
                    worstResidual = r
                    worst = k
                }
            }
            guard worst >= 0, worstResidual > tolerance else { break }
            pairs[worst].status = .inconsistent
            positions = globalSolve(layout: layout, pairs: pairs)
        }
        for k in pairs.indices { pairs[k].residual = residual(pairs[k], positions) }
        return positions
    }

    /// Distance between a pair's measured offset and the offset of the given positions.
    static func residual(_ p: PairResult, _ positions: [Position]) -> Double {
        let ey = positions[p.second].y - positions[p.first].y - p.measuredOffsetY
        let ex = positions[p.second].x - positions[p.first].x - p.measuredOffsetX
        return (ey * ey + ex * ex).squareRoot()
    }

    /// Weighted least squares over accepted pairs with a 1e-6 prior towards nominal positions.
    static func globalSolve(layout: TileLayout, pairs: [PairResult]) -> [Position] {
        let n = layout.tiles.count
        let prior = 1e-6
        var m = [Double](repeating: 0, count: n * n)
        var ry = layout.tiles.map { prior * $0.y }
        var rx = layout.tiles.map { prior * $0.x }
        for i in 0..<n { m[i * n + i] = prior }
        for p in pairs where p.accepted {
            let w = max(p.score, 1e-3)
            let i = p.first
            let j = p.second
            m[i * n + i] += w
            m[j * n + j] += w
            m[i * n + j] -= w
            m[j * n + i] -= w
            ry[j] += w * p.measuredOffsetY
            ry[i] -= w * p.measuredOffsetY
            rx[j] += w * p.measuredOffsetX
            rx[i] -= w * p.measuredOffsetX
        }
        // The prior makes the matrix positive definite; tolerance accordingly small.
        guard let sol = DenseSolver.solveSPD(m, [ry, rx], n: n, relativeTolerance: 1e-14) else {
            return layout.tiles.map { Position(y: $0.y, x: $0.x) }
        }
        return (0..<n).map { Position(y: sol[0][$0], x: sol[1][$0]) }
    }

    /// Connected components of the accepted-pair graph (each sorted; singletons included).
    static func connectedComponents(count: Int, pairs: [PairResult]) -> [[Int]] {
        var parent = Array(0..<count)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x {
                parent[x] = parent[parent[x]]
                x = parent[x]
            }
            return x
        }
        for p in pairs where p.accepted {
            let a = find(p.first)
            let b = find(p.second)
            if a != b { parent[max(a, b)] = min(a, b) }
        }
        var groups: [Int: [Int]] = [:]
        for t in 0..<count { groups[find(t), default: []].append(t) }
        return groups.keys.sorted().compactMap { groups[$0] }
    }

    /// Fits `solved = A·nominal + t_component` over components with ≥ 2 tiles, axis by axis.
    static func fitStageModel(layout: TileLayout, positions: [Position], components: [[Int]], warnings: inout [String])
        -> StageModel
    {
        let groups = components.filter { $0.count >= 2 }
        let reference = components.max { $0.count < $1.count } ?? []
        // Centre nominal coordinates for conditioning.
        let all = groups.flatMap { $0 }
        let cy = all.isEmpty ? 0 : all.map { layout.tiles[$0].y }.reduce(0, +) / Double(all.count)
        let cx = all.isEmpty ? 0 : all.map { layout.tiles[$0].x }.reduce(0, +) / Double(all.count)
        var matrix = [1.0, 0.0, 0.0, 1.0]
        var kinds: [String] = []
        let m = Double(all.count)
        for axis in 0..<2 {
            // Candidates: identity (nominal step, offsets only), own-axis scale, full affine row;
            // chosen by AICc (Akaike with the small-sample correction; K unknowns, m tiles):
            // m·ln(RSS/m) + 2K + 2K(K+1)/(m-K-1), RSS/m floored at 0.01 px² (registration
            // precision). With few tiles and random per-tile errors, fitted terms only add noise
            // to model-placed tiles (gtcut with 4/12 pairs: affine 6.1 px, scale 4.6, identity
            // 3.9, nominal grid 5.3); a real stage scale error reduces RSS enough to be chosen.
            var best: (score: Double, coefficients: [Int], solution: [Double])? = nil
            var degenerate = false
            for coefficientAxes in [[], [axis], [0, 1]] where !groups.isEmpty {
                let k = coefficientAxes.count
                let unknowns = k + groups.count
                var normal = [Double](repeating: 0, count: unknowns * unknowns)
                var rhs = [Double](repeating: 0, count: unknowns)
                var rows: [([Double], Double)] = []
                for (g, group) in groups.enumerated() {
                    for t in group {
                        let nominal = [layout.tiles[t].y - cy, layout.tiles[t].x - cx]
                        var row = [Double](repeating: 0, count: unknowns)
                        for (c, a) in coefficientAxes.enumerated() { row[c] = nominal[a] }
                        row[k + g] = 1
                        // Identity keeps the nominal step: the own-axis term is fixed at 1.
                        let target = (axis == 0 ? positions[t].y : positions[t].x) - (k == 0 ? nominal[axis] : 0)
                        rows.append((row, target))
                        for r in 0..<unknowns where row[r] != 0 {
                            rhs[r] += row[r] * target
                            for c in 0..<unknowns { normal[r * unknowns + c] += row[r] * row[c] }
                        }
                    }
                }
                guard Double(unknowns) + 1 < m else { continue }
                guard let sol = DenseSolver.solveSPD(normal, [rhs], n: unknowns, relativeTolerance: 1e-9)?.first else {
                    if coefficientAxes == [axis] { degenerate = true }
                    continue
                }
                var rss = 0.0
                for (row, target) in rows {
                    var e = -target
                    for c in 0..<unknowns { e += row[c] * sol[c] }
                    rss += e * e
                }
                let kk = Double(unknowns)
                let aicc = m * log(max(rss / m, 0.01)) + 2 * kk + 2 * kk * (kk + 1) / (m - kk - 1)
                if let current = best, current.score <= aicc { continue }
                best = (aicc, coefficientAxes, sol)
            }
            if degenerate {
                warnings.append(
                    "stage model along \(axis == 0 ? "y" : "x") is degenerate (connected tiles do not span that axis); using the nominal step"
                )
            }
            guard let chosen = best else {
                kinds.append("identity")
                continue
            }
            if !chosen.coefficients.isEmpty {
                matrix[axis * 2] = 0
                matrix[axis * 2 + 1] = 0
                for (c, a) in chosen.coefficients.enumerated() { matrix[axis * 2 + a] = chosen.solution[c] }
            }
            kinds.append(chosen.coefficients.isEmpty ? "identity" : chosen.coefficients.count == 2 ? "affine" : "scale")
        }
        // Offset of the reference component (in uncentred coordinates).
        var oy = 0.0
        var ox = 0.0
        for t in reference {
            let ny = layout.tiles[t].y
            let nx = layout.tiles[t].x
            oy += positions[t].y - (matrix[0] * ny + matrix[1] * nx)
            ox += positions[t].x - (matrix[2] * ny + matrix[3] * nx)
        }
        let count = Double(max(reference.count, 1))
        return StageModel(matrix: matrix, offsetY: oy / count, offsetX: ox / count, fitKind: kinds)
    }
}
