/// A region of a cell that morphology and intensity features are measured on.
public enum FeatureRegion: String, Sendable, Hashable, CaseIterable {
    /// The cell's pixels in the nucleus mask.
    case nucleus
    /// The cell's pixels in the cytosol (whole-cell) mask.
    case cytosol
    /// The cell's cytosol pixels that are not the same cell's nucleus pixels (needs both masks).
    case cytosolOnly = "cytosol_only"

    /// The suffix used in column names (`nucleus`, `cytosol`, `cytosol_only`).
    public var columnSuffix: String { rawValue }
}

/// The morphology features, in column order; `<feature>_<region>` names the column.
enum MorphologyFeature: Int, CaseIterable {
    case area, perimeter, centroidX, centroidY, bboxX0, bboxY0, bboxX1, bboxY1
    case eccentricity, solidity, majorAxis, minorAxis, orientation, equivalentDiameter

    var key: String {
        switch self {
        case .area: "area"
        case .perimeter: "perimeter"
        case .centroidX: "centroid_x"
        case .centroidY: "centroid_y"
        case .bboxX0: "bbox_x0"
        case .bboxY0: "bbox_y0"
        case .bboxX1: "bbox_x1"
        case .bboxY1: "bbox_y1"
        case .eccentricity: "eccentricity"
        case .solidity: "solidity"
        case .majorAxis: "major_axis"
        case .minorAxis: "minor_axis"
        case .orientation: "orientation"
        case .equivalentDiameter: "equivalent_diameter"
        }
    }
}

/// The per-channel intensity statistics, in column order; `<stat>_<channel>_<region>`.
enum IntensityStatistic: Int, CaseIterable {
    case mean, median, q25, q75, sum, std, min, max

    var key: String {
        switch self {
        case .mean: "mean"
        case .median: "median"
        case .q25: "q25"
        case .q75: "q75"
        case .sum: "sum"
        case .std: "std"
        case .min: "min"
        case .max: "max"
        }
    }
}

/// Where each feature lives in the output: column indices by region, channel and feature, and
/// the column names in output order.
struct FeatureLayout {
    let regions: [FeatureRegion]
    let channels: [String]
    let bins: Int
    let hasLengthMicrons: Bool
    let hasBackground: Bool
    let hasPositions: Bool

    let morphologyStart: Int
    let intensityStart: Int
    let lengthPx: Int
    let lengthMicrons: Int?
    let aspectRatio: Int
    /// Per channel: first column of that channel's cell-level block.
    let cellChannelStart: Int
    let cellChannelStride: Int
    let columnCount: Int

    init(hasNucleus: Bool, hasCytosol: Bool, channels: [String], settings: FeatureSettings) {
        var regions: [FeatureRegion] = []
        if hasNucleus { regions.append(.nucleus) }
        if hasCytosol { regions.append(.cytosol) }
        if hasNucleus && hasCytosol { regions.append(.cytosolOnly) }
        self.regions = regions
        self.channels = channels
        bins = settings.centrelineBins
        hasLengthMicrons = settings.pixelSizeMicrons != nil
        hasBackground = settings.backgroundCorrection
        hasPositions = settings.centrelinePositions
        morphologyStart = 0
        intensityStart = regions.count &* MorphologyFeature.allCases.count
        var next = intensityStart &+ regions.count &* channels.count &* IntensityStatistic.allCases.count
        lengthPx = next
        next &+= 1
        if hasLengthMicrons {
            lengthMicrons = next
            next &+= 1
        } else {
            lengthMicrons = nil
        }
        aspectRatio = next
        next &+= 1
        cellChannelStart = next
        let points = settings.centrelineBins &+ 1
        cellChannelStride = 1 &+ (hasBackground ? 1 : 0) &+ points &* (hasPositions ? 2 : 1)
        columnCount = next &+ channels.count &* cellChannelStride
    }

    /// Number of centreline path points (`bins + 1`).
    var pathPoints: Int { bins &+ 1 }

    func morphology(_ region: Int, _ feature: MorphologyFeature) -> Int {
        morphologyStart &+ region &* MorphologyFeature.allCases.count &+ feature.rawValue
    }

    func intensity(_ region: Int, channel: Int, _ stat: IntensityStatistic) -> Int {
        intensityStart &+ (region &* channels.count &+ channel) &* IntensityStatistic.allCases.count &+ stat.rawValue
    }

    func normalizedMedian(channel: Int) -> Int { cellChannelStart &+ channel &* cellChannelStride }

    func background(channel: Int) -> Int? {
        hasBackground ? cellChannelStart &+ channel &* cellChannelStride &+ 1 : nil
    }

    func centreline(channel: Int, point: Int) -> Int {
        cellChannelStart &+ channel &* cellChannelStride &+ (hasBackground ? 2 : 1) &+ point
    }

    func centrelinePosition(channel: Int, point: Int) -> Int? {
        hasPositions ? centreline(channel: channel, point: point) &+ pathPoints : nil
    }

    /// The two-or-more-digit index suffix of path point `point` (`00`…`35` for 35 bins).
    func pointSuffix(_ point: Int) -> String {
        let digits = max(2, String(pathPoints &- 1).count)
        let s = String(point)
        return String(repeating: "0", count: max(0, digits &- s.count)) + s
    }

    /// All column names in output order.
    var names: [String] {
        var names = [String](repeating: "", count: columnCount)
        for (r, region) in regions.enumerated() {
            for f in MorphologyFeature.allCases {
                names[morphology(r, f)] = "\(f.key)_\(region.columnSuffix)"
            }
            for (c, channel) in channels.enumerated() {
                for s in IntensityStatistic.allCases {
                    names[intensity(r, channel: c, s)] = "\(s.key)_\(channel)_\(region.columnSuffix)"
                }
            }
        }
        names[lengthPx] = "length_px"
        if let lengthMicrons { names[lengthMicrons] = "length_um" }
        names[aspectRatio] = "aspect_ratio"
        for (c, channel) in channels.enumerated() {
            names[normalizedMedian(channel: c)] = "normalized_median_\(channel)"
            if let b = background(channel: c) { names[b] = "total_intensity_bgcorr_\(channel)" }
            for p in 0..<pathPoints {
                names[centreline(channel: c, point: p)] = "centreline_\(channel)_\(pointSuffix(p))"
                if let q = centrelinePosition(channel: c, point: p) {
                    names[q] = "centreline_pos_\(channel)_\(pointSuffix(p))"
                }
            }
        }
        return names
    }
}
