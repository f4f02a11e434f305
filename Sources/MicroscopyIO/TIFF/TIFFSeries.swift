import Foundation

/// One pyramid level of a TIFF series.
public struct TIFFLevel: Sendable, Equatable, Codable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Tile size (width, height) when the level is tiled; nil for strips.
    public var tileSize: [Int]?

    /// Creates a level description.
    public init(width: Int, height: Int, tileSize: [Int]? = nil) {
        self.width = width
        self.height = height
        self.tileSize = tileSize
    }
}

/// How the planes of one series map to pages (IFDs) of the file.
///
/// A *page* is one stored 2-D image with all its samples (one IFD, or one plane of an ImageJ
/// file stored past its IFDs). Pages are indexed row-major over ``dims`` (outermost first); a
/// plane is one sample of one page.
struct TIFFSeriesLayout: Sendable {
    struct Dimension: Sendable, Equatable {
        var axis: String
        var size: Int
    }

    enum PageSource: Sendable {
        /// A top-level directory (index into the reader's directory table).
        case directory(Int)
        /// Uncompressed data at this offset, laid out like the template directory (ImageJ
        /// stacks larger than 4 GiB keep only the first IFD).
        case raw(offset: UInt64)
        /// The page cannot be read; reading it throws this.
        case unavailable(code: MicroscopyIOError.Code, message: String)
    }

    var info: AcquisitionInfo
    /// Where the series came from: `OME`, `ImageJ`, `tifffile` or `pages`.
    var kind: String
    var dims: [Dimension]
    var samples: Int
    var pages: [PageSource]
    /// Directory that describes every page's sample layout.
    var template: Int
    var levels: [TIFFLevel]

    /// Page and sample of `(frame, channel)`; nil when either is out of range.
    ///
    /// Frames enumerate the non-channel axes of ``dims`` row-major (outermost first); the
    /// channel is `c * samples + s` for channel axis index `c` and sample `s`.
    func locate(frame: Int, channel: Int) -> (page: Int, sample: Int)? {
        let channelAxis = dims.firstIndex { $0.axis == "C" }
        let channelSize = channelAxis.map { dims[$0].size } ?? 1
        guard channel >= 0, channel < channelSize * samples, frame >= 0, frame < info.frameCount else { return nil }
        var coordinates = [Int](repeating: 0, count: dims.count)
        var rest = frame
        for index in dims.indices.reversed() where index != channelAxis {
            coordinates[index] = rest % dims[index].size
            rest /= dims[index].size
        }
        if let channelAxis { coordinates[channelAxis] = channel / samples }
        var page = 0
        for index in dims.indices { page = page * dims[index].size + coordinates[index] }
        return (page, channel % samples)
    }
}

/// What the series builders need to know about the file besides its directories.
struct TIFFFileFacts {
    var path: String
    var fileName: String
    var fileSize: UInt64
    var format: FileFormat
    /// Number of top-level directories; they are `directories[0..<pageCount]`.
    var pageCount: Int
    var directories: [TIFFDirectoryInfo]
    /// For each top-level directory, the indices of its SubIFD directories (pyramid levels).
    var subLevels: [[Int]]
    /// `ImageDescription` of page 0.
    var description: String?
    /// JSON (tifffile "shaped") descriptions of later pages, by page index.
    var shapedDescriptions: [Int: String]
    /// Page 0's data when it is uncompressed and stored in one contiguous run: (offset, bytes).
    var firstPageContiguousData: (offset: UInt64, bytes: UInt64)?
}

/// Builds series from what the file says about itself: OME-XML, then an ImageJ description,
/// then tifffile's JSON shape, else pages grouped by geometry (each page a frame).
enum TIFFSeriesBuilder {
    /// At most this many pages per series (OME sizes are products of declared numbers).
    static let maxPagesPerSeries = 10_000_000
    /// ``AcquisitionInfo/frames`` is filled up to this many frames (and left empty above).
    static let maxListedFrames = 100_000

    static func build(_ facts: TIFFFileFacts) throws(MicroscopyIOError) -> [TIFFSeriesLayout] {
        if let description = facts.description {
            let head = description.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
            if head.hasPrefix("<"), description.contains("OME"), let metadata = OMEMetadata.parse(description),
                !metadata.isBinaryOnly, !metadata.images.isEmpty,
                let series = ome(metadata, facts)
            {
                return series
            }
            if let imageJ = ImageJDescription(description), let series = try self.imageJ(imageJ, facts) {
                return [series]
            }
        }
        return generic(facts)
    }

    // MARK: Shared

