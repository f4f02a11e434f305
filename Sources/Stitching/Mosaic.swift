import Foundation
public import MicroscopyIO

/// How overlapping tiles are combined where they overlap in a mosaic.
public enum BlendMode: String, Sendable, Codable, CaseIterable {
    /// Feathering: a weighted mean of the covering tiles whose weights fall linearly towards
    /// each tile's edges (`w = wy · wx`, `wy = min(y + 1, H − y)`, `wx = min(x + 1, W − x)`).
    /// Hides seams and exposure steps; a pixel covered by one tile keeps that tile's value exactly.
    case linear
    /// The largest value of the covering tiles (bright-field artefacts aside, keeps every signal).
    case max
    /// No mixing: each pixel comes from the covering tile whose centre is nearest (ties: the
    /// earlier tile), so seams run through the middle of the overlaps and values are never blended.
    case none
}

/// The integer placement of tiles in a mosaic: its size and each tile's top-left corner.
///
/// Made from solved (sub-pixel) positions by ``init(positions:tileWidth:tileHeight:)``, which
/// rounds them to whole pixels and shifts them so that the smallest corner is at `(0, 0)`.
/// Tiles are pasted without resampling, so the mosaic is at most half a pixel off the solution.
public struct MosaicGeometry: Sendable, Hashable, Codable {
    /// The top-left corner of one tile in mosaic pixels (y down).
    public struct Origin: Sendable, Hashable, Codable {
        /// Top row.
        public var y: Int
        /// Left column.
        public var x: Int

        /// Creates an origin.
        public init(y: Int, x: Int) {
            self.y = y
            self.x = x
        }
    }

    /// Mosaic width in pixels.
    public var width: Int
    /// Mosaic height in pixels.
    public var height: Int
    /// The top-left corner of every tile, in the tile set's order.
    public var origins: [Origin]
    /// The shift subtracted from the rounded positions along y: `origin.y = round(position.y) − offsetY`,
    /// so a position `p` (stage or registration frame) lies at mosaic row `p − offsetY`.
    public var offsetY: Double
    /// The shift subtracted along x: `origin.x = round(position.x) − offsetX`.
    public var offsetX: Double

    /// Creates a geometry from its parts (no checks here:
    /// ``MosaicWriter/write(_:geometry:channels:blend:to:options:isCancelled:)`` checks it against the tile set).
    public init(width: Int, height: Int, origins: [Origin], offsetY: Double = 0, offsetX: Double = 0) {
        self.width = width
        self.height = height
        self.origins = origins
        self.offsetY = offsetY
        self.offsetX = offsetX
    }

    /// Places tiles at their solved positions.
    ///
    /// The set's common sub-pixel phase (``phase(_:)``, per axis) is subtracted first, so that
    /// tiles whose solved positions differ by whole pixels are placed exactly that far apart.
    /// Each coordinate is then rounded half up (towards +∞: 2.5 → 3, −2.5 → −2, i.e. `floor(v + 0.5)`),
    /// so that rounding commutes with whole-pixel shifts of all positions and the relative
    /// placement of two tiles does not depend on which side of zero they lie. The rounded
    /// corners are then shifted so that the smallest is 0 (that shift plus the phase is ``offsetY``/``offsetX``),
    /// and the size is the largest extent `max(origin + tile size)`. No positions give an empty
    /// geometry (size 0).
    ///
    /// ```swift
    /// let geometry = MosaicGeometry(
    ///     positions: solution.positions, tileWidth: set.tileWidth, tileHeight: set.tileHeight)
    /// ```
    ///
    /// - Precondition: every coordinate is finite.
    public init(positions: [Registration.Position], tileWidth: Int, tileHeight: Int) {
        func roundHalfUp(_ value: Double) -> Int {
            precondition(value.isFinite, "mosaic position \(value) is not finite")
            let down = value.rounded(.down)
            return Int(value - down >= 0.5 ? down + 1 : down)
        }
        let phaseY = Self.phase(positions.map(\.y))
        let phaseX = Self.phase(positions.map(\.x))
        let ys = positions.map { roundHalfUp($0.y - phaseY) }
        let xs = positions.map { roundHalfUp($0.x - phaseX) }
        let minY = ys.min() ?? 0
        let minX = xs.min() ?? 0
        origins = zip(ys, xs).map { Origin(y: $0 - minY, x: $1 - minX) }
        height = origins.isEmpty ? 0 : (origins.map(\.y).max() ?? 0) + tileHeight
        width = origins.isEmpty ? 0 : (origins.map(\.x).max() ?? 0) + tileWidth
        offsetY = Double(minY) + phaseY
        offsetX = Double(minX) + phaseX
    }

