public import ImageKit

/// Axis flips of a nominal layout: a stage whose y axis points up, or a tile grid whose file row
/// 0 is the bottom row, gives a layout that is the mirror image of the truth. Registering such a
/// layout finds the right shifts only for pairs along the unflipped axis, and the mosaic comes
/// out half aligned; ASHLAR needs a manual `--flip-y` for this. ``Registration/detectOrientation(tiles:layout:options:candidates:pairLimit:)``
/// tries the flips and keeps the one whose overlaps match.
public struct Orientation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Mirror the nominal x positions (left ↔ right).
    public var flipX: Bool
    /// Mirror the nominal y positions (top ↔ bottom).
    public var flipY: Bool

    /// Creates an orientation.
    public init(flipX: Bool = false, flipY: Bool = false) {
        self.flipX = flipX
        self.flipY = flipY
    }

    /// The layout as given.
    public static let identity = Orientation()
    /// All four combinations, identity first.
    public static let all: [Orientation] = [
        Orientation(), Orientation(flipX: false, flipY: true), Orientation(flipX: true, flipY: false),
        Orientation(flipX: true, flipY: true),
    ]

    /// The orientation named `none`, `flip-x`, `flip-y` or `flip-xy` (also `flip-x+flip-y`), as
    /// profiles and the command line write it; nil for any other name.
    public init?(name: String) {
        switch name {
        case "none": self.init()
        case "flip-x": self.init(flipX: true)
        case "flip-y": self.init(flipY: true)
        case "flip-xy", "flip-x+flip-y": self.init(flipX: true, flipY: true)
        default: return nil
        }
    }

    /// The names ``init(name:)`` accepts, canonical ones only.
    public static let names = ["none", "flip-x", "flip-y", "flip-xy"]

    /// `none`, `flip-x`, `flip-y` or `flip-x+flip-y`.
    public var description: String {
        switch (flipX, flipY) {
        case (false, false): "none"
        case (true, false): "flip-x"
        case (false, true): "flip-y"
        case (true, true): "flip-x+flip-y"
        }
    }
}

extension TileLayout {
    /// The layout mirrored along the chosen axes, within its own bounding box (so a flipped grid
    /// covers the same area): `y' = minY + maxY - y` for a y flip, likewise for x.
    public func flipped(_ orientation: Orientation) -> TileLayout {
        guard !tiles.isEmpty, orientation != .identity else { return self }
        let minY = tiles.map(\.y).min()!, maxY = tiles.map(\.y).max()!
        let minX = tiles.map(\.x).min()!, maxX = tiles.map(\.x).max()!
        return TileLayout(
            tiles: tiles.map { t in
                TileLayout.Tile(
                    y: orientation.flipY ? minY + maxY - t.y : t.y, x: orientation.flipX ? minX + maxX - t.x : t.x,
                    height: t.height, width: t.width)
            })
    }
}

extension Registration {
    /// How well one orientation's overlaps match.
    public struct OrientationCheck: Sendable, Hashable, Codable {
        /// The orientation tried.
        public var orientation: Orientation
        /// Mean NCC score of its registered pairs (a pair whose shift hit the search limit counts 0).
        public var meanScore: Double
        /// Pairs registered.
        public var pairs: Int
        /// Pairs whose correction stayed inside the search range.
        public var withinRange: Int
    }

    /// Registers the layout's pairs under each candidate orientation and returns the best one.
    ///
    /// Tiles of at least 128 px are compared at half resolution. The score of an orientation is the mean NCC of its pairs (registered to the whole pixel),
    /// a pair whose correction reaches the search limit scoring 0. The first candidate (normally the layout as given) is kept
    /// unless another beats it by more than 0.05 — a wrong orientation leaves whole rows or
    /// columns of pairs on non-matching content, which costs far more than that.
    ///
    /// - Parameters:
    ///   - tiles: One image per tile (channel 0 is used), as for ``solve(tiles:layout:options:)``.
    ///   - layout: The nominal layout as given.
    ///   - options: Registration settings (search range, windows).
    ///   - candidates: Orientations to try, the default first.
    ///   - pairLimit: At most this many pairs per orientation (spread over the layout), so that the
    ///     check stays cheap on large scans.
    /// - Returns: The chosen orientation and every candidate's check.
    /// - Throws: ``StitchingError`` as ``solve(tiles:layout:options:)``.
    public static func detectOrientation(
        tiles: [Image<Float>], layout: TileLayout, options: Options = Options(),
        candidates: [Orientation] = Orientation.all, pairLimit: Int = 48
    ) throws(StitchingError) -> (best: Orientation, checks: [OrientationCheck]) {
        guard tiles.count == layout.tiles.count else {
            throw StitchingError(
                code: .sizeMismatch, message: "expected \(layout.tiles.count) tiles (layout), found \(tiles.count) images")
        }
        // Half resolution (2×2 means) when tiles are large enough: a wrong orientation puts
        // unrelated content side by side at any scale, and the check costs a quarter.
        var tiles = tiles
        var layout = layout
        var options = options
        if tiles.allSatisfy({ min($0.width, $0.height) >= 128 }) {
            tiles = tiles.map(halfResolution)
            layout = TileLayout(
                tiles: layout.tiles.map {
                    TileLayout.Tile(y: $0.y / 2, x: $0.x / 2, height: $0.height / 2, width: $0.width / 2)
                })
            options.maxShift = (options.maxShift + 1) / 2
            options.minimumOverlap = max(4, options.minimumOverlap / 2)
            options.maxWindowLength = max(16, options.maxWindowLength / 2)
        }
        var phase = options.phase
        phase.maxShift = options.maxShift + 1
        phase.upsampleFactor = 1  // whole-pixel registrations: only the scores are compared
        var checks: [OrientationCheck] = []
        for orientation in candidates {
            let pairs = try registerPairs(
                tiles: tiles, layout: layout.flipped(orientation), options: options, phase: phase, limit: pairLimit)
            let within = pairs.filter { $0.status == .accepted }
            let total = within.reduce(0.0) { $0 + ($1.score.isFinite ? $1.score : 0) }
            checks.append(
                OrientationCheck(
                    orientation: orientation, meanScore: pairs.isEmpty ? 0 : total / Double(pairs.count),
                    pairs: pairs.count, withinRange: within.count))
        }
        guard let first = checks.first, let best = checks.max(by: { $0.meanScore < $1.meanScore }) else {
            return (.identity, [])
        }
        return (best.meanScore > first.meanScore + 0.05 ? best.orientation : first.orientation, checks)
    }
}

/// The image at half resolution: the mean of each 2×2 block (odd last rows/columns dropped).
func halfResolution(_ image: Image<Float>) -> Image<Float> {
    let w = image.width / 2, h = image.height / 2
    var out = Image<Float>(width: max(w, 1), height: max(h, 1), repeating: 0)
    let width = image.width
    image.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h {
                let r0 = (2 &* y) &* width
                let r1 = r0 &+ width
                for x in 0..<w {
                    let c = 2 &* x
                    dst[y &* w &+ x] = 0.25 * (src[r0 &+ c] + src[r0 &+ c &+ 1] + src[r1 &+ c] + src[r1 &+ c &+ 1])
                }
            }
        }
    }
    return out
}
