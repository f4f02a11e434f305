import Foundation
import ImageKit
import LMDTestSupport
import MicroscopyIO
import Synchronization
import Testing
@testable import SingleCell

fileprivate func loadLabels(_ path: String) throws -> Image<UInt32> { try loadTestLabels(path) }

fileprivate func loadChannel(_ path: String, _ channel: Int) throws -> Image<UInt16> { try loadTestImage(path, channel: channel) }

/// A little-endian float16 `.npy` array (numpy format 1.0/2.0), flattened.
fileprivate func loadNpyHalf(_ path: String) throws -> [Float16] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8))
    let major = data[6]
    let headerLength = major == 1 ? Int(data[8]) | Int(data[9]) << 8 : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
    let start = (major == 1 ? 10 : 12) + headerLength
    let header = String(decoding: data[(major == 1 ? 10 : 12)..<start], as: UTF8.self)
    #expect(header.contains("'descr': '<f2'"))
    let body = data[start...]
    return body.withUnsafeBytes { raw in (0..<(raw.count / 2)).map { Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) } }
}

/// Collects stacks handed out by the extractor (tests only: real runs stream to a writer).
fileprivate final class StackCollector: Sendable {
    let rows = Mutex<[Int: (id: Int, stack: [Float16])]>([:])
    func add(_ row: Int, _ id: Int, _ stack: UnsafeBufferPointer<Float16>) {
        rows.withLock { $0[row] = (id, Array(stack)) }
    }
}

@Suite struct ExtractionPlanTests {
    @Test func borderRuleIsStrictAndCentresRoundHalfToEven() throws {
        // 40×40 image, image_size 10 → w = 5: centres must satisfy 5 < c < 35.
        var labels = Image<UInt32>(width: 40, height: 40, repeating: 0)
        func put(_ id: UInt32, _ xs: [Int], _ ys: [Int]) { for y in ys { for x in xs { labels[x: x, y: y] = id } } }
        put(1, [10, 11], [20])           // centroid x 10.5 → 10 (half to even), y 20
        put(2, [11, 12], [20])           // 11.5 → 12
        put(3, [5], [20])                // x == w: dropped (strict)
        put(4, [6], [34])                // 5 < 6, 34 < 35: kept
        put(5, [20], [35])               // y == height - w: dropped
        put(7, [30, 31, 32], [30, 31])   // id 6 absent: no row
        let plan = CellExtractor.plan(centres: labels, imageSize: 10)
        #expect(plan.cells.map(\.id) == [1, 2, 4, 7])
        #expect(plan.removed == [3, 5])
        #expect(plan.cells[0].x == 10 && plan.cells[0].y == 20)
        #expect(plan.cells[1].x == 12)
        #expect(plan.cells[3].x == 31 && plan.cells[3].y == 30)  // 30.5 → 30
        #expect(plan.cells[3].centroidY == 30.5)
    }

    @Test func settingsAreValidated() {
        #expect(throws: SingleCellError.self) { try ExtractionSettings(imageSize: 127).validate() }
        #expect(throws: SingleCellError.self) { try ExtractionSettings(lowerQuantile: 0.9, upperQuantile: 0.1).validate() }
        #expect(throws: SingleCellError.self) { try ExtractionSettings(upperQuantile: 1.5).validate() }
    }

    @Test func mismatchedInputsAreRefused() throws {
        let mask = Image<UInt32>(width: 32, height: 32, repeating: 0)
        let small = Image<UInt16>(width: 16, height: 32, repeating: 0)
        let plan = ExtractionPlan(cells: [], removed: [])
        #expect(throws: SingleCellError.self) {
            try CellExtractor.extract(plan: plan, masks: [mask], channels: [small], settings: .init(imageSize: 8)) { _, _, _ throws(SingleCellError) in }
        }
        #expect(throws: SingleCellError.self) {
            try CellExtractor.extract(plan: plan, masks: [], channels: [], settings: .init(imageSize: 8)) { _, _, _ throws(SingleCellError) in }
        }
    }
}

