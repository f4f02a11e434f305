import Foundation
import LMDTestSupport
import MicroscopyIO
import Synchronization
import Testing

@testable import Stitching

/// Synthetic mosaics: a known truth image cut into overlapping tiles, blended back and read.
@Suite("Mosaic")
struct MosaicTests {
    // MARK: Fixtures

    /// A truth image per channel (already representable in `pixelType`), row-major `Float`s.
    static func truth(width: Int, height: Int, channels: Int, pixelType: PixelType, seed: UInt64) -> [[Float]] {
        var state = seed
        func noise() -> Double {  // SplitMix64 → [0, 1)
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        return (0..<channels).map { c in
            var plane = [Float](repeating: 0, count: width * height)
            for y in 0..<height {
                for x in 0..<width {
                    let smooth =
                        0.5 + 0.3 * sin(Double(x) / (37 + 5 * Double(c))) * cos(Double(y) / 23)
                        + 0.1 * Double(x + y) / Double(width + height)
                    let v = smooth + 0.08 * (noise() - 0.5)
                    plane[y * width + x] =
                        switch pixelType {
                        case .uint8: Float((v * 255).rounded())
                        case .uint16: Float((v * 60000).rounded())
                        default: Float(v * 1000 - 300)
                        }
                }
            }
            return plane
        }
    }

    /// Little-endian bytes of `values` as `pixelType`.
    static func bytes(_ values: [Float], _ pixelType: PixelType) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * pixelType.byteCount)
        for v in values {
            switch pixelType {
            case .uint8: out.append(UInt8(v))
            case .uint16: withUnsafeBytes(of: UInt16(v).littleEndian) { out += $0 }
            case .int16: withUnsafeBytes(of: Int16(v).littleEndian) { out += $0 }
            case .uint32: withUnsafeBytes(of: UInt32(v).littleEndian) { out += $0 }
            case .float64: withUnsafeBytes(of: Double(v).bitPattern.littleEndian) { out += $0 }
            case .float32: withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 }
            }
        }
        return out
    }

    /// Samples of a read-back plane as `Float`.
    static func values(_ plane: Plane) -> [Float] {
        plane.bytes.withUnsafeBytes { raw in
            (0..<plane.width * plane.height).map { i in
                switch plane.pixelType {
                case .uint8: Float(raw[i])
                case .uint16: Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
                default:
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
                }
            }
        }
    }

    /// A tile set cut from `truth` (`truthWidth` wide) at `origins`; tiles are read from
    /// precomputed planes.
    static func tileSet(
        truth: [[Float]], truthWidth: Int, origins: [MosaicGeometry.Origin], tileWidth: Int, tileHeight: Int,
        pixelType: PixelType, channelNames: [String]? = nil
    ) -> TileSet {
        let planes: [[[UInt8]]] = origins.map { origin in
            truth.map { channel in
                var crop: [Float] = []
                crop.reserveCapacity(tileWidth * tileHeight)
                for row in 0..<tileHeight {
                    let start = (origin.y + row) * truthWidth + origin.x
                    crop += channel[start..<start + tileWidth]
                }
                return bytes(crop, pixelType)
            }
        }
        let tiles = origins.enumerated().map {
            TileSet.Tile(name: "t\($0.offset)", nominalY: Double($0.element.y), nominalX: Double($0.element.x))
        }
        return TileSet(
            tiles: tiles, tileWidth: tileWidth, tileHeight: tileHeight,
            channelNames: channelNames ?? truth.indices.map { "ch\($0)" }, pixelType: pixelType, pixelSizeUm: 0.65,
            source: "synthetic"
        ) { tile, channel in
            Plane(width: tileWidth, height: tileHeight, pixelType: pixelType, bytes: planes[tile][channel])
        }
    }

    /// Irregular 3 x 3 placement of 260 x 190 tiles filling a 700 x 500 truth but for gaps at
    /// the edges (e.g. rows 0–3 of columns 260–436, above tile 1), which must come out 0.
    static let jittered: [MosaicGeometry.Origin] = [
        .init(y: 0, x: 0), .init(y: 4, x: 212), .init(y: 2, x: 437),
        .init(y: 153, x: 5), .init(y: 147, x: 220), .init(y: 151, x: 431),
        .init(y: 306, x: 3), .init(y: 310, x: 214), .init(y: 303, x: 440),
    ]

    /// Two constant tiles side by side (values `left`, `right`; 100 x 40, second at x = 61).
    static func pair(left: Float, right: Float, swapped: Bool = false) -> (TileSet, MosaicGeometry) {
        var origins = [MosaicGeometry.Origin(y: 0, x: 0), .init(y: 0, x: 61)]
        var values = [left, right]
        if swapped {
            origins.reverse()
            values.reverse()
        }
        let planes = values.map { bytes([Float](repeating: $0, count: 100 * 40), .uint16) }
        let set = TileSet(
            tiles: origins.map { TileSet.Tile(name: "c", nominalY: Double($0.y), nominalX: Double($0.x)) },
            tileWidth: 100, tileHeight: 40, channelNames: ["only"], pixelType: .uint16, pixelSizeUm: nil,
            source: "pair"
        ) { tile, _ in Plane(width: 100, height: 40, pixelType: .uint16, bytes: planes[tile]) }
        return (set, MosaicGeometry(width: 161, height: 40, origins: origins))
    }

    /// Writes `set` and returns the first row of the mosaic.
    static func firstRow(_ set: TileSet, _ geometry: MosaicGeometry, _ blend: BlendMode) throws -> [Float] {
        let dir = try TemporaryDirectory()
        let path = dir.file("pair.ome.tif")
        _ = try MosaicWriter.write(
            set, geometry: geometry, blend: blend, to: path, options: OMETIFFOptions(tileSize: 64))
        let plane = try AcquisitionFile.open(path: path).plane(PlaneIndex(frame: 0, channel: 0))
        return Array(values(plane)[0..<geometry.width])
    }

    /// Counts calls; cancels from the `after`-th on.
    final class Canceller: Sendable {
        let calls = Mutex(0)
        let after: Int
        init(after: Int) { self.after = after }
        func callAsFunction() -> Bool {
            calls.withLock {
                $0 += 1
                return $0 > after
            }
        }
    }

    // MARK: Geometry

    @Test("geometry removes the common sub-pixel phase, rounds, shifts the minimum to 0 and reports the shift")
    func geometryRounding() throws {
        // Whole-pixel differences on a shared phase of 0.5 (y) and 0.37 (x): a rounding boundary
        // must not split them.
        let positions = [
            Registration.Position(y: -10.5, x: -3.63), Registration.Position(y: 5.5, x: 7.37),
            Registration.Position(y: -2.5, x: 100.37),
        ]
        let geometry = MosaicGeometry(positions: positions, tileWidth: 50, tileHeight: 40)
        #expect(geometry.origins == [.init(y: 0, x: 0), .init(y: 16, x: 11), .init(y: 8, x: 104)])
        #expect(abs(geometry.offsetY - -10.5) < 1e-9)
        #expect(abs(geometry.offsetX - -3.63) < 1e-9)
        #expect(geometry.height == 56)
        #expect(geometry.width == 154)
        // Every origin is within half a pixel of its position minus the offset.
        let noisy = [
            Registration.Position(y: -10.2, x: -3.9), Registration.Position(y: 5.7, x: 7.1),
            Registration.Position(y: -2.45, x: 100.6),
        ]
        let rounded = MosaicGeometry(positions: noisy, tileWidth: 50, tileHeight: 40)
        for (o, p) in zip(rounded.origins, noisy) {
            #expect(abs(Double(o.y) + rounded.offsetY - p.y) <= 0.5 + 1e-9)
            #expect(abs(Double(o.x) + rounded.offsetX - p.x) <= 0.5 + 1e-9)
        }
        // Rounding commutes with a whole-pixel shift of every position.
        let shifted = MosaicGeometry(
            positions: noisy.map { .init(y: $0.y + 1000, x: $0.x - 7) }, tileWidth: 50, tileHeight: 40)
        #expect(shifted.origins == rounded.origins)
        #expect(abs(shifted.offsetY - (rounded.offsetY + 1000)) < 1e-9 && abs(shifted.offsetX - (rounded.offsetX - 7)) < 1e-9)
        let empty = MosaicGeometry(positions: [], tileWidth: 50, tileHeight: 40)
        #expect(empty.width == 0 && empty.height == 0 && empty.origins.isEmpty)
        let decoded = try JSONDecoder().decode(MosaicGeometry.self, from: JSONEncoder().encode(geometry))
        #expect(decoded == geometry)
    }

    // MARK: Round trips

    @Test(
        "every mode reproduces the truth where tiles cover, 0 elsewhere, with pyramid and metadata",
        arguments: [PixelType.uint16, .uint8, .float32], BlendMode.allCases)
    func roundTrip(pixelType: PixelType, blend: BlendMode) throws {
        let (tw, th) = (260, 190)
        let truth = Self.truth(width: 700, height: 500, channels: 2, pixelType: pixelType, seed: 42)
        let set = Self.tileSet(
            truth: truth, truthWidth: 700, origins: Self.jittered, tileWidth: tw, tileHeight: th,
            pixelType: pixelType, channelNames: ["DAPI", "FITC"])
        // Solved positions in another frame, with sub-pixel parts that round back to the cut.
        let positions = Self.jittered.map { Registration.Position(y: Double($0.y) - 49.7, x: Double($0.x) + 20.4) }
        let geometry = MosaicGeometry(positions: positions, tileWidth: tw, tileHeight: th)
        #expect(geometry.origins == Self.jittered)
        #expect(abs(geometry.offsetY - -49.7) < 1e-9 && abs(geometry.offsetX - 20.4) < 1e-9)
        #expect(geometry.width == 700 && geometry.height == 500)

        let dir = try TemporaryDirectory()
        let path = dir.file("mosaic.ome.tif")
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        let report = try MosaicWriter.write(
            set, geometry: geometry, blend: blend, to: path, options: OMETIFFOptions(tileSize: 64))
        #expect(report.width == 700 && report.height == 500 && report.channels == 2)
        #expect(report.tilesRead == 18)
        #expect(report.maxTilesHeld <= 6)

        let reader = try AcquisitionFile.open(path: path)
        let info = reader.info
        #expect(info.width == 700 && info.height == 500)
        #expect(info.pixelType == pixelType)
        #expect(info.levelCount > 1)
        #expect(info.channels.map(\.name) == ["DAPI", "FITC"])
        #expect(info.pixelSizeUm[0] == 0.65)
        for c in 0..<2 {
            let got = Self.values(try reader.plane(PlaneIndex(frame: 0, channel: c)))
            var expected = [Float](repeating: 0, count: 700 * 500)
            for origin in Self.jittered {
                for y in origin.y..<origin.y + th {
                    let row = y * 700
                    let truthRow = y * 700
                    expected.replaceSubrange(
                        row + origin.x..<row + origin.x + tw,
                        with: truth[c][truthRow + origin.x..<truthRow + origin.x + tw])
                }
            }
            let wrong = zip(got, expected).filter { $0 != $1 }.count
            #expect(wrong == 0, "channel \(c): \(wrong) pixels differ")
            #expect(got[1 * 700 + 300] == 0)
        }
    }

    // MARK: Blending

    @Test("linear feathers monotonically across the overlap and keeps single-tile values")
    func linearFeathers() throws {
        let (set, geometry) = Self.pair(left: 1000, right: 3000)
        let row = try Self.firstRow(set, geometry, .linear)
        #expect(row[0..<61].allSatisfy { $0 == 1000 })
        #expect(row[100..<161].allSatisfy { $0 == 3000 })
        let overlap = Array(row[61..<100])
        #expect(overlap.allSatisfy { $0 > 1000 && $0 < 3000 })
        #expect(zip(overlap, overlap.dropFirst()).allSatisfy { $0 < $1 })
        // Weights 39 and 1 at the overlap's first column: (39·1000 + 1·3000) / 40 = 1050.
        #expect(overlap.first == 1050)
    }

    @Test("max takes the larger value in the overlap")
    func maxBlend() throws {
        let (set, geometry) = Self.pair(left: 3000, right: 1000)
        let row = try Self.firstRow(set, geometry, .max)
        #expect(row[0..<100].allSatisfy { $0 == 3000 })
        #expect(row[100..<161].allSatisfy { $0 == 1000 })
    }

    @Test("none splits at the middle of the overlap; ties go to the earlier tile")
    func noneSplits() throws {
        // Centres (doubled) 99 and 221: pixel 80 is equidistant.
        let (set, geometry) = Self.pair(left: 1000, right: 3000)
        let row = try Self.firstRow(set, geometry, .none)
        #expect(row[0...80].allSatisfy { $0 == 1000 })
        #expect(row[81..<161].allSatisfy { $0 == 3000 })
        let (swappedSet, swappedGeometry) = Self.pair(left: 1000, right: 3000, swapped: true)
        let swapped = try Self.firstRow(swappedSet, swappedGeometry, .none)
        #expect(swapped[0..<80].allSatisfy { $0 == 1000 })
        #expect(swapped[80..<161].allSatisfy { $0 == 3000 })
    }

    // MARK: Streaming

    @Test("each plane is read once per channel and only a band of tiles is held")
    func streaming() throws {
        let (tw, th, step) = (100, 100, 90)
        let origins = (0..<16).map { MosaicGeometry.Origin(y: ($0 / 4) * step, x: ($0 % 4) * step) }
        let truth = Self.truth(width: 370, height: 370, channels: 2, pixelType: .uint16, seed: 7)
        let set = Self.tileSet(
            truth: truth, truthWidth: 370, origins: origins, tileWidth: tw, tileHeight: th, pixelType: .uint16)
        let geometry = MosaicGeometry(
            positions: origins.map { Registration.Position(y: Double($0.y), x: Double($0.x)) }, tileWidth: tw,
            tileHeight: th)
        let dir = try TemporaryDirectory()
        for blend in BlendMode.allCases {
            let report = try MosaicWriter.write(
                set, geometry: geometry, blend: blend, to: dir.file("grid.ome.tif"),
                options: OMETIFFOptions(tileSize: 32))
            #expect(report.tilesRead == 16 * 2)
            #expect(report.maxTilesHeld < 16)
            #expect(report.maxTilesHeld <= 8)
        }
        let one = try MosaicWriter.write(
            set, geometry: geometry, channels: [1], to: dir.file("one.ome.tif"), options: OMETIFFOptions(tileSize: 32))
        #expect(one.tilesRead == 16 && one.channels == 1)
        let reader = try AcquisitionFile.open(path: dir.file("one.ome.tif"))
        #expect(reader.info.channels.map(\.name) == ["ch1"])
        let got = Self.values(try reader.plane(PlaneIndex(frame: 0, channel: 0)))
        #expect(got == truth[1])
    }

    // MARK: Failures

    @Test("int16, uint32 and float64 tiles are refused before anything is written")
    func unsupportedTypes() throws {
        let dir = try TemporaryDirectory()
        for pixelType in [PixelType.int16, .float64, .uint32] {
            let set = Self.tileSet(
                truth: [[Float](repeating: 5, count: 64 * 64)], truthWidth: 64, origins: [.init(y: 0, x: 0)],
                tileWidth: 64, tileHeight: 64, pixelType: pixelType)
            let path = dir.file("\(pixelType).ome.tif")
            let error = #expect(throws: StitchingError.self) {
                try MosaicWriter.write(
                    set, geometry: MosaicGeometry(width: 64, height: 64, origins: [.init(y: 0, x: 0)]), to: path)
            }
            #expect(error?.code == .invalidParameter)
            #expect(error?.message.contains(path) == true)
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("bad channels and a geometry for other tiles are refused")
    func badArguments() throws {
        let (set, geometry) = Self.pair(left: 1, right: 2)
        let dir = try TemporaryDirectory()
        let path = dir.file("bad.ome.tif")
        let channel = #expect(throws: StitchingError.self) {
            try MosaicWriter.write(set, geometry: geometry, channels: [1], to: path)
        }
        #expect(channel?.code == .invalidParameter)
        var short = geometry
        short.origins.removeLast()
        let mismatch = #expect(throws: StitchingError.self) { try MosaicWriter.write(set, geometry: short, to: path) }
        #expect(mismatch?.code == .sizeMismatch)
    }

    @Test("cancellation throws .cancelled and leaves no file, even where one existed")
    func cancellation() throws {
        let truth = Self.truth(width: 700, height: 500, channels: 2, pixelType: .uint16, seed: 3)
        let set = Self.tileSet(
            truth: truth, truthWidth: 700, origins: Self.jittered, tileWidth: 260, tileHeight: 190, pixelType: .uint16)
        let geometry = MosaicGeometry(width: 700, height: 500, origins: Self.jittered)
        let dir = try TemporaryDirectory()
        for after in [0, 5, 150] {
            let path = dir.file("cancelled-\(after).ome.tif")
            try Data("previous mosaic".utf8).write(to: URL(fileURLWithPath: path))
            let cancel = Canceller(after: after)
            let error = #expect(throws: StitchingError.self) {
                try MosaicWriter.write(
                    set, geometry: geometry, to: path, options: OMETIFFOptions(tileSize: 64),
                    isCancelled: { cancel() })
            }
            #expect(error?.code == .cancelled)
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("a failing tile read fails the write with the reader's error and leaves no file")
    func readFailure() throws {
        let set = TileSet(
            tiles: [.init(name: "a", nominalY: 0, nominalX: 0), .init(name: "b", nominalY: 0, nominalX: 50)],
            tileWidth: 64, tileHeight: 64, channelNames: ["c"], pixelType: .uint8, pixelSizeUm: nil, source: "broken"
        ) { (tile: Int, _: Int) throws(StitchingError) -> Plane in
            if tile == 1 { throw StitchingError(code: .inputUnreadable, message: "broken: tile b is damaged") }
            return Plane(width: 64, height: 64, pixelType: .uint8, bytes: [UInt8](repeating: 1, count: 64 * 64))
        }
        let dir = try TemporaryDirectory()
        let path = dir.file("broken.ome.tif")
        let error = #expect(throws: StitchingError.self) {
            try MosaicWriter.write(
                set,
                geometry: MosaicGeometry(width: 114, height: 64, origins: [.init(y: 0, x: 0), .init(y: 0, x: 50)]),
                to: path, options: OMETIFFOptions(tileSize: 32))
        }
        #expect(error?.code == .inputUnreadable)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    // MARK: Timing

    /// A ~3000 x 3000 two-channel `uint16` mosaic of 9 tiles (`LMD_MOSAIC_BENCH=1` to run).
    @Test(
        "timing: 3038 x 3037 x 2 uint16 from 9 tiles",
        .enabled(if: ProcessInfo.processInfo.environment["LMD_MOSAIC_BENCH"] != nil))
    func timing() throws {
        let (tw, th) = (1100, 1100)
        let origins = (0..<9).map {
            MosaicGeometry.Origin(y: ($0 / 3) * 968 + ($0 % 3 == 1 ? 1 : 0), x: ($0 % 3) * 969)
        }
        var planes: [[UInt8]] = []
        for t in 0..<9 {
            for c in 0..<2 {
                var bytes = [UInt8](repeating: 0, count: tw * th * 2)
                for i in 0..<tw * th {
                    let v = UInt16(truncatingIfNeeded: (i &* 2_654_435_761) >> (7 + c) &+ t &* 100)
                    bytes[2 * i] = UInt8(v & 0xFF)
                    bytes[2 * i + 1] = UInt8(v >> 8)
                }
                planes.append(bytes)
            }
        }
        let frozen = planes
        let set = TileSet(
            tiles: origins.map { .init(name: "t", nominalY: Double($0.y), nominalX: Double($0.x)) }, tileWidth: tw,
            tileHeight: th, channelNames: ["a", "b"], pixelType: .uint16, pixelSizeUm: 0.65, source: "bench"
        ) { tile, channel in Plane(width: tw, height: th, pixelType: .uint16, bytes: frozen[tile * 2 + channel]) }
        let geometry = MosaicGeometry(
            positions: origins.map { .init(y: Double($0.y), x: Double($0.x)) }, tileWidth: tw, tileHeight: th)
        let dir = try TemporaryDirectory()
        for compression in [TIFFCompression.deflate, .none] {
            for blend in BlendMode.allCases {
                let report = try MosaicWriter.write(
                    set, geometry: geometry, blend: blend, to: dir.file("bench.ome.tif"),
                    options: OMETIFFOptions(compression: compression))
                print(
                    "mosaic \(report.width)x\(report.height)x\(report.channels) \(blend) \(compression): "
                        + "\(report.seconds) s, held \(report.maxTilesHeld), read \(report.tilesRead)")
            }
        }
    }
}
