import Foundation
import ImageKit
import MicroscopyIO
import Testing

/// Helpers shared by the TIFF and PNG tests (namespaced so other suites' helpers cannot clash).
enum TIFFTestTools {}

extension TIFFTestTools {
    /// The plane index of a truth file's `{"T": 1, "C": 0}` in a series with `axes`/`shape`: frames
    /// enumerate the axes other than C, S, Y and X row-major; channel = C index * samples + S index.
    static func planeIndex(
        _ coordinates: [String: Int], axes: [String], shape: [Int], series: Int, level: Int
    ) -> PlaneIndex {
        var frame = 0
        var samples = 1
        for (axis, size) in zip(axes, shape) {
            switch axis {
            case "Y", "X": continue
            case "S": samples = size
            case "C": continue
            default: frame = frame * size + (coordinates[axis] ?? 0)
            }
        }
        let channel = (coordinates["C"] ?? 0) * samples + (coordinates["S"] ?? 0)
        return PlaneIndex(series: series, level: level, frame: frame, channel: channel)
    }
}

/// Every plane of every series and level of the shared TIFF files against the truth JSON that
/// tifffile wrote: SHA-256, min, max, sum, axes, shapes, channel names and pixel sizes.
@Suite("TIFFReader vs truth files in ../shared/testdata/tiff")
struct TIFFReaderTruthTests {
    static let files = sharedFiles(in: "tiff", suffixes: [".tif", ".tiff"])

    @Test("the shared TIFF corpus is present", .enabled(if: hasSharedTestData, "../shared/testdata is absent: skipped"))
    func corpusPresent() {
        #expect(!Self.files.isEmpty)
    }