@Suite struct CropKernelTests {
    @Test func fillHolesFillsOnlyEnclosedBackground() {
        // 7×7: a ring with a hole in the middle, and a "C" open to the border.
        let s = 7
        var bin = [UInt8](repeating: 0, count: s * s)
        for y in 1...3 { for x in 1...3 where !(x == 2 && y == 2) { bin[y * s + x] = 1 } }
        for y in 3...5 { bin[y * s + 5] = 1 }
        var flood = [Int32](repeating: 0, count: s * s)
        CropKernels.fillHoles(&bin, flood: &flood, size: s)
        #expect(bin[2 * s + 2] == 1)       // enclosed hole filled
        #expect(bin[4 * s + 4] == 0)       // open background stays
        #expect(bin.reduce(0) { $0 + Int($1) } == 9 + 3)
    }

    @Test func gaussianMatchesScipy() {
        // scipy.ndimage.gaussian_filter(a, 1, mode='nearest') for a 9×9 zero image with
        // a[4,4] = 1 and a[0,0] = 1 (float64, repr as printed by numpy): bit-identical here.
        let s = 9
        var bin = [UInt8](repeating: 0, count: s * s)
        bin[4 * s + 4] = 1
        bin[0] = 1
        var out = [Double](repeating: 0, count: s * s), tmp = out
        CropKernels.gaussianSigma1(bin, into: &out, temp: &tmp, size: s)
        #expect(out[4 * s + 4] == 0.1591559096525158)
        #expect(out[0] == 0.48926072552415495)
        #expect(out[4 * s + 6] == 0.021539407687662958)
    }

    /// The box-limited kernels give exactly the full-crop result (blobs anywhere, also at the edge).
    @Test func boxLimitedKernelsEqualFullCrop() {
        var rng = SplitMix64(seed: 9)
        let s = 40
        for _ in 0..<200 {
            var bin = [UInt8](repeating: 0, count: s * s)
            let cx = Int(rng.next() % UInt64(s)), cy = Int(rng.next() % UInt64(s)), r = 1 + Int(rng.next() % 9)
            var box = CropBox(x0: s, y0: s, x1: -1, y1: -1)
            for y in 0..<s { for x in 0..<s {
                let d = (x - cx) * (x - cx) + (y - cy) * (y - cy)
                // A ring with a hole and a notch, so fill-holes has work to do.
                if d <= r * r && d >= (r / 2) * (r / 2) && !(x == cx + r && y == cy) {
                    bin[y * s + x] = 1
                    box.x0 = min(box.x0, x); box.x1 = max(box.x1, x); box.y0 = min(box.y0, y); box.y1 = max(box.y1, y)
                }
            } }
            guard box.x1 >= 0 else { continue }
            var full = bin, limited = bin
            var flood = [Int32](repeating: 0, count: s * s)
            CropKernels.fillHoles(&full, flood: &flood, size: s)
            CropKernels.fillHoles(&limited, flood: &flood, size: s, box: box.grown(by: 1, size: s))
            #expect(full == limited)
            var a = [Double](repeating: 0, count: s * s), b = a, tmp = a
            CropKernels.gaussianSigma1(full, into: &a, temp: &tmp, size: s)
            tmp = [Double](repeating: 7, count: s * s)  // stale values must not leak in
            CropKernels.gaussianSigma1(limited, into: &b, temp: &tmp, size: s, box: box.grown(by: 4, size: s))
            #expect(a == b)
        }
    }

