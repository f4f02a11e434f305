import FoundationEssentials
import ImageKit

/// Turns a label mask plus cell sets into cutting shapes — py-lmd's `SegmentationLoader`, done
/// in one pass over the mask and in parallel.
///
/// Per cell set: drop label 0, merge cells whose dilated pixel sets overlap (`join_intersecting`),
/// close by `binary_smoothing` (plus dilation/erosion), fill holes, trace each blob's outline in
/// py-lmd's pixel-centre frame, smooth (circular moving average), simplify (RDP), map to XML
/// units and make sure every written ring is a valid simple polygon; then order the shapes
/// (Hilbert or greedy, then 2-opt) and rotate each ring to start near the previous shape's end.
///
/// ```swift
/// let planner = CuttingPlanner(config: try LMDConfig(json: configBytes))
/// let plan = try planner.plan(mask: labels, cellSets: sets, calibration: calibration)
/// try LMDXMLWriter.write(plan.document, to: "cut.xml")
/// ```
///
/// The mask must be an integer label image (0 = background). A float mask has to be converted
/// by the caller (a non-integral "label" has no meaning here).
public struct CuttingPlanner: Sendable {
    /// The shape settings.
    public var config: LMDConfig
    /// Worker threads for per-cell work (each with its own GEOS context); ≥ 1.
    public var parallelism: Int