    /// The common sub-pixel phase of a set of coordinates: the circular mean of their fractional
    /// parts, in (-0.5, 0.5]. Subtracting it before rounding makes the rounding error as small
    /// as possible for the set as a whole: positions known only up to one global shift (as
    /// solved positions are) land exactly on the whole-pixel grid they share, instead of being
    /// split by a rounding boundary. 0 when the fractional parts have no common direction.
    static func phase(_ values: [Double]) -> Double {
        var c = 0.0
        var s = 0.0
        for v in values where v.isFinite {
            let angle = 2 * Double.pi * (v - v.rounded(.down))
            c += cos(angle)
            s += sin(angle)
        }
        guard c * c + s * s > 1e-18 else { return 0 }
        let phase = atan2(s, c) / (2 * Double.pi)
        return phase <= -0.5 ? phase + 1 : phase
    }
}

/// Blends registered tiles into a tiled, pyramidal BigTIFF OME-TIFF mosaic, streaming: the
/// mosaic is never held in memory.
///
/// The TIFF writer asks for the mosaic's output tiles one row band at a time, downwards, one
/// channel after the other. For each band, the source tiles that cross it are read (once per
/// channel) into a cache as `Float` samples, and each is dropped as soon as the band has moved
/// past its bottom edge. Memory is therefore the source tiles crossing one band, one row of
/// output tiles, and the writer's pyramid buffer (a quarter of one channel, see
/// `TIFFWriter.writeOMETiles`; pass `OMETIFFOptions(pyramidLevels: 1)` to avoid it).
public enum MosaicWriter {
    /// What one write did.
    public struct Report: Sendable, Hashable, Codable {
        /// Mosaic width in pixels.
        public var width: Int
        /// Mosaic height in pixels.
        public var height: Int
        /// Number of channels written.
        public var channels: Int
        /// Wall-clock time of the whole write, in seconds.
        public var seconds: Double
        /// The largest number of decoded source planes held at once.
        public var maxTilesHeld: Int
        /// Number of source planes read (tiles × channels when every tile lies in the mosaic).
        public var tilesRead: Int

        /// Creates a report.
        public init(width: Int, height: Int, channels: Int, seconds: Double, maxTilesHeld: Int, tilesRead: Int) {
            self.width = width
            self.height = height
            self.channels = channels
            self.seconds = seconds
            self.maxTilesHeld = maxTilesHeld
            self.tilesRead = tilesRead
        }
    }