    @Test func quantilePairEqualsSortedReference() {
        var rng = SplitMix64(seed: 42)
        for trial in 0..<200 {
            let n = 1 + Int(rng.next() % 500)
            let zeroFraction = Double(trial % 5) / 4
            var values = [Double](repeating: 0, count: n)
            for i in 0..<n where Double(rng.next() % 1000) / 1000 >= zeroFraction {
                values[i] = Double(rng.next() % 200) + (trial % 2 == 0 ? 0.5 : 0)  // duplicates on purpose
            }
            var scratch = [Double](repeating: 0, count: n)
            for (lower, upper) in [(0.001, 0.999), (0.25, 0.75), (0, 1), (0.5, 0.5000001)] {
                let nonzero = values.filter { $0 != 0 }
                scratch.replaceSubrange(0..<nonzero.count, with: nonzero)
                let got = CropKernels.selectPair(count: n, nonzero: nonzero.count, lower: lower, upper: upper, scratch: &scratch)
                let sorted = values.sorted()
                func ref(_ q: Double) -> Double {
                    let (a, b, g) = CropKernels.pick(n, q)
                    return CropKernels.lerp(sorted[a], sorted[b], g)
                }
                #expect(got.0 == ref(lower), "trial \(trial) n \(n) lower \(lower)")
                #expect(got.1 == ref(upper), "trial \(trial) n \(n) upper \(upper)")
            }
        }
    }
}

@Suite(.serialized) struct ScPortraitReferenceTests {
    static var root: URL? { sharedTestData?.appendingPathComponent("scportrait") }

    /// Runs our extraction on scPortrait's own WGA masks and input image.
    static func extractWGA() throws -> (plan: ExtractionPlan, rows: [Int: (id: Int, stack: [Float16])]) {
        let root = try #require(Self.root)
        let nucleus = try loadLabels(root.appendingPathComponent("outputs/wga/mask_seg_all_nucleus.tif").path)
        let cytosol = try loadLabels(root.appendingPathComponent("outputs/wga/mask_seg_all_cytosol.tif").path)
        let image = root.appendingPathComponent("inputs/synthetic_2ch_2048.tif").path
        let channels = [try loadChannel(image, 0), try loadChannel(image, 1)]
        let plan = CellExtractor.plan(centres: nucleus, imageSize: 128)
        let collector = StackCollector()
        try CellExtractor.extract(plan: plan, masks: [nucleus, cytosol], channels: channels, settings: ExtractionSettings()) { row, id, stack in
            collector.add(row, id, stack)
        }
        return (plan, collector.rows.withLock { $0 })
    }