    /// Page axes in file order: `YX`, `YXS` (contiguous samples) or `SYX` (separate planes).
    static func pageAxes(_ directory: TIFFDirectoryInfo) -> [Dimension] {
        let y = Dimension(axis: "Y", size: directory.height)
        let x = Dimension(axis: "X", size: directory.width)
        guard directory.samplesPerPixel > 1 else { return [y, x] }
        let s = Dimension(axis: "S", size: directory.samplesPerPixel)
        return directory.planarSeparate ? [s, y, x] : [y, x, s]
    }

    typealias Dimension = TIFFSeriesLayout.Dimension

    /// Default names of the samples of one page: `R`, `G`, `B`(, `A`) for RGB, else `S0`, `S1`, ….
    static func sampleNames(_ directory: TIFFDirectoryInfo) -> [String] {
        let samples = directory.samplesPerPixel
        if samples > 1, directory.photometric == 2 || directory.photometric == 6, samples <= 4 {
            return Array(["R", "G", "B", "A"].prefix(samples))
        }
        return samples == 1 ? [""] : (0..<samples).map { "S\($0)" }
    }

    /// Assembles a layout and its ``AcquisitionInfo``.
    static func layout(
        _ facts: TIFFFileFacts, kind: String, dims: [Dimension], squeeze: Bool, pages: [TIFFSeriesLayout.PageSource],
        template: Int, channelNames: [String?], pixelSizeUm: [Double?], significantBits: Int? = nil,
        objective: String? = nil, frameDetail: ((_ loopIndex: [String: Int]) -> (Double?, [Double]?))? = nil
    ) -> TIFFSeriesLayout {
        let directory = facts.directories[template]
        let samples = directory.samplesPerPixel
        let shown = squeeze ? dims.filter { $0.size > 1 } : dims
        let axes = shown + pageAxes(directory)

        let channelSize = dims.first { $0.axis == "C" }?.size ?? 1
        let suffixes = sampleNames(directory)
        var channels: [ChannelInfo] = []
        for c in 0..<channelSize {
            let base = c < channelNames.count ? channelNames[c] : nil
            for s in 0..<samples {
                let name: String
                if samples == 1 {
                    name = base ?? "C\(c)"
                } else if channelSize == 1 {
                    name = base.map { "\($0) \(suffixes[s])" } ?? suffixes[s]
                } else {
                    name = (base ?? "C\(c)") + " " + suffixes[s]
                }
                channels.append(ChannelInfo(name: name, index: channels.count))
            }
        }

        let frameDims = dims.filter { $0.axis != "C" }
        let frameCount = frameDims.reduce(1) { $0 * $1.size }
        var loops: [ExperimentLoop] = []
        for dim in frameDims where dim.size > 1 {
            loops.append(ExperimentLoop(axis: dim.axis, type: kind, count: dim.size, nestingLevel: loops.count))
        }
        var frames: [FrameInfo] = []
        if (frameCount > 1 || frameDetail != nil) && frameCount <= maxListedFrames {
            frames.reserveCapacity(frameCount)
            for frame in 0..<frameCount {
                var loopIndex: [String: Int] = [:]
                var rest = frame
                for dim in frameDims.reversed() {
                    if dim.size > 1 { loopIndex[dim.axis] = rest % dim.size }
                    rest /= dim.size
                }
                let (time, stage) = frameDetail?(loopIndex) ?? (nil, nil)
                frames.append(FrameInfo(index: frame, loopIndex: loopIndex, relativeTimeMs: time, stageUm: stage))
            }
        }

        var levels: [TIFFLevel] = [level(directory)]
        // A level exists when every readable page has it.
        var levelCount = facts.subLevels.indices.contains(template) ? facts.subLevels[template].count + 1 : 1
        for page in pages {
            if case .directory(let index) = page, index < facts.subLevels.count {
                levelCount = min(levelCount, facts.subLevels[index].count + 1)
            }
        }
        if levelCount > 1 {
            for sub in facts.subLevels[template].prefix(levelCount - 1) {
                levels.append(level(facts.directories[sub]))
            }
        }

        let info = AcquisitionInfo(
            path: facts.path, format: facts.format, axes: axes.map(\.axis), shape: axes.map(\.size),
            width: directory.width, height: directory.height, pixelType: directory.pixelType ?? .uint8,
            significantBits: significantBits, channels: channels, frameCount: frameCount, pixelSizeUm: pixelSizeUm,
            objective: objective, loops: loops, frames: frames, seriesCount: 1, levelCount: levels.count
        )
        return TIFFSeriesLayout(
            info: info, kind: kind, dims: dims, samples: samples, pages: pages, template: template, levels: levels)
    }

