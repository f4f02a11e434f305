internal import CTIFF
import Dispatch
import Foundation
public import ImageKit
import Synchronization

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A TIFF compression scheme the writers offer.
public enum TIFFCompression: String, Sendable, Codable, CaseIterable {
    /// Uncompressed.
    case none
    /// Lempel-Ziv-Welch.
    case lzw
    /// Deflate (zlib; TIFF compression 8, "Adobe deflate").
    case deflate
    /// Zstandard (TIFF compression 50000).
    case zstd

    /// The TIFF `Compression` tag value.
    var tiffCode: UInt16 {
        switch self {
        case .none: UInt16(COMPRESSION_NONE)
        case .lzw: UInt16(COMPRESSION_LZW)
        case .deflate: UInt16(COMPRESSION_ADOBE_DEFLATE)
        case .zstd: UInt16(COMPRESSION_ZSTD)
        }
    }

    /// Whether the libtiff this process uses can encode and decode the scheme.
    public var isAvailable: Bool { TIFFIsCODECConfigured(tiffCode) != 0 }
}

/// How a pyramid level is computed from the level above it.
public enum TIFFDownsample: String, Sendable, Codable, CaseIterable {
    /// Rounded mean of each 2 x 2 block (of the pixels that exist at odd edges): for intensities.
    case mean
    /// The top-left pixel of each 2 x 2 block: for label masks, where a mean would invent labels.
    case nearest
}

/// Settings of the tiled OME-TIFF writer.
public struct OMETIFFOptions: Sendable, Equatable {
    /// Tile width and height in pixels; a multiple of 16 (TIFF requires it). Levels smaller
    /// than a tile get a tile just large enough (rounded up to 16).
    public var tileSize: Int
    /// Number of levels including full resolution; `nil` halves until a level fits in one tile.
    public var pyramidLevels: Int?
    /// Compression of every tile.
    public var compression: TIFFCompression
    /// Codec level (deflate 1–12, zstd 1–22); `nil` uses a fast default: deflate 1 and zstd 3.
    /// Measured on noisy 16-bit microscopy-like data and label masks, deflate 1 (libdeflate)
    /// made files as small as deflate 6 at a third of the time; higher levels pay off only on
    /// smooth 8-bit content.
    public var compressionLevel: Int?
    /// Horizontal (integers) or floating-point predictor before compression; usually makes
    /// microscopy data 20–40 % smaller for some extra time.
    public var predictor: Bool
    /// Downsampling between levels; `nil` means `.nearest` for `uint32` (label masks) and
    /// `.mean` otherwise.
    public var downsample: TIFFDownsample?

    /// Creates options; every argument has the documented default.
    public init(
        tileSize: Int = 512, pyramidLevels: Int? = nil, compression: TIFFCompression = .deflate,
        compressionLevel: Int? = nil, predictor: Bool = true, downsample: TIFFDownsample? = nil
    ) {
        self.tileSize = tileSize
        self.pyramidLevels = pyramidLevels
        self.compression = compression
        self.compressionLevel = compressionLevel
        self.predictor = predictor
        self.downsample = downsample
    }
}

/// The shape and metadata of an OME-TIFF to write: one image of `channelNames.count` channels,
/// `sizeZ` slices and `sizeT` time points, stored in `XYCZT` order (channel fastest).
public struct OMETIFFLayout: Sendable, Equatable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Sample type (every type but `float64`/`int16` has a ``TIFFSample`` too; all six are written).
    public var pixelType: PixelType
    /// One name per channel (OME `Channel/@Name`).
    public var channelNames: [String]
    /// Number of Z slices.
    public var sizeZ: Int
    /// Number of time points.
    public var sizeT: Int
    /// Pixel size in µm (x, y, z), each nil when unknown.
    public var pixelSizeUm: [Double?]
    /// OME `Image/@Name`; nil uses the file name.
    public var imageName: String?

    /// Creates a layout.
    public init(
        width: Int, height: Int, pixelType: PixelType, channelNames: [String], sizeZ: Int = 1, sizeT: Int = 1,
        pixelSizeUm: [Double?] = [nil, nil, nil], imageName: String? = nil
    ) {
        self.width = width
        self.height = height
        self.pixelType = pixelType
        self.channelNames = channelNames
        self.sizeZ = sizeZ
        self.sizeT = sizeT
        self.pixelSizeUm = pixelSizeUm
        self.imageName = imageName
    }

    /// Number of planes (`channels * sizeZ * sizeT`); the writer asks for them with
    /// `PlaneIndex(frame: t * sizeZ + z, channel: c)`, channel fastest.
    public var planeCount: Int { channelNames.count * sizeZ * sizeT }
}

