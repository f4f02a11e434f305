internal import CTIFF
import Dispatch
import Foundation
public import ImageKit
import Synchronization

/// Reads TIFF, BigTIFF, OME-TIFF and ImageJ TIFF files plane by plane.
///
/// Opening walks every image directory (IFD) and SubIFD once, checks each declared size and
/// that every strip and tile lies inside the file, and works out the *series* the file holds:
///
/// - **OME-TIFF** (OME-XML in the first `ImageDescription`): one series per `<Image>`, planes
///   mapped through `TiffData IFD=…`, sizes, `DimensionOrder`, physical sizes and channel names
///   from the XML; pyramid levels from SubIFDs.
/// - **ImageJ** (`ImageJ=` description): one hyperstack series (`channels`, `slices`, `frames`,
///   `spacing`, `unit`), including stacks stored past their only IFD.
/// - **tifffile** JSON descriptions (`{"shape": …}`), then **plain** files: pages grouped by
///   geometry and sample type, each page a frame.
///
/// Samples per pixel above 1 (RGB, contiguous or planar) are channels: channel `c * samples + s`.
/// Frames enumerate the series' non-channel axes row-major, outermost first (for `TZCYX`:
/// `frame = t * Z + z`). ``AcquisitionInfo/axes`` lists the axes as tifffile does (length-1
/// axes dropped, `S` for samples), so a truth file's `{"T": 1, "C": 0}` is
/// `PlaneIndex(frame: 1, channel: 0)`.
///
/// ```swift
/// let reader = try TIFFReader(path: "/inbox/mosaic.ome.tif")
/// let overview = try reader.plane(PlaneIndex(level: reader.info.levelCount - 1, frame: 0, channel: 0))
/// ```
///
/// **Memory and threads.** ``plane(_:)`` decodes one directory strip by strip or tile by tile
/// into the plane's buffer: about one plane plus one tile. The reader is `Sendable` and
/// `plane(_:)` may run on several tasks at once: libtiff handles are not thread-safe, so each
/// call takes a handle of its own from a small pool (opening another when all are busy) and
/// no handle is ever used by two calls at a time. Calls block on file I/O; run them off the
/// cooperative pool when that matters.
public final class TIFFReader: AcquisitionReader {
    /// The file, as given.
    public let path: String
    /// Largest plane (one sample, in bytes) this reader decodes; larger planes are refused when
    /// the file is opened.
    public let maxPlaneBytes: Int
    /// The default for ``maxPlaneBytes``: 4 GiB.
    public static let defaultMaxPlaneBytes = 4 << 30
    /// Largest number of top-level directories read.
    static let maxPages = 1_000_000
    /// Largest number of SubIFDs (pyramid levels) read per directory.
    static let maxSubIFDs = 64

    let directories: [TIFFDirectoryInfo]
    let subLevels: [[Int]]
    let series: [TIFFSeriesLayout]
    let bigEndian: Bool
    private let handles: Mutex<[TIFFHandleBox]>
    private static let pooledHandles = 4

    /// Opens `path` with the default plane limit.
    ///
    /// - Throws: ``MicroscopyIOError``: `.notFound`/`.unreadable`/`.emptyFile`, `.unknownFormat`
    ///   for a file that is not TIFF, `.truncated` when a directory, tag value, strip or tile
    ///   lies past the end of the file, `.corrupt` for inconsistent structure, `.unsupported`
    ///   for sizes over the limit. Messages name the directory and offset.
    public convenience init(path: String) throws(MicroscopyIOError) {
        try self.init(path: path, maxPlaneBytes: Self.defaultMaxPlaneBytes)
    }

