/// The container formats ``FormatProbe`` recognises.
public enum FileFormat: String, Sendable, Codable, CaseIterable {
    /// Nikon ND2 with a chunk map (NIS-Elements 3.x and later; file versions 2.x and 3.x).
    case nd2
    /// Legacy Nikon ND2: a JPEG 2000 box container (first 12 bytes `00 00 00 0C 6A 50 20 20 …`).
    case nd2Legacy
    /// Classic TIFF (32-bit offsets), including OME-TIFF and ImageJ TIFF.
    case tiff
    /// BigTIFF (64-bit offsets), including OME-TIFF.
    case bigTIFF
}

/// What a cheap look at a file tells: its format and its first image's geometry.
///
/// Produced by ``FormatProbe/probe(path:)`` without decoding pixels. Fields that the format
/// does not carry, or that the probe could not learn cheaply, are `nil`.
public struct FileProbe: Sendable, Codable, Equatable {
    /// The container format.
    public var format: FileFormat
    /// Format version: ND2 `"3.0"` (from the header's `Ver3.0`); TIFF `"classic"` or `"BigTIFF"`.
    public var version: String?
    /// Width in pixels of the first image (TIFF: first directory; ND2: `uiWidth`).
    public var width: Int?
    /// Height in pixels of the first image (TIFF: first directory; ND2: `uiHeight`).
    public var height: Int?
    /// TIFF only: number of top-level image directories (pages), counted up to
    /// ``FormatProbe/maxCountedPages``.
    public var pages: Int?
    /// ND2 only: number of `ImageDataSeq|n!` frames in the chunk map (one frame holds all
    /// channels at one T/P/Z coordinate).
    public var frames: Int?
    /// Bits per stored sample (TIFF `BitsPerSample`; ND2 `uiBpcInMemory`).
    public var bitsPerSample: Int?
    /// Samples per pixel (TIFF `SamplesPerPixel`; ND2 `uiComp`: interleaved components per
    /// pixel, that is channels × samples per channel).
    public var samplesPerPixel: Int?
    /// Sample type: `"uint"`, `"int"` or `"float"` (TIFF `SampleFormat`; `nil` if unusual).
    public var sampleFormat: String?
    /// Compression: TIFF scheme name in lower case (`"none"`, `"lzw"`, `"deflate"`, …);
    /// ND2 `"none"`, `"zlib"` or `"lossy"`.
    public var compression: String?
    /// The first `ImageDescription` is OME-XML (starts with `<?xml` and mentions `OME`).
    public var isOME: Bool
    /// The first `ImageDescription` was written by ImageJ (starts with `ImageJ=`).
    public var isImageJ: Bool

    /// Creates a probe result; every field but `format` defaults to unknown.
    public init(
        format: FileFormat,
        version: String? = nil,
        width: Int? = nil,
        height: Int? = nil,
        pages: Int? = nil,
        frames: Int? = nil,
        bitsPerSample: Int? = nil,
        samplesPerPixel: Int? = nil,
        sampleFormat: String? = nil,
        compression: String? = nil,
        isOME: Bool = false,
        isImageJ: Bool = false
    ) {
        self.format = format
        self.version = version
        self.width = width
        self.height = height
        self.pages = pages
        self.frames = frames
        self.bitsPerSample = bitsPerSample
        self.samplesPerPixel = samplesPerPixel
        self.sampleFormat = sampleFormat
        self.compression = compression
        self.isOME = isOME
        self.isImageJ = isImageJ
    }
}
