/// Reads Nikon ND2 files (v3 binary-metadata files; v2 XML-metadata files on a best-effort
/// basis) without the vendor SDK.
///
/// Opening a file reads only the header, the chunk map and the metadata chunks, and checks
/// every size the file declares against the file's real size before allocating anything, so a
/// hostile or cut-off file fails with a ``MicroscopyIOError`` instead of a crash or a huge
/// allocation. Reading a plane reads only that frame's chunk with `pread`: memory stays about
/// one frame, and one reader can be shared by many tasks.
///
/// ```swift
/// let reader = try ND2Reader(path: "/inbox/sample.nd2")
/// print(reader.info.axes, reader.info.shape)          // ["T", "Z", "C", "Y", "X"] [3, 10, 2, 31, 38]
/// let dapi = try reader.plane(PlaneIndex(frame: 0, channel: 0))
/// let all = try reader.frame(0)                       // every channel of frame 0, one read
/// ```
///
/// Frame `n` is the file's sequence index: one (T, P, Z) coordinate with all channels inside.
/// Channels of ``PlaneIndex`` count components: for RGB data, channel 0, 1, 2 are R, G, B.
///
/// Supported: uncompressed and zlib frames, row padding, 8/16-bit unsigned and 32-bit float
/// components, interleaved channels, RGB. Not supported (clear errors): legacy JPEG 2000 ND2,
/// lossy compression, tiled frames.
public final class ND2Reader: AcquisitionReader, @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after `init`. The only reference
    // type inside is the `BinaryFile` (in `container`), used solely through `pread`, which has
    // no file position and is safe to call from many threads at once; its descriptor is closed
    // in its deinit, which runs only after the last task has released this reader.

    /// Everything known about the acquisition (series 0, the only one).
    public let info: AcquisitionInfo
    /// ND2-specific details: the file's own channel list, storage, Z step, text info, stage arrays.
    public let metadata: ND2Metadata

    private let container: ND2Container
    private let layout: ND2FrameLayout
    private let compressed: Bool
    /// Chunk-map entry of frame n at index n.
    private let frameEntries: [ND2Container.Entry]

    /// Metadata chunks larger than this are refused (the largest seen is ~210 KB).
    static let maxMetadataChunkBytes: UInt64 = 64 << 20

    private var path: String { container.path }
    private var file: BinaryFile { container.file }

    /// Opens `path` and reads its metadata.
    ///
    /// - Parameter path: An `.nd2` file.
    /// - Throws: ``MicroscopyIOError``: `.notFound`, `.unreadable`, `.emptyFile`,
    ///   `.unknownFormat` (not an ND2 file), `.truncated` (cut short or still being written),
    ///   `.corrupt` (inconsistent structure: bad offsets, sizes, loop counts, metadata), or
    ///   `.unsupported` (legacy JPEG 2000 ND2, lossy or tiled frames, frames over 1 GiB).
    public init(path: String) throws(MicroscopyIOError) {
        let file = try BinaryFile(path: path)
        guard file.size > 0 else {
            throw MicroscopyIOError(code: .emptyFile, path: path, message: "file has 0 bytes")
        }
        let head = try file.read(at: 0, count: Int(min(file.size, 16)), what: "file signature")
        switch Signature.match(head) {
        case .nd2?:
            break
        case .nd2Legacy?:
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: 0,
                message: "legacy JPEG2000 ND2 is not supported (JPEG 2000 box container from NIS-Elements before 3.0)")
        default:
            if Signature.partialMatch(head) == .nd2 {
                throw MicroscopyIOError(
                    code: .truncated, path: path, offset: file.size,
                    message: "file has only \(file.size) bytes, the start of an ND2 signature")
            }
            throw MicroscopyIOError(
                code: .unknownFormat, path: path, offset: 0,
                message: "not an ND2 file: first bytes \(hex(head.prefix(8))) (expected DA CE BE 0A)")
        }

        let container = try ND2Container(file: file)
        try container.validateEntries()
        self.container = container

        // Image attributes: geometry and storage.
        guard let attributesChunk = try Self.metadataChunk(container, keys: ["ImageAttributesLV!", "ImageAttributes!"])
        else {
            throw MicroscopyIOError(
                code: .corrupt, path: path,
                message: "chunk ImageAttributesLV! is missing from the chunk map (every ND2 file has one)")
        }
        let (attributesValue, attributesKey, attributesOffset) = attributesChunk
        let attributes = try ND2Attributes(attributesValue) { message in
            MicroscopyIOError(
                code: .corrupt, path: path, offset: attributesOffset, message: "chunk \(attributesKey): \(message)")
        }

        // Per-picture metadata of frame 0: channels, calibration, objective, stage, time.
        var picture = ND2PictureMetadata()
        if let chunk = try Self.metadataChunk(container, keys: ["ImageMetadataSeqLV|0!", "ImageMetadataSeq|0!"]) {
            picture = try ND2PictureMetadata(chunk.value) { message in
                MicroscopyIOError(
                    code: .corrupt, path: path, offset: chunk.offset, message: "chunk \(chunk.key): \(message)")
            }
        }
        var loops: [ND2Loop] = []
        if let chunk = try Self.metadataChunk(container, keys: ["ImageMetadataLV!", "ImageMetadata!"]) {
            loops = ND2Loop.load(chunk.value["SLxExperiment"] ?? chunk.value)
        }
        // Text info is optional and never needed for pixels: a damaged one is ignored.
        var textInfo: [String: String] = [:]
        if let value = try? Self.metadataChunk(container, keys: ["ImageTextInfoLV!", "ImageTextInfo!"])?.value {
            textInfo = ND2TextInfo.parse(value)
        }

        // Channels and components.
        let components = attributes.components
        var fileChannels = picture.channels
        if fileChannels.isEmpty {
            // No picture metadata: every component is a channel of its own.
            fileChannels = (0..<components).map { ChannelInfo(name: "Channel \($0)", index: $0) }
        }
        guard components % fileChannels.count == 0 else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: attributesOffset,
                message: "uiComp is \(components), not a multiple of the \(fileChannels.count) channels "
                    + "listed in sPicturePlanes (expected channels × samples per channel)")
        }
        let samples = components / fileChannels.count

        // Storage.
        let pixelType: PixelType
        switch attributes.bitsInMemory {
        case 8: pixelType = .uint8
        case 16: pixelType = .uint16
        default: pixelType = .float32
        }
        switch attributes.compression {
        case 0: compressed = true
        case 2: compressed = false
        case 1:
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: attributesOffset,
                message: "lossy-compressed ND2 frames (eCompression 1) are not supported")
        default:
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: attributesOffset,
                message: "unknown frame compression eCompression \(attributes.compression) "
                    + "(expected 0 lossless/zlib or 2 none)")
        }
        let layout = ND2FrameLayout(
            width: attributes.width, height: attributes.height, widthBytes: attributes.widthBytes,
            components: components, bytesPerComponent: attributes.bytesPerComponent)
        self.layout = layout

        // Frames: the chunk map must hold exactly ImageDataSeq|0! … |count-1!.
        let count = attributes.sequenceCount
        let frameEntries = try Self.frameEntries(container, sequenceCount: count)
        self.frameEntries = frameEntries

        // Loops must account for every frame.
        if !loops.isEmpty {
            var product = 1
            for loop in loops {
                let (p, overflow) = product.multipliedReportingOverflow(by: loop.count)
                product = overflow ? Int.max : p
            }
            guard product == count else {
                let text = loops.map { "\($0.axis)(\($0.count))" }.joined(separator: " × ")
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: attributesOffset,
                    message: "experiment loops \(text) give \(product) frames, but uiSequenceCount is \(count) "
                        + "(expected the product of the loop counts)")
            }
        }

        // Frame sizes against the chunk map and the file, before any frame is read.
        let (frameBytes, overflow) = attributes.height.multipliedReportingOverflow(by: attributes.widthBytes)
        for (n, entry) in frameEntries.enumerated() where entry.sizeIsKnown {
            let stored = entry.size
            if compressed {
                guard stored > 8,
                    !overflow, frameBytes <= ND2Zlib.maxInflatedSize(compressedCount: Int(stored - 8))
                else {
                    throw MicroscopyIOError(
                        code: .corrupt, path: path, offset: entry.offset,
                        message: "frame \(n) (chunk \(entry.key)) holds \(stored) compressed bytes, which cannot "
                            + "inflate to the \(attributes.height) × \(attributes.widthBytes) bytes that "
                            + "uiHeight × uiWidthBytes declare")
                }
            } else {
                guard !overflow, UInt64(frameBytes) + 8 <= stored else {
                    throw MicroscopyIOError(
                        code: .corrupt, path: path, offset: entry.offset,
                        message: "frame \(n) (chunk \(entry.key)) holds \(stored) bytes, but uiHeight × uiWidthBytes "
                            + "declare 8 + \(attributes.height) × \(attributes.widthBytes) bytes")
                }
            }
        }
        guard !overflow, frameBytes <= BinaryFile.maxReadBytes else {
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: attributesOffset,
                message: "frames of \(attributes.height) × \(attributes.widthBytes) bytes exceed the "
                    + "\(BinaryFile.maxReadBytes)-byte frame limit")
        }

        // (After the size checks: a hostile size is reported as such, not as tiling.)
        guard !attributes.isTiled else {
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: attributesOffset,
                message: "tiled ND2 frames are not supported (tile \(attributes.tileWidth ?? 0)×"
                    + "\(attributes.tileHeight ?? 0) in a \(attributes.width)×\(attributes.height) image)")
        }

        // Per-frame times and stage positions.
        let times = try Self.frameTimes(container, entries: frameEntries, fallback: picture.timeMs)
        let measured = Self.measuredStage(container, count: count)
        let xyLoop = loops.firstIndex { $0.kind == 2 && !$0.points.isEmpty }
        let zLoop = loops.firstIndex { $0.kind == 4 || $0.kind == 10 }
        var frames: [FrameInfo] = []
        frames.reserveCapacity(count)
        for n in 0..<count {
            var loopIndex: [String: Int] = [:]
            var rest = n
            for loop in loops.reversed() {
                loopIndex[loop.axis] = rest % loop.count
                rest /= loop.count
            }
            // Stage as the nd2 package reports it: the XY point of this position (z from the
            // picture metadata unless the loop sets z), one z per stack (its bottom).
            var stage = picture.stageUm
            if let xyLoop, let p = loopIndex["P"], p < loops[xyLoop].points.count {
                stage = loops[xyLoop].points[p]
                if !loops[xyLoop].settingZ { stage![2] = picture.stageUm?[2] ?? 0 }
            }
            if let zLoop, stage != nil {
                let step = loops[zLoop].zStep != 0 ? loops[zLoop].zStep : 1
                stage![2] -= Double(loops[zLoop].zHome) * step
            }
            frames.append(FrameInfo(index: n, loopIndex: loopIndex, relativeTimeMs: times[n], stageUm: stage))
        }

        // Channels as planes: RGB components become channels of their own.
        var planeChannels: [ChannelInfo] = []
        let rgbNames = ["R", "G", "B"]
        for channel in fileChannels {
            for s in 0..<samples {
                var info = channel
                info.index = planeChannels.count
                if samples > 1 {
                    let suffix = samples == 3 ? rgbNames[s] : "\(s)"
                    info.name = fileChannels.count == 1 && samples == 3 ? suffix : "\(channel.name) \(suffix)"
                    info.color = samples == 3 ? ["#ff0000", "#00ff00", "#0000ff"][s] : nil
                    info.emissionNm = nil
                    info.excitationNm = nil
                }
                planeChannels.append(info)
            }
        }

        var axes = loops.map(\.axis)
        var shape = loops.map(\.count)
        if fileChannels.count > 1 {
            axes.append("C")
            shape.append(fileChannels.count)
        }
        axes += ["Y", "X"]
        shape += [attributes.height, attributes.width]
        if samples > 1 {
            axes.append("S")
            shape.append(samples)
        }
        let zStep = zLoop.map { abs(loops[$0].zStep) }.flatMap { $0 > 0 ? $0 : nil }
        let objectiveMagnification =
            picture.objectiveMagnification ?? ND2TextInfo.magnification(in: picture.objectiveName)
            ?? ND2TextInfo.magnification(in: textInfo["optics"])

        info = AcquisitionInfo(
            path: path, format: .nd2, axes: axes, shape: shape, width: attributes.width,
            height: attributes.height, pixelType: pixelType, significantBits: attributes.bitsSignificant,
            channels: planeChannels, frameCount: count,
            pixelSizeUm: [picture.calibrationUm, picture.calibrationUm, zStep], objective: picture.objectiveName,
            loops: loops.map {
                ExperimentLoop(axis: $0.axis, type: $0.typeName, count: $0.count, nestingLevel: $0.nestingLevel)
            },
            frames: frames)
        metadata = ND2Metadata(
            version: container.version, widthBytes: attributes.widthBytes, componentCount: components,
            samplesPerChannel: samples, significantBits: attributes.bitsSignificant,
            compression: compressed ? "zlib" : "none", fileChannels: fileChannels, zStepUm: zStep,
            zHomeIndex: zLoop.map { loops[$0].zHome },
            positionNames: loops.first { $0.kind == 2 }?.pointNames ?? [],
            acquisitionStartJDN: picture.startJDN, objectiveMagnification: objectiveMagnification,
            objectiveNA: picture.objectiveNA, textInfo: textInfo, measuredStageUm: measured)
    }

    /// The acquisition's metadata: ND2 files have one series, so only `series` 0 exists.
    ///
    /// - Throws: `.unsupported` for any other series.
    public func info(series: Int) throws(MicroscopyIOError) -> AcquisitionInfo {
        guard series == 0 else {
            throw MicroscopyIOError(
                code: .unsupported, path: path,
                message: "series \(series) does not exist: ND2 files have one series (0)")
        }
        return info
    }

    /// Reads one plane: component `index.channel` of frame `index.frame`.
    ///
    /// Reads that frame's chunk only (for interleaved channels the whole frame, since channels
    /// share each row); a single-channel uncompressed frame is read straight into the plane.
    /// - Throws: `.unsupported` for a series, level, frame or channel that does not exist;
    ///   `.corrupt` / `.truncated` naming the frame's chunk offset when its chunk is damaged.
    public func plane(_ index: PlaneIndex) throws(MicroscopyIOError) -> Plane {
        try check(index)
        let chunk = try frameChunk(index.frame)
        let bytes =
            layout.components == 1
            ? try singleComponent(chunk, frame: index.frame)
            : try interleaved(chunk, frame: index.frame, component: index.channel)[0]
        return Plane(width: layout.width, height: layout.height, pixelType: info.pixelType, bytes: bytes)
    }

    /// Reads every plane of frame `frame` (all channels, RGB components as channels) with one
    /// read of its chunk: the fast way to read a whole file.
    ///
    /// - Throws: as ``plane(_:)``.
    public func frame(_ frame: Int) throws(MicroscopyIOError) -> [Plane] {
        try check(PlaneIndex(frame: frame, channel: 0))
        let chunk = try frameChunk(frame)
        let arrays =
            layout.components == 1
            ? [try singleComponent(chunk, frame: frame)]
            : try interleaved(chunk, frame: frame, component: nil)
        return arrays.map { Plane(width: layout.width, height: layout.height, pixelType: info.pixelType, bytes: $0) }
    }

    /// Reads every plane of frame `frame` into `planes`, reusing their storage: the way to read
    /// a whole file without allocating (and page-faulting) fresh memory for every frame.
    ///
    /// On return `planes` equals ``frame(_:)``'s result. Pass the same array for each frame;
    /// planes whose byte count matches and that nothing else references are overwritten in
    /// place, others are replaced. (Uncompressed one-component frames are read with one `pread`
    /// into new storage instead, which is faster than reading them through a band buffer.)
    ///
    /// ```swift
    /// var planes: [Plane] = []
    /// for n in 0..<reader.info.frameCount {
    ///     try reader.readFrame(n, into: &planes)
    ///     consume(planes)
    /// }
    /// ```
    /// - Throws: as ``plane(_:)``; `planes` is then empty.
    public func readFrame(_ frame: Int, into planes: inout [Plane]) throws(MicroscopyIOError) {
        try check(PlaneIndex(frame: frame, channel: 0))
        let chunk = try frameChunk(frame)
        let layout = self.layout
        if layout.components == 1, !compressed {
            // pread straight into a new plane beats reading bands into the old one.
            planes = [
                Plane(
                    width: layout.width, height: layout.height, pixelType: info.pixelType,
                    bytes: try singleComponent(chunk, frame: frame))
            ]
            return
        }
        var pool = planes.map(\.bytes)
        planes = []  // drop the planes' references: the byte arrays are now uniquely held
        if pool.count != layout.components || pool.contains(where: { $0.count != layout.planeBytes }) {
            pool = (0..<layout.components).map { _ in [UInt8](repeating: 0, count: layout.planeBytes) }
        }
        var failure: MicroscopyIOError?
        let filled = Self.withPointers(&pool) { outputs in
            do throws(MicroscopyIOError) {
                try decode(chunk, frame: frame, into: outputs)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        planes = filled.map { Plane(width: layout.width, height: layout.height, pixelType: info.pixelType, bytes: $0) }
    }

    /// Takes the arrays out of `pool` one by one (so each is uniquely referenced and mutated in
    /// place), runs `body` with their base addresses in order, and returns them in order.
    private static func withPointers(
        _ pool: inout [[UInt8]], _ body: ([UnsafeMutableRawPointer]) -> Void,
        _ pointers: [UnsafeMutableRawPointer] = []
    ) -> [[UInt8]] {
        guard var mine = pool.popLast() else {
            body(pointers)
            return []
        }
        var rest: [[UInt8]] = []
        mine.withUnsafeMutableBytes { buffer in
            rest = withPointers(&pool, body, [buffer.baseAddress!] + pointers)
        }
        return rest + [mine]
    }

    /// Decodes frame `frame` into one packed plane per component at `outputs`.
    private func decode(
        _ chunk: (payload: UInt64, length: UInt64), frame: Int, into outputs: [UnsafeMutableRawPointer]
    ) throws(MicroscopyIOError) {
        let layout = self.layout
        if compressed, layout.components == 1, !layout.isPadded {
            // One component, no padding: inflate straight into the plane.
            let packed = try file.read(
                at: chunk.payload + 8, count: Int(chunk.length - 8), what: "frame \(frame) compressed pixels")
            let failure = packed.withUnsafeBytes { source in
                ND2Zlib.inflateResult(
                    source, into: UnsafeMutableRawBufferPointer(start: outputs[0], count: layout.planeBytes))
            }
            if let failure { throw inflateError(failure, frame: frame, at: chunk.payload + 8) }
            return
        }
        try forEachBand(chunk, frame: frame) { firstRow, rows, band in
            var bandLayout = layout
            bandLayout.height = rows
            let offset = firstRow &* layout.width &* layout.bytesPerComponent
            ND2Pixels.extractAll(band, layout: bandLayout, into: outputs.map { $0 + offset })
        }
    }

    // MARK: - Frames

    private func check(_ index: PlaneIndex) throws(MicroscopyIOError) {
        guard index.series == 0, index.level == 0 else {
            throw MicroscopyIOError(
                code: .unsupported, path: path,
                message: "series \(index.series), level \(index.level) does not exist: ND2 files have one series "
                    + "and no pyramid (expected series 0, level 0)")
        }
        guard index.frame >= 0, index.frame < frameEntries.count else {
            throw MicroscopyIOError(
                code: .unsupported, path: path,
                message: "frame \(index.frame) does not exist (expected 0..<\(frameEntries.count))")
        }
        guard index.channel >= 0, index.channel < layout.components else {
            throw MicroscopyIOError(
                code: .unsupported, path: path,
                message: "channel \(index.channel) does not exist (expected 0..<\(layout.components))")
        }
    }

    /// Where frame `n`'s payload is, after checking its chunk header, name and size.
    private func frameChunk(_ n: Int) throws(MicroscopyIOError) -> (payload: UInt64, length: UInt64) {
        let entry = frameEntries[n]
        let header = try ND2Container.chunkHeader(
            file: file, at: entry.offset, expectedName: Array(entry.key.utf8), what: "frame \(n) (\(entry.key))")
        guard header.end <= file.size else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: entry.offset,
                message: "frame \(n) (chunk \(entry.key)) ends at offset \(header.end), "
                    + "but the file has only \(file.size) bytes")
        }
        let frameBytes = UInt64(layout.frameBytes)
        if compressed {
            guard header.dataLength > 8, header.dataLength - 8 <= UInt64(BinaryFile.maxReadBytes),
                layout.frameBytes <= ND2Zlib.maxInflatedSize(compressedCount: Int(header.dataLength - 8))
            else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: entry.offset,
                    message: "frame \(n) (chunk \(entry.key)) holds \(header.dataLength) bytes, which cannot be an "
                        + "8-byte timestamp and a zlib stream of \(frameBytes) bytes")
            }
        } else {
            guard header.dataLength >= 8 + frameBytes else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: entry.offset,
                    message: "frame \(n) (chunk \(entry.key)) holds \(header.dataLength) bytes, expected "
                        + "8 + \(layout.height) rows × \(layout.widthBytes) bytes = \(8 + frameBytes)")
            }
        }
        return (header.payloadOffset, header.dataLength)
    }

    /// A one-component frame as a packed plane, decoded in the plane's own buffer.
    private func singleComponent(
        _ chunk: (payload: UInt64, length: UInt64), frame: Int
    ) throws(MicroscopyIOError) -> [UInt8] {
        let layout = self.layout
        if !compressed {
            var bytes = try file.read(at: chunk.payload + 8, count: layout.frameBytes, what: "frame \(frame) pixels")
            if layout.isPadded {
                bytes.withUnsafeMutableBytes { buffer in
                    ND2Pixels.compactRows(
                        buffer.baseAddress!, rowBytes: layout.rowBytes, stride: layout.widthBytes, height: layout.height
                    )
                }
                bytes.removeLast(layout.frameBytes - layout.planeBytes)
            }
            return bytes
        }
        let packed = try file.read(
            at: chunk.payload + 8, count: Int(chunk.length - 8), what: "frame \(frame) compressed pixels")
        var failure: ND2Zlib.Failure?
        let bytes = [UInt8](unsafeUninitializedCapacity: layout.frameBytes) { buffer, initialized in
            failure = packed.withUnsafeBytes { source in
                ND2Zlib.inflateResult(source, into: UnsafeMutableRawBufferPointer(buffer))
            }
            if failure == nil {
                ND2Pixels.compactRows(
                    buffer.baseAddress!, rowBytes: layout.rowBytes, stride: layout.widthBytes, height: layout.height)
            }
            initialized = failure == nil ? layout.planeBytes : 0
        }
        if let failure { throw inflateError(failure, frame: frame, at: chunk.payload + 8) }
        return bytes
    }

    /// Stored rows are decoded in bands of about this many bytes: interleaved frames never need
    /// a whole-frame buffer besides the planes themselves (a second frame-sized allocation per
    /// read makes the allocator return and re-fault its pages every frame).
    static let bandBytes = 1 << 20

    /// Planes of an interleaved frame: component `component`, or every component when nil.
    private func interleaved(
        _ chunk: (payload: UInt64, length: UInt64), frame: Int, component: Int?
    ) throws(MicroscopyIOError) -> [[UInt8]] {
        let layout = self.layout
        var failure: MicroscopyIOError?
        let arrays = ND2Pixels.makeArrays(count: component == nil ? layout.components : 1, bytes: layout.planeBytes) {
            outputs in
            do throws(MicroscopyIOError) {
                try forEachBand(chunk, frame: frame) { firstRow, rows, band in
                    var bandLayout = layout
                    bandLayout.height = rows
                    let offset = firstRow &* layout.width &* layout.bytesPerComponent
                    if let component {
                        ND2Pixels.extract(band, layout: bandLayout, component: component, into: outputs[0] + offset)
                    } else {
                        ND2Pixels.extractAll(band, layout: bandLayout, into: outputs.map { $0 + offset })
                    }
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return arrays
    }

    /// Calls `body(firstRow, rows, bytes)` for consecutive bands of stored rows (`rows ×
    /// widthBytes` bytes each) of frame `frame`.
    private func forEachBand(
        _ chunk: (payload: UInt64, length: UInt64), frame: Int, _ body: (Int, Int, UnsafeRawPointer) -> Void
    ) throws(MicroscopyIOError) {
        let layout = self.layout
        let rowsPerBand = max(1, Self.bandBytes / layout.widthBytes)
        let start = chunk.payload + 8
        if !compressed {
            var y = 0
            while y < layout.height {
                let rows = min(rowsPerBand, layout.height - y)
                let band = try file.read(
                    at: start + UInt64(y * layout.widthBytes), count: rows * layout.widthBytes,
                    what: "frame \(frame) pixels")
                band.withUnsafeBytes { body(y, rows, $0.baseAddress!) }
                y += rows
            }
            return
        }
        let packed = try file.read(at: start, count: Int(chunk.length - 8), what: "frame \(frame) compressed pixels")
        var failure: ND2Zlib.Failure?
        packed.withUnsafeBytes { source in
            if ND2Zlib.usesLibdeflate {
                // libdeflate inflates whole buffers only; it is fast enough to pay for one.
                let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: layout.frameBytes, alignment: 16)
                defer { stored.deallocate() }
                failure = ND2Zlib.inflateResult(source, into: stored)
                if failure == nil { body(0, layout.height, UnsafeRawPointer(stored.baseAddress!)) }
                return
            }
            let band = UnsafeMutableRawBufferPointer.allocate(byteCount: rowsPerBand * layout.widthBytes, alignment: 16)
            defer { band.deallocate() }
            do throws(ND2Zlib.Failure) {
                let stream = try ND2Zlib.Stream(source)
                var y = 0
                while y < layout.height {
                    let rows = min(rowsPerBand, layout.height - y)
                    try stream.fill(UnsafeMutableRawBufferPointer(rebasing: band[0..<(rows * layout.widthBytes)]))
                    body(y, rows, UnsafeRawPointer(band.baseAddress!))
                    y += rows
                }
                try stream.finish()
            } catch {
                failure = error
            }
        }
        if let failure { throw inflateError(failure, frame: frame, at: start) }
    }

    private func inflateError(_ failure: ND2Zlib.Failure, frame: Int, at offset: UInt64) -> MicroscopyIOError {
        MicroscopyIOError(
            code: .corrupt, path: path, offset: offset,
            message: "frame \(frame) (chunk \(frameEntries[frame].key)): \(failure.message)")
    }

    // MARK: - Opening

    /// Decodes the first of `keys` present in the chunk map (LV, or XML in v2 files).
    /// Returns nil when none is present.
    static func metadataChunk(
        _ container: ND2Container, keys: [String]
    ) throws(MicroscopyIOError) -> (value: LVValue, key: String, offset: UInt64)? {
        guard let entry = keys.lazy.compactMap({ container.entry($0) }).first else { return nil }
        guard let chunk = try container.payload(of: entry, limit: maxMetadataChunkBytes) else {
            throw MicroscopyIOError(
                code: .unsupported, path: container.path, offset: entry.offset,
                message: "metadata chunk \(entry.key) is larger than the \(maxMetadataChunkBytes)-byte limit")
        }
        let start = chunk.header.payloadOffset
        if chunk.bytes.first == UInt8(ascii: "<") {
            do {
                return (try ND2XMLVariant.decode(chunk.bytes), entry.key, start)
            } catch {
                throw MicroscopyIOError(
                    code: .corrupt, path: container.path, offset: start + UInt64(error.offset),
                    message: "chunk \(entry.key): XML metadata undecodable: \(error.message)")
            }
        }
        do {
            return (.level(try LVDecoder(chunk.bytes).decode()), entry.key, start)
        } catch {
            throw MicroscopyIOError(
                code: .corrupt, path: container.path, offset: start + UInt64(error.offset),
                message: "chunk \(entry.key): LV metadata undecodable: \(error.message)")
        }
    }

    /// The chunk-map entries `ImageDataSeq|0!` … `ImageDataSeq|count-1!`, in order.
    static func frameEntries(
        _ container: ND2Container, sequenceCount count: Int
    ) throws(MicroscopyIOError) -> [ND2Container.Entry] {
        let prefix = "ImageDataSeq|"
        let found = container.entries.filter { $0.key.hasPrefix(prefix) }
        guard found.count == count else {
            throw MicroscopyIOError(
                code: .corrupt, path: container.path,
                message: "uiSequenceCount is \(count), but the chunk map lists \(found.count) ImageDataSeq chunks "
                    + "(expected one per frame)")
        }
        guard count > 0 else {
            throw MicroscopyIOError(code: .corrupt, path: container.path, message: "the file has no frames")
        }
        var slots = [ND2Container.Entry?](repeating: nil, count: count)
        for entry in found {
            let digits = entry.key.dropFirst(prefix.count).dropLast()
            guard entry.key.hasSuffix("!"), let n = Int(digits), n >= 0, n < count, digits.allSatisfy(\.isASCII) else {
                throw MicroscopyIOError(
                    code: .corrupt, path: container.path, offset: entry.offset,
                    message: "chunk \(entry.key) is not a frame 0..<\(count) (expected ImageDataSeq|<n>!)")
            }
            guard slots[n] == nil else {
                throw MicroscopyIOError(
                    code: .corrupt, path: container.path, offset: entry.offset,
                    message: "frame \(n) is listed twice in the chunk map")
            }
            slots[n] = entry
        }
        // `found.count == count` and no duplicates: every slot is filled.
        return slots.map { $0! }
    }

    /// Per-frame times in ms: `CustomData|AcqTimesCache!` (what the nd2 package reports), or
    /// the 8-byte timestamp at the start of each frame's payload when the cache is absent.
    static func frameTimes(
        _ container: ND2Container, entries: [ND2Container.Entry], fallback: Double?
    ) throws(MicroscopyIOError) -> [Double?] {
        let count = entries.count
        if let values = doubles(container, key: "CustomData|AcqTimesCache!"), values.count >= count {
            return values.prefix(count).map { $0.isFinite ? $0 : fallback }
        }
        var times: [Double?] = []
        times.reserveCapacity(count)
        for (n, entry) in entries.enumerated() {
            let header = try ND2Container.chunkHeader(
                file: container.file, at: entry.offset, expectedName: Array(entry.key.utf8),
                what: "frame \(n) (\(entry.key))")
            let stamp = ByteView(
                bytes: try container.file.read(at: header.payloadOffset, count: 8, what: "frame \(n) timestamp"))
            let value = stamp.f64(0)!
            times.append(value.isFinite ? value : fallback)
        }
        return times
    }

    /// A `CustomData|…!` chunk as little-endian f64 values; nil if absent or unreadable.
    static func doubles(_ container: ND2Container, key: String) -> [Double]? {
        guard let entry = container.entry(key),
            let chunk = try? container.payload(of: entry, limit: maxMetadataChunkBytes)
        else { return nil }
        let view = ByteView(bytes: chunk.bytes)
        return (0..<(chunk.bytes.count / 8)).map { view.f64($0 * 8)! }
    }

    /// `CustomData|X!`, `|Y!` (and `|Z!`) as per-frame positions, when they cover every frame.
    static func measuredStage(_ container: ND2Container, count: Int) -> [[Double]]? {
        guard let xs = doubles(container, key: "CustomData|X!"), let ys = doubles(container, key: "CustomData|Y!"),
            xs.count >= count, ys.count >= count
        else { return nil }
        let zs = doubles(container, key: "CustomData|Z!").flatMap { $0.count >= count ? $0 : nil }
        return (0..<count).map { n in zs.map { [xs[n], ys[n], $0[n]] } ?? [xs[n], ys[n]] }
    }
}
