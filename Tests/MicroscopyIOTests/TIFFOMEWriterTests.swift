import Foundation
import ImageKit
import MicroscopyIO
import Testing

/// Every plane of the first series, frame-major then channel, as one image (what the old
/// page reader returned for ``TIFFWriter/write(_:to:description:)`` files: one page per plane).
extension TIFFTestTools {
    static func readAllPlanes<Pixel: TIFFSample>(_ path: String, as: Pixel.Type) throws -> Image<Pixel> {
        let reader = try TIFFReader(path: path)
        let info = reader.info
        var pixels: [Pixel] = []
        for frame in 0..<info.frameCount {
            for channel in info.channels.indices {
                let plane = try reader.plane(PlaneIndex(frame: frame, channel: channel))
                pixels += plane.bytes.withUnsafeBytes { raw in raw.withMemoryRebound(to: Pixel.self) { Array($0) } }
            }
        }
        return try Image(
            width: info.width, height: info.height, channels: info.frameCount * info.channels.count, pixels: pixels)
    }
}

/// Test values of each pixel type as little-endian bytes, and the writer's pyramid rule done
/// the slow, obvious way.
enum Reference {
    static func values(_ type: PixelType, width: Int, height: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var out: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                let noise = rng.next()
                let base = Double((x * 13 + y * 7) % 251) + Double(noise % 5)
                switch type {
                case .uint8: out.append(le: UInt8(Int(base) % 256))
                case .uint16: out.append(le: UInt16(Int(base * 200) % 65_536))
                case .uint32: out.append(le: UInt32((x / 9 + y / 7 * 50) % 97 == 0 ? 0 : (x / 9 + y / 7 * 50) % 97))
                case .int16: out.append(le: Int16(Int(base * 100) - 12_000))
                case .float32: out.append(le: Float(base * 0.37 - 20).bitPattern)
                case .float64: out.append(le: (base * 0.37 - 20).bitPattern)
                }
            }
        }
        return out
    }

    /// One level down: the rounded mean (integers: `(sum + n/2) / n` over the `n` pixels that
    /// exist) or the top-left pixel of each 2 x 2 block.
    static func reduce(_ bytes: [UInt8], _ type: PixelType, width: Int, height: Int, mean: Bool) -> [UInt8] {
        let w = (width + 1) / 2
        let h = (height + 1) / 2
        func value(_ x: Int, _ y: Int) -> Double {
            let at = (y * width + x) * type.byteCount
            switch type {
            case .uint8: return Double(bytes[at])
            case .uint16: return Double(bytes.le(UInt16.self, at: at))
            case .uint32: return Double(bytes.le(UInt32.self, at: at))
            case .int16: return Double(bytes.le(Int16.self, at: at))
            case .float32: return Double(Float(bitPattern: bytes.le(UInt32.self, at: at)))
            case .float64: return Double(bitPattern: bytes.le(UInt64.self, at: at))
            }
        }
        var out: [UInt8] = []
        for y in 0..<h {
            for x in 0..<w {
                var result: Double
                if mean {
                    // A missing column or row at an odd edge repeats the last one.
                    let (x0, x1) = (2 * x, min(2 * x + 1, width - 1))
                    let (y0, y1) = (2 * y, min(2 * y + 1, height - 1))
                    let (a, b, c, d) = (value(x0, y0), value(x1, y0), value(x0, y1), value(x1, y1))
                    switch type {
                    case .float32:
                        let (fa, fb, fc, fd) = (Float(a), Float(b), Float(c), Float(d))
                        result = Double(((fa + fb) + (fc + fd)) * 0.25)
                    case .float64:
                        result = ((a + b) + (c + d)) * 0.25
                    default:
                        result = ((a + b + c + d + 2) / 4).rounded(.down)
                    }
                } else {
                    result = value(2 * x, 2 * y)
                }
                switch type {
                case .uint8: out.append(le: UInt8(result))
                case .uint16: out.append(le: UInt16(result))
                case .uint32: out.append(le: UInt32(result))
                case .int16: out.append(le: Int16(result))
                case .float32: out.append(le: Float(result).bitPattern)
                case .float64: out.append(le: result.bitPattern)
                }
            }
        }
        return out
    }
}

@Suite("Tiled OME-TIFF writer")
struct TIFFOMEWriterTests {
    static let compressions = TIFFCompression.allCases.filter(\.isAvailable)

    @Test("the codecs lmdflow relies on are configured")
    func codecs() {
        #expect(TIFFCompression.none.isAvailable)
        #expect(TIFFCompression.lzw.isAvailable)
        #expect(TIFFCompression.deflate.isAvailable)
    }