    @Test(.enabled(if: hasSharedTestData, "needs ../shared/testdata (scPortrait reference run)"))
    func wgaExtractionMatchesScPortrait() throws {
        let root = try #require(Self.root)
        let (plan, rows) = try Self.extractWGA()
        #expect(plan.cells.count == 429)
        #expect(Array(plan.cells.prefix(10).map(\.id)) == [1, 2, 3, 5, 6, 9, 10, 11, 12, 13])
        let removedText = try String(contentsOf: root.appendingPathComponent("outputs/wga/removed_classes.csv"), encoding: .utf8)
        let removed = removedText.split(whereSeparator: \.isNewline).compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.sorted()
        #expect(plan.removed == removed)
        #expect(rows.count == 429)
        // Row 0 (cell 1), bit for bit.
        let reference = try loadNpyHalf(root.appendingPathComponent("outputs/wga/h5sc_first_cell_stack.npy").path)
        let ours = try #require(rows[0])
        #expect(ours.id == 1)
        #expect(reference.count == ours.stack.count)
        let differing = zip(reference, ours.stack).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0)
    }

    @Test(.enabled(if: hasSharedTestData, "needs ../shared/testdata (scPortrait reference run)"))
    func everyRowMatchesScPortraitsFile() throws {
        let root = try #require(Self.root)
        let reference = try H5SCReader(path: root.appendingPathComponent("outputs/wga/reference_files/single_cells.h5sc").path)
        let (plan, rows) = try Self.extractWGA()
        #expect(reference.cellIDs.map { Int($0) } == plan.cells.map(\.id))
        var differingCells = 0, differingValues = 0
        for row in 0..<reference.cellCount {
            let expected = try reference.stack(row: row)
            let ours = try #require(rows[row]).stack
            let n = zip(expected, ours).filter { $0.bitPattern != $1.bitPattern }.count
            if n > 0 { differingCells += 1; differingValues += n }
        }
        #expect(differingCells == 0, "\(differingCells) cells, \(differingValues) float16 values differ from scPortrait's")
    }

    @Test(.enabled(if: hasSharedTestData, "needs ../shared/testdata (scPortrait reference run)"))
    func writtenFileReadsBackAsExtracted() throws {
        let root = try #require(Self.root)
        let nucleus = try loadLabels(root.appendingPathComponent("outputs/dapi/mask_seg_all_nucleus.tif").path)
        let image = root.appendingPathComponent("inputs/synthetic_2ch_2048.tif").path
        let channels = [try loadChannel(image, 0), try loadChannel(image, 1)]
        let plan = CellExtractor.plan(centres: nucleus, imageSize: 64)
        let layout = CellStackLayout(maskNames: ["seg_all_nucleus"], imageChannelNames: ["nucleus", "cytosol"], imageSize: 64)
        let directory = try TemporaryDirectory()
        let path = directory.file("cells.h5sc")
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: plan.cells.count)
        let collector = StackCollector()
        try CellExtractor.extract(plan: plan, masks: [nucleus], channels: channels, settings: ExtractionSettings(imageSize: 64)) { row, id, stack throws(SingleCellError) in
            try writer.write(row: row, cellID: UInt64(id), stack: stack)
            collector.add(row, id, stack)
        }
        try writer.finish()
        let reader = try H5SCReader(path: path)
        #expect(reader.cellCount == plan.cells.count)
        #expect(reader.layout.channelNames == ["seg_all_nucleus", "nucleus", "cytosol"])
        let rows = collector.rows.withLock { $0 }
        for row in stride(from: 0, to: reader.cellCount, by: 97) {
            #expect(try reader.stack(row: row) == rows[row]?.stack)
        }
        // mapStacks returns per-row results in row order.
        let sums = try reader.mapStacks(threads: 2, batch: 7) { stack in stack.reduce(0.0) { $0 + Double($1) } }
        #expect(sums.count == reader.cellCount)
        let direct = try reader.stack(row: reader.cellCount - 1).reduce(0.0) { $0 + Double($1) }
        #expect(sums.last == direct)
    }

    @Test(.enabled(if: hasSharedTestData, "needs ../shared/testdata (scPortrait reference run)"))
    func scPortraitFeaturesMatchCellFeaturizer() throws {
        let root = try #require(Self.root)
        let (plan, rows) = try Self.extractWGA()
        let layout = CellStackLayout(maskNames: ["seg_all_nucleus", "seg_all_cytosol"], imageChannelNames: ["nucleus", "cytosol"], imageSize: 128)
        let featurizer = try ScPortraitFeatures(layout: layout)
        let expectedColumns = try String(contentsOf: root.appendingPathComponent("outputs/wga/features_all_channels_cytosol_columns.txt"), encoding: .utf8)
        let words = expectedColumns.split(whereSeparator: { $0 == " " || $0.isNewline }).map(String.init)
        let vars = Array(words.drop { $0 != "vars:" }.dropFirst())
        #expect(vars == featurizer.columnNames)
        let csv = try String(contentsOf: root.appendingPathComponent("outputs/wga/features_all_channels_cytosol_head.csv"), encoding: .utf8)
        let lines = csv.split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = lines[0]
        var checked = 0
        for line in lines.dropFirst() {
            let id = try #require(Int(line[header.firstIndex(of: "scportrait_cell_id")!]))
            let row = try #require(plan.cells.firstIndex { $0.id == id })
            let stack = try #require(rows[row]).stack
            let values = stack.withUnsafeBufferPointer { featurizer.compute(stack: $0) }
            for (k, name) in featurizer.columnNames.enumerated() {
                let column = try #require(header.firstIndex(of: name))
                let expected = try #require(Double(line[column]))
                #expect(abs(values[k] - expected) <= 2e-5 * max(1, abs(expected)), "cell \(id) \(name): \(values[k]) vs \(expected)")
            }
            checked += 1
        }
        #expect(checked >= 2)
    }
}
