import MicroscopyIO

/// The streaming blender behind ``MosaicWriter``: makes one output tile at a time from a cache
/// of the source tiles that cross the current row band.
///
/// Requests must come channel by channel, and within a channel band by band downwards (as
/// `TIFFWriter.writeOMETiles` makes them). A source tile is read when an output tile first
/// needs it and dropped when a band starts at or below its bottom edge; the cache is emptied
/// when the channel changes. Not thread-safe: one write uses one blender on one thread.
final class MosaicBlender {
    let set: TileSet
    let origins: [MosaicGeometry.Origin]
    let mode: BlendMode
    let tileWidth: Int
    let tileHeight: Int
    /// Feathering weights along y and x: `min(i + 1, n − i)`.
    let rampY: [Float]
    let rampX: [Float]
    /// Tile indices by top edge (then index), admitted to ``active`` as bands reach them.
    let byTop: [Int]

    /// Source channel of the current requests (-1 before the first).
    private var channel = -1
    /// Top row of the current band.
    private var bandTop = Int.min
    /// Next entry of ``byTop`` to admit.
    private var nextToAdmit = 0
    /// Tiles whose rows may still be needed in this channel, by index.
    private var active: [Int] = []
    /// Decoded samples of the tiles read in this channel and not yet dropped.
    private var cache: [Int: [Float]] = [:]

    /// The largest ``cache`` size seen.
    private(set) var maxTilesHeld = 0
    /// Planes read so far.
    private(set) var tilesRead = 0

    /// Samples the per-output-tile buffers can hold.
    private var capacity = 0
    /// Per output tile: blended value (running weighted mean, maximum, or chosen value).
    private var value = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    /// Per output tile: total weight so far (`linear`), or 1 where covered (`max`).
    private var weight = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    /// Per output tile (`none`): squared doubled distance to the chosen tile's centre.
    private var distance = UnsafeMutablePointer<Int>.allocate(capacity: 0)

    init(set: TileSet, origins: [MosaicGeometry.Origin], mode: BlendMode) {
        self.set = set
        self.origins = origins
        self.mode = mode
        tileWidth = set.tileWidth
        tileHeight = set.tileHeight
        rampY = (0..<set.tileHeight).map { Float(Swift.min($0 + 1, set.tileHeight - $0)) }
        rampX = (0..<set.tileWidth).map { Float(Swift.min($0 + 1, set.tileWidth - $0)) }
        byTop = origins.indices.sorted { (origins[$0].y, $0) < (origins[$1].y, $1) }
    }

    deinit {
        value.deallocate()
        weight.deallocate()
        distance.deallocate()
    }

    /// The samples of one output rectangle of source channel `channel`, little-endian, row-major.
    func tile(channel: Int, y: Int, x: Int, width: Int, height: Int) throws(StitchingError) -> [UInt8] {
        if channel != self.channel {
            self.channel = channel
            cache.removeAll()
            active.removeAll()
            nextToAdmit = 0
            bandTop = Int.min
        }
        if y != bandTop {
            bandTop = y
            advanceBand(top: y, bottom: y &+ height)
        }
        let count = width &* height
        reserve(count)
        value.update(repeating: 0, count: count)
        switch mode {
        case .linear, .max: weight.update(repeating: 0, count: count)
        case .none: distance.update(repeating: Int.max, count: count)
        }

        for index in active {
            let origin = origins[index]
            let y0 = Swift.max(y, origin.y)
            let y1 = Swift.min(y &+ height, origin.y &+ tileHeight)
            let x0 = Swift.max(x, origin.x)
            let x1 = Swift.min(x &+ width, origin.x &+ tileWidth)
            guard y0 < y1, x0 < x1 else { continue }
            let samples = try source(index)
            samples.withUnsafeBufferPointer { source in
                blend(
                    source.baseAddress!, origin: origin, rows: y0..<y1, columns: x0..<x1, outputY: y, outputX: x,
                    outputWidth: width)
            }
        }
        return encode(count: count)
    }

    // MARK: Band bookkeeping

    /// Admits the tiles that start above `bottom` and drops those that end at or above `top`.
    private func advanceBand(top: Int, bottom: Int) {
        var admitted = false
        while nextToAdmit < byTop.count, origins[byTop[nextToAdmit]].y < bottom {
            active.append(byTop[nextToAdmit])
            nextToAdmit += 1
            admitted = true
        }
        if admitted { active.sort() }
        active.removeAll { index in
            guard origins[index].y &+ tileHeight <= top else { return false }
            cache[index] = nil
            return true
        }
    }

    /// The decoded samples of tile `index` in the current channel, read on first use.
    private func source(_ index: Int) throws(StitchingError) -> [Float] {
        if let samples = cache[index] { return samples }
        let plane = try set.plane(tile: index, channel: channel)
        let samples = Self.decode(plane)
        tilesRead += 1
        cache[index] = samples
        maxTilesHeld = Swift.max(maxTilesHeld, cache.count)
        return samples
    }

