public import Foundation
public import MicroscopyIO
import ImageKit

/// Stitches a ``TileSet``: reads the registration channel, picks the axis orientation, registers
/// and solves every tile's position (``Registration``), writes the blended mosaic as a tiled
/// pyramidal OME-TIFF (``MosaicWriter``) and reports positions, pair diagnostics and the map
/// from stage coordinates to mosaic pixels.
///
/// ```swift
/// let set = try TileSet.nd2(path: "/drop/scan.nd2")
/// let report = try Stitcher.stitch(set, to: "/runs/7/mosaic.ome.tif")
/// try Stitcher.positionsJSON(report).write(to: URL(fileURLWithPath: "/runs/7/positions.json"))
/// ```
public enum Stitcher {
    /// Settings of a stitch.
    public struct Options: Sendable, Equatable {
        /// Channel registered (a name or an index); nil uses channel 0.
        public var channel: String?
        /// Registration and solve settings.
        public var registration: Registration.Options
        /// Axis flips of the nominal layout; nil tries all four and keeps the one whose overlaps match.
        public var orientation: Orientation?
        /// How overlaps are combined in the mosaic.
        public var blend: BlendMode
        /// Channels written to the mosaic (names or indices); nil writes all.
        public var outputChannels: [String]?
        /// Mosaic file settings (tile size, compression, pyramid).
        public var tiff: OMETIFFOptions

        /// Creates options. Defaults: channel 0, orientation detected, linear blending, 1024-px
        /// deflate tiles with a predictor and a pyramid down to one tile (as ASHLAR writes).
        public init(
            channel: String? = nil, registration: Registration.Options = Registration.Options(),
            orientation: Orientation? = nil, blend: BlendMode = .linear, outputChannels: [String]? = nil,
            tiff: OMETIFFOptions = OMETIFFOptions(tileSize: 1024, compression: .deflate, predictor: true)
        ) {
            self.channel = channel
            self.registration = registration
            self.orientation = orientation
            self.blend = blend
            self.outputChannels = outputChannels
            self.tiff = tiff
        }
    }

    /// Where one tile ended up.
    public struct Placement: Sendable, Hashable, Codable {
        /// Grid row (from the input, or inferred from the positions), if known.
        public var row: Int?
        /// Grid column, if known.
        public var col: Int?
        /// The tile's name.
        public var name: String
        /// Top edge in mosaic pixels (sub-pixel solution).
        public var y: Double
        /// Left edge in mosaic pixels.
        public var x: Double
        /// Top edge of the whole-pixel placement the mosaic was written with.
        public var originY: Int
        /// Left edge of the whole-pixel placement.
        public var originX: Int
        /// Nominal top edge (stage or grid, after any flip), in the same frame as `y`.
        public var nominalY: Double
        /// Nominal left edge.
        public var nominalX: Double
        /// True when no accepted pair connected the tile and the stage model placed it.
        public var modelPlaced: Bool
        /// Stage position `[x, y]` in µm, when the input has one.
        public var stageUm: [Double]?

        enum CodingKeys: String, CodingKey {
            case row, col, name, y, x, originY = "origin_y", originX = "origin_x", nominalY = "nominal_y",
                nominalX = "nominal_x", modelPlaced = "model_placed", stageUm = "stage_um"
        }
    }

    /// One registered pair, for the report.
    public struct PairRecord: Sendable, Hashable, Codable {
        /// First tile (index into the placements).
        public var first: Int
        /// Second tile.
        public var second: Int
        /// Measured offset of the second tile from the first, y.
        public var offsetY: Double
        /// Measured offset, x.
        public var offsetX: Double
        /// Nominal offset, y.
        public var nominalY: Double
        /// Nominal offset, x.
        public var nominalX: Double
        /// NCC score.
        public var score: Double
        /// `accepted`, `lowScore`, `shiftAtLimit` or `inconsistent`.
        public var status: String
        /// Distance between the measured offset and the solved positions' offset (px).
        public var residual: Double?

        enum CodingKeys: String, CodingKey {
            case first, second, offsetY = "offset_y", offsetX = "offset_x", nominalY = "nominal_y",
                nominalX = "nominal_x", score, status, residual
        }
    }

