import Foundation

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Writes ND2 v3 files (nd2-format.md): file header, binary LV metadata, one `ImageDataSeq`
/// chunk per frame (8-byte timestamp + pixels, raw or zlib), per-frame times and stage
/// arrays, and the chunk map. ``ND2Reader`` and the Python `nd2` package read the result back
/// with the same pixels, channel names, loops, pixel size and stage positions.
///
/// ```swift
/// // 2 time points × 3 Z planes, 2 channels of 16-bit data:
/// try ND2Writer.write(
///     path: "/tmp/out.nd2", frames: frames,                 // frames[f] = [dapi, gfp]
///     channels: [ChannelInfo(name: "DAPI", index: 0), ChannelInfo(name: "GFP", index: 1)],
///     loops: [ExperimentLoop(axis: "T", type: "TimeLoop", count: 2, nestingLevel: 0),
///             ExperimentLoop(axis: "Z", type: "ZStackLoop", count: 3, nestingLevel: 1)],
///     pixelSizeUm: 0.325, compression: .zlib())
/// ```
///
/// Frame `f` is the sequence index: loops are row-major, outermost first (the innermost loop
/// varies fastest), as the reader numbers them. Each frame holds one plane per channel; for
/// RGB data give three planes (R, G, B) per channel: the number of samples per channel is
/// `frames[f].count / channels.count` and must be 1 or 3.
///
/// The file is written to a temporary name beside `path` and renamed into place when complete,
/// so a watcher never sees a half-written ND2 under its final name.
public enum ND2Writer {
    /// How frames are stored.
    public enum Compression: Sendable, Equatable {
        /// Raw pixels (`eCompression` 2).
        case none
        /// One zlib stream per frame (`eCompression` 0, "lossless"), at `level` 1 (fast) … 9 (small).
        case zlib(level: Int = 6)
    }

    /// Metadata beyond the required arguments; every field has a default.
    public struct Options: Sendable {
        /// Z step in µm for a Z loop (default 1 µm when there is a Z loop).
        public var zStepUm: Double?
        /// Objective name (`"Plan Apo λ 60x"`), if known.
        public var objective: String?
        /// Objective magnification, if known.
        public var objectiveMagnification: Double?
        /// Objective numerical aperture, if known.
        public var objectiveNA: Double?
        /// Names of the XY loop's points, one per position.
        public var positionNames: [String]?
        /// Significant bits per component (default: all bits of the pixel type).
        public var significantBits: Int?
        /// Acquisition start as a Julian day number (default: the time of writing).
        public var acquisitionStartJDN: Double?

        /// Options with every field at its default.
        public init(
            zStepUm: Double? = nil, objective: String? = nil, objectiveMagnification: Double? = nil,
            objectiveNA: Double? = nil, positionNames: [String]? = nil, significantBits: Int? = nil,
            acquisitionStartJDN: Double? = nil
        ) {
            self.zStepUm = zStepUm
            self.objective = objective
            self.objectiveMagnification = objectiveMagnification
            self.objectiveNA = objectiveNA
            self.positionNames = positionNames
            self.significantBits = significantBits
            self.acquisitionStartJDN = acquisitionStartJDN
        }
    }

    /// Writes an ND2 file from frames held in memory.
    ///
    /// - Parameters:
    ///   - path: The file to create (replaced if it exists).
    ///   - frames: `frames[f][c]`: plane `c` (channel, or RGB component) of frame `f`. All planes
    ///     share one size and a pixel type of `uint8`, `uint16` or `float32`.
    ///   - channels: The file's channels (an RGB channel is one), with names, colours (`#rrggbb`)
    ///     and wavelengths.
    ///   - loops: Experiment loops outermost first, by ``ExperimentLoop/axis`` (`T`, `P`, `Z`;
    ///     others become custom loops); their counts must multiply to `frames.count`. Empty for
    ///     a single frame without loops.
    ///   - pixelSizeUm: Pixel size in µm (x = y).
    ///   - stageUm: Stage position `[x, y, z]` in µm per frame (`CustomData|X!`, `|Y!`, `|Z!`,
    ///     the XY loop's points and the picture's position), if known.
    ///   - timesMs: Time of each frame in ms since the start (default 0 for every frame).
    ///   - compression: Raw or zlib frames.
    ///   - options: Z step, objective, position names and other details.
    /// - Throws: ``MicroscopyIOError`` `.writeFailed` for inconsistent arguments or I/O errors.
    public static func write(
        path: String, frames: [[Plane]], channels: [ChannelInfo], loops: [ExperimentLoop] = [],
        pixelSizeUm: Double, stageUm: [[Double]]? = nil, timesMs: [Double]? = nil,
        compression: Compression = .none, options: Options = Options()
    ) throws(MicroscopyIOError) {
        guard let first = frames.first?.first else {
            throw MicroscopyIOError(code: .writeFailed, path: path, message: "no frames to write")
        }
        try write(
            path: path, frameCount: frames.count, width: first.width, height: first.height,
            pixelType: first.pixelType, planesPerFrame: frames[0].count, channels: channels, loops: loops,
            pixelSizeUm: pixelSizeUm, stageUm: stageUm, timesMs: timesMs, compression: compression,
            options: options
        ) { (f: Int) throws(MicroscopyIOError) -> [Plane] in frames[f] }
    }

