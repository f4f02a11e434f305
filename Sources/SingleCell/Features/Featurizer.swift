import ImageKit

/// Per-cell morphology and intensity features on raw intensities, one row per requested cell
/// id: scikit-image `regionprops` morphology and numpy intensity statistics per region
/// (nucleus, cytosol, cytosol-only), PhenoPixel's length, normalised median and centreline
/// vector, and pyama's aspect ratio and background-corrected total intensity per cell.
///
/// Column names and definitions: `docs/FEATURES.md` (``columnNames(hasNucleus:hasCytosol:channelCount:settings:)``
/// lists them for a given input).
///
/// ```swift
/// let table = try Featurizer.compute(nucleus: nuclei, cytosol: cells, channels: [dapi, gfp],
///                                    cellIDs: [1, 2, 3], settings: FeatureSettings(channelNames: ["dapi", "gfp"]))
/// table.column("area_nucleus")?.values      // [412, 388, NaN] — cell 3 has no nucleus
/// ```
///
/// Each cell is measured on its bounding boxes only (one `LabelKernels.regions` pass per mask),
/// cells in parallel; the background, when enabled, is one tiled pass per channel.
public enum Featurizer {
    /// The column names ``compute(nucleus:cytosol:channels:cellIDs:settings:)`` produces for
    /// masks and channels of this shape, in output order.
    ///
    /// - Throws: ``SingleCellError`` `.invalidInput` when neither mask is present,
    ///   `.invalidParameter` when the settings are invalid for `channelCount` channels.
    public static func columnNames(
        hasNucleus: Bool, hasCytosol: Bool, channelCount: Int, settings: FeatureSettings = FeatureSettings()
    ) throws(SingleCellError) -> [String] {
        guard hasNucleus || hasCytosol else {
            throw SingleCellError(code: .invalidInput, message: "featurization needs a nucleus or a cytosol mask")
        }
        try settings.validate(channelCount: channelCount)
        return FeatureLayout(
            hasNucleus: hasNucleus, hasCytosol: hasCytosol,
            channels: settings.resolvedChannelNames(count: channelCount), settings: settings
        ).names
    }