    /// The affine map from a stage position (µm, the position recorded for a tile, which ND2
    /// files give for the field's centre) to the mosaic pixel where that point lies:
    /// `[y, x] = matrix · [stageX, stageY] + offset`.
    public struct StageMapping: Sendable, Hashable, Codable {
        /// Row-major 2×2: `[[dy/dsx, dy/dsy], [dx/dsx, dx/dsy]]`, mosaic px per µm.
        public var matrix: [[Double]]
        /// `[y, x]` in mosaic px of stage (0, 0).
        public var offset: [Double]
        /// `affine` (fitted on ≥ 3 non-collinear tiles) or `pixel-size` (scale from the pixel
        /// size and orientation, translation fitted).
        public var kind: String
        /// What a stage position refers to: `tile centre`.
        public var reference: String
        /// RMS distance (px) between each tile's mapped stage position and its solved centre.
        public var rmsResidualPx: Double

        enum CodingKeys: String, CodingKey {
            case matrix, offset, kind, reference, rmsResidualPx = "rms_residual_px"
        }

        /// Maps a stage position (µm) to mosaic pixels `(y, x)`.
        public func mosaicPixel(stageX: Double, stageY: Double) -> (y: Double, x: Double) {
            (
                matrix[0][0] * stageX + matrix[0][1] * stageY + offset[0],
                matrix[1][0] * stageX + matrix[1][1] * stageY + offset[1]
            )
        }
    }

    /// Everything a stitch found and did.
    public struct Report: Sendable, Codable {
        /// The input.
        public var source: String
        /// Tile width and height in pixels.
        public var tileWidth: Int
        /// Tile height in pixels.
        public var tileHeight: Int
        /// Channels of the input.
        public var channels: [String]
        /// The channel registered.
        public var registrationChannel: String
        /// The orientation used (`none`, `flip-y`, …).
        public var orientation: Orientation
        /// Whether it was detected (true) or given.
        public var orientationDetected: Bool
        /// Each orientation tried, when detected.
        public var orientationChecks: [Registration.OrientationCheck]
        /// The acceptance threshold (NCC).
        public var scoreThreshold: Double
        /// Every registered pair.
        public var pairs: [PairRecord]
        /// Every tile's place, in input order.
        public var placements: [Placement]
        /// Mosaic width in pixels.
        public var mosaicWidth: Int
        /// Mosaic height in pixels.
        public var mosaicHeight: Int
        /// Channels written to the mosaic (empty when only registered).
        public var mosaicChannels: [String]
        /// Blend mode of the mosaic.
        public var blend: BlendMode
        /// Stage → mosaic map, when the input has stage positions.
        public var stageToMosaic: StageMapping?
        /// Pixel size in µm, when known.
        public var pixelSizeUm: Double?
        /// Warnings (model-placed tiles, a detected flip, …).
        public var warnings: [String]
        /// Seconds per phase: `read`, `orientation`, `registration`, `mosaic`.
        public var seconds: [String: Double]

        enum CodingKeys: String, CodingKey {
            case source, tileWidth = "tile_width", tileHeight = "tile_height", channels,
                registrationChannel = "registration_channel", orientation, orientationDetected = "orientation_detected",
                orientationChecks = "orientation_checks", scoreThreshold = "score_threshold", pairs, placements,
                mosaicWidth = "mosaic_width", mosaicHeight = "mosaic_height", mosaicChannels = "mosaic_channels", blend,
                stageToMosaic = "stage_to_mosaic", pixelSizeUm = "pixel_size_um", warnings, seconds
        }

        /// Accepted pairs.
        public var acceptedPairs: Int { pairs.filter { $0.status == Registration.PairStatus.accepted.rawValue }.count }
    }

