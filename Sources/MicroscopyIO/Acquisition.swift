import Crypto
import Foundation

/// The sample type of a plane's pixels.
public enum PixelType: String, Sendable, Codable, CaseIterable {
    /// Unsigned 8-bit.
    case uint8
    /// Unsigned 16-bit.
    case uint16
    /// Unsigned 32-bit (label masks).
    case uint32
    /// Signed 16-bit.
    case int16
    /// IEEE 32-bit float.
    case float32
    /// IEEE 64-bit float.
    case float64

    /// Bytes per sample.
    public var byteCount: Int {
        switch self {
        case .uint8: 1
        case .uint16, .int16: 2
        case .uint32, .float32: 4
        case .float64: 8
        }
    }
}

/// One 2-D plane of one channel (one RGB component counts as its own channel), as
/// little-endian, row-major samples with no row padding: `width * height * pixelType.byteCount`
/// bytes. This is exactly the byte sequence the truth files' SHA-256 is computed over.
public struct Plane: Sendable, Equatable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Sample type.
    public let pixelType: PixelType
    /// Little-endian samples, row-major.
    public let bytes: [UInt8]

    /// Creates a plane; `bytes.count` must equal `width * height * pixelType.byteCount`.
    public init(width: Int, height: Int, pixelType: PixelType, bytes: [UInt8]) {
        precondition(bytes.count == width * height * pixelType.byteCount, "plane byte count does not match its size")
        self.width = width
        self.height = height
        self.pixelType = pixelType
        self.bytes = bytes
    }

    /// SHA-256 (lowercase hex), minimum, maximum and sum of the samples.
    public var statistics: PlaneStatistics { PlaneStatistics(self) }
}

/// The checksum line of `lmdflow inspect --checksums` and the truth files.
public struct PlaneStatistics: Sendable, Codable, Equatable {
    /// SHA-256 over the plane's little-endian (Y, X) bytes.
    public var sha256: String
    /// Smallest sample.
    public var min: Double
    /// Largest sample.
    public var max: Double
    /// Sum of all samples (exact for integer planes up to 2^53).
    public var sum: Double

    /// Computes the statistics of a plane.
    public init(_ plane: Plane) {
        sha256 = SHA256.hash(data: plane.bytes).map { String(format: "%02x", $0) }.joined()
        var low = Double.infinity, high = -Double.infinity, total = 0.0
        plane.bytes.withUnsafeBytes { raw in
            let count = plane.width &* plane.height
            func scan<T: FixedWidthInteger>(_: T.Type) {
                var lo = T.max, hi = T.min, s: Int64 = 0
                for i in 0..<count {
                    let v = T(littleEndian: raw.loadUnaligned(fromByteOffset: i &* MemoryLayout<T>.size, as: T.self))
                    if v < lo { lo = v }
                    if v > hi { hi = v }
                    s &+= Int64(v)
                }
                if count > 0 { low = Double(lo); high = Double(hi) }
                total = Double(s)
            }
            switch plane.pixelType {
            case .uint8: scan(UInt8.self)
            case .uint16: scan(UInt16.self)
            case .uint32: scan(UInt32.self)
            case .int16: scan(Int16.self)
            case .float32, .float64:
                for i in 0..<count {
                    let v: Double = plane.pixelType == .float32
                        ? Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))))
                        : Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self)))
                    low = Swift.min(low, v)
                    high = Swift.max(high, v)
                    total += v
                }
            }
        }
        min = low
        max = high
        sum = total
    }
}

/// A channel as the acquisition describes it.
public struct ChannelInfo: Sendable, Codable, Equatable {
    /// Channel name (`"DAPI"`, `"5-FAM/pH 9.0"`).
    public var name: String
    /// Index in the file's channel order.
    public var index: Int
    /// Display colour `#rrggbb`, if recorded.
    public var color: String?
    /// Emission wavelength in nm, if recorded.
    public var emissionNm: Double?
    /// Excitation wavelength in nm, if recorded.
    public var excitationNm: Double?

    /// Creates a channel description.
    public init(name: String, index: Int, color: String? = nil, emissionNm: Double? = nil, excitationNm: Double? = nil) {
        self.name = name
        self.index = index
        self.color = color
        self.emissionNm = emissionNm
        self.excitationNm = excitationNm
    }
}

/// One experiment loop (ND2: `TimeLoop`, `XYPosLoop`, `ZStackLoop`, `NETimeLoop`).
public struct ExperimentLoop: Sendable, Codable, Equatable {
    /// Loop kind: `T`, `P` (XY positions), `Z`.
    public var axis: String
    /// The file's own loop type name.
    public var type: String
    /// Number of iterations.
    public var count: Int
    /// Nesting level (0 = outermost).
    public var nestingLevel: Int

    /// Creates a loop description.
    public init(axis: String, type: String, count: Int, nestingLevel: Int) {
        self.axis = axis
        self.type = type
        self.count = count
        self.nestingLevel = nestingLevel
    }
}