    /// Writes an ND2 file frame by frame: `frame(f)` is asked for frame `f` in order, so only
    /// one frame is in memory at a time (for files larger than memory).
    ///
    /// - Parameters: as ``write(path:frames:channels:loops:pixelSizeUm:stageUm:timesMs:compression:options:)``,
    ///   plus the geometry every frame must have (`planesPerFrame` planes of `width` × `height`
    ///   `pixelType` samples) and `frame`, which returns frame `f`'s planes.
    /// - Throws: ``MicroscopyIOError`` `.writeFailed`, or what `frame` throws.
    public static func write(
        path: String, frameCount: Int, width: Int, height: Int, pixelType: PixelType, planesPerFrame: Int,
        channels: [ChannelInfo], loops: [ExperimentLoop] = [], pixelSizeUm: Double, stageUm: [[Double]]? = nil,
        timesMs: [Double]? = nil, compression: Compression = .none, options: Options = Options(),
        frame: (Int) throws(MicroscopyIOError) -> [Plane]
    ) throws(MicroscopyIOError) {
        func fail(_ message: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .writeFailed, path: path, message: message)
        }
        // Validate everything before creating the file.
        guard frameCount > 0 else { throw fail("no frames to write") }
        guard width > 0, height > 0, width <= ND2Attributes.maxSide, height <= ND2Attributes.maxSide else {
            throw fail("plane size \(width)×\(height) is not writable (1…\(ND2Attributes.maxSide) per side)")
        }
        guard [.uint8, .uint16, .float32].contains(pixelType) else {
            throw fail("pixel type \(pixelType) cannot be stored in ND2 (expected uint8, uint16 or float32)")
        }
        guard !channels.isEmpty, planesPerFrame > 0, planesPerFrame % channels.count == 0 else {
            throw fail(
                "\(planesPerFrame) planes per frame do not split into \(channels.count) channels "
                    + "(expected 1 or 3 planes per channel)")
        }
        let samples = planesPerFrame / channels.count
        guard samples == 1 || samples == 3 else {
            throw fail("\(samples) planes per channel (expected 1, or 3 for RGB)")
        }
        let product = loops.reduce(1) { $0.multipliedReportingOverflow(by: max($1.count, 0)).partialValue }
        guard loops.allSatisfy({ $0.count > 0 }), product == frameCount else {
            throw fail(
                "loops \(loops.map { "\($0.axis)(\($0.count))" }.joined(separator: " × ")) give \(product) frames, "
                    + "but \(frameCount) frames are given")
        }
        guard Set(loops.map(\.axis)).count == loops.count else {
            throw fail("loops repeat an axis: \(loops.map(\.axis))")
        }
        if let stageUm {
            guard stageUm.count == frameCount, stageUm.allSatisfy({ $0.count == 3 }) else {
                throw fail("stageUm needs one [x, y, z] per frame (\(frameCount) frames)")
            }
        }
        if let timesMs, timesMs.count != frameCount {
            throw fail("timesMs has \(timesMs.count) values for \(frameCount) frames")
        }
        if case .zlib(let level) = compression, !(0...9).contains(level) {
            throw fail("zlib level \(level) is outside 0…9")
        }
        guard pixelSizeUm > 0, pixelSizeUm.isFinite else { throw fail("pixel size \(pixelSizeUm) µm is not positive") }

        let bytesPerComponent = pixelType.byteCount
        let rowBytes = width * planesPerFrame * bytesPerComponent
        let layout = ND2FrameLayout(
            width: width, height: height, widthBytes: (rowBytes + 3) / 4 * 4,  // rows padded to 4 bytes, as NIS does
            components: planesPerFrame, bytesPerComponent: bytesPerComponent)
        guard layout.frameBytes <= BinaryFile.maxReadBytes else {
            throw fail("frames of \(layout.frameBytes) bytes exceed the \(BinaryFile.maxReadBytes)-byte limit")
        }