    /// Registers the set and solves positions, without writing a mosaic.
    /// - Throws: ``StitchingError`` for unreadable tiles, an unknown channel or invalid options.
    public static func register(
        _ set: TileSet, options: Options = Options(), isCancelled: @Sendable () -> Bool = { false }
    ) throws(StitchingError) -> Report {
        guard !set.tiles.isEmpty else {
            throw StitchingError(code: .inputInvalid, message: "\(set.source): no tiles")
        }
        let clock = ContinuousClock()
        var seconds: [String: Double] = [:]
        let channel = try options.channel.map { (name) throws(StitchingError) in try set.channelIndex(name) } ?? 0
        var start = clock.now
        var images: [Image<Float>] = []
        images.reserveCapacity(set.tiles.count)
        for t in set.tiles.indices {
            if isCancelled() { throw StitchingError(code: .cancelled, message: "\(set.source): stitching was cancelled") }
            images.append(try floatImage(set.plane(tile: t, channel: channel)))
        }
        seconds["read"] = (clock.now - start).seconds

        start = clock.now
        let nominal = set.layout
        let orientation: Orientation
        var checks: [Registration.OrientationCheck] = []
        if let given = options.orientation {
            orientation = given
        } else if set.tiles.count > 1 {
            (orientation, checks) = try Registration.detectOrientation(
                tiles: images, layout: nominal, options: options.registration)
        } else {
            orientation = .identity
        }
        seconds["orientation"] = (clock.now - start).seconds
        if isCancelled() { throw StitchingError(code: .cancelled, message: "\(set.source): stitching was cancelled") }

        start = clock.now
        let layout = nominal.flipped(orientation)
        let solution = try Registration.solve(tiles: images, layout: layout, options: options.registration)
        images = []
        seconds["registration"] = (clock.now - start).seconds

        let geometry = MosaicGeometry(positions: solution.positions, tileWidth: set.tileWidth, tileHeight: set.tileHeight)
        let modelPlaced = Set(solution.modelPlacedTiles)
        var placements: [Placement] = []
        for (t, tile) in set.tiles.enumerated() {
            placements.append(
                Placement(
                    row: tile.row, col: tile.col, name: tile.name,
                    y: solution.positions[t].y - geometry.offsetY, x: solution.positions[t].x - geometry.offsetX,
                    originY: geometry.origins[t].y, originX: geometry.origins[t].x,
                    nominalY: layout.tiles[t].y - geometry.offsetY, nominalX: layout.tiles[t].x - geometry.offsetX,
                    modelPlaced: modelPlaced.contains(t), stageUm: tile.stageUm))
        }
        var warnings = solution.warnings
        if orientation != .identity {
            warnings.append(
                checks.isEmpty
                    ? "orientation \(orientation) as configured"
                    : "the nominal layout was mirrored (\(orientation)): its overlaps matched, the layout as given did not")
        }
        let pairs = solution.pairs.map {
            PairRecord(
                first: $0.first, second: $0.second, offsetY: $0.measuredOffsetY, offsetX: $0.measuredOffsetX,
                nominalY: $0.nominalOffsetY, nominalX: $0.nominalOffsetX, score: $0.score, status: $0.status.rawValue,
                residual: $0.residual)
        }
        return Report(
            source: set.source, tileWidth: set.tileWidth, tileHeight: set.tileHeight, channels: set.channelNames,
            registrationChannel: set.channelNames[channel], orientation: orientation,
            orientationDetected: options.orientation == nil && set.tiles.count > 1, orientationChecks: checks,
            scoreThreshold: solution.scoreThreshold, pairs: pairs, placements: placements,
            mosaicWidth: geometry.width, mosaicHeight: geometry.height, mosaicChannels: [], blend: options.blend,
            stageToMosaic: stageMapping(placements, set: set, orientation: orientation),
            pixelSizeUm: set.pixelSizeUm, warnings: warnings, seconds: seconds)
    }

    /// Registers the set and writes the mosaic to `path` (replacing it; nothing is left on failure).
    /// - Throws: ``StitchingError`` from registration or writing; `.cancelled` when `isCancelled` turns true.
    public static func stitch(
        _ set: TileSet, to path: String, options: Options = Options(), isCancelled: @Sendable () -> Bool = { false }
    ) throws(StitchingError) -> Report {
        var report = try register(set, options: options, isCancelled: isCancelled)
        try writeMosaic(set, report: &report, to: path, options: options, isCancelled: isCancelled)
        return report
    }

    /// Writes the mosaic of an already registered set (``register(_:options:isCancelled:)``).
    /// - Throws: ``StitchingError`` from the writer or for unknown output channels.
    public static func writeMosaic(
        _ set: TileSet, report: inout Report, to path: String, options: Options = Options(),
        isCancelled: @Sendable () -> Bool = { false }
    ) throws(StitchingError) {
        var channels: [Int] = Array(set.channelNames.indices)
        if let wanted = options.outputChannels, !wanted.isEmpty {
            channels = []
            for name in wanted { channels.append(try set.channelIndex(name)) }
        }
        let geometry = MosaicGeometry(
            positions: report.placements.map { Registration.Position(y: $0.y, x: $0.x) }, tileWidth: set.tileWidth,
            tileHeight: set.tileHeight)
        let written = try MosaicWriter.write(
            set, geometry: geometry, channels: channels, blend: options.blend, to: path, options: options.tiff,
            isCancelled: isCancelled)
        report.seconds["mosaic"] = written.seconds
        report.mosaicChannels = channels.map { set.channelNames[$0] }
        report.blend = options.blend
    }

