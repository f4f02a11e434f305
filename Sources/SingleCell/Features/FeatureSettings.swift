/// How ``Featurizer`` measures cells: channel names, physical pixel size, the PhenoPixel
/// centreline parameters and pyama's background correction.
///
/// Every field has a default; `FeatureSettings()` reproduces the reference tools' defaults
/// (PhenoPixel degree 4 and 35 bins, pyama 256-px tiles, 21-px dilation, weight 1).
///
/// ```swift
/// var settings = FeatureSettings(channelNames: ["dapi", "wga", "gfp"])
/// settings.pixelSizeMicrons = 0.065
/// let table = try Featurizer.compute(nucleus: nuclei, cytosol: cells, channels: images,
///                                    cellIDs: ids, settings: settings)
/// ```
public struct FeatureSettings: Sendable, Hashable {
    /// Column keys of the image channels, in input order (lowercase snake_case identifiers,
    /// `[a-z][a-z0-9_]*`). Empty means `ch0`, `ch1`, … .
    public var channelNames: [String]
    /// Pixel edge length in µm. When set, the table has a `length_um` column besides
    /// `length_px`; when `nil` only `length_px` is written.
    public var pixelSizeMicrons: Double?
    /// Degree of PhenoPixel's centreline polynomial `u2 ≈ f(u1)` (at least 1; PhenoPixel's
    /// default 4).
    public var centrelineDegree: Int
    /// Number of bins along the centreline (PhenoPixel's 35); the path has at most
    /// `centrelineBins + 1` points, so there are that many `centreline_<ch>_NN` columns.
    public var centrelineBins: Int
    /// Whether to also write each path point's position along the cell axis
    /// (`centreline_pos_<ch>_NN`, px from the cell's pole at the smallest `u1`).
    public var centrelinePositions: Bool
    /// Whether to estimate pyama's tiled background and write `total_intensity_bgcorr_<ch>`.
    public var backgroundCorrection: Bool
    /// pyama's `background_weight` `w` in `Σ (I − w·B)`; clamped to `0...1` as pyama does.
    public var backgroundWeight: Double
    /// pyama's tile size in pixels (256); at least 4.
    public var backgroundTileSize: Int
    /// Edge of the square that dilates the foreground before the background statistics
    /// (pyama's 21); at least 1.
    public var backgroundDilation: Int
    /// Worker threads of the per-cell pass; 0 uses every active core. (The one-pass mask
    /// statistics and the background kernels use ImageKit's default, every core.)
    public var threads: Int

    /// Creates settings; every argument defaults to the reference tools' value.
    public init(
        channelNames: [String] = [],
        pixelSizeMicrons: Double? = nil,
        centrelineDegree: Int = 4,
        centrelineBins: Int = 35,
        centrelinePositions: Bool = false,
        backgroundCorrection: Bool = true,
        backgroundWeight: Double = 1,
        backgroundTileSize: Int = 256,
        backgroundDilation: Int = 21,
        threads: Int = 0
    ) {
        self.channelNames = channelNames
        self.pixelSizeMicrons = pixelSizeMicrons
        self.centrelineDegree = centrelineDegree
        self.centrelineBins = centrelineBins
        self.centrelinePositions = centrelinePositions
        self.backgroundCorrection = backgroundCorrection
        self.backgroundWeight = backgroundWeight
        self.backgroundTileSize = backgroundTileSize
        self.backgroundDilation = backgroundDilation
        self.threads = threads
    }

    /// The channel keys for `count` channels: ``channelNames`` or `ch0…ch{count−1}`.
    public func resolvedChannelNames(count: Int) -> [String] {
        channelNames.isEmpty ? (0..<count).map { "ch\($0)" } : channelNames
    }

    /// Checks every field and the channel names against `channelCount`.
    ///
    /// - Throws: ``SingleCellError`` `.invalidParameter` naming the field and its allowed range.
    public func validate(channelCount: Int) throws(SingleCellError) {
        let names = resolvedChannelNames(count: channelCount)
        guard names.count == channelCount else {
            throw SingleCellError(
                code: .invalidParameter,
                message: "\(names.count) channel names for \(channelCount) image channels")
        }
        var seen = Set<String>()
        for name in names {
            guard Self.isIdentifier(name) else {
                throw SingleCellError(
                    code: .invalidParameter,
                    message: "channel name '\(name)' is not a lowercase snake_case identifier ([a-z][a-z0-9_]*)")
            }
            guard seen.insert(name).inserted else {
                throw SingleCellError(code: .invalidParameter, message: "channel name '\(name)' is used twice")
            }
        }
        if let size = pixelSizeMicrons, !(size.isFinite && size > 0) {
            throw SingleCellError(code: .invalidParameter, message: "pixelSizeMicrons must be a positive number, got \(size)")
        }
        guard (1...12).contains(centrelineDegree) else {
            throw SingleCellError(
                code: .invalidParameter, message: "centrelineDegree must be in 1...12, got \(centrelineDegree)")
        }
        guard (1...999).contains(centrelineBins) else {
            throw SingleCellError(
                code: .invalidParameter, message: "centrelineBins must be in 1...999, got \(centrelineBins)")
        }
        guard backgroundWeight.isFinite else {
            throw SingleCellError(code: .invalidParameter, message: "backgroundWeight must be finite, got \(backgroundWeight)")
        }
        guard backgroundTileSize >= 4 else {
            throw SingleCellError(
                code: .invalidParameter, message: "backgroundTileSize must be at least 4, got \(backgroundTileSize)")
        }
        guard backgroundDilation >= 1 else {
            throw SingleCellError(
                code: .invalidParameter, message: "backgroundDilation must be at least 1, got \(backgroundDilation)")
        }
        guard threads >= 0 else {
            throw SingleCellError(code: .invalidParameter, message: "threads must be 0 (all cores) or more, got \(threads)")
        }
    }

    /// Whether `name` is `[a-z][a-z0-9_]*`.
    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, first >= 0x61 && first <= 0x7A else { return false }
        return name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}