    /// Creates a planner.
    /// - Parameters:
    ///   - config: py-lmd settings.
    ///   - parallelism: Worker threads; defaults to the number of active processors. The result
    ///     does not depend on it.
    public init(config: LMDConfig = LMDConfig(), parallelism: Int? = nil) {
        self.config = config
        self.parallelism = max(1, parallelism ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Plans the cut for every cell set.
    ///
    /// - Parameters:
    ///   - mask: Single-channel label image; `(x, y)` = (column, row).
    ///   - cellSets: Sets in output order; each is merged, smoothed and ordered independently.
    ///   - calibration: Calibration points in (row, column) pixels.
    /// - Throws: ``MicrodissectionError`` — `.invalidMask` (several channels), `.emptyDocument`
    ///   (no cell sets), `.missingLabels` (labels absent from the mask, unless `skip_missing`),
    ///   `.emptyCellSet` (nothing left to cut in a set), `.invalidConfigValue`/`.invalidTransform`.
    public func plan<Label: FixedWidthInteger & UnsignedInteger & BitwiseCopyable & Sendable>(
        mask: Image<Label>, cellSets: [CellSet], calibration: Calibration
    ) throws(MicrodissectionError) -> CuttingPlan {
        // Callers in other modules reach this unspecialised; route the common label types to
        // specialised copies so the per-pixel loops run on concrete integers.
        if let m = mask as? Image<UInt32> { return try planImpl(mask: m, cellSets: cellSets, calibration: calibration) }
        if let m = mask as? Image<UInt16> { return try planImpl(mask: m, cellSets: cellSets, calibration: calibration) }
        if let m = mask as? Image<UInt8> { return try planImpl(mask: m, cellSets: cellSets, calibration: calibration) }
        if let m = mask as? Image<UInt64> { return try planImpl(mask: m, cellSets: cellSets, calibration: calibration) }
        return try planImpl(mask: mask, cellSets: cellSets, calibration: calibration)
    }

    func planImpl<Label: FixedWidthInteger & UnsignedInteger & BitwiseCopyable & Sendable>(
        mask: Image<Label>, cellSets: [CellSet], calibration: Calibration
    ) throws(MicrodissectionError) -> CuttingPlan {
        try config.validate()
        let mapping = try config.coordinateMapping()
        guard mask.channels == 1 else {
            throw MicrodissectionError(
                code: .invalidMask, message: "the label mask must have one channel, found \(mask.channels)")
        }
        guard !cellSets.isEmpty else {
            throw MicrodissectionError(code: .emptyDocument, message: "no cell sets were given")
        }
        var warnings: [MicrodissectionWarning] = []
        if !config.ignoredKeys.isEmpty {
            warnings.append(
                MicrodissectionWarning(
                    code: .ignoredConfigKey,
                    message: "accepted but without effect in lmdflow: \(config.ignoredKeys.joined(separator: ", "))"))
        }
        var timings = PlanTimings()
        let clock = ContinuousClock()

        // 1. Clean the class lists (label 0, duplicates).
        var classLists: [[Int]] = []
        for (i, set) in cellSets.enumerated() {
            let setName = set.name ?? "#\(i)"
            var seen = Set<Int>()
            var labels: [Int] = []
            var duplicates = Set<Int>()
            var hadZero = false
            for label in set.classes {
                if label == 0 {
                    hadZero = true
                } else if label < 0 {
                    throw MicrodissectionError(
                        code: .invalidCellSet, message: "labels must be non-negative, found \(label)",
                        context: .init(labels: [label], cellSet: setName))
                } else if seen.insert(label).inserted {
                    labels.append(label)
                } else {
                    duplicates.insert(label)
                }
            }
            if hadZero {
                warnings.append(
                    MicrodissectionWarning(
                        code: .labelZeroDropped, message: "label 0 is background and was removed from the cell set",
                        cellSet: setName))
            }
            if !duplicates.isEmpty {
                warnings.append(
                    MicrodissectionWarning(
                        code: .duplicateLabels, message: "labels listed more than once are used once",
                        labels: duplicates.sorted(), cellSet: setName))
            }
            classLists.append(labels)
        }

        // 2. One pass over the mask.
        var start = clock.now
        let requested = Set(classLists.joined())
        let index = mask.withUnsafeBufferPointer { buf in
            LabelIndex(
                mask: buf, width: mask.width, height: mask.height, requested: requested, parallelism: parallelism)
        }
        timings.index = seconds(clock.now - start)

        // 3. Missing labels.
        for (i, set) in cellSets.enumerated() {
            let setName = set.name ?? "#\(i)"
            let missing = classLists[i].filter { index.stats[index.slot(of: $0)!].count == 0 }
            if !missing.isEmpty {
                guard config.skipMissing else {
                    throw MicrodissectionError(
                        code: .missingLabels,
                        message: "\(missing.count) label(s) of the cell set do not occur in the mask "
                            + "(set skip_missing: true to skip them)",
                        context: .init(labels: missing.sorted(), cellSet: setName))
                }
                warnings.append(
                    MicrodissectionWarning(
                        code: .missingLabelsSkipped, message: "\(missing.count) label(s) not in the mask were skipped",
                        labels: missing.sorted(), cellSet: setName))
                let missingSet = Set(missing)
                classLists[i].removeAll { missingSet.contains($0) }
            }
            if classLists[i].isEmpty {
                throw MicrodissectionError(
                    code: .emptyCellSet,
                    message: set.classes.isEmpty
                        ? "the cell set lists no labels" : "no label of the cell set is left to cut",
                    context: .init(cellSet: setName))
            }
        }

        // 4. Per cell set: merge, shapes, order.
        var sets: [CutSet] = []
        for (i, set) in cellSets.enumerated() {
            let setName = set.name ?? "#\(i)"
            let items = classLists[i].map { Item(label: $0, stats: index.stats[index.slot(of: $0)!]) }
            let result = try mask.withUnsafeBufferPointer {
                (buf) throws(MicrodissectionError) -> (shapes: [CutShape], warnings: [MicrodissectionWarning]) in
                let raster = MaskView(pixels: buf, width: mask.width, height: mask.height)
                start = clock.now
                let groups: [[Int]]
                if config.joinIntersecting {
                    groups = try mergeGroups(items: items, mask: raster)
                } else {
                    groups = items.indices.map { [$0] }
                }
                timings.merge += seconds(clock.now - start)
                start = clock.now
                let outputs = try Parallel.map(groups.count, workers: parallelism) {
                    (g, context) throws(MicrodissectionError) -> GroupOutput in
                    try self.shapes(for: groups[g].map { items[$0] }, mask: raster, mapping: mapping, context: context)
                }
                timings.shapes += seconds(clock.now - start)
                var collected: [CutShape] = []
                var notes: [MicrodissectionWarning] = []
                var mergedCells = 0
                var mergedGroups: [Int] = []
                for (g, out) in outputs.enumerated() {
                    collected += out.shapes
                    notes += out.warnings.map {
                        var w = $0
                        w.cellSet = setName
                        return w
                    }
                    if groups[g].count > 1 {
                        mergedCells += groups[g].count
                        mergedGroups += groups[g].map { items[$0].label }
                    }
                }
                if mergedCells > 0 {
                    notes.insert(
                        MicrodissectionWarning(
                            code: .cellsMerged,
                            message: "\(mergedCells) cells were merged into "
                                + "\(groups.filter { $0.count > 1 }.count) shapes (join_intersecting)",
                            labels: mergedGroups.sorted(), cellSet: setName), at: 0)
                }
                return (collected, notes)
            }
            warnings += result.warnings
            guard !result.shapes.isEmpty else {
                throw MicrodissectionError(
                    code: .emptyCellSet, message: "every shape of the cell set was degenerate; nothing to cut",
                    context: .init(labels: classLists[i].sorted(), cellSet: setName))
            }
            start = clock.now
            let unordered = PathOrdering.travel(result.shapes.map(\.polygon.vertices))
            let ordered = order(result.shapes)
            timings.order += seconds(clock.now - start)
            sets.append(
                CutSet(
                    name: set.name, well: set.well, shapes: ordered, cellCount: items.count,
                    travel: PathOrdering.travel(ordered.map(\.polygon.vertices)), unorderedTravel: unordered))
        }
        return CuttingPlan(
            sets: sets, calibration: calibration, mapping: mapping, warnings: warnings, timings: timings)
    }

    // MARK: Merge pass

    /// Groups of item indices (each group sorted, groups ordered by their first member), as
    /// py-lmd's merge: cells are connected when their centres are within `distance_heuristic` and
    /// their `disk(shape_dilation)`-dilated, hole-filled pixel sets share a pixel.
    func mergeGroups(items: [Item], mask: MaskView) throws(MicrodissectionError) -> [[Int]] {
        let n = items.count
        let d = config.shapeDilation
        let heuristic = config.distanceHeuristic
        let boxes = items.map { $0.stats.box.expanded(by: d) }
        // Candidate pairs: expanded boxes overlap and centres are close enough.
        let extents = boxes.map { max($0.maxRow - $0.minRow, $0.maxColumn - $0.minColumn) + 1 }.sorted()
        let cell = max(16, extents[extents.count / 2])
        var grid: [Int64: [Int32]] = [:]
        func key(_ r: Int, _ c: Int) -> Int64 {
            Int64(r) << 32 | Int64(UInt32(bitPattern: Int32(truncatingIfNeeded: c)))
        }
        func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
        for (i, b) in boxes.enumerated() {
            for r in floorDiv(b.minRow, cell)...floorDiv(b.maxRow, cell) {
                for c in floorDiv(b.minColumn, cell)...floorDiv(b.maxColumn, cell) {
                    grid[key(r, c), default: []].append(Int32(i))
                }
            }
        }
        var pairs: [(Int, Int)] = []
        var stamp = [Int](repeating: -1, count: n)
        for (i, b) in boxes.enumerated() {
            let ci = items[i].stats.centre
            for r in floorDiv(b.minRow, cell)...floorDiv(b.maxRow, cell) {
                for c in floorDiv(b.minColumn, cell)...floorDiv(b.maxColumn, cell) {
                    for j32 in grid[key(r, c)] ?? [] {
                        let j = Int(j32)
                        guard j > i, stamp[j] != i else { continue }
                        stamp[j] = i
                        guard b.overlaps(boxes[j]), ci.distance(to: items[j].stats.centre) <= heuristic else {
                            continue
                        }
                        pairs.append((i, j))
                    }
                }
            }
        }
        var parent = Array(0..<n)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x {
                parent[x] = parent[parent[x]]
                x = parent[x]
            }
            return x
        }
        if !pairs.isEmpty {
            // Rasters are built in chunks ordered by box top and freed as soon as all their pairs
            // are tested, so memory stays bounded by a band of cells, not the whole slide.
            var pending = [Int](repeating: 0, count: n)
            for (a, b) in pairs {
                pending[a] += 1
                pending[b] += 1
            }
            let needed = (0..<n).filter { pending[$0] > 0 }.sorted {
                boxes[$0].minRow != boxes[$1].minRow ? boxes[$0].minRow < boxes[$1].minRow : $0 < $1
            }
            var rank = [Int](repeating: 0, count: n)
            for (k, item) in needed.enumerated() { rank[item] = k }
            pairs.sort { max(rank[$0.0], rank[$0.1]) < max(rank[$1.0], rank[$1.1]) }
            var rasters = [BinaryRaster?](repeating: nil, count: n)
            let chunk = max(256, 64 * parallelism)
            var pairCursor = 0
            var k = 0
            while k < needed.count {
                let end = min(k + chunk, needed.count)
                let batch = Array(needed[k..<end])
                let built = try Parallel.map(batch.count, workers: parallelism) {
                    (b, _) throws(MicrodissectionError) -> BinaryRaster in
                    mergeRaster(items[batch[b]], dilation: d, mask: mask)
                }
                for (b, raster) in built.enumerated() { rasters[batch[b]] = raster }
                var pairEnd = pairCursor
                while pairEnd < pairs.count && max(rank[pairs[pairEnd].0], rank[pairs[pairEnd].1]) < end {
                    pairEnd += 1
                }
                let todo = Array(pairs[pairCursor..<pairEnd])
                let snapshot = rasters
                let hits = try Parallel.map(todo.count, workers: parallelism) {
                    (p, _) throws(MicrodissectionError) -> Bool in
                    snapshot[todo[p].0]!.intersects(snapshot[todo[p].1]!)
                }
                for (p, (a, b)) in todo.enumerated() {
                    if hits[p] {
                        let ra = find(a)
                        let rb = find(b)
                        if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
                    }
                    pending[a] -= 1
                    pending[b] -= 1
                    if pending[a] == 0 { rasters[a] = nil }
                    if pending[b] == 0 { rasters[b] = nil }
                }
                pairCursor = pairEnd
                k = end
            }
        }
        var groupOf: [Int: Int] = [:]
        var groups: [[Int]] = []
        for i in 0..<n {
            let root = find(i)
            if let g = groupOf[root] {
                groups[g].append(i)
            } else {
                groupOf[root] = groups.count
                groups.append([i])
            }
        }
        return groups
    }

    /// py-lmd's merge-pass pixel set of one cell: its pixels dilated by `disk(dilation)`, holes filled.
    func mergeRaster(_ item: Item, dilation: Int, mask: MaskView) -> BinaryRaster {
        var r = BinaryRaster(box: item.stats.box, pad: dilation + 2)
        mask.paint(item.label, box: item.stats.box, into: &r)
        r.dilate(radius: dilation)
        r.fillHoles()
        return r
    }

    // MARK: Shapes

    /// The shapes of one group of cells (one cell unless merged).
    func shapes(
        for members: [Item], mask: MaskView, mapping: CoordinateMapping, context: GEOSContext
    ) throws(MicrodissectionError) -> GroupOutput {
        let join = config.joinIntersecting
        let mergeDilation = join ? config.shapeDilation : 0
        let dilation = config.smoothingDilation
        let erosion = config.smoothingErosion
        let labels = members.map(\.label).sorted()
        var box = members[0].stats.box
        for m in members.dropFirst() { box = box.union(m.stats.box) }
        var raster = BinaryRaster(box: box, pad: mergeDilation + dilation + 2)
        if join && (members.count > 1 || mergeDilation > 0) {
            for m in members { raster.formUnion(mergeRaster(m, dilation: mergeDilation, mask: mask)) }
        } else {
            for m in members { mask.paint(m.label, box: m.stats.box, into: &raster) }
            if join { raster.fillHoles() }
        }
        raster.dilate(radius: dilation)
        raster.erode(radius: erosion)
        raster.fillHoles()

        var out = GroupOutput()
        let components = raster.components8()
        guard !components.first.isEmpty else {
            out.warnings.append(
                MicrodissectionWarning(
                    code: .degenerateShapeDropped,
                    message: "nothing is left after erosion (shape_erosion \(config.shapeErosion)); no shape written",
                    labels: labels))
            return out
        }
        var chosen = Array(components.first.indices)
        if components.first.count > 1 {
            switch config.multiBlob {
            case .separate:
                out.warnings.append(
                    MicrodissectionWarning(
                        code: .multipleBlobs,
                        message:
                            "\(components.first.count) separate blobs; each becomes its own shape (multi_blob: separate)",
                        labels: labels))
            case .largest:
                let largest = chosen.max { components.counts[$0] < components.counts[$1] }!
                chosen = [largest]
                out.warnings.append(
                    MicrodissectionWarning(
                        code: .multipleBlobs,
                        message: "\(components.first.count) separate blobs; only the largest "
                            + "(\(components.counts[largest]) px) is cut (multi_blob: largest)",
                        labels: labels))
            }
        }
        for c in chosen {
            let ring = raster.traceOuterBoundary(startingAt: components.first[c])
            if let shape = try finalize(ring, labels: labels, mapping: mapping, context: context) {
                if shape.repaired {
                    out.warnings.append(
                        MicrodissectionWarning(
                            code: .shapeRepaired,
                            message: "the smoothed outline crossed itself; a valid fallback outline was used",
                            labels: labels))
                }
                out.shapes.append(shape)
            } else {
                out.warnings.append(
                    MicrodissectionWarning(
                        code: .degenerateShapeDropped,
                        message:
                            "a blob of \(components.counts[c]) px has no valid outline with ≥ 3 vertices; not written",
                        labels: labels))
            }
        }
        return out
    }

    /// Smooths and simplifies a traced ring and returns it once it is a valid polygon **in XML
    /// integers**; falls back to weaker smoothing, topology-preserving simplification, GEOS repair
    /// and finally the convex hull. `nil` if nothing with ≥ 3 vertices and an area survives.
    func finalize(
        _ ring: [PixelPoint], labels: [Int], mapping: CoordinateMapping, context: GEOSContext
    ) throws(MicrodissectionError) -> CutShape? {
        var window = config.convolutionSmoothing
        var repaired = false
        while true {
            let simplified = RingProcessing.smoothAndSimplify(ring, window: window, epsilon: config.rdpEpsilon)
            if let shape = accept(simplified, labels: labels, mapping: mapping, repaired: repaired, context: context) {
                return shape
            }
            if window <= 1 { break }
            window = max(1, window / 2)
            repaired = true
        }
        repaired = true
        let raw = PixelPolygon(vertices: ring)
        if let simple = try? context.simplifyPreservingTopology(raw, tolerance: config.rdpEpsilon),
            let shape = accept(simple.vertices, labels: labels, mapping: mapping, repaired: true, context: context)
        {
            return shape
        }
        // Repair in XML space: largest valid part, then convex hull of the rounded vertices.
        let xml = ring.map(mapping.shapeVertex)
        let xmlPolygon = PixelPolygon(vertices: xml.map { PixelPoint(row: Double($0.x), column: Double($0.y)) })
        if let part = try? context.makeValid(xmlPolygon).first {
            let back = part.vertices.map { mapping.pixel(fromXMLX: $0.row, y: $0.column) }
            if let shape = accept(back, labels: labels, mapping: mapping, repaired: true, context: context) {
                return shape
            }
        }
        if let hull = try? context.convexHull(xmlPolygon.vertices) {
            let back = hull.vertices.map { mapping.pixel(fromXMLX: $0.row, y: $0.column) }
            if let shape = accept(back, labels: labels, mapping: mapping, repaired: true, context: context) {
                return shape
            }
        }
        return nil
    }

    /// Maps a pixel ring to XML integers, drops repeated vertices, and accepts it if GEOS says the
    /// integer ring is a valid polygon.
    func accept(
        _ ring: [PixelPoint], labels: [Int], mapping: CoordinateMapping, repaired: Bool, context: GEOSContext
    ) -> CutShape? {
        var pixels: [PixelPoint] = []
        var xml: [XMLPoint] = []
        pixels.reserveCapacity(ring.count)
        xml.reserveCapacity(ring.count)
        for p in ring {
            let q = mapping.shapeVertex(p)
            if let last = xml.last, last == q { continue }
            pixels.append(p)
            xml.append(q)
        }
        while xml.count > 1 && xml.first == xml.last {
            xml.removeLast()
            pixels.removeLast()
        }
        guard xml.count >= 3, context.isValid(xmlRing: xml) else { return nil }
        return CutShape(
            polygon: PixelPolygon(uncheckedVertices: pixels), xmlPoints: xml, labels: labels, repaired: repaired)
    }

    // MARK: Ordering

    /// Orders the shapes of one set and rotates each ring to start at the vertex nearest to the
    /// end of the previous shape (travel measured in XML units, as lmdcompare does).
    func order(_ shapes: [CutShape]) -> [CutShape] {
        guard shapes.count > 1, config.pathOptimization != .none else { return shapes }
        let centres = shapes.map(\.polygon.centroid)
        var order: [Int]
        switch config.pathOptimization {
        case .none:
            return shapes
        case .hilbert:
            order = PathOrdering.hilbert(centres, p: config.hilbertP)
        case .greedy:
            order = PathOrdering.greedy(centres, start: 0)
        }
        order = PathOrdering.twoOpt(centres, order: order)
        var out: [CutShape] = []
        out.reserveCapacity(shapes.count)
        var exit: XMLPoint?
        for i in order {
            var shape = shapes[i]
            if let exit {
                var best = 0
                var bestDistance = Double.infinity
                for (k, p) in shape.xmlPoints.enumerated() {
                    let d = p.distance(to: exit)
                    if d < bestDistance {
                        bestDistance = d
                        best = k
                    }
                }
                if best != 0 {
                    shape.xmlPoints = Array(shape.xmlPoints[best...] + shape.xmlPoints[..<best])
                    shape.polygon = shape.polygon.rotated(toStartAt: best)
                }
            }
            exit = shape.xmlPoints.last
            out.append(shape)
        }
        return out
    }
}

/// A requested label and its statistics.
struct Item: Sendable {
    var label: Int
    var stats: LabelStats
}

/// The shapes and warnings of one group.
struct GroupOutput {
    var shapes: [CutShape] = []
    var warnings: [MicrodissectionWarning] = []
}

/// Read access to the mask for painting label pixels into rasters.
struct MaskView {
    let paintLabel: (Int, PixelBox, inout BinaryRaster) -> Void
    let width: Int
    let height: Int

    init<Label: FixedWidthInteger & UnsignedInteger>(pixels: UnsafeBufferPointer<Label>, width: Int, height: Int) {
        self.width = width
        self.height = height
        self.paintLabel = { label, box, raster in
            guard let value = Label(exactly: label) else { return }
            raster.paint(label: value, from: pixels, maskWidth: width, box: box)
        }
    }

    func paint(_ label: Int, box: PixelBox, into raster: inout BinaryRaster) {
        paintLabel(label, box, &raster)
    }
}

func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}
