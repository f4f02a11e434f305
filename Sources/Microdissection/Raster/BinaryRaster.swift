/// A small binary raster placed in the global pixel grid: pixel `(r, c)` of the raster is global
/// pixel `(originRow + r, originColumn + c)`. Origins may be negative (rasters are never clamped
/// at the image's top/left border; see docs/MICRODISSECTION.md).
///
/// Morphology follows scikit-image/scipy exactly: `disk(r)` = all integer offsets with
/// `dy² + dx² ≤ r²`; dilation treats outside as background, erosion as foreground; hole filling
/// floods the background from the raster border with 4-connectivity.
struct BinaryRaster {
    var width: Int
    var height: Int
    var originRow: Int
    var originColumn: Int
    /// Row-major, 0 or 1.
    var bits: [UInt8]

    init(width: Int, height: Int, originRow: Int, originColumn: Int) {
        self.width = width
        self.height = height
        self.originRow = originRow
        self.originColumn = originColumn
        self.bits = [UInt8](repeating: 0, count: width * height)
    }

    /// A raster covering the global box `rows × columns` expanded by `pad` on every side.
    init(box: PixelBox, pad: Int) {
        self.init(
            width: box.maxColumn - box.minColumn + 1 + 2 * pad, height: box.maxRow - box.minRow + 1 + 2 * pad,
            originRow: box.minRow - pad, originColumn: box.minColumn - pad)
    }

    var foregroundCount: Int { bits.reduce(0) { $0 &+ Int($1) } }

    /// Sets every raster pixel whose global position holds `label` in `mask` (restricted to `box`).
    mutating func paint<Label: FixedWidthInteger>(
        label: Label, from mask: UnsafeBufferPointer<Label>, maskWidth: Int, box: PixelBox
    ) {
        let w = width
        let r0 = box.minRow
        let r1 = box.maxRow
        let c0 = box.minColumn
        let c1 = box.maxColumn
        let dr = r0 &- originRow
        let dc = c0 &- originColumn
        bits.withUnsafeMutableBufferPointer { out in
            for r in r0...r1 {
                let src = r &* maskWidth
                let dst = (r &- r0 &+ dr) &* w &+ dc &- c0
                for c in c0...c1 where mask[src &+ c] == label {
                    out[dst &+ c] = 1
                }
            }
        }
    }

    /// ORs `other` into this raster (positions in the global grid; parts outside are ignored).
    mutating func formUnion(_ other: BinaryRaster) {
        let r0 = max(originRow, other.originRow)
        let r1 = min(originRow + height, other.originRow + other.height)
        let c0 = max(originColumn, other.originColumn)
        let c1 = min(originColumn + width, other.originColumn + other.width)
        guard r0 < r1, c0 < c1 else { return }
        let w = width
        let ow = other.width
        other.bits.withUnsafeBufferPointer { src in
            bits.withUnsafeMutableBufferPointer { dst in
                for r in r0..<r1 {
                    let d = (r &- originRow) &* w &- originColumn
                    let s = (r &- other.originRow) &* ow &- other.originColumn
                    for c in c0..<c1 { dst[d &+ c] |= src[s &+ c] }
                }
            }
        }
    }

    /// Whether this raster and `other` have a foreground pixel at the same global position.
    func intersects(_ other: BinaryRaster) -> Bool {
        let r0 = max(originRow, other.originRow)
        let r1 = min(originRow + height, other.originRow + other.height)
        let c0 = max(originColumn, other.originColumn)
        let c1 = min(originColumn + width, other.originColumn + other.width)
        guard r0 < r1, c0 < c1 else { return false }
        let w = width
        let ow = other.width
        return other.bits.withUnsafeBufferPointer { src in
            bits.withUnsafeBufferPointer { dst in
                for r in r0..<r1 {
                    let d = (r &- originRow) &* w &- originColumn
                    let s = (r &- other.originRow) &* ow &- other.originColumn
                    for c in c0..<c1 where dst[d &+ c] & src[s &+ c] != 0 { return true }
                }
                return false
            }
        }
    }

    // MARK: Morphology

    /// Half-widths of `disk(r)` per row offset: `w[dy] = ⌊√(r² − dy²)⌋`.
    static func diskHalfWidths(_ r: Int) -> [Int] {
        (0...r).map { dy in
            let rem = r * r - dy * dy
            var w = Int(Double(rem).squareRoot())
            while w * w > rem { w -= 1 }
            while (w + 1) * (w + 1) <= rem { w += 1 }
            return w
        }
    }

    /// Binary dilation by `disk(radius)`; outside the raster counts as background.
    mutating func dilate(radius: Int) {
        guard radius > 0 else { return }
        bits = Self.dilated(bits, width: width, height: height, radius: radius, invert: false)
    }