    /// Measures every cell of `cellIDs`.
    ///
    /// - Parameters:
    ///   - nucleus: Nucleus label mask (0 = background), or nil.
    ///   - cytosol: Cytosol (whole-cell) label mask with the same ids as `nucleus`, or nil.
    ///   - channels: Intensity images, all the size of the masks. Multi-plane images contribute
    ///     one channel per plane, in order.
    ///   - cellIDs: The rows wanted (positive, distinct). An id absent from a mask gets NaN in
    ///     that mask's region columns (and in the cell-level columns when that mask is the
    ///     whole-cell mask).
    ///   - settings: Channel names, pixel size, centreline and background parameters.
    /// - Returns: A table with one row per `cellIDs` entry, in that order.
    /// - Throws: ``SingleCellError`` `.invalidInput` when no mask is given, a mask has more
    ///   than one plane, or sizes differ (the message names the image and the expected size);
    ///   `.invalidParameter` for invalid settings or cell ids.
    public static func compute(
        nucleus: Image<UInt32>?, cytosol: Image<UInt32>?, channels: [Image<UInt16>], cellIDs: [Int],
        settings: FeatureSettings = FeatureSettings()
    ) throws(SingleCellError) -> FeatureTable {
        guard let reference = nucleus ?? cytosol else {
            throw SingleCellError(code: .invalidInput, message: "featurization needs a nucleus or a cytosol mask")
        }
        let width = reference.width, height = reference.height
        let referenceName = nucleus != nil ? "the nucleus mask" : "the cytosol mask"
        for (name, mask) in [("nucleus", nucleus), ("cytosol", cytosol)] {
            guard let mask else { continue }
            guard mask.channels == 1 else {
                throw SingleCellError(
                    code: .invalidInput, message: "\(name) mask has \(mask.channels) planes, expected 1 label plane")
            }
            guard mask.width == width && mask.height == height else {
                throw SingleCellError(
                    code: .invalidInput,
                    message: "\(name) mask is \(mask.width)x\(mask.height), expected \(width)x\(height) (\(referenceName))")
            }
        }
        let planeCount = channels.reduce(0) { $0 + $1.channels }
        try settings.validate(channelCount: planeCount)
        let names = settings.resolvedChannelNames(count: planeCount)
        var planeIndex = 0
        for image in channels {
            guard image.width == width && image.height == height else {
                throw SingleCellError(
                    code: .invalidInput,
                    message: "channel '\(names[planeIndex])' is \(image.width)x\(image.height), "
                        + "expected \(width)x\(height) (\(referenceName))")
            }
            planeIndex += image.channels
        }
        var seen = Set<Int>()
        for id in cellIDs {
            guard id > 0 else {
                throw SingleCellError(code: .invalidParameter, message: "cell id \(id) is not a label (ids are positive)")
            }
            guard seen.insert(id).inserted else {
                throw SingleCellError(code: .invalidParameter, message: "cell id \(id) is requested twice")
            }
        }

        let layout = FeatureLayout(hasNucleus: nucleus != nil, hasCytosol: cytosol != nil, channels: names, settings: settings)
        let nucleusTable = nucleus.map { LabelKernels.regions($0) }
        let cytosolTable = cytosol.map { LabelKernels.regions($0) }
        let planes: [(image: Int, plane: Int)] = channels.indices.flatMap { i in
            (0..<channels[i].channels).map { (i, $0) }
        }
        let rasters: [SplineRaster?] =
            settings.backgroundCorrection && planeCount > 0 && !cellIDs.isEmpty
            ? backgroundRasters(nucleus: nucleus, cytosol: cytosol, channels: channels, planes: planes, settings: settings)
            : []

        let rows = cellIDs.count
        let columnCount = layout.columnCount
        let out = UnsafeMutablePointer<Double>.allocate(capacity: max(1, columnCount &* rows))
        defer { out.deallocate() }
        out.initialize(repeating: .nan, count: columnCount &* rows)

        let workers = settings.threads == 0 ? ParallelFor.defaultWorkers : settings.threads
        let chunk = max(1, min(64, rows / max(1, workers &* 8)))
        let jobs = (rows &+ chunk &- 1) / chunk
        let wholeCell = layout.regions.firstIndex(of: cytosol != nil ? .cytosol : .nucleus)!
        let weight = min(max(settings.backgroundWeight, 0), 1)

        withLabelPointers(nucleus, cytosol) { nucleusPointer, cytosolPointer in
            withPlanePointers(channels, planes) { planePointers in
                let context = FeatureContext(
                    width: width, nucleus: nucleusPointer, cytosol: cytosolPointer,
                    nucleusTable: nucleusTable, cytosolTable: cytosolTable, planes: planePointers, rasters: rasters,
                    layout: layout, wholeCell: wholeCell, weight: weight, degree: settings.centrelineDegree,
                    pixelSize: settings.pixelSizeMicrons, out: out, rows: rows)
                ParallelFor.run(jobs, workers: workers) { job in
                    let scratch = FeatureScratch()
                    let end = min(rows, (job &+ 1) &* chunk)
                    for row in (job &* chunk)..<end {
                        context.measure(row: row, id: cellIDs[row], scratch: scratch)
                    }
                }
            }
        }

        let columnNames = layout.names
        var columns: [FeatureTable.Column] = []
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount {
            columns.append(
                FeatureTable.Column(name: columnNames[c], values: Array(UnsafeBufferPointer(start: out + c &* rows, count: rows))))
        }
        return try FeatureTable(cellIDs: cellIDs, columns: columns)
    }