    static func level(_ directory: TIFFDirectoryInfo) -> TIFFLevel {
        TIFFLevel(
            width: directory.width, height: directory.height,
            tileSize: directory.tiled ? [directory.tileWidth, directory.tileHeight] : nil)
    }

    /// Pixel size from the resolution tags when they are in centimetres (what tifffile and
    /// most microscope software write); inch-based values are usually screen DPI and are ignored.
    static func resolutionPixelSize(_ directory: TIFFDirectoryInfo) -> [Double?] {
        guard directory.resolutionUnit == 3 else { return [nil, nil, nil] }
        func size(_ resolution: Float?) -> Double? {
            guard let resolution, resolution > 0, resolution.isFinite else { return nil }
            return 1e4 / Double(resolution)
        }
        return [size(directory.xResolution), size(directory.yResolution), nil]
    }

    /// A page source for top-level directory `index`, checked against the template's layout.
    static func source(_ facts: TIFFFileFacts, page index: Int, template: Int) -> TIFFSeriesLayout.PageSource {
        guard index >= 0, index < facts.pageCount else {
            return .unavailable(
                code: .corrupt,
                message: "image directory \(index) does not exist (the file has \(facts.pageCount))")
        }
        let directory = facts.directories[index]
        let expected = facts.directories[template]
        guard directory.hasSameLayout(as: expected) else {
            return .unavailable(
                code: .corrupt,
                message: "\(directory.label) is \(directory.width) x \(directory.height) with "
                    + "\(directory.samplesPerPixel) samples of \(directory.sampleDescription), unlike the series' "
                    + "\(expected.width) x \(expected.height) with \(expected.samplesPerPixel) of "
                    + "\(expected.sampleDescription)")
        }
        return .directory(index)
    }

    // MARK: OME-TIFF

    /// One series per OME `Image`; nil when the XML does not fit the file (then the file is
    /// read as a plain TIFF).
    static func ome(_ metadata: OMEMetadata, _ facts: TIFFFileFacts) -> [TIFFSeriesLayout]? {
        var result: [TIFFSeriesLayout] = []
        var nextIFD = 0
        for image in metadata.images {
            let order = Array(image.dimensionOrder)
            let validOrder =
                order.count == 5 && order[0] == "X" && order[1] == "Y" && Set(order[2...]) == Set("ZCT")
            let inner = validOrder ? Array(order[2...]) : Array("ZCT")
            guard image.sizeX > 0, image.sizeY > 0, image.sizeZ > 0, image.sizeC > 0, image.sizeT > 0 else {
                return nil
            }
            // The first page of this image tells the samples per pixel (RGB channels count once).
            let firstIFD = image.tiffData.first.map { $0.ifd ?? 0 } ?? nextIFD
            guard firstIFD >= 0, firstIFD < facts.pageCount else { return nil }
            let first = facts.directories[firstIFD]
            guard first.width == image.sizeX, first.height == image.sizeY else { return nil }
            let samples = first.samplesPerPixel
            let channelPages = image.sizeC % samples == 0 ? image.sizeC / samples : image.sizeC
            let sizes: [Character: Int] = ["Z": image.sizeZ, "C": channelPages, "T": image.sizeT]
            let dims = inner.reversed().map { Dimension(axis: String($0), size: sizes[$0]!) }
            let (planeCount, overflow) = image.sizeZ.multipliedReportingOverflow(by: channelPages * image.sizeT)
            // Sizes come from the XML: a few bytes can declare billions of planes. A series may
            // list planes stored in other files of a fileset, but not wildly more than this file has.
            guard !overflow, planeCount <= min(maxPagesPerSeries, 4 * facts.pageCount + 1_024) else { return nil }

            var pages = [TIFFSeriesLayout.PageSource](
                repeating: .unavailable(code: .corrupt, message: "no TiffData element maps this plane to an IFD"),
                count: planeCount)
            func index(z: Int, c: Int, t: Int) -> Int? {
                let coordinate: [String: Int] = ["Z": z, "C": c, "T": t]
                var value = 0
                for dim in dims {
                    let v = coordinate[dim.axis] ?? 0
                    guard v >= 0, v < dim.size else { return nil }
                    value = value * dim.size + v
                }
                return value
            }
            if image.tiffData.isEmpty {
                for plane in 0..<planeCount {
                    pages[plane] = source(facts, page: nextIFD + plane, template: firstIFD)
                }
                nextIFD += planeCount
            }
            for data in image.tiffData {
                let ifd = data.ifd ?? 0
                guard ifd >= 0, let start = index(z: data.firstZ, c: data.firstC, t: data.firstT) else { continue }
                let declared = data.planeCount ?? (data.ifd != nil ? 1 : 0)
                let count = declared <= 0 ? planeCount - start : min(declared, planeCount - start)
                let elsewhere =
                    data.uuid != nil && data.uuid != metadata.uuid && data.fileName != facts.fileName
                for k in 0..<count {
                    if elsewhere {
                        pages[start + k] = .unavailable(
                            code: .unsupported,
                            message: "plane is stored in another file of the OME fileset "
                                + "(\(data.fileName ?? data.uuid ?? "unnamed"), IFD \(ifd + k))")
                    } else {
                        pages[start + k] = source(facts, page: ifd + k, template: firstIFD)
                    }
                }
                nextIFD = max(nextIFD, ifd + count)
            }

            let byPlane = Dictionary(
                image.planes.filter { $0.theC == 0 }.map { ("\($0.theZ),\($0.theT)", $0) },
                uniquingKeysWith: { first, _ in first })
            let detail: (([String: Int]) -> (Double?, [Double]?))? =
                byPlane.isEmpty
                ? nil
                : { loopIndex in
                    guard let plane = byPlane["\(loopIndex["Z"] ?? 0),\(loopIndex["T"] ?? 0)"] else {
                        return (nil, nil)
                    }
                    let stage = plane.positionUm.allSatisfy { $0 == nil } ? nil : plane.positionUm.map { $0 ?? 0 }
                    return (plane.deltaTMs, stage)
                }
            let names = image.channels.map(\.name)
            var layout = self.layout(
                facts, kind: "OME", dims: dims, squeeze: true, pages: pages, template: firstIFD, channelNames: names,
                pixelSizeUm: image.physicalSizeUm, significantBits: image.significantBits,
                objective: image.objectiveID.flatMap { metadata.objectives[$0] }, frameDetail: detail)
            // Colours and wavelengths of the OME channels (per sample for RGB).
            for index in layout.info.channels.indices {
                let c = index / max(1, samples)
                guard c < image.channels.count else { continue }
                layout.info.channels[index].color = image.channels[c].color
                layout.info.channels[index].emissionNm = image.channels[c].emissionNm
                layout.info.channels[index].excitationNm = image.channels[c].excitationNm
            }
            result.append(layout)
        }
        for index in result.indices { result[index].info.seriesCount = result.count }
        return result.isEmpty ? nil : result
    }