    /// `{"tiles": [{"row": r, "col": c, "y": px, "x": px, "name": …}, …]}`: each tile's top-left
    /// corner in mosaic pixels (sub-pixel solution; the mosaic itself places tiles at the nearest
    /// whole pixel), pretty-printed with sorted keys.
    public static func positionsJSON(_ report: Report) -> Data {
        struct Entry: Encodable {
            var row: Int?
            var col: Int?
            var y: Double
            var x: Double
            var name: String
        }
        struct Document: Encodable { var tiles: [Entry] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let document = Document(
            tiles: report.placements.map { Entry(row: $0.row, col: $0.col, y: rounded($0.y), x: rounded($0.x), name: $0.name) })
        return (try? encoder.encode(document)) ?? Data("{\"tiles\": []}".utf8)
    }

    /// The whole report as JSON (pretty-printed, sorted keys).
    public static func reportJSON(_ report: Report) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? encoder.encode(report)) ?? Data("{}".utf8)
    }

    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    /// Fits the stage → mosaic map on the tile centres.
    static func stageMapping(_ placements: [Placement], set: TileSet, orientation: Orientation) -> StageMapping? {
        let points = placements.compactMap { p -> (sx: Double, sy: Double, y: Double, x: Double)? in
            guard let s = p.stageUm, s.count >= 2 else { return nil }
            return (s[0], s[1], p.y + Double(set.tileHeight) / 2, p.x + Double(set.tileWidth) / 2)
        }
        guard points.count == placements.count, !points.isEmpty else { return nil }
        let n = Double(points.count)
        let msx = points.map(\.sx).reduce(0, +) / n, msy = points.map(\.sy).reduce(0, +) / n
        let my = points.map(\.y).reduce(0, +) / n, mx = points.map(\.x).reduce(0, +) / n
        // Centred normal equations of [sx, sy] → y and → x.
        var sxx = 0.0, sxy = 0.0, syy = 0.0, ysx = 0.0, ysy = 0.0, xsx = 0.0, xsy = 0.0
        for p in points {
            let a = p.sx - msx, b = p.sy - msy
            sxx += a * a; sxy += a * b; syy += b * b
            ysx += (p.y - my) * a; ysy += (p.y - my) * b
            xsx += (p.x - mx) * a; xsy += (p.x - mx) * b
        }
        let det = sxx * syy - sxy * sxy
        var matrix: [[Double]]
        var kind = "affine"
        if points.count >= 3, det > 1e-9 * max(1, sxx * syy) {
            matrix = [
                [(ysx * syy - ysy * sxy) / det, (ysy * sxx - ysx * sxy) / det],
                [(xsx * syy - xsy * sxy) / det, (xsy * sxx - xsx * sxy) / det],
            ]
        } else if let size = set.pixelSizeUm, size > 0 {
            kind = "pixel-size"
            matrix = [[0, (orientation.flipY ? -1 : 1) / size], [(orientation.flipX ? -1 : 1) / size, 0]]
        } else {
            return nil
        }
        let offset = [
            my - matrix[0][0] * msx - matrix[0][1] * msy,
            mx - matrix[1][0] * msx - matrix[1][1] * msy,
        ]
        var sum = 0.0
        for p in points {
            let y = matrix[0][0] * p.sx + matrix[0][1] * p.sy + offset[0]
            let x = matrix[1][0] * p.sx + matrix[1][1] * p.sy + offset[1]
            sum += (y - p.y) * (y - p.y) + (x - p.x) * (x - p.x)
        }
        return StageMapping(
            matrix: matrix, offset: offset, kind: kind, reference: "tile centre", rmsResidualPx: (sum / n).squareRoot())
    }

    /// A plane as a `Float` image.
    static func floatImage(_ plane: Plane) throws(StitchingError) -> Image<Float> {
        do {
            return try Image(width: plane.width, height: plane.height, pixels: MosaicBlender.decode(plane))
        } catch {
            throw StitchingError(code: .sizeMismatch, message: error.description)
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
