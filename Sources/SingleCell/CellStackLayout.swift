/// How single-cell image stacks are compressed in an `.h5sc` file (scPortrait's
/// `HDF5CellExtraction.compression`: `true`/`"lzf"` → LZF, `"gzip"`, else none).
public enum StackCompression: Sendable, Hashable {
    /// h5py's LZF filter (HDF5 filter id 32000), scPortrait's default.
    case lzf
    /// HDF5's deflate filter with the given level (0–9).
    case gzip(level: Int)
    /// Stored uncompressed.
    case none

    /// The name scPortrait stores in the `compression` attribute (`"lzf"`, `"gzip"`, `"none"`).
    public var name: String {
        switch self {
        case .lzf: "lzf"
        case .gzip: "gzip"
        case .none: "none"
        }
    }
}

/// The shape and meaning of the image stacks in an `.h5sc` file: per cell a float16 array
/// `[maskNames + imageChannelNames][imageSize][imageSize]`, masks first (nucleus, then cytosol),
/// then the image channels in input order, exactly as scPortrait's `HDF5CellExtraction`.
public struct CellStackLayout: Sendable, Hashable {
    /// Mask channel names, e.g. `["seg_all_nucleus", "seg_all_cytosol"]`.
    public var maskNames: [String]
    /// Image channel names in input order, e.g. `["nucleus", "cytosol"]`.
    public var imageChannelNames: [String]
    /// Crop edge length in pixels (scPortrait's `image_size`).
    public var imageSize: Int
    /// Whether image channels were quantile-normalized per crop (scPortrait's `normalize_output`).
    public var normalization: Bool
    /// Lower quantile of the per-crop normalization (fraction, e.g. 0.001).
    public var normalizationLower: Double
    /// Upper quantile of the per-crop normalization (fraction, e.g. 0.999).
    public var normalizationUpper: Double
    /// Chunk compression.
    public var compression: StackCompression

    /// Creates a layout.
    public init(
        maskNames: [String], imageChannelNames: [String], imageSize: Int,
        normalization: Bool = true, normalizationLower: Double = 0.001, normalizationUpper: Double = 0.999,
        compression: StackCompression = .lzf
    ) {
        self.maskNames = maskNames
        self.imageChannelNames = imageChannelNames
        self.imageSize = imageSize
        self.normalization = normalization
        self.normalizationLower = normalizationLower
        self.normalizationUpper = normalizationUpper
        self.compression = compression
    }

    /// All channel names, masks first: scPortrait's `channel_names`.
    public var channelNames: [String] { maskNames + imageChannelNames }
    /// `"mask"` for each mask channel, then `"image_channel"` for each image channel:
    /// scPortrait's `channel_mapping`.
    public var channelMapping: [String] {
        Array(repeating: "mask", count: maskNames.count) + Array(repeating: "image_channel", count: imageChannelNames.count)
    }
    /// Number of channels in a stack.
    public var channelCount: Int { maskNames.count + imageChannelNames.count }
    /// Number of float16 values in one cell's stack.
    public var valuesPerCell: Int { channelCount * imageSize * imageSize }
}
