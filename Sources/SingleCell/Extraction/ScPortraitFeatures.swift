/// scPortrait's `CellFeaturizer`, computed on the extracted stacks exactly as scPortrait does:
/// regions are the pixels where a (blurred) mask channel is > 0 — which includes the blur halo,
/// so areas are inflated (≈1.8× for nuclei) — and intensities are the per-crop normalized,
/// masked float16 values, not raw intensities. Offered for compatibility with scPortrait
/// analyses; ``Featurizer`` computes the raw-intensity features lmdflow recommends.
///
/// Columns (scPortrait's names and order): `<region>_area` per region, then per image channel
/// `<channel>_<stat>_<region>` with stats `mean`, `median`, `quant75`, `quant25`,
/// `summed_intensity`, `summed_intensity_area_normalized` and regions `nucleus`, `cytosol`,
/// `cytosol_only` (= cytosol XOR nucleus). With one mask the single region is named after it.
public struct ScPortraitFeatures: Sendable, Hashable {
    /// The stack layout the features are computed from.
    public let layout: CellStackLayout
    /// Region names in column order.
    public let regions: [String]
    /// All column names in order.
    public let columnNames: [String]

    /// The statistics per channel and region, in scPortrait's order.
    public static let statistics = ["mean", "median", "quant75", "quant25", "summed_intensity", "summed_intensity_area_normalized"]

    /// Creates the featurizer for stacks of `layout`; needs one or two masks.
    public init(layout: CellStackLayout) throws(SingleCellError) {
        switch layout.maskNames.count {
        case 1:
            regions = [layout.maskNames[0].hasSuffix("cytosol") ? "cytosol" : "nucleus"]
        case 2:
            regions = ["nucleus", "cytosol", "cytosol_only"]
        default:
            throw SingleCellError(code: .invalidInput, message: "scPortrait features need one or two mask channels, the stacks have \(layout.maskNames.count)")
        }
        self.layout = layout
        var names = regions.map { "\($0)_area" }
        for channel in layout.imageChannelNames {
            for region in regions {
                for stat in Self.statistics { names.append("\(channel)_\(stat)_\(region)") }
            }
        }
        columnNames = names
    }

    /// Computes one cell's row (`columnNames.count` values) from its stack.
    public func compute(stack: UnsafeBufferPointer<Float16>) -> [Double] {
        let s = layout.imageSize, n = s * s
        precondition(stack.count == layout.valuesPerCell, "stack has \(stack.count) values, expected \(layout.valuesPerCell)")
        // Region membership per pixel as bits: region r ↔ bit r. A mask pixel is "in" when its
        // float16 value is > 0 (positive and not NaN), read from the bits.
        var member = [UInt8](repeating: 0, count: n)
        let twoMasks = layout.maskNames.count == 2
        for i in 0..<n {
            let first = stack[i].bitPattern
            let inFirst = first != 0 && first <= 0x7C00
            if twoMasks {
                let second = stack[n &+ i].bitPattern
                let inSecond = second != 0 && second <= 0x7C00
                member[i] = (inFirst ? 1 : 0) | (inSecond ? 2 : 0) | (inFirst != inSecond ? 4 : 0)
            } else {
                member[i] = inFirst ? 1 : 0
            }
        }
        var row: [Double] = []
        row.reserveCapacity(columnNames.count)
        for r in regions.indices {
            let bit = UInt8(1) << UInt8(r)
            var count = 0
            for i in 0..<n where member[i] & bit != 0 { count &+= 1 }
            row.append(Double(count))
        }
        var values = [Double](repeating: 0, count: n)
        let halfToFloat = HalfFloat.floats
        for c in 0..<layout.imageChannelNames.count {
            let base = (layout.maskNames.count &+ c) &* n
            for r in regions.indices {
                let bit = UInt8(1) << UInt8(r)
                var m = 0
                var sum = 0.0
                for i in 0..<n where member[i] & bit != 0 {
                    let v = Double(halfToFloat[Int(stack[base &+ i].bitPattern)])
                    values[m] = v
                    sum += v
                    m &+= 1
                }
                guard m > 0 else {
                    row.append(contentsOf: Array(repeating: .nan, count: Self.statistics.count))
                    continue
                }
                let mean = Double(Float(sum / Double(m)))
                let (median, q75, q25) = values.withUnsafeMutableBufferPointer { buffer in
                    (Self.float32Quantile(buffer, count: m, q: 0.5), Self.float32Quantile(buffer, count: m, q: 0.75), Self.float32Quantile(buffer, count: m, q: 0.25))
                }
                let summed = Double(Float(sum))
                row.append(contentsOf: [mean, median, q75, q25, summed, mean])
            }
        }
        return row
    }

    /// torch `nanquantile` (linear) on float32 values held as Double.
    static func float32Quantile(_ buffer: UnsafeMutableBufferPointer<Double>, count: Int, q: Double) -> Double {
        let (a, b, g) = CropKernels.pick(count, q)
        CropKernels.select(buffer, count: count, k: a)
        let va = buffer[a]
        var vb = va
        if b != a {
            vb = .infinity
            var i = a &+ 1
            while i < count { if buffer[i] < vb { vb = buffer[i] }; i &+= 1 }
        }
        let fa = Float(va), fb = Float(vb), diff = fb - fa
        let out = g >= 0.5 ? fb - diff * Float(1 - g) : fa + diff * Float(g)
        return Double(out)
    }
}