    /// pyama's background surface of every channel plane, with the union of both masks as the
    /// foreground; nil entries where no pixel is left outside the dilated foreground.
    private static func backgroundRasters(
        nucleus: Image<UInt32>?, cytosol: Image<UInt32>?, channels: [Image<UInt16>], planes: [(image: Int, plane: Int)],
        settings: FeatureSettings
    ) -> [SplineRaster?] {
        let reference = (nucleus ?? cytosol)!
        let width = reference.width, height = reference.height
        var foreground = Image<UInt8>(width: width, height: height, repeating: 0)
        foreground.withUnsafeMutableBufferPointer { fb in
            let f = fb.baseAddress!
            for mask in [nucleus, cytosol] {
                guard let mask else { continue }
                mask.withUnsafeBufferPointer { mb in
                    let m = mb.baseAddress!
                    let bands = ParallelFor.bands(height, parts: ParallelFor.defaultWorkers &* 4)
                    ParallelFor.run(bands.count) { b in
                        var i = bands[b].lowerBound &* width
                        let end = bands[b].upperBound &* width
                        while i < end {
                            if m[i] != 0 { f[i] = 1 }
                            i &+= 1
                        }
                    }
                }
            }
        }
        let excluded = Background.pyamaExclusion(foreground, dilation: settings.backgroundDilation)
        return planes.map { p in
            let image = channels[p.image].channels == 1 ? channels[p.image] : channels[p.image].plane(p.plane)
            return Background.pyamaSupport(image, excluded: excluded, tileSize: settings.backgroundTileSize)?
                .raster(width: width, height: height)
        }
    }

    /// Calls `body` with base pointers of the label images (nil for absent masks).
    private static func withLabelPointers(
        _ nucleus: Image<UInt32>?, _ cytosol: Image<UInt32>?,
        _ body: (UnsafePointer<UInt32>?, UnsafePointer<UInt32>?) -> Void
    ) {
        func withPointer(_ image: Image<UInt32>?, _ inner: (UnsafePointer<UInt32>?) -> Void) {
            if let image {
                image.withUnsafeBufferPointer { inner($0.baseAddress!) }
            } else {
                inner(nil)
            }
        }
        withPointer(nucleus) { n in withPointer(cytosol) { c in body(n, c) } }
    }

    /// Calls `body` with a base pointer per channel plane (valid for the call only).
    private static func withPlanePointers(
        _ images: [Image<UInt16>], _ planes: [(image: Int, plane: Int)], _ body: ([UnsafePointer<UInt16>]) -> Void
    ) {
        func nest(_ i: Int, _ bases: [UnsafePointer<UInt16>]) {
            if i == images.count {
                body(planes.map { bases[$0.image] + $0.plane &* images[$0.image].planeCount })
                return
            }
            images[i].withUnsafeBufferPointer { nest(i &+ 1, bases + [$0.baseAddress!]) }
        }
        nest(0, [])
    }
}

/// Everything one cell's measurement reads, and where it writes (row-disjoint).
struct FeatureContext {
    let width: Int
    let nucleus: UnsafePointer<UInt32>?
    let cytosol: UnsafePointer<UInt32>?
    let nucleusTable: RegionTable?
    let cytosolTable: RegionTable?
    let planes: [UnsafePointer<UInt16>]
    /// Background surface per plane; empty when the background is off.
    let rasters: [SplineRaster?]
    let layout: FeatureLayout
    /// Index (in `layout.regions`) of the region the cell-level features use.
    let wholeCell: Int
    let weight: Double
    let degree: Int
    let pixelSize: Double?
    let out: UnsafeMutablePointer<Double>
    let rows: Int

    @inline(__always)
    func set(_ column: Int, _ row: Int, _ value: Double) {
        out[column &* rows &+ row] = value
    }