/// One tile the streaming writer asks for: a rectangle of one plane at full resolution.
public struct OMETIFFTileRequest: Sendable, Equatable {
    /// The plane: `frame = t * sizeZ + z`, `channel` (series and level are 0).
    public var plane: PlaneIndex
    /// Left column.
    public var x: Int
    /// Top row.
    public var y: Int
    /// Columns (smaller than the tile size at the right edge).
    public var width: Int
    /// Rows (smaller than the tile size at the bottom edge).
    public var height: Int
}

extension TIFFWriter {
    // MARK: Public entry points

    /// Writes `image` (each channel a plane) as a tiled, pyramidal BigTIFF OME-TIFF.
    ///
    /// Pixels are read straight from the image's storage tile by tile, so the image is never
    /// copied; extra memory is one row of tiles plus the pyramid (a quarter of one channel,
    /// see ``writeOME(_:to:options:plane:)``).
    ///
    /// ```swift
    /// try TIFFWriter.writeOME(labels, to: "/runs/7/masks.ome.tif", pixelSizeUm: [0.325, 0.325, nil],
    ///                         channelNames: ["nuclei"])   // uint32 levels use nearest
    /// ```
    ///
    /// - Parameters:
    ///   - image: The planes, one per channel.
    ///   - path: The output; an existing file is replaced; a failed write removes it.
    ///   - pixelSizeUm: Pixel size x, y, z in µm.
    ///   - channelNames: One name per channel; nil names them `C0`, `C1`, ….
    ///   - options: Tiles, pyramid, compression and downsampling.
    /// - Throws: ``MicroscopyIOError`` `.writeFailed` with libtiff's message, or for invalid options.
    public static func writeOME<Pixel: TIFFSample>(
        _ image: Image<Pixel>, to path: String, pixelSizeUm: [Double?] = [nil, nil, nil], channelNames: [String]? = nil,
        options: OMETIFFOptions = OMETIFFOptions()
    ) throws(MicroscopyIOError) {
        guard
            let pixelType = TIFFDirectoryInfo.pixelType(
                bits: Int(Pixel.tiffBitsPerSample), format: Int(Pixel.tiffSampleFormat))
        else {
            throw MicroscopyIOError(code: .writeFailed, path: path, message: "unsupported sample type \(Pixel.self)")
        }
        let names = channelNames ?? (0..<image.channels).map { "C\($0)" }
        guard names.count == image.channels else {
            throw MicroscopyIOError(
                code: .writeFailed, path: path,
                message: "\(names.count) channel names for an image of \(image.channels) channels")
        }
        let layout = OMETIFFLayout(
            width: image.width, height: image.height, pixelType: pixelType, channelNames: names,
            pixelSizeUm: pixelSizeUm)
        let size = MemoryLayout<Pixel>.size
        let rowBytes = image.width * size
        let planeBytes = rowBytes * image.height
        try image.withUnsafeBufferPointer { (pixels) throws(MicroscopyIOError) in
            let base = UnsafeRawPointer(pixels.baseAddress!)
            var planeStart = 0
            try OMETIFFEngine.write(
                layout, to: path, options: options,
                begin: { _, ordinal in planeStart = ordinal &* planeBytes },
                fill: { _, x, y, w, h, destination, stride in
                    copyRows(
                        from: base + (planeStart &+ y &* rowBytes &+ x &* size), sourceStride: rowBytes,
                        to: destination, destinationStride: stride, rowBytes: w &* size, rows: h)
                },
                end: {})
        }
    }

    /// Writes an OME-TIFF whose planes come one at a time from `plane`.
    ///
    /// `plane` is called once per plane, channel fastest (`PlaneIndex(frame: t * sizeZ + z,
    /// channel: c)`), and the writer drops each plane once its full-resolution tiles are
    /// written. Memory: one plane, plus the pyramid's next level (a quarter of a plane, then a
    /// sixteenth, …, each freed when the level below it is written), plus one row of tiles and
    /// their encoded bytes (16 MiB each for a 16k-wide `uint16` plane with 512-pixel tiles).
    /// For a 16k x 16k `uint16` plane that is 512 MiB + 128 MiB + 32 MiB + ~40 MiB at the
    /// peak; use ``writeOMETiles(_:to:options:tile:)`` to avoid holding the plane.
    ///
    /// - Parameters:
    ///   - layout: Sizes, sample type, channel names, pixel size.
    ///   - path: The output; an existing file is replaced; a failed write removes it.
    ///   - options: Tiles, pyramid, compression and downsampling.
    ///   - plane: Returns the plane for an index; its size and type must match `layout`.
    /// - Throws: What `plane` throws, or `.writeFailed`.
    public static func writeOME(
        _ layout: OMETIFFLayout, to path: String, options: OMETIFFOptions = OMETIFFOptions(),
        plane: (PlaneIndex) throws(MicroscopyIOError) -> Plane
    ) throws(MicroscopyIOError) {
        var current: Plane?
        let size = layout.pixelType.byteCount
        let rowBytes = layout.width * size
        try OMETIFFEngine.write(
            layout, to: path, options: options,
            begin: { (index, _) throws(MicroscopyIOError) in
                let value = try plane(index)
                guard value.width == layout.width, value.height == layout.height, value.pixelType == layout.pixelType
                else {
                    throw MicroscopyIOError(
                        code: .writeFailed, path: path,
                        message: "plane (frame \(index.frame), channel \(index.channel)) is \(value.width) x "
                            + "\(value.height) \(value.pixelType.rawValue), expected \(layout.width) x \(layout.height) "
                            + "\(layout.pixelType.rawValue)")
                }
                current = value
            },
            fill: { _, x, y, w, h, destination, stride in
                current?.bytes.withUnsafeBytes { raw in
                    copyRows(
                        from: raw.baseAddress! + (y &* rowBytes &+ x &* size), sourceStride: rowBytes, to: destination,
                        destinationStride: stride, rowBytes: w &* size, rows: h)
                }
                #if _endian(big)
                    OMETIFFEngine.swapRows(destination, stride: stride, columns: w, rows: h, size: size)
                #endif
            },
            end: { current = nil })
    }

