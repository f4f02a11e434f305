import Dispatch

/// Per-label statistics gathered in **one pass** over the mask: bounding box, pixel count and the
/// mean pixel position (py-lmd's "centre"). Pixel lists are never materialised; later stages
/// re-read each label's bounding box from the mask.
struct LabelStats: Sendable {
    var box = PixelBox(minRow: .max, maxRow: .min, minColumn: .max, maxColumn: .min)
    var count = 0
    var sumRow = 0.0
    var sumColumn = 0.0

    var centre: PixelPoint {
        PixelPoint(row: sumRow / Double(max(count, 1)), column: sumColumn / Double(max(count, 1)))
    }

    mutating func merge(_ o: LabelStats) {
        guard o.count > 0 else { return }
        box = count == 0 ? o.box : box.union(o.box)
        count += o.count
        sumRow += o.sumRow
        sumColumn += o.sumColumn
    }
}

/// Statistics of the requested labels of a mask.
struct LabelIndex {
    /// Requested labels, sorted ascending and unique.
    let labels: [Int]
    /// Statistics per entry of ``labels`` (count 0 = label absent from the mask).
    let stats: [LabelStats]

    /// Index into ``labels`` of `label`, if requested.
    func slot(of label: Int) -> Int? {
        var lo = 0
        var hi = labels.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if labels[mid] < label { lo = mid + 1 } else { hi = mid }
        }
        return lo < labels.count && labels[lo] == label ? lo : nil
    }

    /// Scans `mask` once (row bands in parallel) and gathers statistics for `requested` labels.
    init<Label: FixedWidthInteger & UnsignedInteger & Sendable>(
        mask: UnsafeBufferPointer<Label>, width: Int, height: Int, requested: Set<Int>, parallelism: Int
    ) {
        let labels = requested.sorted()
        self.labels = labels
        let maxLabel = labels.last ?? 0
        // Dense slot table for compact label ranges (the usual case), else binary search.
        let dense: [Int32]? =
            maxLabel <= 1 << 25
            ? {
                var t = [Int32](repeating: -1, count: maxLabel + 1)
                for (i, l) in labels.enumerated() { t[l] = Int32(i) }
                return t
            }() : nil
        // Each band keeps its own statistics table, so the band count is capped to bound memory.
        let bands = max(1, min(parallelism, 8, height / 64 + 1))
        var partials = [[LabelStats]](repeating: [], count: bands)
        let slotCount = labels.count
        partials.withUnsafeMutableBufferPointer { outBuffer in
            // Each band reads the shared mask and writes only its own slot of `partials`.
            let shared = UncheckedSendable((mask: mask, out: outBuffer))
            DispatchQueue.concurrentPerform(iterations: bands) { band in
                let mask = shared.value.mask
                let out = shared.value.out
                var local = [LabelStats](repeating: LabelStats(), count: slotCount)
                let rowStart = height * band / bands
                let rowEnd = height * (band + 1) / bands
                local.withUnsafeMutableBufferPointer { st in
                    func lookup(_ v: Label) -> Int {
                        if v == 0 { return -1 }
                        guard let value = Int(exactly: v), value <= maxLabel else { return -1 }
                        if let dense { return Int(dense[value]) }
                        var lo = 0
                        var hi = labels.count
                        while lo < hi {
                            let mid = (lo &+ hi) >> 1
                            if labels[mid] < value { lo = mid &+ 1 } else { hi = mid }
                        }
                        return lo < labels.count && labels[lo] == value ? lo : -1
                    }
                    for r in rowStart..<rowEnd {
                        let base = r &* width
                        var c = 0
                        while c < width {
                            let v = mask[base &+ c]
                            var end = c &+ 1
                            while end < width && mask[base &+ end] == v { end &+= 1 }
                            if v != 0 {
                                let slot = lookup(v)
                                if slot >= 0 {
                                    let n = end &- c
                                    var s = st[slot]
                                    if s.count == 0 {
                                        s.box = PixelBox(minRow: r, maxRow: r, minColumn: c, maxColumn: end &- 1)
                                    } else {
                                        if c < s.box.minColumn { s.box.minColumn = c }
                                        if end &- 1 > s.box.maxColumn { s.box.maxColumn = end &- 1 }
                                        s.box.maxRow = r
                                    }
                                    s.count &+= n
                                    s.sumRow += Double(r) * Double(n)
                                    s.sumColumn += Double(c &+ end &- 1) * Double(n) / 2
                                    st[slot] = s
                                }
                            }
                            c = end
                        }
                    }
                }
                out[band] = local
            }
        }
        var merged = [LabelStats](repeating: LabelStats(), count: slotCount)
        for part in partials {
            for i in 0..<slotCount { merged[i].merge(part[i]) }
        }
        self.stats = merged
    }
}