    /// Measures every region of cell `id` into row `row`.
    func measure(row: Int, id: Int, scratch: FeatureScratch) {
        for (r, region) in layout.regions.enumerated() {
            let labels: UnsafePointer<UInt32>, exclude: UnsafePointer<UInt32>?, table: RegionTable
            switch region {
            case .nucleus: (labels, exclude, table) = (nucleus!, nil, nucleusTable!)
            case .cytosol: (labels, exclude, table) = (cytosol!, nil, cytosolTable!)
            case .cytosolOnly: (labels, exclude, table) = (cytosol!, nucleus!, cytosolTable!)
            }
            guard id <= table.maxLabel, table.area[id] > 0 else { continue }
            let px = RegionShape.collect(
                labels: labels, exclude: exclude, id: UInt32(truncatingIfNeeded: id), imageWidth: width,
                x0: table.minX[id], y0: table.minY[id], x1: table.maxX[id], y1: table.maxY[id],
                capacity: table.area[id], scratch: scratch)
            if px.count == 0 {
                set(layout.morphology(r, .area), row, 0)  // cytosol entirely covered by the nucleus
                continue
            }
            writeMorphology(px, region: r, row: row, scratch: scratch)
            if r == wholeCell {
                writeCellLevel(px, row: row, scratch: scratch)
            } else {
                writeIntensities(px, region: r, row: row, scratch: scratch, path: nil)
            }
        }
    }

    private func writeMorphology(_ px: RegionPixels, region r: Int, row: Int, scratch: FeatureScratch) {
        let area = Double(px.count)
        set(layout.morphology(r, .area), row, area)
        set(layout.morphology(r, .perimeter), row, RegionShape.perimeter(px, scratch: scratch))
        set(layout.morphology(r, .centroidX), row, px.centroidX)
        set(layout.morphology(r, .centroidY), row, px.centroidY)
        set(layout.morphology(r, .bboxX0), row, Double(px.minX))
        set(layout.morphology(r, .bboxY0), row, Double(px.minY))
        set(layout.morphology(r, .bboxX1), row, Double(px.maxX &+ 1))
        set(layout.morphology(r, .bboxY1), row, Double(px.maxY &+ 1))
        let inertia = InertiaFeatures(centralXX: px.centralXX, centralYY: px.centralYY, centralXY: px.centralXY)
        set(layout.morphology(r, .eccentricity), row, inertia.eccentricity)
        set(layout.morphology(r, .majorAxis), row, inertia.majorAxis)
        set(layout.morphology(r, .minorAxis), row, inertia.minorAxis)
        set(layout.morphology(r, .orientation), row, inertia.orientation)
        set(layout.morphology(r, .solidity), row, area / Double(RegionShape.convexArea(px, scratch: scratch)))
        set(layout.morphology(r, .equivalentDiameter), row, (4 * area / Double.pi).squareRoot())
    }

    /// The centreline state of the whole-cell region shared by all channels.
    struct Path {
        var count: Int
        var first: Int
        var last: Int
        var tMin: Double
        var bins: Int
    }

    /// Intensity statistics of every channel; for the whole-cell region also the normalised
    /// median, the background-corrected total and the centreline path.
    private func writeIntensities(_ px: RegionPixels, region r: Int, row: Int, scratch: FeatureScratch, path: Path?) {
        let n = px.count
        let offsets = UnsafePointer(scratch.offsets.base)
        let values = scratch.values.reserve(n)
        let space = scratch.sortSpace.reserve(n)
        let whole = r == wholeCell
        for (c, plane) in planes.enumerated() {
            for i in 0..<n { values[i] = plane[offsets[i]] }
            let stats = IntensityStatistics(sorting: values, count: n, space: space)
            set(layout.intensity(r, channel: c, .mean), row, stats.mean)
            set(layout.intensity(r, channel: c, .median), row, stats.median)
            set(layout.intensity(r, channel: c, .q25), row, stats.q25)
            set(layout.intensity(r, channel: c, .q75), row, stats.q75)
            set(layout.intensity(r, channel: c, .sum), row, stats.sum)
            set(layout.intensity(r, channel: c, .std), row, stats.std)
            set(layout.intensity(r, channel: c, .min), row, stats.min)
            set(layout.intensity(r, channel: c, .max), row, stats.max)
            guard whole else { continue }
            set(layout.normalizedMedian(channel: c), row, stats.max > 0 ? stats.median / stats.max : 0)
            if let column = layout.background(channel: c), let raster = rasters[c] {
                let xs = UnsafePointer(scratch.xs.base), ys = UnsafePointer(scratch.ys.base)
                var background = 0.0
                for i in 0..<n { background += raster.value(x: Int(xs[i]), y: Int(ys[i])) }
                set(column, row, stats.sum - weight * background)
            }
            if let path { writePath(path, plane: plane, channel: c, row: row, scratch: scratch) }
        }
    }