    @Test("planes, statistics and metadata match tifffile", arguments: files)
    func truth(path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path + ".json"))
        let truth = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let reader = try TIFFReader(path: path)
        let seriesList = try #require(truth["series"] as? [[String: Any]])
        #expect(reader.seriesCount == seriesList.count)
        #expect(reader.info.format == ((truth["is_bigtiff"] as? Bool ?? false) ? .bigTIFF : .tiff))
        let omeImages = (truth["ome"] as? [String: Any])?["images"] as? [[String: Any]]

        var planesChecked = 0
        for (s, series) in seriesList.enumerated() where s < reader.seriesCount {
            let info = try reader.info(series: s)
            let axes = (series["axes"] as? String ?? "").map(String.init)
            let shape = try #require(series["shape"] as? [Int])
            #expect(info.axes == axes, "series \(s) axes")
            #expect(info.shape == shape, "series \(s) shape")
            #expect(info.pixelType.rawValue == series["dtype"] as? String, "series \(s) dtype")
            #expect(info.seriesCount == seriesList.count)
            let levels = try #require(series["levels"] as? [[String: Any]])
            #expect(info.levelCount == levels.count, "series \(s) levels")
            #expect(try reader.levels(series: s).count == levels.count)

            if let omeImages, s < omeImages.count {
                let image = omeImages[s]
                for (index, axis) in ["X", "Y", "Z"].enumerated() {
                    let expected = (image["PhysicalSize" + axis] as? String).flatMap(Double.init)
                    if let expected {
                        let unit = image["PhysicalSize\(axis)Unit"] as? String ?? "µm"
                        #expect(unit == "µm", "unexpected unit \(unit) in truth; extend the test")
                        let got = try #require(info.pixelSizeUm[index])
                        #expect(abs(got - expected) < 1e-9, "series \(s) PhysicalSize\(axis)")
                    } else {
                        #expect(info.pixelSizeUm[index] == nil)
                    }
                }
                if let channels = image["channels"] as? [[String: Any]] {
                    for (c, channel) in channels.enumerated() {
                        if let name = channel["Name"] as? String, c < info.channels.count {
                            #expect(info.channels[c].name == name)
                        }
                    }
                }
            }

            for (l, level) in levels.enumerated() {
                let levelShape = try #require(level["shape"] as? [Int])
                let levelAxes = (level["axes"] as? String ?? "").map(String.init)
                let height = levelShape[levelAxes.firstIndex(of: "Y")!]
                let width = levelShape[levelAxes.firstIndex(of: "X")!]
                let planes = try #require(level["planes"] as? [[String: Any]])
                for entry in planes {
                    let coordinates = entry["index"] as? [String: Int] ?? [:]
                    let index = TIFFTestTools.planeIndex(
                        coordinates, axes: levelAxes, shape: levelShape, series: s, level: l)
                    let plane = try reader.plane(index)
                    #expect(plane.width == width && plane.height == height, "\(index)")
                    let stats = plane.statistics
                    #expect(stats.sha256 == entry["sha256"] as? String, "sha256 of \(index) \(coordinates)")
                    // Integers exactly; floats allow for JSON's decimal round trip and for
                    // numpy's pairwise summation order.
                    let isFloat = plane.pixelType == .float32 || plane.pixelType == .float64
                    func close(_ got: Double, _ key: String, relative: Double) -> Bool {
                        guard let want = (entry[key] as? NSNumber)?.doubleValue else { return false }
                        return isFloat ? abs(got - want) <= relative * max(1, abs(want)) : got == want
                    }
                    #expect(close(stats.min, "min", relative: 1e-12), "min of \(index)")
                    #expect(close(stats.max, "max", relative: 1e-12), "max of \(index)")
                    #expect(close(stats.sum, "sum", relative: 1e-9), "sum of \(index)")
                    planesChecked += 1
                }
            }
        }
        #expect(planesChecked > 0)
    }

    @Test("a shared file cut in half fails to open with truncated or corrupt", arguments: files)
    func cutInHalf(path: String) throws {
        let dir = try TemporaryDirectory()
        let bytes = try readBytes(path)
        let cut = try dir.write("half.tif", Array(bytes.prefix(bytes.count / 2)))
        do {
            _ = try TIFFReader(path: cut)
            Issue.record("a file cut in half opened")
        } catch {
            #expect(error.code == .truncated || error.code == .corrupt, "\(error)")
            #expect(error.path == cut)
        }
    }

    @Test("the reader serves planes to many tasks at once", arguments: files.prefix(1))
    func concurrent(path: String) async throws {
        let reader = try TIFFReader(path: path)
        let info = reader.info
        let expected = try (0..<info.channels.count).map { try reader.plane(PlaneIndex(frame: 0, channel: $0)) }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for task in 0..<16 {
                group.addTask {
                    let channel = task % info.channels.count
                    return try reader.plane(PlaneIndex(frame: 0, channel: channel)) == expected[channel]
                }
            }
            for try await same in group { #expect(same) }
        }
    }
}