    /// Writes an OME-TIFF whose full-resolution pixels come tile by tile from `tile`: for
    /// mosaics that are never held whole.
    ///
    /// `tile` gets each tile of each plane once, row by row, planes channel fastest, and
    /// returns its little-endian samples, row-major, `width * height * byteCount` bytes.
    /// Memory: the pyramid's next level (a quarter of one plane, e.g. 128 MiB for a 16k x 16k
    /// `uint16` mosaic, then a sixteenth, …) plus one row of tiles and their encoded bytes;
    /// with `pyramidLevels: 1`, only the row of tiles. Measured for 16k x 16k `uint16` with
    /// the default options: 209 MiB peak RSS for the whole process.
    ///
    /// - Parameters:
    ///   - layout: Sizes, sample type, channel names, pixel size.
    ///   - path: The output; an existing file is replaced; a failed write removes it.
    ///   - options: Tiles, pyramid, compression and downsampling.
    ///   - tile: Returns the samples of one tile.
    /// - Throws: What `tile` throws, or `.writeFailed`.
    public static func writeOMETiles(
        _ layout: OMETIFFLayout, to path: String, options: OMETIFFOptions = OMETIFFOptions(),
        tile: (OMETIFFTileRequest) throws(MicroscopyIOError) -> [UInt8]
    ) throws(MicroscopyIOError) {
        let size = layout.pixelType.byteCount
        try OMETIFFEngine.write(
            layout, to: path, options: options, begin: { _, _ in },
            fill: { (index, x, y, w, h, destination, stride) throws(MicroscopyIOError) in
                let bytes = try tile(OMETIFFTileRequest(plane: index, x: x, y: y, width: w, height: h))
                guard bytes.count == w * h * size else {
                    throw MicroscopyIOError(
                        code: .writeFailed, path: path,
                        message: "tile at (\(x), \(y)) of frame \(index.frame), channel \(index.channel) has "
                            + "\(bytes.count) bytes, expected \(w) x \(h) x \(size) = \(w * h * size)")
                }
                bytes.withUnsafeBytes { raw in
                    copyRows(
                        from: raw.baseAddress!, sourceStride: w &* size, to: destination, destinationStride: stride,
                        rowBytes: w &* size, rows: h)
                }
                #if _endian(big)
                    OMETIFFEngine.swapRows(destination, stride: stride, columns: w, rows: h, size: size)
                #endif
            },
            end: {})
    }
}

// MARK: - Helpers

/// Copies `rows` rows of `rowBytes` bytes.
@inline(__always)
func copyRows(
    from source: UnsafeRawPointer, sourceStride: Int, to destination: UnsafeMutableRawPointer, destinationStride: Int,
    rowBytes: Int, rows: Int
) {
    for row in 0..<rows {
        memcpy(destination + row &* destinationStride, source + row &* sourceStride, rowBytes)
    }
}

// MARK: - The engine

/// Writes planes as tiled BigTIFF directories with their pyramid levels as SubIFDs.
///
/// For each plane: the full-resolution tiles are requested from the source one row of tiles at
/// a time, each is reduced 2 x 2 into a buffer holding the next level, and the row is encoded
/// by libtiff (in parallel, see ``writeTiles``) and written. When the plane's directory is
/// written, that buffer is written as the first SubIFD while being reduced into the one after
/// it, and so on. So the memory beyond the source is one row of tiles plus a quarter plus a
/// sixteenth of a plane at the peak.
enum OMETIFFEngine {
    struct LevelGeometry {
        var width: Int
        var height: Int
        var tileWidth: Int
        var tileHeight: Int
    }