    @Test("pyramid geometry: auto halves until one tile; explicit counts stop at 1 x 1")
    func geometry() throws {
        let dir = try TemporaryDirectory()
        let layout = OMETIFFLayout(width: 1000, height: 300, pixelType: .uint8, channelNames: ["a"])
        let path = dir.path("geometry.ome.tif")
        try TIFFWriter.writeOMETiles(layout, to: path, options: OMETIFFOptions(tileSize: 256)) { request in
            [UInt8](repeating: 9, count: request.width * request.height)
        }
        let levels = try TIFFReader(path: path).levels()
        #expect(levels.map(\.width) == [1000, 500, 250])
        #expect(levels.map(\.height) == [300, 150, 75])
        #expect(levels[0].tileSize == [256, 256])
        #expect(levels[2].tileSize == [256, 80])

        try TIFFWriter.writeOMETiles(
            OMETIFFLayout(width: 5, height: 3, pixelType: .uint8, channelNames: ["a"]), to: path,
            options: OMETIFFOptions(pyramidLevels: 10)
        ) { request in [UInt8](repeating: 1, count: request.width * request.height) }
        #expect(
            try TIFFReader(path: path).levels().map { [$0.width, $0.height] } == [[5, 3], [3, 2], [2, 1], [1, 1]])
    }

    @Test(
        "every sample type x codec round-trips with its pyramid (tiles, SubIFDs)",
        arguments: PixelType.allCases)
    func roundTrip(pixelType: PixelType) throws {
        let dir = try TemporaryDirectory()
        let (width, height) = (203, 97)
        let channels = 2
        let planes = (0..<channels).map {
            Reference.values(pixelType, width: width, height: height, seed: UInt64($0 + 1))
        }
        for compression in Self.compressions {
            for downsample in [TIFFDownsample.mean, .nearest] {
                let path = dir.path("rt-\(pixelType)-\(compression)-\(downsample).ome.tif")
                let layout = OMETIFFLayout(
                    width: width, height: height, pixelType: pixelType, channelNames: ["first", "second"],
                    pixelSizeUm: [0.5, 0.25, nil])
                try TIFFWriter.writeOME(
                    layout, to: path,
                    options: OMETIFFOptions(
                        tileSize: 32, pyramidLevels: 4, compression: compression, downsample: downsample)
                ) { index in
                    Plane(width: width, height: height, pixelType: pixelType, bytes: planes[index.channel])
                }
                let reader = try TIFFReader(path: path)
                let info = reader.info
                #expect(info.format == .bigTIFF)
                #expect(info.pixelType == pixelType)
                #expect(info.axes == ["C", "Y", "X"])
                #expect(info.channels.map(\.name) == ["first", "second"])
                #expect(info.pixelSizeUm[0] == 0.5 && info.pixelSizeUm[1] == 0.25 && info.pixelSizeUm[2] == nil)
                #expect(info.levelCount == 4)
                for c in 0..<channels {
                    var expected = planes[c]
                    var (w, h) = (width, height)
                    for level in 0..<4 {
                        let plane = try reader.plane(PlaneIndex(level: level, frame: 0, channel: c))
                        #expect(plane.width == w && plane.height == h)
                        #expect(
                            TIFFTestTools.firstDifference(plane.bytes, expected) == nil,
                            "\(pixelType) \(compression) \(downsample) level \(level) channel \(c)")
                        expected = Reference.reduce(expected, pixelType, width: w, height: h, mean: downsample == .mean)
                        (w, h) = ((w + 1) / 2, (h + 1) / 2)
                    }
                }
            }
        }
    }

    @Test("strips and tiles of every codec round-trip through the reader", arguments: PixelType.allCases)
    func stripsAndTiles(pixelType: PixelType) throws {
        let dir = try TemporaryDirectory()
        let (width, height) = (70, 41)
        let values = Reference.values(pixelType, width: width, height: height, seed: 4)
        for compression in Self.compressions {
            for layout in [TIFFTestPages.Layout.strips, .tiles] {
                let path = dir.path("\(pixelType)-\(compression)-\(layout).tif")
                try TIFFTestPages.write(
                    path: path, width: width, height: height, samples: 1, pixelType: pixelType, interleaved: values,
                    layout: layout, compression: compression, bigEndian: false)
                let plane = try TIFFReader(path: path).plane(PlaneIndex(frame: 0, channel: 0))
                #expect(
                    TIFFTestTools.firstDifference(plane.bytes, values) == nil, "\(pixelType) \(compression) \(layout)")
            }
        }
    }

    @Test("uint32 label masks use nearest by default: no labels are invented")
    func labels() throws {
        let dir = try TemporaryDirectory()
        let (_, labels) = SyntheticSample.nuclei(width: 301, height: 257, count: 30, seed: 12)
        let path = dir.path("labels.ome.tif")
        try TIFFWriter.writeOME(labels, to: path, channelNames: ["nuclei"], options: OMETIFFOptions(tileSize: 64))
        let reader = try TIFFReader(path: path)
        #expect(reader.info.levelCount == 4)
        #expect(try reader.image(UInt32.self) == labels)
        let known = Set(labels.pixels)
        var previous = labels
        for level in 1..<reader.info.levelCount {
            let reduced = try reader.image(UInt32.self, level: level)
            #expect(Set(reduced.pixels).isSubset(of: known))
            for y in 0..<reduced.height {
                for x in 0..<reduced.width {
                    #expect(reduced[x: x, y: y] == previous[x: 2 * x, y: 2 * y])
                }
            }
            previous = reduced
        }
    }

    @Test("Z and T stacks: planes are asked for channel fastest and read back by frame")
    func stacks() throws {
        let dir = try TemporaryDirectory()
        let layout = OMETIFFLayout(
            width: 40, height: 30, pixelType: .uint16, channelNames: ["DAPI", "GFP & <co>", "Cy5"], sizeZ: 2, sizeT: 3,
            pixelSizeUm: [0.65, 0.65, 2.0], imageName: "stack")
        var asked: [PlaneIndex] = []
        func plane(_ index: PlaneIndex) -> Plane {
            let values = (0..<(40 * 30)).map { UInt16(index.frame * 1000 + index.channel * 100 + $0 % 97) }
            return Plane(width: 40, height: 30, pixelType: .uint16, bytes: TIFFReaderTests.bytes(values))
        }
        let path = dir.path("stack.ome.tif")
        try TIFFWriter.writeOME(
            layout, to: path, options: OMETIFFOptions(compression: TIFFCompression.zstd.isAvailable ? .zstd : .deflate)
        ) {
            index in
            asked.append(index)
            return plane(index)
        }
        #expect(asked.count == 18)
        #expect(
            asked.prefix(4) == [
                PlaneIndex(frame: 0, channel: 0), PlaneIndex(frame: 0, channel: 1), PlaneIndex(frame: 0, channel: 2),
                PlaneIndex(frame: 1, channel: 0),
            ])
        let reader = try TIFFReader(path: path)
        let info = reader.info
        #expect(info.axes == ["T", "Z", "C", "Y", "X"])
        #expect(info.shape == [3, 2, 3, 30, 40])
        #expect(info.frameCount == 6)
        #expect(info.channels.map(\.name) == ["DAPI", "GFP & <co>", "Cy5"])
        #expect(info.pixelSizeUm == [0.65, 0.65, 2.0])
        #expect(info.levelCount == 1)
        #expect(info.frames[5].loopIndex == ["T": 2, "Z": 1])
        for index in asked {
            #expect(try reader.plane(index) == plane(index))
        }
    }

    @Test("a mosaic streamed tile by tile is asked for each tile once and reads back whole")
    func tiles() throws {
        let dir = try TemporaryDirectory()
        let (width, height) = (1_100, 700)
        func value(_ x: Int, _ y: Int) -> UInt16 { UInt16((x * 3 + y * 5) % 4_001) }
        var requests = 0
        let layout = OMETIFFLayout(width: width, height: height, pixelType: .uint16, channelNames: ["mosaic"])
        let path = dir.path("mosaic.ome.tif")
        try TIFFWriter.writeOMETiles(layout, to: path, options: OMETIFFOptions(tileSize: 256)) { request in
            requests += 1
            var bytes: [UInt8] = []
            for y in request.y..<(request.y + request.height) {
                for x in request.x..<(request.x + request.width) { bytes.append(le: value(x, y)) }
            }
            return bytes
        }
        #expect(requests == 5 * 3)
        let image = try TIFFReader(path: path).image(UInt16.self)
        var mismatches = 0
        for y in 0..<height { for x in 0..<width where image[x: x, y: y] != value(x, y) { mismatches += 1 } }
        #expect(mismatches == 0)
    }

    @Test("a plane over 4 MiB is decoded by several threads and matches, also from many tasks")
    func largePlane() async throws {
        let dir = try TemporaryDirectory()
        let image = SyntheticSample.nuclei(width: 1_700, height: 1_500, count: 60, seed: 21).image
        let path = dir.path("large.ome.tif")
        try TIFFWriter.writeOME(image, to: path, options: OMETIFFOptions(tileSize: 256, compression: .lzw))
        let reader = try TIFFReader(path: path)
        #expect(try reader.image(UInt16.self) == image)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask { try reader.image(UInt16.self) == image }
            }
            for try await same in group { #expect(same) }
        }
    }

    @Test("invalid options and failing providers give writeFailed and leave no file")
    func failures() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("bad.ome.tif")
        let image = Image<UInt16>(width: 64, height: 64, repeating: 3)
        for options in [OMETIFFOptions(tileSize: 24), OMETIFFOptions(tileSize: 0), OMETIFFOptions(pyramidLevels: 0)] {
            #expect(throws: MicroscopyIOError.self) { try TIFFWriter.writeOME(image, to: path, options: options) }
        }
        do {
            try TIFFWriter.writeOME(image, to: path, channelNames: ["a", "b"])
            Issue.record("two names for one channel were accepted")
        } catch {
            #expect(error.code == .writeFailed)
        }
        let layout = OMETIFFLayout(width: 64, height: 64, pixelType: .uint16, channelNames: ["a"])
        do {
            try TIFFWriter.writeOMETiles(layout, to: path) { _ in [1, 2, 3] }
            Issue.record("a short tile was accepted")
        } catch {
            #expect(error.code == .writeFailed)
            #expect(error.message.contains("expected"))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        do {
            try TIFFWriter.writeOME(layout, to: path) { _ in
                Plane(width: 2, height: 2, pixelType: .uint16, bytes: [UInt8](repeating: 0, count: 8))
            }
            Issue.record("a plane of the wrong size was accepted")
        } catch {
            #expect(error.code == .writeFailed)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(throws: MicroscopyIOError.self) {
            try TIFFWriter.writeOME(image, to: dir.path("no/such/dir/x.ome.tif"))
        }
    }

    /// When python3 with tifffile is installed, it must read the writer's file the same way.
    @Test(
        "tifffile (when installed) reads the writer's OME-TIFF and its levels",
        .enabled(if: TIFFTestTools.tifffileAvailable))
    func tifffile() throws {
        let dir = try TemporaryDirectory()
        let image = SyntheticSample.nuclei(width: 600, height: 500, count: 25, seed: 3).image
        let path = dir.path("check.ome.tif")
        try TIFFWriter.writeOME(
            image, to: path, pixelSizeUm: [0.325, 0.325, nil], channelNames: ["DAPI"],
            options: OMETIFFOptions(tileSize: 128))
        let reader = try TIFFReader(path: path)
        let script = """
            import sys, json, hashlib, tifffile
            t = tifffile.TiffFile(sys.argv[1])
            s = t.series[0]
            out = {"axes": s.axes, "shape": list(s.shape), "levels": []}
            for l in s.levels:
                a = l.asarray()
                out["levels"].append({"shape": list(a.shape), "sha": hashlib.sha256(a.astype(a.dtype.newbyteorder('<')).tobytes()).hexdigest()})
            print(json.dumps(out))
            """
        let output = try TIFFTestTools.runPython(script, arguments: [path])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(json["axes"] as? String == "YX")
        let levels = try #require(json["levels"] as? [[String: Any]])
        #expect(levels.count == reader.info.levelCount)
        for (level, entry) in levels.enumerated() {
            let plane = try reader.plane(PlaneIndex(level: level, frame: 0, channel: 0))
            #expect(entry["sha"] as? String == plane.statistics.sha256, "level \(level)")
        }
    }
}

extension TIFFTestTools {
    /// Where two byte arrays first differ (nil when equal), short enough for a test message.
    static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String? {
        guard a.count == b.count else { return "\(a.count) bytes vs \(b.count)" }
        guard let index = a.indices.first(where: { a[$0] != b[$0] }) else { return nil }
        return "byte \(index): \(a[index]) vs \(b[index])"
    }

    /// Whether `python3 -c "import tifffile"` works here.
    static let tifffileAvailable: Bool = (try? TIFFTestTools.runPython("import tifffile", arguments: [])) != nil

    /// Runs a Python 3 script and returns its standard output; throws when it fails.
    static func runPython(_ script: String, arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.executableLoad)
        }
        return String(decoding: data, as: UTF8.self)
    }
}