    /// Opens `path`, refusing planes larger than `maxPlaneBytes`.
    ///
    /// - Parameters:
    ///   - path: The TIFF file.
    ///   - maxPlaneBytes: Largest plane (one sample of one directory) to accept, in bytes.
    /// - Throws: See ``init(path:)``.
    public init(path: String, maxPlaneBytes: Int) throws(MicroscopyIOError) {
        self.path = path
        self.maxPlaneBytes = maxPlaneBytes
        let file = try BinaryFile(path: path)
        guard file.size > 0 else {
            throw MicroscopyIOError(code: .emptyFile, path: path, message: "file has 0 bytes")
        }
        let head = try file.read(at: 0, count: Int(min(file.size, 16)), what: "TIFF header")
        let format: FileFormat
        switch Signature.match(head) {
        case .tiff?: format = .tiff
        case .bigTIFF?: format = .bigTIFF
        default:
            if let partial = Signature.partialMatch(head), partial == .tiff || partial == .bigTIFF {
                throw MicroscopyIOError(
                    code: .truncated, path: path, offset: file.size,
                    message: "file has only \(file.size) bytes, the start of a TIFF signature")
            }
            throw MicroscopyIOError(
                code: .unknownFormat, path: path, offset: 0,
                message: "not a TIFF file: first bytes \(hex(head.prefix(8))) (expected TIFF 49 49 2A 00 / "
                    + "4D 4D 00 2A or BigTIFF 49 49 2B 00 / 4D 4D 00 2B)")
        }
        // The hand walk gives precise `.truncated` errors for a file cut short.
        let header = try TIFFProbe.readHeader(file)
        _ = try TIFFProbe.countDirectories(file, header: header)
        bigEndian = header.bigEndian

        let tiff: TIFFHandle
        do {
            tiff = try TIFFHandle.open(path: path, mode: "rm", failure: .corrupt)
        } catch {
            throw MicroscopyIOError(
                code: error.code, path: path, offset: header.firstIFD,
                message: "cannot read image directory 0 at offset \(header.firstIFD): \(error.message)")
        }
        var directories: [TIFFDirectoryInfo] = []
        var description: String?
        var shapedDescriptions: [Int: String] = [:]
        var firstPageData: (offset: UInt64, bytes: UInt64)?
        while true {
            let page = directories.count
            let label = "image directory \(page)"
            let directory = try TIFFDirectoryInfo.read(
                tiff, offset: TIFFCurrentDirOffset(tiff.tif), label: label, maxPlaneBytes: maxPlaneBytes)
            try Self.checkChunks(tiff, file: file, directory: directory)
            if let text = tiff.string(TIFFTAG_IMAGEDESCRIPTION) {
                if page == 0 {
                    description = text
                } else if text.hasPrefix("{\"shape\"") {
                    shapedDescriptions[page] = text
                }
            }
            if page == 0 { firstPageData = Self.contiguousData(tiff, directory) }
            directories.append(directory)
            if TIFFLastDirectory(tiff.tif) != 0 { break }
            guard directories.count < Self.maxPages else {
                throw MicroscopyIOError(
                    code: .unsupported, path: path,
                    message: "the file has more than \(Self.maxPages) image directories")
            }
            tiff.diagnostics.errors.removeAll()
            guard TIFFReadDirectory(tiff.tif) == 1 else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path,
                    message: "cannot read image directory \(page + 1): \(tiff.diagnostics.errorText)")
            }
        }
        let pageCount = directories.count

        // SubIFDs (pyramid levels) of every top-level directory.
        var subLevels = [[Int]](repeating: [], count: pageCount)
        for page in 0..<pageCount where !directories[page].subIFDs.isEmpty {
            for (level, offset) in directories[page].subIFDs.prefix(Self.maxSubIFDs).enumerated() {
                let label = "SubIFD \(level) of image directory \(page)"
                guard offset >= 8, offset < file.size else {
                    throw MicroscopyIOError(
                        code: .truncated, path: path, offset: offset,
                        message: "\(label) at offset \(offset) lies outside the file (size \(file.size))")
                }
                tiff.diagnostics.errors.removeAll()
                guard TIFFSetSubDirectory(tiff.tif, offset) == 1 else {
                    throw MicroscopyIOError(
                        code: .corrupt, path: path, offset: offset,
                        message: "cannot read \(label): \(tiff.diagnostics.errorText)")
                }
                let directory = try TIFFDirectoryInfo.read(
                    tiff, offset: offset, label: label, maxPlaneBytes: maxPlaneBytes)
                try Self.checkChunks(tiff, file: file, directory: directory)
                subLevels[page].append(directories.count)
                directories.append(directory)
            }
        }
        self.directories = directories
        self.subLevels = subLevels

        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        let facts = TIFFFileFacts(
            path: path, fileName: fileName, fileSize: file.size, format: format, pageCount: pageCount,
            directories: directories, subLevels: subLevels, description: description,
            shapedDescriptions: shapedDescriptions, firstPageContiguousData: firstPageData)
        // Groups of plain pages lmdflow cannot decode (a 1-bit mask page, a JPEG-YCbCr preview)
        // are left out; a file with nothing decodable is refused with the first one's reason.
        // OME and ImageJ series keep their numbering: an undecodable first series refuses the
        // file, a later one throws when its planes are read.
        var series: [TIFFSeriesLayout] = []
        var firstFailure: MicroscopyIOError?
        for (index, layout) in try TIFFSeriesBuilder.build(facts).enumerated() {
            do throws(MicroscopyIOError) {
                try directories[layout.template].checkDecodable(path: path)
                series.append(layout)
            } catch {
                if layout.kind != "pages" && index == 0 { throw error }
                if layout.kind != "pages" { series.append(layout) }
                if firstFailure == nil { firstFailure = error }
            }
        }
        if series.isEmpty, let firstFailure { throw firstFailure }
        for index in series.indices { series[index].info.seriesCount = series.count }
        self.series = series
        handles = Mutex([TIFFHandleBox(tiff)])
    }

    // MARK: AcquisitionReader

    /// Metadata of the first series.
    public var info: AcquisitionInfo { series[0].info }

    /// Number of series in the file (OME `<Image>` elements, or groups of like pages).
    public var seriesCount: Int { series.count }

    /// Metadata of series `series`.
    ///
    /// - Throws: `.unsupported` when the file has no such series.
    public func info(series index: Int) throws(MicroscopyIOError) -> AcquisitionInfo {
        try layout(index).info
    }

    /// Pyramid levels of series `series`, full resolution first.
    ///
    /// - Throws: `.unsupported` when the file has no such series.
    public func levels(series index: Int = 0) throws(MicroscopyIOError) -> [TIFFLevel] {
        try layout(index).levels
    }

    /// Decodes one plane: one sample of one directory (the level's SubIFD for `level > 0`).
    ///
    /// - Throws: `.unsupported` for an index outside the series or a plane stored in another
    ///   file of an OME fileset; `.truncated` or `.corrupt` naming the directory, the strip or
    ///   tile and its offset when the data cannot be decoded.
    public func plane(_ index: PlaneIndex) throws(MicroscopyIOError) -> Plane {
        let layout = try layout(index.series)
        let location = "series \(index.series) level \(index.level) frame \(index.frame) channel \(index.channel)"
        guard index.level >= 0, index.level < layout.levels.count,
            let (page, sample) = layout.locate(frame: index.frame, channel: index.channel)
        else {
            throw MicroscopyIOError(
                code: .unsupported, path: path,
                message: "no plane at \(location): the series has \(layout.levels.count) levels, "
                    + "\(layout.info.frameCount) frames and \(layout.info.channels.count) channels")
        }
        switch layout.pages[page] {
        case .directory(let top):
            var directoryIndex = top
            if index.level > 0 {
                guard index.level - 1 < subLevels[top].count else {
                    throw MicroscopyIOError(
                        code: .corrupt, path: path, offset: directories[top].offset,
                        message: "\(directories[top].label) has no pyramid level \(index.level) (\(location))")
                }
                directoryIndex = subLevels[top][index.level - 1]
            }
            let directory = directories[directoryIndex]
            try directory.checkDecodable(path: path)
            let tilesDown = directory.tiled ? (directory.height + directory.tileHeight - 1) / directory.tileHeight : 0
            let threads = min(ProcessInfo.processInfo.activeProcessorCount, tilesDown)
            if threads > 1 && directory.planeBytes >= Self.parallelPlaneBytes {
                return try parallelPlane(directory, sample: sample, parts: threads, tilesDown: tilesDown)
            }
            return try withHandle { (tiff) throws(MicroscopyIOError) in
                try TIFFPlaneDecoder.decode(tiff, directory: directory, sample: sample)
            }
        case .raw(let offset):
            return try rawPlane(at: offset, template: directories[layout.template], sample: sample)
        case .unavailable(let code, let message):
            throw MicroscopyIOError(code: code, path: path, message: "\(location): \(message)")
        }
    }

    // MARK: Internals

    /// Tiled planes at least this large are decoded by several threads, each with its own
    /// handle and its own band of tile rows.
    static let parallelPlaneBytes = 4 << 20

    private func parallelPlane(
        _ directory: TIFFDirectoryInfo, sample: Int, parts: Int, tilesDown: Int
    ) throws(MicroscopyIOError) -> Plane {
        let pixelType = try TIFFPlaneDecoder.checkedPixelType(directory, path: path)
        let planeBytes = directory.planeBytes
        let failure = Mutex<MicroscopyIOError?>(nil)
        let bytes = [UInt8](unsafeUninitializedCapacity: planeBytes) { buffer, initialized in
            let address = UInt(bitPattern: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let rows = (part * tilesDown / parts)..<((part + 1) * tilesDown / parts)
                do throws(MicroscopyIOError) {
                    try self.withHandle { (tiff) throws(MicroscopyIOError) in
                        try TIFFPlaneDecoder.decode(
                            tiff, directory: directory, sample: sample,
                            into: UnsafeMutableRawPointer(bitPattern: address)!, tileRows: rows)
                    }
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
            initialized = planeBytes
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return TIFFPlaneDecoder.plane(directory, pixelType: pixelType, bytes: bytes)
    }

    private func layout(_ index: Int) throws(MicroscopyIOError) -> TIFFSeriesLayout {
        guard index >= 0, index < series.count else {
            throw MicroscopyIOError(
                code: .unsupported, path: path, message: "no series \(index): the file has \(series.count)")
        }
        return series[index]
    }

    /// Runs `body` with a libtiff handle no other call is using. A handle that saw an error is
    /// dropped rather than returned to the pool.
    private func withHandle<R>(
        _ body: (TIFFHandle) throws(MicroscopyIOError) -> R
    ) throws(MicroscopyIOError) -> R {
        let box: TIFFHandleBox
        if let pooled = handles.withLock({ $0.popLast() }) {
            box = pooled
        } else {
            box = TIFFHandleBox(try TIFFHandle.open(path: path, mode: "rm", failure: .corrupt))
        }
        let result = try body(box.handle)
        handles.withLock { pool in
            if pool.count < Self.pooledHandles { pool.append(box) }
        }
        return result
    }

    /// A plane of an ImageJ stack stored past its IFDs: uncompressed, laid out like page 0.
    private func rawPlane(at offset: UInt64, template: TIFFDirectoryInfo, sample: Int) throws(MicroscopyIOError)
        -> Plane
    {
        guard let pixelType = template.pixelType else {
            try template.checkDecodable(path: path)
            preconditionFailure("checkDecodable accepted a directory without a pixel type")
        }
        let size = pixelType.byteCount
        let samples = template.samplesPerPixel
        let file = try BinaryFile(path: path)
        let planeBytes = template.width * template.height * size
        var bytes: [UInt8]
        if samples == 1 {
            bytes = try file.read(at: offset, count: planeBytes, what: "ImageJ plane")
        } else if template.planarSeparate {
            bytes = try file.read(at: offset + UInt64(sample * planeBytes), count: planeBytes, what: "ImageJ plane")
        } else {
            let all = try file.read(at: offset, count: planeBytes * samples, what: "ImageJ plane")
            bytes = [UInt8](repeating: 0, count: planeBytes)
            all.withUnsafeBytes { source in
                bytes.withUnsafeMutableBytes { destination in
                    TIFFPlaneDecoder.gather(
                        from: source.baseAddress!, sourceStride: template.width * samples * size, samples: samples,
                        sample: sample, to: destination.baseAddress!, destinationStride: template.width * size,
                        columns: template.width, rows: template.height, size: size)
                }
            }
        }
        if bigEndian { TIFFPlaneDecoder.swapBytes(&bytes, size: size) }
        return Plane(width: template.width, height: template.height, pixelType: pixelType, bytes: bytes)
    }

    /// Checks that every strip or tile of the current directory lies inside the file.
    static func checkChunks(
        _ tiff: TIFFHandle, file: BinaryFile, directory: TIFFDirectoryInfo
    ) throws(MicroscopyIOError) {
        let kind = directory.tiled ? "tile" : "strip"
        let count = UInt32(directory.chunkCount)
        for index in 0..<count {
            var failed: Int32 = 0
            let offset = TIFFGetStrileOffsetWithErr(tiff.tif, index, &failed)
            let bytes = TIFFGetStrileByteCountWithErr(tiff.tif, index, &failed)
            guard failed == 0 else {
                throw MicroscopyIOError(
                    code: .corrupt, path: file.path, offset: directory.offset,
                    message: "cannot read the offset of \(kind) \(index) of \(count) in \(directory.label): "
                        + tiff.diagnostics.errorText)
            }
            guard bytes == 0 || file.contains(offset: offset, count: bytes) else {
                throw MicroscopyIOError(
                    code: .truncated, path: file.path, offset: offset,
                    message: "\(kind) \(index) of \(count) in \(directory.label) needs \(bytes) bytes at offset "
                        + "\(offset), but the file has only \(file.size)")
            }
        }
    }

    /// Page 0's data as one run of bytes, when it is uncompressed and its strips are contiguous.
    private static func contiguousData(_ tiff: TIFFHandle, _ directory: TIFFDirectoryInfo) -> (
        offset: UInt64, bytes: UInt64
    )? {
        guard directory.compression == 1, !directory.tiled, directory.chunkCount > 0 else { return nil }
        var failed: Int32 = 0
        let start = TIFFGetStrileOffsetWithErr(tiff.tif, 0, &failed)
        var end = start
        for index in 0..<UInt32(directory.chunkCount) {
            let offset = TIFFGetStrileOffsetWithErr(tiff.tif, index, &failed)
            let bytes = TIFFGetStrileByteCountWithErr(tiff.tif, index, &failed)
            guard failed == 0, offset == end else { return nil }
            end = offset + bytes
        }
        return (start, end - start)
    }
}

/// A libtiff handle in the reader's pool.
///
/// `@unchecked Sendable` because `TIFFHandle` is not thread-safe. Invariant: a box is either in
/// the pool (used by nobody) or taken out by exactly one `plane()` call, which is the only code
/// touching the handle until it puts the box back; the pool's mutex orders the hand-over.
private final class TIFFHandleBox: @unchecked Sendable {
    let handle: TIFFHandle

    init(_ handle: TIFFHandle) {
        self.handle = handle
    }
}

extension TIFFReader {
    /// Reads every channel of one frame into an `Image` (channel `c` of the image is channel `c`
    /// of the series).
    ///
    /// - Parameters:
    ///   - type: The sample type; must match the series' ``AcquisitionInfo/pixelType``.
    ///   - series: The series.
    ///   - level: The pyramid level.
    ///   - frame: The frame.
    /// - Throws: `.unsupported` when `type` does not match the file, or what ``plane(_:)`` throws.
    public func image<Pixel: TIFFSample>(
        _ type: Pixel.Type, series: Int = 0, level: Int = 0, frame: Int = 0
    ) throws(MicroscopyIOError) -> Image<Pixel> {
        let info = try info(series: series)
        guard
            TIFFDirectoryInfo.pixelType(bits: Int(Pixel.tiffBitsPerSample), format: Int(Pixel.tiffSampleFormat))
                == info.pixelType
        else {
            throw MicroscopyIOError(
                code: .unsupported, path: path,
                message: "series \(series) holds \(info.pixelType.rawValue) samples, not \(Pixel.self)")
        }
        var pixels: [Pixel] = []
        var width = 0
        var height = 0
        for channel in info.channels.indices {
            let plane = try plane(PlaneIndex(series: series, level: level, frame: frame, channel: channel))
            width = plane.width
            height = plane.height
            if pixels.isEmpty { pixels.reserveCapacity(plane.width * plane.height * info.channels.count) }
            plane.bytes.withUnsafeBytes { raw in
                raw.withMemoryRebound(to: Pixel.self) { pixels.append(contentsOf: $0) }
            }
        }
        do {
            return try Image(width: width, height: height, channels: info.channels.count, pixels: pixels)
        } catch {
            throw MicroscopyIOError(code: .corrupt, path: path, message: "\(error)")
        }
    }
}
