/// Nominal placement of tiles in mosaic pixels: where the stage (or a grid) says each tile is.
public struct TileLayout: Sendable, Hashable {
    /// One tile's nominal rectangle.
    public struct Tile: Sendable, Hashable {
        /// Nominal top edge in mosaic pixels (y grows downwards).
        public var y: Double
        /// Nominal left edge in mosaic pixels.
        public var x: Double
        /// Tile height in pixels.
        public var height: Int
        /// Tile width in pixels.
        public var width: Int

        /// Creates a nominal tile rectangle.
        public init(y: Double, x: Double, height: Int, width: Int) {
            self.y = y
            self.x = x
            self.height = height
            self.width = width
        }
    }

    /// The tiles, in the same order as the images handed to ``Registration``.
    public var tiles: [Tile]

    /// Creates a layout from nominal tile rectangles (e.g. stage coordinates converted to pixels).
    public init(tiles: [Tile]) { self.tiles = tiles }

    /// A regular grid; tile `row * columns + column` sits at `(row·stepY, column·stepX)`.
    ///
    /// - Parameters:
    ///   - rows: Grid rows, at least 1.
    ///   - columns: Grid columns, at least 1.
    ///   - tileHeight: Tile height in pixels.
    ///   - tileWidth: Tile width in pixels.
    ///   - stepY: Nominal distance between row origins in pixels.
    ///   - stepX: Nominal distance between column origins in pixels.
    ///   - rowsBottomUp: `true` when file row 0 is the *bottom* row of the mosaic (a stage whose y
    ///     axis points up); row `r` is then placed at `(rows - 1 - r)·stepY`.
    /// - Throws: ``StitchingError`` `.invalidParameter` for non-positive sizes or steps.
    public static func grid(
        rows: Int, columns: Int, tileHeight: Int, tileWidth: Int, stepY: Double, stepX: Double,
        rowsBottomUp: Bool = false
    ) throws(StitchingError) -> TileLayout {
        guard rows >= 1, columns >= 1, tileHeight >= 1, tileWidth >= 1, stepY > 0, stepX > 0 else {
            throw StitchingError(
                code: .invalidParameter,
                message:
                    "grid needs rows, columns, tile sizes ≥ 1 and steps > 0, found \(rows)x\(columns) tiles of \(tileHeight)x\(tileWidth), steps \(stepY), \(stepX)"
            )
        }
        var tiles: [Tile] = []
        for r in 0..<rows {
            let placedRow = rowsBottomUp ? rows - 1 - r : r
            for c in 0..<columns {
                tiles.append(
                    Tile(y: Double(placedRow) * stepY, x: Double(c) * stepX, height: tileHeight, width: tileWidth))
            }
        }
        return TileLayout(tiles: tiles)
    }

    /// A regular grid given by its overlap fraction: steps are `size · (1 - overlap)`.
    ///
    /// - Throws: ``StitchingError`` `.invalidParameter` unless `0 ≤ overlap < 1` (and as ``grid(rows:columns:tileHeight:tileWidth:stepY:stepX:rowsBottomUp:)``).
    public static func grid(
        rows: Int, columns: Int, tileHeight: Int, tileWidth: Int, overlap: Double, rowsBottomUp: Bool = false
    ) throws(StitchingError) -> TileLayout {
        guard overlap >= 0, overlap < 1 else {
            throw StitchingError(code: .invalidParameter, message: "overlap must be in [0, 1), found \(overlap)")
        }
        return try grid(
            rows: rows, columns: columns, tileHeight: tileHeight, tileWidth: tileWidth,
            stepY: Double(tileHeight) * (1 - overlap), stepX: Double(tileWidth) * (1 - overlap),
            rowsBottomUp: rowsBottomUp)
    }
}