/// Files made here: ImageJ hyperstacks, RGB (contiguous and planar), big-endian, multi-page,
/// tiles and strips, and damaged or hostile files.
@Suite("TIFFReader on files made by the tests")
struct TIFFReaderTests {
    /// A deterministic test pattern for plane `n`.
    static func pattern<T: FixedWidthInteger>(_: T.Type, width: Int, height: Int, seed: Int) -> [T] {
        var rng = SplitMix64(seed: UInt64(seed))
        return (0..<(width * height)).map { i in
            T(truncatingIfNeeded: (i % width) * 7 + (i / width) * 3 + seed * 1000)
                &+ T(truncatingIfNeeded: rng.next() % 4)
        }
    }

    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * MemoryLayout<T>.size)
        for value in values { out.append(le: value) }
        return out
    }

    @Test("a plain multi-page TIFF has one frame per page")
    func plainPages() throws {
        let dir = try TemporaryDirectory()
        let width = 37
        let height = 23
        let pixels = (0..<3).flatMap { Self.pattern(UInt16.self, width: width, height: height, seed: $0) }
        let image = try Image<UInt16>(width: width, height: height, channels: 3, pixels: pixels)
        let path = dir.path("pages.tif")
        try TIFFWriter.write(image, to: path)
        let reader = try TIFFReader(path: path)
        #expect(reader.seriesCount == 1)
        #expect(reader.info.axes == ["I", "Y", "X"])
        #expect(reader.info.shape == [3, height, width])
        #expect(reader.info.frameCount == 3)
        #expect(reader.info.channels.count == 1)
        #expect(reader.info.pixelType == .uint16)
        for frame in 0..<3 {
            let plane = try reader.plane(PlaneIndex(frame: frame, channel: 0))
            #expect(plane.bytes == Self.bytes(Array(pixels[(frame * width * height)..<((frame + 1) * width * height)])))
        }
        #expect(throws: MicroscopyIOError.self) { try reader.plane(PlaneIndex(frame: 3, channel: 0)) }
        #expect(throws: MicroscopyIOError.self) { try reader.plane(PlaneIndex(frame: 0, channel: 1)) }
        #expect(throws: MicroscopyIOError.self) { try reader.plane(PlaneIndex(level: 1, frame: 0, channel: 0)) }
        #expect(throws: MicroscopyIOError.self) { try reader.info(series: 1) }
    }

    @Test("an ImageJ hyperstack maps pages to T, Z, C with spacing and unit")
    func imageJHyperstack() throws {
        let dir = try TemporaryDirectory()
        let (width, height, c, z, t) = (16, 12, 2, 3, 2)
        let count = c * z * t
        let pixels = (0..<count).flatMap { Self.pattern(UInt8.self, width: width, height: height, seed: $0) }
        let image = try Image<UInt8>(width: width, height: height, channels: count, pixels: pixels)
        let path = dir.path("hyper.tif")
        let description =
            "ImageJ=1.54f\nimages=\(count)\nchannels=\(c)\nslices=\(z)\nframes=\(t)\nhyperstack=true\n"
            + "mode=composite\nunit=micron\nspacing=2.5\nfinterval=0.5\nloop=false\n"
        try TIFFWriter.write(image, to: path, description: description)
        let reader = try TIFFReader(path: path)
        let info = reader.info
        #expect(info.axes == ["T", "Z", "C", "Y", "X"])
        #expect(info.shape == [t, z, c, height, width])
        #expect(info.frameCount == t * z)
        #expect(info.channels.map(\.name) == ["C0", "C1"])
        #expect(info.pixelSizeUm[2] == 2.5)
        #expect(info.loops.map(\.axis) == ["T", "Z"])
        #expect(info.frames[3].loopIndex == ["T": 1, "Z": 0])
        #expect(info.frames[3].relativeTimeMs == 500)
        for tt in 0..<t {
            for zz in 0..<z {
                for cc in 0..<c {
                    let page = (tt * z + zz) * c + cc
                    let plane = try reader.plane(PlaneIndex(frame: tt * z + zz, channel: cc))
                    #expect(plane.bytes == Array(pixels[(page * width * height)..<((page + 1) * width * height)]))
                }
            }
        }
        // The planar index helper used against the truth files agrees.
        let index = TIFFTestTools.planeIndex(
            ["T": 1, "Z": 2, "C": 1], axes: info.axes, shape: info.shape, series: 0, level: 0)
        #expect(index == PlaneIndex(frame: 5, channel: 1))
    }

    /// A big-endian ImageJ stack with one IFD and its planes stored back to back after the
    /// first (what ImageJ writes for stacks over 4 GiB), built byte by byte.
    @Test("an ImageJ stack stored past its only IFD is read plane by plane, big-endian")
    func imageJContiguous() throws {
        let dir = try TemporaryDirectory()
        let (width, height, channels, slices) = (6, 4, 2, 3)
        let count = channels * slices
        let description = Array(
            "ImageJ=1.54f\nimages=\(count)\nchannels=\(channels)\nslices=\(slices)\nhyperstack=true\n\0".utf8)
        let entries: [(UInt16, UInt16, UInt32)] = [  // tag, type, value (offsets filled below)
            (256, 3, UInt32(width)), (257, 3, UInt32(height)), (258, 3, 16), (259, 3, 1), (262, 3, 1),
            (270, 2, 0), (273, 4, 0), (277, 3, 1), (278, 3, UInt32(height)), (279, 4, UInt32(width * height * 2)),
        ]
        let ifdSize = 2 + entries.count * 12 + 4
        let descriptionOffset = 8 + ifdSize
        let dataOffset = descriptionOffset + description.count
        var file: [UInt8] = [0x4D, 0x4D, 0x00, 0x2A, 0, 0, 0, 8]
        func be16(_ v: UInt16) { file += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func be32(_ v: UInt32) {
            file += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        }
        be16(UInt16(entries.count))
        for (tag, type, value) in entries {
            be16(tag)
            be16(type)
            be32(tag == 270 ? UInt32(description.count) : 1)
            switch (tag, type) {
            case (270, _): be32(UInt32(descriptionOffset))
            case (273, _): be32(UInt32(dataOffset))
            case (_, 3):
                be16(UInt16(value))
                be16(0)
            default: be32(value)
            }
        }
        be32(0)
        file += description
        var expected: [[UInt8]] = []
        for plane in 0..<count {
            var little: [UInt8] = []
            for i in 0..<(width * height) {
                let value = UInt16(plane * 1000 + i * 3)
                be16(value)
                little.append(le: value)
            }
            expected.append(little)
        }
        let path = try dir.write("contiguous.tif", file)
        let reader = try TIFFReader(path: path)
        #expect(reader.info.axes == ["Z", "C", "Y", "X"])
        #expect(reader.info.frameCount == slices)
        for z in 0..<slices {
            for c in 0..<channels {
                #expect(try reader.plane(PlaneIndex(frame: z, channel: c)).bytes == expected[z * channels + c])
            }
        }
        // Cut inside the last plane: the declared stack no longer fits.
        let cut = try dir.write("contiguous-cut.tif", Array(file.dropLast(10)))
        do {
            _ = try TIFFReader(path: cut)
            Issue.record("a cut ImageJ stack opened")
        } catch {
            #expect(error.code == .truncated, "\(error)")
            #expect(error.offset == UInt64(dataOffset))
        }
    }

    @Test(
        "RGB, multi-sample and big-endian files; strips and tiles; every codec",
        arguments: TIFFTestPages.Layout.allCases)
    func samples(layout: TIFFTestPages.Layout) throws {
        let dir = try TemporaryDirectory()
        let width = 45
        let height = 38
        let samples = 3
        for compression in TIFFCompression.allCases where compression.isAvailable {
            for bigEndian in [false, true] {
                let values = Self.pattern(UInt16.self, width: width * samples, height: height, seed: 11)
                let path = dir.path("rgb-\(layout)-\(compression)-\(bigEndian).tif")
                try TIFFTestPages.write(
                    path: path, width: width, height: height, samples: samples, pixelType: .uint16,
                    interleaved: Self.bytes(values), layout: layout, compression: compression, bigEndian: bigEndian)
                let reader = try TIFFReader(path: path)
                #expect(reader.info.axes == (layout.planar ? ["S", "Y", "X"] : ["Y", "X", "S"]))
                #expect(reader.info.channels.map(\.name) == ["R", "G", "B"])
                for s in 0..<samples {
                    let plane = try reader.plane(PlaneIndex(frame: 0, channel: s))
                    let expected = (0..<(width * height)).map { values[$0 * samples + s] }
                    #expect(plane.bytes == Self.bytes(expected), "\(layout) \(compression) BE \(bigEndian) sample \(s)")
                }
            }
        }
    }

    // MARK: Damaged and hostile files

    func expectError(
        _ path: String, _ codes: Set<MicroscopyIOError.Code>, mentioning text: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let reader = try TIFFReader(path: path)
            for frame in 0..<reader.info.frameCount {
                for channel in reader.info.channels.indices {
                    _ = try reader.plane(PlaneIndex(frame: frame, channel: channel))
                }
            }
            Issue.record("\(path): read without error, expected \(codes)", sourceLocation: sourceLocation)
        } catch {
            #expect(codes.contains(error.code), "\(error)", sourceLocation: sourceLocation)
            #expect(error.path == path, sourceLocation: sourceLocation)
            #expect(error.description.contains(path), sourceLocation: sourceLocation)
            if let text {
                #expect(error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("hostile or inconsistent OME-XML falls back to plain pages")
    func hostileOME() throws {
        let dir = try TemporaryDirectory()
        let image = Image<UInt16>(width: 8, height: 8, channels: 2, repeating: 4)
        let laughs =
            #"<?xml version="1.0"?><!DOCTYPE OME [<!ENTITY a "aaaaaaaaaa">"#
            + (1...9).map {
                #"<!ENTITY \#(Character(UnicodeScalar(97 + $0)!)) "&\#(Character(UnicodeScalar(96 + $0)!));"#
                    + String(repeating: "&\(Character(UnicodeScalar(96 + $0)!));", count: 9) + #"">"#
            }.joined()
            + #"]><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image Name="&j;">"#
            + #"<Pixels DimensionOrder="XYCZT" Type="uint16" SizeX="8" SizeY="8" SizeC="2" SizeZ="1" SizeT="1"/>"#
            + "</Image></OME>"
        let cases = [
            laughs,
            // Billions of planes declared by a few bytes.
            #"<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image>"#
                + #"<Pixels DimensionOrder="XYZCT" Type="uint16" SizeX="8" SizeY="8" SizeC="2" SizeZ="2000000000" "#
                + #"SizeT="2000000000"/></Image></OME>"#,
            // Sizes that do not match the pages.
            #"<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image>"#
                + #"<Pixels DimensionOrder="XYZCT" Type="uint16" SizeX="9" SizeY="8" SizeC="2"/></Image></OME>"#,
            "<?xml version=\"1.0\"?><OME><Image><Pixels",
        ]
        for (index, xml) in cases.enumerated() {
            let path = dir.path("hostile-\(index).ome.tif")
            try TIFFWriter.write(image, to: path, description: xml)
            let reader = try TIFFReader(path: path)
            #expect(reader.info.axes == ["I", "Y", "X"], "case \(index)")
            #expect(reader.info.frameCount == 2)
            #expect(
                try reader.plane(PlaneIndex(frame: 1, channel: 0)).bytes
                    == [UInt8](repeating: 0, count: 128).enumerated().map { $0.offset % 2 == 0 ? 4 : 0 })
        }
    }

    @Test("OME planes mapped to IFDs out of order, and to another file of a fileset")
    func omeMapping() throws {
        let dir = try TemporaryDirectory()
        let planes = (0..<3).map { c in Image<UInt8>(width: 4, height: 2, repeating: UInt8(10 + c)) }
        let image = try Image<UInt8>(width: 4, height: 2, channels: 3, pixels: planes.flatMap(\.pixels))
        let xml =
            #"<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" UUID="urn:uuid:1">"#
            + #"<Image ID="Image:0" Name="mapped"><Pixels DimensionOrder="XYCZT" Type="uint8" SizeX="4" SizeY="2" "#
            + #"SizeC="4" SizeZ="1" SizeT="1" PhysicalSizeX="650" PhysicalSizeXUnit="nm">"#
            + #"<Channel Name="c0"/><Channel Name="c1"/><Channel Name="c2"/><Channel Name="c3"/>"#
            + #"<TiffData FirstC="0" IFD="2"/><TiffData FirstC="1" IFD="0" PlaneCount="2"/>"#
            + #"<TiffData FirstC="3" IFD="0"><UUID FileName="other.ome.tif">urn:uuid:2</UUID></TiffData>"#
            + "</Pixels></Image></OME>"
        let path = dir.path("mapped.ome.tif")
        try TIFFWriter.write(image, to: path, description: xml)
        let reader = try TIFFReader(path: path)
        #expect(reader.info.channels.map(\.name) == ["c0", "c1", "c2", "c3"])
        #expect(reader.info.pixelSizeUm[0] == 0.65)
        #expect(try reader.plane(PlaneIndex(frame: 0, channel: 0)).bytes == [UInt8](repeating: 12, count: 8))
        #expect(try reader.plane(PlaneIndex(frame: 0, channel: 1)).bytes == [UInt8](repeating: 10, count: 8))
        #expect(try reader.plane(PlaneIndex(frame: 0, channel: 2)).bytes == [UInt8](repeating: 11, count: 8))
        do {
            _ = try reader.plane(PlaneIndex(frame: 0, channel: 3))
            Issue.record("a plane of another file was read")
        } catch {
            #expect(error.code == .unsupported)
            #expect(error.message.contains("other.ome.tif"), "\(error)")
        }
    }

    @Test("a text file named .tif, an empty file and a missing file give clear errors")
    func notTIFF() throws {
        let dir = try TemporaryDirectory()
        expectError(
            try dir.write("text.tif", Array("this is not an image\n".utf8)), [.unknownFormat], mentioning: "74 68 69 73"
        )
        expectError(try dir.write("empty.tif", []), [.emptyFile])
        expectError(dir.path("missing.tif"), [.notFound])
        expectError(try dir.write("cut.tif", [0x49, 0x49, 0x2A]), [.truncated])
    }

    @Test("a truncated file fails with truncated, naming the offset")
    func truncated() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("whole.ome.tif")
        let image = SyntheticSample.nuclei(width: 300, height: 200, count: 12, seed: 3).image
        try TIFFWriter.writeOME(image, to: path, options: OMETIFFOptions(tileSize: 64, compression: .none))
        let bytes = try readBytes(path)
        for length in [16, bytes.count / 3, bytes.count / 2, bytes.count - 100, bytes.count - 40] {
            expectError(try dir.write("cut-\(length).tif", Array(bytes.prefix(length))), [.truncated, .corrupt])
        }
    }

    @Test("a tile whose offset points past the end of the file is truncated at that offset")
    func tileOffsetPastEnd() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("tiles.tif")
        let values = Self.pattern(UInt8.self, width: 64, height: 64, seed: 1)
        try TIFFTestPages.write(
            path: path, width: 64, height: 64, samples: 1, pixelType: .uint8, interleaved: values,
            layout: .tiles, compression: .none, bigEndian: false, tileSize: 32)
        var bytes = try readBytes(path)
        let offsets = try #require(TIFFBytes.tagValueOffset(bytes, tag: 324))  // TileOffsets
        let target = UInt32(bytes.count + 4_096)
        bytes.put(le: target, at: offsets + 4)  // the second tile
        let bad = try dir.write("bad.tif", bytes)
        do {
            _ = try TIFFReader(path: bad)
            Issue.record("opened a file with a tile past the end")
        } catch {
            #expect(error.code == .truncated)
            #expect(error.offset == UInt64(target))
            #expect(error.message.contains("tile 1"), "\(error)")
            #expect(error.message.contains("image directory 0"), "\(error)")
        }
    }

    @Test("an absurd declared size fails before anything is allocated")
    func absurdSize() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("small.tif")
        try TIFFWriter.write(Image<UInt16>(width: 8, height: 8, repeating: 5), to: path)
        var bytes = try readBytes(path)
        for tag: UInt16 in [256, 257] {  // ImageWidth, ImageLength
            let entry = try #require(TIFFBytes.entryOffset(bytes, tag: tag))
            bytes.put(le: UInt16(4), at: entry + 2)  // LONG
            bytes.put(le: UInt32(1) << 31, at: entry + 8)
        }
        // With 8 rows per strip libtiff itself refuses the 2^28 strips the size implies.
        expectError(try dir.write("hostile-strips.tif", bytes), [.unsupported, .corrupt, .truncated])
        // With one strip for the whole image, the reader's own size check must refuse it.
        let rows = try #require(TIFFBytes.entryOffset(bytes, tag: 278))  // RowsPerStrip
        bytes.put(le: UInt16(4), at: rows + 2)
        bytes.put(le: UInt32.max, at: rows + 8)  // "all rows in one strip"
        // libtiff's own strip size check (2^31 * 2^31 * 2 overflows 64 bits) stops this one.
        expectError(try dir.write("hostile.tif", bytes), [.corrupt, .unsupported], mentioning: "image directory 0")
        // 2^20 x 2^20 passes libtiff; the reader's plane limit refuses it (2 TiB) before allocating.
        for tag: UInt16 in [256, 257] {
            let entry = try #require(TIFFBytes.entryOffset(bytes, tag: tag))
            bytes.put(le: UInt32(1) << 20, at: entry + 8)
        }
        let huge = try dir.write("huge.tif", bytes)
        expectError(huge, [.unsupported], mentioning: "image directory 0")
        expectError(huge, [.unsupported], mentioning: "1048576 x 1048576")
        // A smaller limit refuses a plane that would fit the default one.
        let reader = try? TIFFReader(path: path, maxPlaneBytes: 100)
        #expect(reader == nil)
    }

    @Test("a strip with garbage compressed data is corrupt, naming the strip")
    func garbageStrip() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("deflate.tif")
        let image = SyntheticSample.nuclei(width: 64, height: 64, count: 4, seed: 8).image
        try TIFFWriter.write(image, to: path)
        var bytes = try readBytes(path)
        let stripOffsets = try #require(TIFFBytes.entryOffset(bytes, tag: 273))
        let count = Int(bytes.le(UInt32.self, at: stripOffsets + 4))
        let first =
            count == 1
            ? Int(bytes.le(UInt32.self, at: stripOffsets + 8))
            : Int(bytes.le(UInt32.self, at: Int(bytes.le(UInt32.self, at: stripOffsets + 8))))
        for i in 0..<64 { bytes[first + i] = UInt8(truncatingIfNeeded: i &* 37 &+ 5) }
        expectError(try dir.write("garbage.tif", bytes), [.corrupt, .truncated], mentioning: "strip 0")
    }

    @Test("libtiff never prints while damaged files are read")
    func silent() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("good.tif")
        try TIFFWriter.writeOME(
            SyntheticSample.nuclei(width: 100, height: 80, count: 5, seed: 2).image, to: path,
            options: OMETIFFOptions(tileSize: 32))
        let bytes = try readBytes(path)
        var rng = SplitMix64(seed: 7)
        for round in 0..<40 {
            var damaged = bytes
            for _ in 0..<8 {
                let at = Int(rng.next() % UInt64(damaged.count))
                damaged[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            TIFFFuzz.run(path: try dir.write("damaged-\(round).tif", damaged))
        }
        #expect(TIFFGlobalHandlers.leakedMessages.isEmpty, "\(TIFFGlobalHandlers.leakedMessages)")
    }
}

/// Finds things in classic little-endian TIFF bytes (first directory only), for damaging files.
enum TIFFBytes {
    /// Offset of the first directory's entry for `tag`.
    static func entryOffset(_ bytes: [UInt8], tag: UInt16) -> Int? {
        let directory = Int(bytes.le(UInt32.self, at: 4))
        let count = Int(bytes.le(UInt16.self, at: directory))
        for index in 0..<count {
            let entry = directory + 2 + index * 12
            if bytes.le(UInt16.self, at: entry) == tag { return entry }
        }
        return nil
    }

    /// Offset of the values of `tag` when they are stored outside the entry.
    static func tagValueOffset(_ bytes: [UInt8], tag: UInt16) -> Int? {
        entryOffset(bytes, tag: tag).map { Int(bytes.le(UInt32.self, at: $0 + 8)) }
    }
}