        let times = timesMs ?? Array(repeating: 0, count: frameCount)
        let zLoop = loops.firstIndex { $0.axis == "Z" }
        let zStep = options.zStepUm ?? (zLoop != nil ? 1 : 0)
        let zHome = zLoop.map { (loops[$0].count - 1) / 2 } ?? 0

        // Metadata payloads.
        let compressionCode: UInt32 = compression == .none ? 2 : 0
        let attributes = LVEncoder.level(
            "SLxImageAttributes",
            [
                LVEncoder.uint32("uiWidth", UInt32(width)),
                LVEncoder.uint32("uiWidthBytes", UInt32(layout.widthBytes)),
                LVEncoder.uint32("uiHeight", UInt32(height)),
                LVEncoder.uint32("uiComp", UInt32(planesPerFrame)),
                LVEncoder.int32("uiBpcInMemory", Int32(bytesPerComponent * 8)),
                LVEncoder.int32("uiBpcSignificant", Int32(options.significantBits ?? bytesPerComponent * 8)),
                LVEncoder.uint32("uiSequenceCount", UInt32(frameCount)),
                LVEncoder.uint32("uiTileWidth", UInt32(width)),
                LVEncoder.uint32("uiTileHeight", UInt32(height)),
                LVEncoder.int32("eCompression", Int32(compressionCode)),
                LVEncoder.double("dCompressionParam", compression == .none ? 0 : 1),
                // 1 = unsigned integer (seen in every file); 3 for float is our guess: readers
                // (nd2, ours) decide by uiBpcInMemory.
                LVEncoder.int32("ePixelType", pixelType == .float32 ? 3 : 1),
                LVEncoder.uint32("uiVirtualComponents", UInt32(planesPerFrame)),
            ])

        // Frame 0's position: the picture's position is the bottom of a Z stack plus the home
        // offset, which readers subtract again (nd2 reports one z per stack).
        var position = stageUm?.first ?? [0, 0, 0]
        position[2] += Double(zHome) * zStep
        let picture = pictureMetadata(
            channels: channels, samples: samples, pixelSizeUm: pixelSizeUm, position: position,
            timeMs: times[0], options: options)
        let experiment =
            loops.isEmpty
            ? nil
            : experimentMetadata(
                loops: loops, stageUm: stageUm, times: times, zStep: zStep, zHome: zHome, options: options)