    /// Levels from full resolution down: halving (rounding up) `levels - 1` times.
    static func geometry(width: Int, height: Int, tileSize: Int, levels requested: Int?) -> [LevelGeometry] {
        var sizes: [(Int, Int)] = [(width, height)]
        while true {
            let (w, h) = sizes.last!
            if let requested {
                if sizes.count >= requested || (w == 1 && h == 1) { break }
            } else if max(w, h) <= tileSize {
                break
            }
            sizes.append(((w + 1) / 2, (h + 1) / 2))
        }
        func tile(_ extent: Int) -> Int { min(tileSize, (extent + 15) / 16 * 16) }
        return sizes.map { LevelGeometry(width: $0.0, height: $0.1, tileWidth: tile($0.0), tileHeight: tile($0.1)) }
    }

    /// Writes the file. `begin` is called before the tiles of each plane (with its index in
    /// file order), `fill` copies a rectangle of that plane at full resolution into a tile
    /// buffer (rows `stride` bytes apart, native byte order), `end` after its last tile.
    static func write(
        _ layout: OMETIFFLayout, to path: String, options: OMETIFFOptions,
        begin: (PlaneIndex, Int) throws(MicroscopyIOError) -> Void,
        fill: (PlaneIndex, Int, Int, Int, Int, UnsafeMutableRawPointer, Int) throws(MicroscopyIOError) -> Void,
        end: () -> Void
    ) throws(MicroscopyIOError) {
        func invalid(_ message: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .writeFailed, path: path, message: message)
        }
        guard layout.width >= 1, layout.height >= 1, layout.width <= Int(UInt32.max), layout.height <= Int(UInt32.max)
        else {
            throw invalid("invalid size \(layout.width) x \(layout.height)")
        }
        guard !layout.channelNames.isEmpty, layout.sizeZ >= 1, layout.sizeT >= 1 else {
            throw invalid("needs at least one channel, slice and time point")
        }
        guard options.tileSize >= 16, options.tileSize % 16 == 0, options.tileSize <= 1 << 15 else {
            throw invalid("tile size \(options.tileSize) is not a multiple of 16 between 16 and 32768")
        }
        if let levels = options.pyramidLevels, levels < 1 {
            throw invalid("pyramidLevels must be at least 1, got \(levels)")
        }
        guard options.compression.isAvailable else {
            throw invalid("this libtiff cannot write \(options.compression.rawValue) compression")
        }
        let levels = geometry(
            width: layout.width, height: layout.height, tileSize: options.tileSize, levels: options.pyramidLevels)
        let downsample = options.downsample ?? (layout.pixelType == .uint32 ? .nearest : .mean)
        let size = layout.pixelType.byteCount
        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        let uuid = "urn:uuid:" + UUID().uuidString.lowercased()
        let xml = OMEMetadata.document(
            uuid: uuid, fileName: fileName,
            imageName: layout.imageName
                ?? fileName.replacingOccurrences(of: ".ome.tiff", with: "")
                .replacingOccurrences(of: ".ome.tif", with: ""),
            width: layout.width, height: layout.height, pixelType: layout.pixelType,
            channelNames: layout.channelNames, sizeZ: layout.sizeZ, sizeT: layout.sizeT,
            pixelSizeUm: layout.pixelSizeUm)