    /// Binary erosion by `disk(radius)`; outside the raster counts as foreground (skimage default).
    mutating func erode(radius: Int) {
        guard radius > 0 else { return }
        // erosion(A) = ¬ dilation(¬A), with the complement's outside being background.
        bits = Self.dilated(bits, width: width, height: height, radius: radius, invert: true)
    }

    /// Dilation of `src` (or of its complement when `invert`, returning the complement again).
    private static func dilated(_ src: [UInt8], width w: Int, height h: Int, radius: Int, invert: Bool) -> [UInt8] {
        let half = diskHalfWidths(radius)
        let far = Int32(clamping: w + radius + 2)
        // Horizontal distance to the nearest foreground pixel in the same row.
        var hdist = [Int32](repeating: far, count: w * h)
        let flip: UInt8 = invert ? 1 : 0
        src.withUnsafeBufferPointer { s in
            hdist.withUnsafeMutableBufferPointer { d in
                for y in 0..<h {
                    let base = y &* w
                    var last = -Int(far)
                    for x in 0..<w {
                        if s[base &+ x] ^ flip != 0 { last = x }
                        d[base &+ x] = Int32(truncatingIfNeeded: min(x &- last, Int(far)))
                    }
                    last = Int(far) &+ w
                    var x = w &- 1
                    while x >= 0 {
                        if s[base &+ x] ^ flip != 0 { last = x }
                        let v = Int32(truncatingIfNeeded: min(last &- x, Int(far)))
                        if v < d[base &+ x] { d[base &+ x] = v }
                        x &-= 1
                    }
                }
            }
        }
        var out = [UInt8](repeating: invert ? 1 : 0, count: w * h)
        let on: UInt8 = invert ? 0 : 1
        // Half-width per row offset dy ∈ -radius…radius, indexed by dy + radius.
        let table = (-radius...radius).map { Int32(half[abs($0)]) }
        hdist.withUnsafeBufferPointer { d in
            table.withUnsafeBufferPointer { hw in
                out.withUnsafeMutableBufferPointer { o in
                    for y in 0..<h {
                        let dyLo = max(-radius, -y)
                        let dyHi = min(radius, h &- 1 &- y)
                        let base = y &* w
                        for x in 0..<w {
                            var k = base &+ dyLo &* w &+ x
                            var t = dyLo &+ radius
                            let tEnd = dyHi &+ radius
                            while t <= tEnd {
                                if d[k] <= hw[t] {
                                    o[base &+ x] = on
                                    break
                                }
                                k &+= w
                                t &+= 1
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Fills every background region not 4-connected to the raster border (scipy `binary_fill_holes`).
    mutating func fillHoles() {
        let w = width
        let h = height
        guard w > 0, h > 0 else { return }
        let n = w &* h
        // 0 = background not yet reached, 1 = foreground, 2 = background reached from the border.
        let stack = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { stack.deallocate() }
        bits.withUnsafeMutableBufferPointer { b in
            var top = 0
            @inline(__always) func push(_ i: Int) {
                if b[i] == 0 {
                    b[i] = 2
                    stack[top] = Int32(truncatingIfNeeded: i)
                    top &+= 1
                }
            }
            for x in 0..<w {
                push(x)
                push((h &- 1) &* w &+ x)
            }
            for y in 0..<h {
                push(y &* w)
                push(y &* w &+ w &- 1)
            }
            while top > 0 {
                top &-= 1
                let i = Int(stack[top])
                let y = i / w
                let x = i &- y &* w
                if x > 0 { push(i &- 1) }
                if x < w &- 1 { push(i &+ 1) }
                if y > 0 { push(i &- w) }
                if y < h &- 1 { push(i &+ w) }
            }
            for i in 0..<n { b[i] = b[i] == 2 ? 0 : 1 }
        }
    }

    // MARK: Components

    /// 8-connected foreground components: a component id per pixel (−1 = background) and, per
    /// component in raster order of first pixel, its first pixel index and pixel count.
    func components8() -> (ids: [Int32], first: [Int], counts: [Int]) {
        let w = width
        let h = height
        let n = w &* h
        var ids = [Int32](repeating: -1, count: n)
        var first: [Int] = []
        var counts: [Int] = []
        let stack = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
        defer { stack.deallocate() }
        bits.withUnsafeBufferPointer { b in
            ids.withUnsafeMutableBufferPointer { id in
                for start in 0..<n where b[start] != 0 && id[start] < 0 {
                    let comp = Int32(truncatingIfNeeded: first.count)
                    first.append(start)
                    var count = 0
                    var top = 0
                    id[start] = comp
                    stack[0] = Int32(truncatingIfNeeded: start)
                    top = 1
                    while top > 0 {
                        top &-= 1
                        count &+= 1
                        let i = Int(stack[top])
                        let y = i / w
                        let x = i &- y &* w
                        let y0 = y > 0 ? -1 : 0
                        let y1 = y < h &- 1 ? 1 : 0
                        let x0 = x > 0 ? -1 : 0
                        let x1 = x < w &- 1 ? 1 : 0
                        var dy = y0
                        while dy <= y1 {
                            var dx = x0
                            while dx <= x1 {
                                let j = i &+ dy &* w &+ dx
                                if b[j] != 0 && id[j] < 0 {
                                    id[j] = comp
                                    stack[top] = Int32(truncatingIfNeeded: j)
                                    top &+= 1
                                }
                                dx &+= 1
                            }
                            dy &+= 1
                        }
                    }
                    counts.append(count)
                }
            }
        }
        return (ids, first, counts)
    }

    // MARK: Boundary tracing

    /// Traces the outer boundary of the 8-connected component whose first pixel (in raster order)
    /// is `start`, in py-lmd's pixel-centre frame.
    ///
    /// The ring follows the pixel edges ("cracks") with the component on its right (clockwise on
    /// screen) and emits every edge midpoint and every corner, 0.5 px apart — the same point set
    /// as skimage's `find_boundaries(mode="subpixel")` that py-lmd uses, but ordered along the
    /// boundary, starting at the top-left corner of the start pixel (py-lmd's first point) and
    /// heading right. At a saddle corner (two diagonal pixels of the component) the corner itself is
    /// skipped, so each of its two visits becomes a short chamfer and the ring stays simple.
    func traceOuterBoundary(startingAt start: Int) -> [PixelPoint] {
        let w = width
        let h = height
        let r0 = start / w
        let c0 = start - r0 * w
        // Directions clockwise: E, S, W, N as (dRow, dCol).
        let dr = [0, 1, 0, -1]
        let dc = [1, 0, -1, 0]
        let oRow = Double(originRow) - 0.5
        let oCol = Double(originColumn) - 0.5
        var ring: [PixelPoint] = []
        ring.reserveCapacity(64)
        return bits.withUnsafeBufferPointer { b -> [PixelPoint] in
            @inline(__always) func fg(_ r: Int, _ c: Int) -> Bool {
                r >= 0 && r < h && c >= 0 && c < w && b[r &* w &+ c] != 0
            }
            // (i, j) is a corner: the top-left corner of pixel (i, j).
            var i = r0
            var j = c0
            var d = 0
            let limit = 4 * (w + 1) * (h + 1) + 8
            var steps = 0
            repeat {
                ring.append(
                    PixelPoint(
                        row: oRow + Double(i) + 0.5 * Double(dr[d]), column: oCol + Double(j) + 0.5 * Double(dc[d])))
                i &+= dr[d]
                j &+= dc[d]
                let aheadLeft: Bool
                let aheadRight: Bool
                switch d {
                case 0:
                    aheadLeft = fg(i &- 1, j)
                    aheadRight = fg(i, j)
                case 1:
                    aheadLeft = fg(i, j)
                    aheadRight = fg(i, j &- 1)
                case 2:
                    aheadLeft = fg(i, j &- 1)
                    aheadRight = fg(i &- 1, j &- 1)
                default:
                    aheadLeft = fg(i &- 1, j &- 1)
                    aheadRight = fg(i &- 1, j)
                }
                let corner = PixelPoint(row: oRow + Double(i), column: oCol + Double(j))
                if aheadLeft {
                    if aheadRight { ring.append(corner) }  // concave corner; else saddle: chamfer
                    d = (d &+ 3) & 3
                } else if aheadRight {
                    ring.append(corner)
                } else {
                    ring.append(corner)
                    d = (d &+ 1) & 3
                }
                steps &+= 1
            } while !(i == r0 && j == c0 && d == 0) && steps < limit
            // Start at the top-left corner (emitted last), where py-lmd's chain starts.
            if let corner = ring.popLast() { ring.insert(corner, at: 0) }
            return ring
        }
    }
}

/// An inclusive box of global pixel positions.
struct PixelBox: Sendable, Hashable {
    var minRow: Int
    var maxRow: Int
    var minColumn: Int
    var maxColumn: Int

    func union(_ o: PixelBox) -> PixelBox {
        PixelBox(
            minRow: min(minRow, o.minRow), maxRow: max(maxRow, o.maxRow), minColumn: min(minColumn, o.minColumn),
            maxColumn: max(maxColumn, o.maxColumn))
    }

    func expanded(by pad: Int) -> PixelBox {
        PixelBox(minRow: minRow - pad, maxRow: maxRow + pad, minColumn: minColumn - pad, maxColumn: maxColumn + pad)
    }

    func overlaps(_ o: PixelBox) -> Bool {
        minRow <= o.maxRow && o.minRow <= maxRow && minColumn <= o.maxColumn && o.minColumn <= maxColumn
    }
}