    /// A plane's little-endian samples as `Float` (exact for `uint8`, `uint16`, `int16` and
    /// `float32`; `uint32` and `float64` are rounded to the nearest `Float`).
    static func decode(_ plane: Plane) -> [Float] {
        let count = plane.width &* plane.height
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            plane.bytes.withUnsafeBytes { raw in
                switch plane.pixelType {
                case .uint8:
                    for i in 0..<count { out[i] = Float(raw[i]) }
                case .uint16:
                    for i in 0..<count {
                        out[i] = Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)))
                    }
                case .int16:
                    for i in 0..<count {
                        out[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 2, as: Int16.self)))
                    }
                case .uint32:
                    for i in 0..<count {
                        out[i] = Float(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)))
                    }
                case .float32:
                    for i in 0..<count {
                        out[i] = Float(
                            bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))
                        )
                    }
                case .float64:
                    for i in 0..<count {
                        out[i] = Float(
                            Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 8, as: UInt64.self))))
                    }
                }
            }
            initialized = count
        }
    }

    /// Grows the per-output-tile buffers to at least `count` samples.
    private func reserve(_ count: Int) {
        guard count > capacity else { return }
        value.deallocate()
        weight.deallocate()
        distance.deallocate()
        value = .allocate(capacity: count)
        weight = .allocate(capacity: count)
        distance = .allocate(capacity: count)
        capacity = count
    }

    // MARK: Hot loops

    /// Adds the part `rows x columns` (mosaic coordinates) of one source tile to the output tile.
    private func blend(
        _ source: UnsafePointer<Float>, origin: MosaicGeometry.Origin, rows: Range<Int>, columns: Range<Int>,
        outputY: Int, outputX: Int, outputWidth: Int
    ) {
        let count = columns.count
        let sourceX = columns.lowerBound &- origin.x
        let outputColumn = columns.lowerBound &- outputX
        let value = value
        let weight = weight
        let distance = distance
        switch mode {
        case .linear:
            rampX.withUnsafeBufferPointer { rampX in
                let ramp = rampX.baseAddress! + sourceX
                for row in rows {
                    let sourceY = row &- origin.y
                    let offset = (row &- outputY) &* outputWidth &+ outputColumn
                    Self.feather(
                        source + (sourceY &* tileWidth &+ sourceX), ramp: ramp, rowWeight: rampY[sourceY],
                        value: value + offset, weight: weight + offset, count: count)
                }
            }
        case .max:
            for row in rows {
                let offset = (row &- outputY) &* outputWidth &+ outputColumn
                Self.maximum(
                    source + ((row &- origin.y) &* tileWidth &+ sourceX), value: value + offset,
                    covered: weight + offset, count: count)
            }
        case .none:
            // Doubled coordinates keep the centre (origin + (n - 1) / 2) on integers.
            let centreY = 2 &* origin.y &+ tileHeight &- 1
            let centreX = 2 &* origin.x &+ tileWidth &- 1
            let firstDX = 2 &* columns.lowerBound &- centreX
            for row in rows {
                let dy = 2 &* row &- centreY
                let offset = (row &- outputY) &* outputWidth &+ outputColumn
                Self.nearest(
                    source + ((row &- origin.y) &* tileWidth &+ sourceX), dy2: dy &* dy, firstDX: firstDX,
                    value: value + offset, distance: distance + offset, count: count)
            }
        }
    }

    /// Running weighted mean: `value += (v − value) · w / (W + w)`. The first contribution sets
    /// the value exactly (`w / w = 1`), and equal values never change it.
    @inline(__always)
    static func feather(
        _ source: UnsafePointer<Float>, ramp: UnsafePointer<Float>, rowWeight: Float,
        value: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>, count: Int
    ) {
        var i = 0
        while i < count {
            let w = rowWeight * ramp[i]
            let total = weight[i] + w
            let current = value[i]
            value[i] = current + (source[i] - current) * (w / total)
            weight[i] = total
            i &+= 1
        }
    }

    /// Maximum, with `covered` (0 or 1) telling the first contribution.
    @inline(__always)
    static func maximum(
        _ source: UnsafePointer<Float>, value: UnsafeMutablePointer<Float>, covered: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        var i = 0
        while i < count {
            let v = source[i]
            let current = value[i]
            value[i] = covered[i] == 0 || v > current ? v : current
            covered[i] = 1
            i &+= 1
        }
    }

    /// Takes a sample where this tile's centre is strictly nearer than the one chosen so far.
    @inline(__always)
    static func nearest(
        _ source: UnsafePointer<Float>, dy2: Int, firstDX: Int, value: UnsafeMutablePointer<Float>,
        distance: UnsafeMutablePointer<Int>, count: Int
    ) {
        var i = 0
        var dx = firstDX
        while i < count {
            let d = dy2 &+ dx &* dx
            if d < distance[i] {
                distance[i] = d
                value[i] = source[i]
            }
            dx &+= 2
            i &+= 1
        }
    }

    /// The output tile's values in the set's sample type, little-endian; integers rounded to
    /// nearest (halves up) and clamped.
    private func encode(count: Int) -> [UInt8] {
        let value = value
        let size = set.pixelType.byteCount
        return [UInt8](unsafeUninitializedCapacity: count &* size) { out, initialized in
            let raw = UnsafeMutableRawBufferPointer(out)
            switch set.pixelType {
            case .uint8:
                for i in 0..<count {
                    out[i] = UInt8(Swift.min(Swift.max(value[i] + 0.5, 0), 255))
                }
            case .uint16:
                for i in 0..<count {
                    let v = UInt16(Swift.min(Swift.max(value[i] + 0.5, 0), 65535))
                    raw.storeBytes(of: v.littleEndian, toByteOffset: i &* 2, as: UInt16.self)
                }
            default:
                for i in 0..<count {
                    raw.storeBytes(of: value[i].bitPattern.littleEndian, toByteOffset: i &* 4, as: UInt32.self)
                }
            }
            initialized = count &* size
        }
    }
}