        // The file.
        let temporary = path + ".partial-\(getpid())"
        let out: OutputFile
        do {
            out = try OutputFile(path: temporary)
        } catch {
            throw fail("cannot create \(temporary): \(error.message)")
        }
        var finished = false
        defer {
            if !finished { unlink(temporary) }
        }
        do throws(OutputFile.Failure) {
            var map: [(key: String, offset: UInt64, size: UInt64)] = []
            // Header chunk: signature name (32 bytes) + "Ver3.0" in 64 bytes.
            var version = Array("Ver3.0".utf8)
            version += [UInt8](repeating: 0, count: 64 - version.count)
            try out.chunk(name: "ND2 FILE SIGNATURE CHUNK NAME01!", nameField: 32, payload: [version])

            func metadata(_ key: String, _ payload: [UInt8]) throws(OutputFile.Failure) {
                try out.alignChunk()
                let offset = try out.chunk(name: key, nameField: 4080, payload: [payload])
                map.append((key, offset, UInt64(payload.count)))
            }
            try metadata("ImageAttributesLV!", attributes)
            try metadata("ImageMetadataSeqLV|0!", picture)
            if let experiment { try metadata("ImageMetadataLV!", experiment) }

            // Frames: name field 4072 so pixels start 4096 bytes into the chunk, where the nd2
            // package expects them.
            var stored = [UInt8](repeating: 0, count: layout.frameBytes)
            for f in 0..<frameCount {
                let planes = try callFrame(frame, f)
                guard planes.count == planesPerFrame,
                    planes.allSatisfy({ $0.width == width && $0.height == height && $0.pixelType == pixelType })
                else {
                    throw OutputFile.Failure.frame(
                        f,
                        "expected \(planesPerFrame) planes of \(width)×\(height) \(pixelType), got "
                            + planes.map { "\($0.width)×\($0.height) \($0.pixelType)" }.joined(separator: ", "))
                }
                interleave(planes, layout: layout, into: &stored)
                var stamp: [UInt8] = []
                stamp.appendLittleEndian(times[f].bitPattern)
                let pixels: [UInt8]
                switch compression {
                case .none: pixels = stored
                case .zlib(let level):
                    pixels = stored.withUnsafeBytes { ND2Zlib.deflate($0, level: Int32(level)) }
                }
                try out.alignChunk()
                let key = "ImageDataSeq|\(f)!"
                let offset = try out.chunk(name: key, nameField: 4072, payload: [stamp, pixels])
                map.append((key, offset, UInt64(8 + pixels.count)))
            }

            func doubles(_ values: [Double]) -> [UInt8] {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(values.count * 8)
                for value in values { bytes.appendLittleEndian(value.bitPattern) }
                return bytes
            }
            try metadata("CustomData|AcqTimesCache!", doubles(times))
            if let stageUm {
                try metadata("CustomData|X!", doubles(stageUm.map { $0[0] }))
                try metadata("CustomData|Y!", doubles(stageUm.map { $0[1] }))
                try metadata("CustomData|Z!", doubles(stageUm.map { $0[2] }))
            }

            // Chunk map; its payload ends with the 40 bytes every ND2 file ends with.
            try out.alignChunk()
            let mapOffset = out.position
            var payload: [UInt8] = []
            for entry in map {
                payload += Array(entry.key.utf8)
                payload.appendLittleEndian(entry.offset)
                payload.appendLittleEndian(entry.size)
            }
            payload += ND2Container.mapSignature
            payload.appendLittleEndian(mapOffset)
            try out.chunk(name: "ND2 FILEMAP SIGNATURE NAME 0001!", nameField: 32, payload: [payload])
            try out.finish()
        } catch {
            switch error {
            case .io(let message): throw fail(message)
            case .frame(let f, let message): throw fail("frame \(f): \(message)")
            case .caller(let error): throw error
            }
        }
        guard rename(temporary, path) == 0 else {
            throw fail("cannot rename \(temporary) to \(path): \(errorText(errno))")
        }
        finished = true
    }

    /// Calls the caller's frame source, wrapping its error so it passes through unchanged.
    private static func callFrame(
        _ frame: (Int) throws(MicroscopyIOError) -> [Plane], _ f: Int
    ) throws(OutputFile.Failure) -> [Plane] {
        do {
            return try frame(f)
        } catch {
            throw .caller(error)
        }
    }

    private static func interleave(_ planes: [Plane], layout: ND2FrameLayout, into stored: inout [UInt8]) {
        stored.withUnsafeMutableBytes { out in
            func level(_ i: Int, _ pointers: [UnsafeRawPointer]) {
                if i == planes.count {
                    ND2Pixels.interleave(pointers, layout: layout, into: out.baseAddress!)
                    return
                }
                planes[i].bytes.withUnsafeBytes { level(i + 1, pointers + [$0.baseAddress!]) }
            }
            level(0, [])
        }
    }

    // MARK: - Metadata

    /// `#rrggbb` → `0x00BBGGRR`; white when absent or malformed.
    static func abgr(_ color: String?) -> UInt32 {
        guard let color, color.hasPrefix("#"), color.count == 7, let rgb = UInt32(color.dropFirst(), radix: 16) else {
            return 0xFF_FFFF
        }
        return ((rgb >> 16) & 0xFF) | (rgb & 0xFF00) | ((rgb & 0xFF) << 16)
    }

    private static func spectrum(_ name: String, _ wavelength: Double?) -> [UInt8] {
        let points =
            wavelength.map {
                [
                    LVEncoder.level(
                        "",
                        [
                            LVEncoder.uint32("eType", 4), LVEncoder.double("dWavelength", $0),
                            LVEncoder.double("dTValue", 1),
                        ])
                ]
            } ?? []
        return LVEncoder.level(
            name,
            [
                LVEncoder.uint32("uiCount", UInt32(points.count)), LVEncoder.bool("bPoints", false),
                LVEncoder.level("pPoint", points),
            ])
    }

    private static func pictureMetadata(
        channels: [ChannelInfo], samples: Int, pixelSizeUm: Double, position: [Double], timeMs: Double,
        options: Options
    ) -> [UInt8] {
        let planes = channels.enumerated().map { i, channel in
            LVEncoder.level(
                "a\(i)",
                [
                    LVEncoder.uint32("uiCompCount", UInt32(samples)),
                    LVEncoder.uint32("uiSampleIndex", 0),
                    // 2 = brightfield for RGB, 257 = fluorescence + camera otherwise (as limnd2 writes).
                    LVEncoder.uint64("uiModalityMask", samples == 3 ? 2 : 257),
                    LVEncoder.level(
                        "pFluorescentProbe",
                        [
                            LVEncoder.string("m_sName", ""),
                            LVEncoder.uint32("m_uiColor", abgr(channel.color)),
                            spectrum("m_ExcitationSpectrum", channel.excitationNm),
                            spectrum("m_EmissionSpectrum", channel.emissionNm),
                        ]),
                    LVEncoder.uint32("uiColor", abgr(channel.color)),
                    LVEncoder.string("sDescription", channel.name),
                ])
        }
        let magnification = options.objectiveMagnification ?? ND2TextInfo.magnification(in: options.objective) ?? -1
        let objectiveSetting = LVEncoder.level(
            "pObjectiveSetting",
            [
                LVEncoder.string("wsObjectiveName", options.objective ?? ""),
                LVEncoder.double("dObjectiveMag", magnification),
                LVEncoder.double("dObjectiveNA", options.objectiveNA ?? -1),
                LVEncoder.double("dRefractIndex", -1),
            ])
        let jdn = options.acquisitionStartJDN ?? (Date().timeIntervalSince1970 / 86_400 + 2_440_587.5)
        return LVEncoder.level(
            "SLxPictureMetadata",
            [
                LVEncoder.double("dTimeAbsolute", jdn),
                LVEncoder.double("dTimeMSec", timeMs),
                LVEncoder.double("dXPos", position[0]),
                LVEncoder.double("dYPos", position[1]),
                LVEncoder.double("dZPos", position[2]),
                LVEncoder.bool("bZPosAbsolute", true),
                LVEncoder.level(
                    "sPicturePlanes",
                    [
                        LVEncoder.uint32("uiCount", UInt32(channels.count)),
                        LVEncoder.uint32("uiCompCount", UInt32(channels.count * samples)),
                        LVEncoder.level("sPlaneNew", planes),
                        LVEncoder.uint32("uiSampleCount", 1),
                        LVEncoder.level("sSampleSetting", [LVEncoder.level("a0", [objectiveSetting])]),
                    ]),
                LVEncoder.double("dCalibration", pixelSizeUm),
                LVEncoder.double("dAspect", 1),
                LVEncoder.bool("bCalibrated", true),
                LVEncoder.string("wsObjectiveName", options.objective ?? ""),
                LVEncoder.double("dObjectiveMag", magnification),
                LVEncoder.double("dObjectiveNA", options.objectiveNA ?? -1),
                LVEncoder.double("dRefractIndex1", -1),
                LVEncoder.double("dZoom", -1),
                LVEncoder.int32("ePictureXAxis", 0),
                LVEncoder.int32("ePictureYAxis", 1),
            ])
    }

    private static func experimentMetadata(
        loops: [ExperimentLoop], stageUm: [[Double]]?, times: [Double], zStep: Double, zHome: Int, options: Options
    ) -> [UInt8] {
        // Frames per iteration of each loop (row-major, innermost fastest).
        var strides = [Int](repeating: 1, count: loops.count)
        for i in stride(from: loops.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * loops[i + 1].count }

        /// The entries of loop `i`'s `SLxExperiment` (inner loops nest in `ppNextLevelEx`).
        func loop(_ i: Int) -> [[UInt8]] {
            let spec = loops[i]
            var pars: [[UInt8]] = [LVEncoder.uint32("uiCount", UInt32(spec.count))]
            let type: UInt32
            switch spec.axis {
            case "T":
                type = 1
                let period =
                    spec.count > 1 ? (times[(spec.count - 1) * strides[i]] - times[0]) / Double(spec.count - 1) : 0
                pars += [
                    LVEncoder.double("dStart", 0), LVEncoder.double("dPeriod", period.isFinite ? period : 0),
                    LVEncoder.double("dDuration", period.isFinite ? period * Double(spec.count - 1) : 0),
                    LVEncoder.double("dMinPeriodDiff", 0), LVEncoder.double("dMaxPeriodDiff", 0),
                    LVEncoder.double("dAvgPeriodDiff", 0),
                ]
            case "P":
                type = 2
                let points = (0..<spec.count).map { p in
                    let stage = stageUm?[p * strides[i]] ?? [0, 0, 0]
                    let name = options.positionNames.flatMap { p < $0.count ? $0[p] : nil } ?? "#\(p + 1)"
                    return LVEncoder.level(
                        "",
                        [
                            LVEncoder.double("dPosX", stage[0]), LVEncoder.double("dPosY", stage[1]),
                            // The point's z is the bottom of its stack plus the home offset.
                            LVEncoder.double("dPosZ", stage[2] + Double(zHome) * zStep),
                            LVEncoder.double("dPFSOffset", -1), LVEncoder.string("dPosName", name),
                        ])
                }
                pars += [
                    LVEncoder.bool("bUseZ", stageUm != nil), LVEncoder.bool("bRelativeXY", false),
                    LVEncoder.double("dReferenceX", 0), LVEncoder.double("dReferenceY", 0),
                    LVEncoder.level("Points", points),
                ]
            case "Z":
                type = 4
                pars += [
                    LVEncoder.double("dZLow", 0), LVEncoder.double("dZHigh", Double(spec.count - 1) * zStep),
                    LVEncoder.double("dZHome", Double(zHome) * zStep), LVEncoder.double("dZStep", zStep),
                    LVEncoder.int32("iType", 0), LVEncoder.bool("bAbsolute", false),
                    LVEncoder.bool("bZInverted", false),
                ]
            default:
                type = 7
            }
            var children: [[UInt8]] = [
                LVEncoder.uint32("eType", type),
                LVEncoder.level("uLoopPars", pars),
            ]
            if i + 1 < loops.count {
                children.append(LVEncoder.level("ppNextLevelEx", [LVEncoder.level("", loop(i + 1))]))
            }
            children += [
                LVEncoder.uint32("uiRepeatCount", 1), LVEncoder.uint32("uiNextLevelCount", i + 1 < loops.count ? 1 : 0),
            ]
            return children
        }
        return LVEncoder.level("SLxExperiment", loop(0))
    }
}