/// Where and when one frame (one sequence index: every channel at one T/P/Z) was acquired.
public struct FrameInfo: Sendable, Codable, Equatable {
    /// Sequence index in the file.
    public var index: Int
    /// Loop coordinates (`["T": 0, "Z": 3]`).
    public var loopIndex: [String: Int]
    /// Time since the acquisition started, in ms, if recorded.
    public var relativeTimeMs: Double?
    /// Stage position x, y, z in µm, if recorded.
    public var stageUm: [Double]?

    /// Creates a frame description.
    public init(index: Int, loopIndex: [String: Int], relativeTimeMs: Double? = nil, stageUm: [Double]? = nil) {
        self.index = index
        self.loopIndex = loopIndex
        self.relativeTimeMs = relativeTimeMs
        self.stageUm = stageUm
    }
}

/// Everything a reader knows about an acquisition, without pixels.
public struct AcquisitionInfo: Sendable, Codable, Equatable {
    /// The file.
    public var path: String
    /// Container format.
    public var format: FileFormat
    /// Axis names in the file's order, outermost first, e.g. `["T", "Z", "C", "Y", "X"]`;
    /// `S` for RGB components.
    public var axes: [String]
    /// Size of each axis, same order as `axes`.
    public var shape: [Int]
    /// Plane width in pixels.
    public var width: Int
    /// Plane height in pixels.
    public var height: Int
    /// Sample type of the planes.
    public var pixelType: PixelType
    /// Bits that carry signal (e.g. 12 of 16), if recorded.
    public var significantBits: Int?
    /// Channels (RGB components are channels `R`, `G`, `B` of one frame).
    public var channels: [ChannelInfo]
    /// Number of frames (ND2 sequence count; TIFF: planes per channel of the series).
    public var frameCount: Int
    /// Pixel size in µm (x, y, z), each nil when unknown.
    public var pixelSizeUm: [Double?]
    /// Objective name, if recorded.
    public var objective: String?
    /// Experiment loops, outermost first.
    public var loops: [ExperimentLoop]
    /// Per-frame time and stage position (empty when the format has none).
    public var frames: [FrameInfo]
    /// TIFF: number of series; ND2: 1.
    public var seriesCount: Int
    /// TIFF: pyramid levels of the series read (1 = no pyramid).
    public var levelCount: Int

    /// Creates a description.
    public init(
        path: String, format: FileFormat, axes: [String], shape: [Int], width: Int, height: Int, pixelType: PixelType,
        significantBits: Int? = nil, channels: [ChannelInfo], frameCount: Int, pixelSizeUm: [Double?] = [nil, nil, nil],
        objective: String? = nil, loops: [ExperimentLoop] = [], frames: [FrameInfo] = [], seriesCount: Int = 1,
        levelCount: Int = 1
    ) {
        self.path = path
        self.format = format
        self.axes = axes
        self.shape = shape
        self.width = width
        self.height = height
        self.pixelType = pixelType
        self.significantBits = significantBits
        self.channels = channels
        self.frameCount = frameCount
        self.pixelSizeUm = pixelSizeUm
        self.objective = objective
        self.loops = loops
        self.frames = frames
        self.seriesCount = seriesCount
        self.levelCount = levelCount
    }
}

/// Which plane to read: a frame and a channel, in a series and pyramid level (TIFF).
public struct PlaneIndex: Sendable, Hashable, Codable {
    /// TIFF series (0 for ND2).
    public var series: Int
    /// Pyramid level, 0 = full resolution.
    public var level: Int
    /// Frame (ND2 sequence index; TIFF plane index within the series for one channel).
    public var frame: Int
    /// Channel (RGB component for RGB data).
    public var channel: Int

    /// Creates an index.
    public init(series: Int = 0, level: Int = 0, frame: Int, channel: Int) {
        self.series = series
        self.level = level
        self.frame = frame
        self.channel = channel
    }
}

/// A reader of one acquisition file. Reading a plane reads only that plane's bytes (pread);
/// memory stays about one frame. Readers are safe to share between tasks.
public protocol AcquisitionReader: Sendable {
    /// Metadata of the (first) series.
    var info: AcquisitionInfo { get }
    /// Metadata of one series (TIFF with several series; ND2 has one).
    func info(series: Int) throws(MicroscopyIOError) -> AcquisitionInfo
    /// Reads one plane.
    /// - Throws: `MicroscopyIOError` naming the file, the offset and what was expected.
    func plane(_ index: PlaneIndex) throws(MicroscopyIOError) -> Plane
}
/// Opens ND2, TIFF, OME-TIFF and BigTIFF files by their content (not their name).
public enum AcquisitionFile {
    /// Opens a reader for `path`.
    /// - Throws: `MicroscopyIOError` for unknown, damaged or unsupported files
    ///   ("legacy JPEG2000 ND2 is not supported").
    public static func open(path: String) throws(MicroscopyIOError) -> any AcquisitionReader {
        let probe = try FormatProbe.probe(path: path)
        switch probe.format {
        case .nd2: return try ND2Reader(path: path)
        case .tiff, .bigTIFF: return try TIFFReader(path: path)
        case .nd2Legacy:
            throw MicroscopyIOError(code: .unsupported, path: path, offset: 0, message: "legacy JPEG2000 ND2 is not supported")
        }
    }
}