    /// Length, aspect ratio and the foot points of PhenoPixel's centreline, then the channels.
    private func writeCellLevel(_ px: RegionPixels, row: Int, scratch: FeatureScratch) {
        let n = px.count
        let frame = CellFrame(px)
        set(layout.aspectRatio, row, frame.aspectRatio)
        let xs = UnsafePointer(scratch.xs.base), ys = UnsafePointer(scratch.ys.base)
        let u = scratch.u.reserve(n), v = scratch.v.reserve(n)
        var tMin = Double.infinity, tMax = -Double.infinity
        let ex = frame.majorX, ey = frame.majorY
        for i in 0..<n {
            let dx = Double(xs[i]) - frame.meanX, dy = Double(ys[i]) - frame.meanY
            let t = dx * ex + dy * ey
            u[i] = t
            v[i] = dy * ex - dx * ey
            tMin = min(tMin, t)
            tMax = max(tMax, t)
        }
        let length = tMax - tMin
        set(layout.lengthPx, row, length)
        if let column = layout.lengthMicrons, let pixelSize { set(column, row, length * pixelSize) }

        var path: Path? = nil
        if n >= 2 && length > 0,
            let polynomial = CentrelinePolynomial(
                u: u, v: v, count: n, degree: degree, scale: max(abs(tMin), abs(tMax)))
        {
            let foot = scratch.foot.reserve(n)
            FootPointSolver(polynomial, tMin: tMin, tMax: tMax).solve(u: u, v: v, count: n, foot: foot, scratch: scratch)
            let bins = layout.bins
            let width = length / Double(bins)
            let bin = scratch.bin.reserve(n)
            var first = 0, last = 0
            for i in 0..<n {
                let b = Int(((foot[i] - tMin) / width).rounded(.down))
                bin[i] = Int32(truncatingIfNeeded: min(max(b, 0), bins &- 1))
                if foot[i] < foot[first] { first = i }
                if foot[i] >= foot[last] { last = i }
            }
            path = Path(count: n, first: first, last: last, tMin: tMin, bins: bins)
        }
        writeIntensities(px, region: wholeCell, row: row, scratch: scratch, path: path)
    }

    /// PhenoPixel's path for one channel: the pixel with the smallest foot point, then per bin
    /// 1…bins−1 the brightest pixel (ties: smaller foot point, then raster order; empty bins are
    /// skipped), then the pixel with the largest foot point. NaN-padded to `bins + 1` columns.
    private func writePath(_ path: Path, plane: UnsafePointer<UInt16>, channel c: Int, row: Int, scratch: FeatureScratch) {
        let n = path.count
        let offsets = UnsafePointer(scratch.offsets.base)
        let foot = UnsafePointer(scratch.foot.base)
        let bin = UnsafePointer(scratch.bin.base)
        let best = scratch.pathBest.reserve(path.bins)
        best.initialize(repeating: -1, count: path.bins)
        for i in 0..<n {
            let b = Int(bin[i])
            if b == 0 { continue }
            let j = best[b]
            if j < 0 {
                best[b] = i
                continue
            }
            let g = plane[offsets[i]], h = plane[offsets[j]]
            if g > h || (g == h && foot[i] < foot[j]) { best[b] = i }
        }
        var point = 0
        func emit(_ i: Int) {
            set(layout.centreline(channel: c, point: point), row, Double(plane[offsets[i]]))
            if let q = layout.centrelinePosition(channel: c, point: point) { set(q, row, foot[i] - path.tMin) }
            point &+= 1
        }
        emit(path.first)
        for b in 1..<max(path.bins, 1) where best[b] >= 0 { emit(best[b]) }
        emit(path.last)
    }
}