    // MARK: ImageJ

    /// The hyperstack of an ImageJ file: pages in C, Z, T order (channel fastest); nil when the
    /// description does not fit the file (then it is read as a plain TIFF).
    static func imageJ(_ description: ImageJDescription, _ facts: TIFFFileFacts) throws(MicroscopyIOError)
        -> TIFFSeriesLayout?
    {
        let first = facts.directories[0]
        let images = description.images ?? facts.pageCount
        guard images >= 1, images <= maxPagesPerSeries else { return nil }
        let isRGB = first.photometric == 2 && first.samplesPerPixel > 1
        var dims: [Dimension] = []
        if let frames = description.frames, frames > 0 { dims.append(Dimension(axis: "T", size: frames)) }
        if let slices = description.slices, slices > 0 { dims.append(Dimension(axis: "Z", size: slices)) }
        if let channels = description.channels, channels > 0, !(isRGB && !description.isHyperstack) {
            dims.append(Dimension(axis: "C", size: channels))
        }
        let product = dims.reduce(1) { $0 * $1.size }
        if product > images || images % product != 0 {
            dims = [Dimension(axis: "I", size: images)]
        } else if images / product > 1 {
            dims.append(Dimension(axis: "I", size: images / product))
        }

        var pages: [TIFFSeriesLayout.PageSource]
        if images <= facts.pageCount {
            pages = (0..<images).map { source(facts, page: $0, template: 0) }
        } else if let data = facts.firstPageContiguousData, first.compression == 1 {
            // ImageJ stacks over 4 GiB: one IFD, the planes stored back to back after its data.
            let pageBytes = data.bytes
            let (total, overflow) = pageBytes.multipliedReportingOverflow(by: UInt64(images))
            guard pageBytes == UInt64(first.planeBytes) * UInt64(first.samplesPerPixel), !overflow else { return nil }
            guard data.offset <= facts.fileSize, total <= facts.fileSize - data.offset else {
                throw MicroscopyIOError(
                    code: .truncated, path: facts.path, offset: data.offset,
                    message: "ImageJ description declares \(images) images of \(pageBytes) bytes stored from offset "
                        + "\(data.offset), which needs \(total) bytes, but the file has only \(facts.fileSize)")
            }
            pages = (0..<images).map { .raw(offset: data.offset + UInt64($0) * pageBytes) }
        } else {
            return nil
        }

        var pixelSize: [Double?] = [nil, nil, nil]
        if let scale = description.micrometresPerUnit {
            if let x = first.xResolution, x > 0, x.isFinite { pixelSize[0] = scale / Double(x) }
            if let y = first.yResolution, y > 0, y.isFinite { pixelSize[1] = scale / Double(y) }
            if let z = description.spacing, z > 0 { pixelSize[2] = scale * z }
        }
        let interval = description.frameInterval
        return layout(
            facts, kind: "ImageJ", dims: dims, squeeze: true, pages: pages, template: 0, channelNames: [],
            pixelSizeUm: pixelSize,
            frameDetail: interval.map { seconds in { loop in (Double(loop["T"] ?? 0) * seconds * 1_000, nil) } })
    }