#if canImport(Glibc)
    private let systemWrite = Glibc.write
#elseif canImport(Musl)
    private let systemWrite = Musl.write
#elseif canImport(Darwin)
    private let systemWrite = Darwin.write
#endif

/// A file written sequentially with `write`, chunk by chunk (nd2-format.md §1).
private final class OutputFile {
    enum Failure: Error {
        case io(String)
        case frame(Int, String)
        case caller(MicroscopyIOError)
    }

    let path: String
    private let fd: Int32
    private(set) var position: UInt64 = 0

    init(path: String) throws(MicroscopyIOError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw MicroscopyIOError(code: .writeFailed, path: path, message: errorText(errno))
        }
    }

    deinit {
        close(fd)
    }

    func write(_ bytes: [UInt8]) throws(Failure) {
        var done = 0
        var failure: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            while done < buffer.count {
                let n = systemWrite(fd, buffer.baseAddress! + done, buffer.count - done)
                if n > 0 {
                    done += n
                } else if n < 0, errno == EINTR {
                    continue
                } else {
                    failure = n < 0 ? errno : EIO
                    return
                }
            }
        }
        if failure != 0 {
            throw .io("writing \(path) failed at offset \(position + UInt64(done)): \(errorText(failure))")
        }
        position += UInt64(bytes.count)
    }

    /// Pads with zeros to the next 4096-byte boundary (chunks start aligned, as in NIS files).
    func alignChunk() throws(Failure) {
        let pad = Int((4096 - position % 4096) % 4096)
        if pad > 0 { try write([UInt8](repeating: 0, count: pad)) }
    }

    /// Writes one chunk: magic, name length, data length, the zero-padded name, the payload
    /// parts. Returns the chunk's offset.
    @discardableResult
    func chunk(name: String, nameField: Int, payload: [[UInt8]]) throws(Failure) -> UInt64 {
        let offset = position
        let nameBytes = Array(name.utf8)
        precondition(nameBytes.count <= nameField)
        var header: [UInt8] = []
        header.appendLittleEndian(ND2Container.chunkMagic)
        header.appendLittleEndian(UInt32(nameField))
        header.appendLittleEndian(UInt64(payload.reduce(0) { $0 + $1.count }))
        header += nameBytes
        header += [UInt8](repeating: 0, count: nameField - nameBytes.count)
        try write(header)
        for part in payload { try write(part) }
        return offset
    }

    func finish() throws(Failure) {
        guard fsync(fd) == 0 else { throw .io("fsync of \(path) failed: \(errorText(errno))") }
    }
}