        let tiff = try TIFFHandle.open(path: path, mode: "w8", failure: .writeFailed)
        var succeeded = false
        defer {
            if !succeeded {
                tiff.close()
                unlink(path)
            }
        }
        func fail(_ what: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .writeFailed, path: path, message: "\(what): \(tiff.diagnostics.errorText)")
        }

        var ordinal = 0
        for t in 0..<layout.sizeT {
            for z in 0..<layout.sizeZ {
                for c in 0..<layout.channelNames.count {
                    let index = PlaneIndex(frame: t * layout.sizeZ + z, channel: c)
                    let what = "plane \(ordinal) (frame \(index.frame), channel \(c))"
                    try begin(index, ordinal)
                    var next: LevelBuffer? = levels.count > 1 ? LevelBuffer(levels[1], size: size) : nil
                    try setTags(
                        tiff, layout: layout, level: levels[0], levelIndex: 0, options: options,
                        description: ordinal == 0 ? xml : nil, subIFDs: levels.count - 1, fail: fail)
                    try writeTiles(
                        tiff, level: levels[0], size: size, pixelType: layout.pixelType, options: options,
                        next: next, downsample: downsample, what: "\(what), level 0", fail: fail
                    ) { (x, y, w, h, destination, stride) throws(MicroscopyIOError) in
                        try fill(index, x, y, w, h, destination, stride)
                    }
                    end()
                    guard TIFFWriteDirectory(tiff.tif) == 1 else { throw fail("writing the directory of \(what)") }

                    for levelIndex in levels.indices.dropFirst() {
                        let current = next!
                        next = levelIndex + 1 < levels.count ? LevelBuffer(levels[levelIndex + 1], size: size) : nil
                        try setTags(
                            tiff, layout: layout, level: levels[levelIndex], levelIndex: levelIndex, options: options,
                            description: nil, subIFDs: 0, fail: fail)
                        try writeTiles(
                            tiff, level: levels[levelIndex], size: size, pixelType: layout.pixelType,
                            options: options, next: next, downsample: downsample,
                            what: "\(what), level \(levelIndex)", fail: fail
                        ) { x, y, w, h, destination, stride in
                            let rowBytes = current.geometry.width &* size
                            copyRows(
                                from: current.base + (y &* rowBytes &+ x &* size), sourceStride: rowBytes,
                                to: destination, destinationStride: stride, rowBytes: w &* size, rows: h)
                        }
                        guard TIFFWriteDirectory(tiff.tif) == 1 else {
                            throw fail("writing level \(levelIndex) of \(what)")
                        }
                    }
                    ordinal += 1
                }
            }
        }
        tiff.close()
        guard tiff.diagnostics.errors.isEmpty else { throw fail("closing the file") }
        succeeded = true
    }

    /// A whole pyramid level in memory (native byte order).
    final class LevelBuffer {
        let geometry: LevelGeometry
        let base: UnsafeMutableRawPointer

        init(_ geometry: LevelGeometry, size: Int) {
            self.geometry = geometry
            base = UnsafeMutableRawPointer.allocate(byteCount: geometry.width * geometry.height * size, alignment: 64)
        }

        deinit {
            base.deallocate()
        }
    }

    static func setTags(
        _ tiff: TIFFHandle, layout: OMETIFFLayout, level: LevelGeometry, levelIndex: Int, options: OMETIFFOptions,
        description: String?, subIFDs: Int, fail: (String) -> MicroscopyIOError
    ) throws(MicroscopyIOError) {
        let pixelType = layout.pixelType
        let format: Int32 =
            switch pixelType {
            case .float32, .float64: SAMPLEFORMAT_IEEEFP
            case .int16: SAMPLEFORMAT_INT
            default: SAMPLEFORMAT_UINT
            }
        var ok = true
        ok = tiff.set(TIFFTAG_SUBFILETYPE, u32: levelIndex == 0 ? 0 : UInt32(FILETYPE_REDUCEDIMAGE)) && ok
        ok = tiff.set(TIFFTAG_IMAGEWIDTH, u32: UInt32(level.width)) && ok
        ok = tiff.set(TIFFTAG_IMAGELENGTH, u32: UInt32(level.height)) && ok
        ok = tiff.set(TIFFTAG_TILEWIDTH, u32: UInt32(level.tileWidth)) && ok
        ok = tiff.set(TIFFTAG_TILELENGTH, u32: UInt32(level.tileHeight)) && ok
        ok = tiff.set(TIFFTAG_BITSPERSAMPLE, u16: UInt16(pixelType.byteCount * 8)) && ok
        ok = tiff.set(TIFFTAG_SAMPLESPERPIXEL, u16: 1) && ok
        ok = tiff.set(TIFFTAG_SAMPLEFORMAT, u16: UInt16(format)) && ok
        ok = tiff.set(TIFFTAG_PHOTOMETRIC, u16: UInt16(PHOTOMETRIC_MINISBLACK)) && ok
        ok = tiff.set(TIFFTAG_PLANARCONFIG, u16: UInt16(PLANARCONFIG_CONTIG)) && ok
        ok = tiff.set(TIFFTAG_SOFTWARE, string: "lmdflow") && ok
        ok =
            setCompression(
                tiff, options.compression, level: options.compressionLevel,
                predictor: options.predictor, pixelType: pixelType) && ok
        let scale = Double(1 << levelIndex)
        if layout.pixelSizeUm.count >= 2, let x = layout.pixelSizeUm[0], let y = layout.pixelSizeUm[1], x > 0, y > 0 {
            ok = tiff.set(TIFFTAG_XRESOLUTION, double: 1e4 / (x * scale)) && ok
            ok = tiff.set(TIFFTAG_YRESOLUTION, double: 1e4 / (y * scale)) && ok
            ok = tiff.set(TIFFTAG_RESOLUTIONUNIT, u16: UInt16(RESUNIT_CENTIMETER)) && ok
        }
        if let description { ok = tiff.set(TIFFTAG_IMAGEDESCRIPTION, string: description) && ok }
        if subIFDs > 0 { ok = tiff.setSubIFDCount(subIFDs) && ok }
        guard ok else { throw fail("setting the tags of level \(levelIndex)") }
    }

    /// Sets compression, its level and the predictor on the directory being written.
    static func setCompression(
        _ tiff: TIFFHandle, _ compression: TIFFCompression, level: Int?, predictor: Bool, pixelType: PixelType
    ) -> Bool {
        var ok = tiff.set(TIFFTAG_COMPRESSION, u16: compression.tiffCode)
        switch compression {
        case .deflate: ok = tiff.set(TIFFTAG_ZIPQUALITY, int: Int32(level ?? 1)) && ok
        case .zstd: ok = tiff.set(TIFFTAG_ZSTD_LEVEL, int: Int32(level ?? 3)) && ok
        case .none, .lzw: break
        }
        if compression != .none && predictor {
            let kind = pixelType == .float32 || pixelType == .float64 ? PREDICTOR_FLOATINGPOINT : PREDICTOR_HORIZONTAL
            ok = tiff.set(TIFFTAG_PREDICTOR, u16: UInt16(kind)) && ok
        }
        return ok
    }

    /// Writes every tile of one level, filling each from `fill`, and reduces it into `next`.
    ///
    /// Tiles are made one row of tiles at a time; with compression and more than one core the
    /// row's tiles are encoded in parallel (libtiff encoders on in-memory handles, one per
    /// thread) and written in order with `TIFFWriteRawTile`. Memory: one row of tiles.
    static func writeTiles(
        _ tiff: TIFFHandle, level: LevelGeometry, size: Int, pixelType: PixelType, options: OMETIFFOptions,
        next: LevelBuffer?, downsample: TIFFDownsample, what: String, fail: (String) -> MicroscopyIOError,
        fill: (Int, Int, Int, Int, UnsafeMutableRawPointer, Int) throws(MicroscopyIOError) -> Void
    ) throws(MicroscopyIOError) {
        let tileStride = level.tileWidth &* size
        let tileBytes = tileStride &* level.tileHeight
        let tilesAcross = (level.width + level.tileWidth - 1) / level.tileWidth
        let row = UnsafeMutableRawPointer.allocate(byteCount: tileBytes * tilesAcross, alignment: 64)
        defer { row.deallocate() }
        let threads = min(ProcessInfo.processInfo.activeProcessorCount, tilesAcross)
        let pool: TIFFEncoderPool? =
            options.compression != .none && threads > 1
            ? try TIFFEncoderPool(level: level, pixelType: pixelType, options: options, count: threads, path: tiff.path)
            : nil

        var tileIndex: UInt32 = 0
        for y in stride(from: 0, to: level.height, by: level.tileHeight) {
            let rows = min(level.tileHeight, level.height &- y)
            for column in 0..<tilesAcross {
                let x = column &* level.tileWidth
                let columns = min(level.tileWidth, level.width &- x)
                let tile = row + column &* tileBytes
                if rows < level.tileHeight || columns < level.tileWidth {
                    memset(tile, 0, tileBytes)
                }
                try fill(x, y, columns, rows, tile, tileStride)
                if let next {
                    let nextStride = next.geometry.width &* size
                    OMEDownsampler.reduce(
                        pixelType, mode: downsample, source: tile, sourceStride: tileStride, columns: columns,
                        rows: rows, destination: next.base + ((y / 2) &* nextStride &+ (x / 2) &* size),
                        destinationStride: nextStride)
                }
            }
            if let pool {
                let encoded = pool.encode(row, count: tilesAcross, tileBytes: tileBytes)
                for column in 0..<tilesAcross {
                    guard var data = encoded[column] else {
                        throw MicroscopyIOError(
                            code: .writeFailed, path: tiff.path,
                            message: "encoding tile \(tileIndex) of \(what): \(pool.errorText)")
                    }
                    let count = data.count
                    let written = data.withUnsafeMutableBytes {
                        TIFFWriteRawTile(tiff.tif, tileIndex, $0.baseAddress, tmsize_t(count))
                    }
                    guard written == count else { throw fail("writing tile \(tileIndex) of \(what)") }
                    tileIndex &+= 1
                }
            } else {
                for column in 0..<tilesAcross {
                    // libtiff may change the buffer while encoding (predictor); it was reduced already.
                    guard
                        TIFFWriteEncodedTile(tiff.tif, tileIndex, row + column &* tileBytes, tmsize_t(tileBytes))
                            == tileBytes
                    else {
                        throw fail("writing tile \(tileIndex) of \(what)")
                    }
                    tileIndex &+= 1
                }
            }
        }
    }

    #if _endian(big)
        static func swapRows(_ base: UnsafeMutableRawPointer, stride: Int, columns: Int, rows: Int, size: Int) {
            for row in 0..<rows {
                var bytes = [UInt8](UnsafeRawBufferPointer(start: base + row * stride, count: columns * size))
                TIFFPlaneDecoder.swapBytes(&bytes, size: size)
                bytes.withUnsafeBytes { (base + row * stride).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        }
    #endif
}

// MARK: - 2 x 2 reduction

/// A sample type with a rounded mean of four values.
protocol OMEReducible {
    static func mean(_ a: Self, _ b: Self, _ c: Self, _ d: Self) -> Self
}

extension UInt8: OMEReducible {
    @inline(__always)
    static func mean(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> UInt8 {
        UInt8(truncatingIfNeeded: (UInt32(a) &+ UInt32(b) &+ UInt32(c) &+ UInt32(d) &+ 2) >> 2)
    }
}

extension UInt16: OMEReducible {
    @inline(__always)
    static func mean(_ a: UInt16, _ b: UInt16, _ c: UInt16, _ d: UInt16) -> UInt16 {
        UInt16(truncatingIfNeeded: (UInt32(a) &+ UInt32(b) &+ UInt32(c) &+ UInt32(d) &+ 2) >> 2)
    }
}

extension UInt32: OMEReducible {
    @inline(__always)
    static func mean(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) -> UInt32 {
        UInt32(truncatingIfNeeded: (UInt64(a) &+ UInt64(b) &+ UInt64(c) &+ UInt64(d) &+ 2) >> 2)
    }
}

extension Int16: OMEReducible {
    @inline(__always)
    static func mean(_ a: Int16, _ b: Int16, _ c: Int16, _ d: Int16) -> Int16 {
        Int16(truncatingIfNeeded: (Int32(a) &+ Int32(b) &+ Int32(c) &+ Int32(d) &+ 2) >> 2)
    }
}

extension Float: OMEReducible {
    @inline(__always)
    static func mean(_ a: Float, _ b: Float, _ c: Float, _ d: Float) -> Float { ((a + b) + (c + d)) * 0.25 }
}

extension Double: OMEReducible {
    @inline(__always)
    static func mean(_ a: Double, _ b: Double, _ c: Double, _ d: Double) -> Double { ((a + b) + (c + d)) * 0.25 }
}

enum OMEDownsampler {
    /// Reduces `columns x rows` samples 2 x 2 into `ceil(columns / 2) x ceil(rows / 2)`. At an odd
    /// edge the missing row or column repeats the last one, which makes the mean that of the
    /// pixels that exist.
    static func reduce(
        _ pixelType: PixelType, mode: TIFFDownsample, source: UnsafeRawPointer, sourceStride: Int, columns: Int,
        rows: Int, destination: UnsafeMutableRawPointer, destinationStride: Int
    ) {
        switch pixelType {
        case .uint8: run(UInt8.self)
        case .uint16: run(UInt16.self)
        case .uint32: run(UInt32.self)
        case .int16: run(Int16.self)
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        func run<T: OMEReducible>(_: T.Type) {
            reduce(
                T.self, mean: mode == .mean, source: source, sourceStride: sourceStride, columns: columns, rows: rows,
                destination: destination, destinationStride: destinationStride)
        }
    }

    @inline(__always)
    static func reduce<T: OMEReducible>(
        _: T.Type, mean: Bool, source: UnsafeRawPointer, sourceStride: Int, columns: Int, rows: Int,
        destination: UnsafeMutableRawPointer, destinationStride: Int
    ) {
        let outRows = (rows &+ 1) / 2
        let pairs = columns / 2
        let odd = columns & 1 == 1
        for outRow in 0..<outRows {
            let row0 = (source + (2 &* outRow) &* sourceStride).assumingMemoryBound(to: T.self)
            let row1 =
                2 &* outRow &+ 1 < rows
                ? (source + (2 &* outRow &+ 1) &* sourceStride).assumingMemoryBound(to: T.self) : row0
            let out = (destination + outRow &* destinationStride).assumingMemoryBound(to: T.self)
            if mean {
                var i = 0
                while i < pairs {
                    let j = i &* 2
                    out[i] = T.mean(row0[j], row0[j &+ 1], row1[j], row1[j &+ 1])
                    i &+= 1
                }
                if odd {
                    let j = columns &- 1
                    out[pairs] = T.mean(row0[j], row0[j], row1[j], row1[j])
                }
            } else {
                var i = 0
                while i < pairs {
                    out[i] = row0[i &* 2]
                    i &+= 1
                }
                if odd { out[pairs] = row0[columns &- 1] }
            }
        }
    }
}

// MARK: - Parallel tile encoding

/// One libtiff encoder for tiles of one geometry: a one-tile image on an in-memory handle.
///
/// `@unchecked Sendable`: the handle is not thread-safe. Invariant: an encoder is used by one
/// thread at a time: it is either in its ``TIFFEncoderPool``'s list or taken out of it (under
/// the pool's mutex) by the one thread encoding with it.
final class TIFFTileEncoder: @unchecked Sendable {
    let sink = TIFFMemorySink()
    let handle: TIFFHandle
    let tileBytes: Int

    init(level: OMETIFFEngine.LevelGeometry, pixelType: PixelType, options: OMETIFFOptions) throws(MicroscopyIOError) {
        handle = try TIFFHandle.openEncoder(sink: sink)
        tileBytes = level.tileWidth * level.tileHeight * pixelType.byteCount
        let format: Int32 =
            switch pixelType {
            case .float32, .float64: SAMPLEFORMAT_IEEEFP
            case .int16: SAMPLEFORMAT_INT
            default: SAMPLEFORMAT_UINT
            }
        var ok = handle.set(TIFFTAG_IMAGEWIDTH, u32: UInt32(level.tileWidth))
        ok = handle.set(TIFFTAG_IMAGELENGTH, u32: UInt32(level.tileHeight)) && ok
        ok = handle.set(TIFFTAG_TILEWIDTH, u32: UInt32(level.tileWidth)) && ok
        ok = handle.set(TIFFTAG_TILELENGTH, u32: UInt32(level.tileHeight)) && ok
        ok = handle.set(TIFFTAG_BITSPERSAMPLE, u16: UInt16(pixelType.byteCount * 8)) && ok
        ok = handle.set(TIFFTAG_SAMPLESPERPIXEL, u16: 1) && ok
        ok = handle.set(TIFFTAG_SAMPLEFORMAT, u16: UInt16(format)) && ok
        ok = handle.set(TIFFTAG_PHOTOMETRIC, u16: UInt16(PHOTOMETRIC_MINISBLACK)) && ok
        ok = handle.set(TIFFTAG_PLANARCONFIG, u16: UInt16(PLANARCONFIG_CONTIG)) && ok
        ok =
            OMETIFFEngine.setCompression(
                handle, options.compression, level: options.compressionLevel, predictor: options.predictor,
                pixelType: pixelType) && ok
        guard ok else {
            throw MicroscopyIOError(
                code: .writeFailed, path: "<encoder>",
                message: "configuring an encoder: \(handle.diagnostics.errorText)")
        }
    }

    /// The encoded bytes of one tile (`tileBytes` native-order samples; the buffer may be
    /// changed by the predictor), or nil when libtiff failed.
    func encode(_ tile: UnsafeMutableRawPointer) -> [UInt8]? {
        sink.captured.removeAll(keepingCapacity: true)
        sink.capturing = true
        defer { sink.capturing = false }
        // Always tile 0: libtiff rewrites it in place or appends; either way the bytes pass
        // through the sink exactly once per call.
        guard TIFFWriteEncodedTile(handle.tif, 0, tile, tmsize_t(tileBytes)) == tileBytes else { return nil }
        return sink.captured
    }
}

/// Encoders for one level, shared by the threads of `DispatchQueue.concurrentPerform`.
final class TIFFEncoderPool: Sendable {
    private let free: Mutex<[TIFFTileEncoder]>
    private let errors = Mutex<[String]>([])
    private let level: OMETIFFEngine.LevelGeometry
    private let pixelType: PixelType
    private let options: OMETIFFOptions

    init(
        level: OMETIFFEngine.LevelGeometry, pixelType: PixelType, options: OMETIFFOptions, count: Int, path: String
    ) throws(MicroscopyIOError) {
        var encoders: [TIFFTileEncoder] = []
        for _ in 0..<count {
            do {
                encoders.append(try TIFFTileEncoder(level: level, pixelType: pixelType, options: options))
            } catch {
                throw MicroscopyIOError(code: .writeFailed, path: path, message: error.message)
            }
        }
        free = Mutex(encoders)
        self.level = level
        self.pixelType = pixelType
        self.options = options
    }

    /// libtiff's messages from failed encodes.
    var errorText: String {
        let messages = errors.withLock { $0 }
        return messages.isEmpty ? "libtiff reported no message" : "libtiff: " + messages.joined(separator: "; ")
    }

    /// Encodes `count` tiles stored back to back at `base`, in parallel; nil entries failed.
    func encode(_ base: UnsafeMutableRawPointer, count: Int, tileBytes: Int) -> [[UInt8]?] {
        let results = Mutex([[UInt8]?](repeating: nil, count: count))
        let address = UInt(bitPattern: base)
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let encoder: TIFFTileEncoder
            if let pooled = free.withLock({ $0.popLast() }) {
                encoder = pooled
            } else if let fresh = try? TIFFTileEncoder(level: level, pixelType: pixelType, options: options) {
                encoder = fresh
            } else {
                errors.withLock { $0.append("could not open an encoder") }
                return
            }
            let tile = UnsafeMutableRawPointer(bitPattern: address)! + index &* tileBytes
            let data = encoder.encode(tile)
            if data == nil {
                let text = encoder.handle.diagnostics.errorText
                errors.withLock { $0.append(text) }
            }
            results.withLock { $0[index] = data }
            free.withLock { $0.append(encoder) }
        }
        return results.withLock { $0 }
    }
}