    // MARK: Plain TIFF

    /// tifffile's JSON description (`{"shape": [2, 3, 64, 64], "axes": "TCYX"}`): the series'
    /// pages and their axes; nil when it does not fit the pages from `start`.
    static func shaped(_ text: String, _ facts: TIFFFileFacts, start: Int) -> TIFFSeriesLayout? {
        guard text.hasPrefix("{"), text.utf8.count < 1 << 20,
            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let shape = object["shape"] as? [Int], shape.allSatisfy({ $0 > 0 })
        else { return nil }
        let first = facts.directories[start]
        let page = pageAxes(first)
        guard shape.count >= page.count, Array(shape.suffix(page.count)) == page.map(\.size) else { return nil }
        let lead = Array(shape.dropLast(page.count))
        var count = 1
        for size in lead {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= facts.pageCount - start else { return nil }
            count = product
        }
        var axes = (object["axes"] as? String).map { $0.map(String.init) } ?? []
        if axes.count != shape.count { axes = Array(repeating: "Q", count: lead.count) }
        var sawChannel = false
        var dims: [Dimension] = []
        for (axis, size) in zip(axes, lead) {
            // One channel axis at most; sample axes (S) in the lead become plain dimensions.
            var name = axis
            if name == "C" {
                name = sawChannel ? "Q" : "C"
                sawChannel = true
            }
            if name == "S" || name == "Y" || name == "X" { name = "Q" }
            dims.append(Dimension(axis: name, size: size))
        }
        let pages = (start..<(start + count)).map { source(facts, page: $0, template: start) }
        for case .unavailable in pages { return nil }
        var result = layout(
            facts, kind: "tifffile", dims: dims, squeeze: false, pages: pages, template: start, channelNames: [],
            pixelSizeUm: resolutionPixelSize(first))
        // The file's own axis names win for display (tifffile writes `TCYX` for channels it
        // stored as samples); the plane mapping is the same either way.
        if let named = object["axes"] as? String, named.count == shape.count {
            result.info.axes = named.map(String.init)
        }
        return result
    }

    /// tifffile-shaped series where the description says so, and the other pages grouped by
    /// geometry and sample type (like tifffile's generic series), each page a frame.
    static func generic(_ facts: TIFFFileFacts) -> [TIFFSeriesLayout] {
        var made: [(first: Int, layout: TIFFSeriesLayout)] = []
        var groups: [[Int]] = []
        var page = 0
        while page < facts.pageCount {
            let text = page == 0 ? facts.description : facts.shapedDescriptions[page]
            if let text, let series = shaped(text, facts, start: page) {
                made.append((page, series))
                page += series.pages.count
                continue
            }
            let directory = facts.directories[page]
            if let group = groups.firstIndex(where: { facts.directories[$0[0]].hasSameLayout(as: directory) }) {
                groups[group].append(page)
            } else {
                groups.append([page])
            }
            page += 1
        }
        for group in groups {
            let dims = [Dimension(axis: "I", size: group.count)]
            made.append(
                (
                    group[0],
                    layout(
                        facts, kind: "pages", dims: dims, squeeze: true, pages: group.map { .directory($0) },
                        template: group[0], channelNames: [],
                        pixelSizeUm: resolutionPixelSize(facts.directories[group[0]]))
                ))
        }
        var result = made.sorted { $0.first < $1.first }.map(\.layout)
        for index in result.indices { result[index].info.seriesCount = result.count }
        return result
    }
}
