public import MicroscopyIO

/// A set of tiles to stitch: their nominal places, sizes, channels, and a way to read each
/// tile's pixels on demand (tiles are never all held at once by the set itself).
///
/// Made by ``TileSet/nd2(path:)`` (a multi-position scan), ``TileSet/pattern(folder:pattern:overlap:pixelSizeUm:)``
/// (a folder of tiles named by row and column) or ``TileSet/tileConfiguration(path:)`` (Fiji's
/// `TileConfiguration.txt`), or directly from a reader closure (tests, other formats).
public struct TileSet: Sendable {
    /// One tile's identity and nominal place.
    public struct Tile: Sendable, Hashable, Codable {
        /// Grid row, when the input names one (pattern files, or inferred from stage positions).
        public var row: Int?
        /// Grid column, when known.
        public var col: Int?
        /// A human-readable name: the file name, or the ND2 point name (`r0c1`), or `P3`.
        public var name: String
        /// Nominal top edge in mosaic pixels (y down), from the stage or the grid.
        public var nominalY: Double
        /// Nominal left edge in mosaic pixels.
        public var nominalX: Double
        /// Stage position `[x, y]` in µm as recorded, when the input has one.
        public var stageUm: [Double]?

        /// Creates a tile description.
        public init(row: Int? = nil, col: Int? = nil, name: String, nominalY: Double, nominalX: Double, stageUm: [Double]? = nil) {
            self.row = row
            self.col = col
            self.name = name
            self.nominalY = nominalY
            self.nominalX = nominalX
            self.stageUm = stageUm
        }
    }

    /// Reads the plane of one tile and one channel (indices into ``tiles`` and ``channelNames``).
    public typealias Reader = @Sendable (_ tile: Int, _ channel: Int) throws(StitchingError) -> Plane

    /// The tiles, in acquisition (or file) order.
    public var tiles: [Tile]
    /// Tile width in pixels (every tile has the same size).
    public var tileWidth: Int
    /// Tile height in pixels.
    public var tileHeight: Int
    /// Channel names, in the order the reader's channel index uses.
    public var channelNames: [String]
    /// Sample type of every plane.
    public var pixelType: PixelType
    /// Pixel size in µm (x = y), when known.
    public var pixelSizeUm: Double?
    /// Where the tiles come from (a path), for messages.
    public var source: String
    /// Reads pixels.
    public let reader: Reader

    /// Creates a tile set.
    public init(
        tiles: [Tile], tileWidth: Int, tileHeight: Int, channelNames: [String], pixelType: PixelType,
        pixelSizeUm: Double?, source: String, reader: @escaping Reader
    ) {
        self.tiles = tiles
        self.tileWidth = tileWidth
        self.tileHeight = tileHeight
        self.channelNames = channelNames
        self.pixelType = pixelType
        self.pixelSizeUm = pixelSizeUm
        self.source = source
        self.reader = reader
    }

    /// Reads one tile's plane of one channel, checking its size and type.
    /// - Throws: ``StitchingError`` `.sizeMismatch` when the plane differs from the set's size or type,
    ///   or what the reader throws.
    public func plane(tile: Int, channel: Int) throws(StitchingError) -> Plane {
        let plane = try reader(tile, channel)
        guard plane.width == tileWidth, plane.height == tileHeight, plane.pixelType == pixelType else {
            throw StitchingError(
                code: .sizeMismatch,
                message: "\(source): tile \(tiles[tile].name) channel \(channelNames[channel]) is \(plane.width)x\(plane.height) "
                    + "\(plane.pixelType.rawValue), expected \(tileWidth)x\(tileHeight) \(pixelType.rawValue) like the other tiles")
        }
        return plane
    }

    /// The nominal layout the registration starts from.
    public var layout: TileLayout {
        TileLayout(tiles: tiles.map { TileLayout.Tile(y: $0.nominalY, x: $0.nominalX, height: tileHeight, width: tileWidth) })
    }

    /// The index of a channel named `name` (exact, then case-insensitive), or a number.
    /// - Throws: ``StitchingError`` `.invalidParameter` listing the channels.
    public func channelIndex(_ name: String) throws(StitchingError) -> Int {
        if let index = channelNames.firstIndex(of: name) { return index }
        if let index = channelNames.firstIndex(where: { $0.lowercased() == name.lowercased() }) { return index }
        if let index = Int(name), channelNames.indices.contains(index) { return index }
        throw StitchingError(
            code: .invalidParameter,
            message: "\(source): no channel '\(name)' (channels: \(channelNames.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ")))")
    }
}