    /// Writes the mosaic of `set` placed by `geometry` as one OME-TIFF image.
    ///
    /// The image has the chosen channels (named from ``TileSet/channelNames``), one slice and
    /// one time point, the tiles' sample type and the set's pixel size. Pixels no tile covers
    /// are 0. Overlaps are combined by `blend`; integer results are rounded to nearest and
    /// clamped to the type's range.
    ///
    /// ```swift
    /// let geometry = MosaicGeometry(
    ///     positions: solution.positions, tileWidth: set.tileWidth, tileHeight: set.tileHeight)
    /// let report = try MosaicWriter.write(set, geometry: geometry, to: "/runs/7/mosaic.ome.tif")
    /// ```
    ///
    /// - Parameters:
    ///   - set: The tiles; read plane by plane through ``TileSet/plane(tile:channel:)``.
    ///   - geometry: One origin per tile of `set`.
    ///   - channels: Indices into `set.channelNames` to write, in this order; nil writes all.
    ///   - blend: How overlaps are combined.
    ///   - path: The output; an existing file is replaced. A failed or cancelled write leaves no file.
    ///   - options: Output tile size, pyramid and compression.
    ///   - isCancelled: Polled before every output tile.
    /// - Returns: Sizes, time and how many source planes were read and held.
    /// - Throws: ``StitchingError`` `.invalidParameter` (sample type other than `uint8`, `uint16`,
    ///   `float32`; bad channel index; empty geometry), `.sizeMismatch` (origin count differs from
    ///   the tile count), `.tooSmall` (no tiles), `.cancelled`, `.writeFailed` (the TIFF writer's
    ///   message, or invalid `options`), or what reading a tile throws.
    public static func write(
        _ set: TileSet, geometry: MosaicGeometry, channels: [Int]? = nil, blend: BlendMode = .linear,
        to path: String, options: OMETIFFOptions = OMETIFFOptions(),
        isCancelled: @Sendable () -> Bool = { false }
    ) throws(StitchingError) -> Report {
        let clock = ContinuousClock()
        let start = clock.now
        guard [.uint8, .uint16, .float32].contains(set.pixelType) else {
            throw StitchingError(
                code: .invalidParameter,
                message: "\(path): cannot write a mosaic of \(set.pixelType.rawValue) tiles from \(set.source) "
                    + "(supported: uint8, uint16, float32)")
        }
        guard !set.tiles.isEmpty else {
            throw StitchingError(code: .tooSmall, message: "\(path): \(set.source) has no tiles to put in a mosaic")
        }
        guard geometry.origins.count == set.tiles.count else {
            throw StitchingError(
                code: .sizeMismatch,
                message:
                    "\(path): the geometry places \(geometry.origins.count) tiles, \(set.source) has \(set.tiles.count)"
            )
        }
        guard geometry.width >= 1, geometry.height >= 1, set.tileWidth >= 1, set.tileHeight >= 1 else {
            throw StitchingError(
                code: .invalidParameter,
                message: "\(path): mosaic \(geometry.width)x\(geometry.height) of \(set.tileWidth)x\(set.tileHeight) "
                    + "tiles is empty")
        }
        let chosen = channels ?? Array(set.channelNames.indices)
        guard !chosen.isEmpty, chosen.allSatisfy({ set.channelNames.indices.contains($0) }) else {
            throw StitchingError(
                code: .invalidParameter,
                message: "\(path): channels \(chosen) are not a non-empty selection of the \(set.channelNames.count) "
                    + "channels of \(set.source) (\(set.channelNames.joined(separator: ", ")))")
        }

        let layout = OMETIFFLayout(
            width: geometry.width, height: geometry.height, pixelType: set.pixelType,
            channelNames: chosen.map { set.channelNames[$0] }, sizeZ: 1, sizeT: 1,
            pixelSizeUm: [set.pixelSizeUm, set.pixelSizeUm, nil])
        let blender = MosaicBlender(set: set, origins: geometry.origins, mode: blend)
        var failure: StitchingError?
        do throws(MicroscopyIOError) {
            try TIFFWriter.writeOMETiles(layout, to: path, options: options) {
                (request) throws(MicroscopyIOError) -> [UInt8] in
                do throws(StitchingError) {
                    if isCancelled() {
                        throw StitchingError(code: .cancelled, message: "\(path): mosaic cancelled")
                    }
                    return try blender.tile(
                        channel: chosen[request.plane.channel], y: request.y, x: request.x, width: request.width,
                        height: request.height)
                } catch {
                    failure = error
                    throw MicroscopyIOError(code: .writeFailed, path: path, message: error.description)
                }
            }
        } catch {
            if let failure { throw failure }
            throw StitchingError(code: .writeFailed, message: "\(path): \(error.message)")
        }
        return Report(
            width: geometry.width, height: geometry.height, channels: chosen.count, seconds: (clock.now - start).seconds,
            maxTilesHeld: blender.maxTilesHeld, tilesRead: blender.tilesRead)
    }
}
