import Foundation
import ImageKit
import MicroscopyIO
import Testing

/// Every ND2 file in ../shared/testdata/nd2 and nd2-generated against the truth JSON the `nd2`
/// Python package wrote beside it: every plane's SHA-256/min/max/sum, sizes, channels, pixel
/// size, loops, per-frame loop indices, times and stage positions.
@Suite(
    "ND2Reader vs truth files in ../shared/testdata",
    .enabled(if: hasSharedTestData, "../shared/testdata is absent: skipped"))
struct ND2ReaderTruthTests {
    static let files =
        sharedFiles(in: "nd2", suffixes: [".nd2"]) + sharedFiles(in: "nd2-generated", suffixes: [".nd2"])

    static func truth(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path + ".json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("the shared folders have ND2 files")
    func corpusPresent() {
        #expect(Self.files.count >= 2)
    }

    @Test("metadata matches the nd2 package", arguments: files)
    func metadata(path: String) throws {
        let truth = try Self.truth(path)
        let reader = try ND2Reader(path: path)
        let info = reader.info
        let name = (path as NSString).lastPathComponent

        // Sizes, in nd2's axis order (full_array.axes keeps the order JSON objects lose).
        let full = try #require(truth["full_array"] as? [String: Any])
        #expect(info.axes == full["axes"] as? [String], "\(name)")
        #expect(info.shape == truth["shape"] as? [Int], "\(name)")
        let sizes = try #require(truth["sizes"] as? [String: Int])
        #expect(Dictionary(uniqueKeysWithValues: zip(info.axes, info.shape)) == sizes, "\(name)")
        #expect(info.pixelType.rawValue == truth["dtype"] as? String, "\(name)")
        #expect(info.frameCount == truth["num_frames"] as? Int, "\(name)")
        #expect(info.format == .nd2)
        #expect(try reader.info(series: 0) == info)
        #expect(throws: MicroscopyIOError.self) { try reader.info(series: 1) }
        if let version = truth["version"] as? [Int] {
            #expect(reader.metadata.version == version.map(String.init).joined(separator: "."))
        }
        let attributes = try #require(truth["attributes"] as? [String: Any])
        #expect(info.width == attributes["widthPx"] as? Int)
        #expect(info.height == attributes["heightPx"] as? Int)
        #expect(info.significantBits == attributes["bitsPerComponentSignificant"] as? Int)
        #expect(reader.metadata.widthBytes == attributes["widthBytes"] as? Int)
        #expect(reader.metadata.componentCount == attributes["componentCount"] as? Int)
        let compressed = (attributes["compressionType"] as? String) == "lossless"
        #expect(reader.metadata.compression == (compressed ? "zlib" : "none"))

        // Channels: the file's list as nd2 reports it; planes split RGB into R, G, B.
        let channels = try #require(truth["channels"] as? [[String: Any]])
        #expect(reader.metadata.fileChannels.map(\.name) == truth["channel_names"] as? [String], "\(name)")
        for (ours, theirs) in zip(reader.metadata.fileChannels, channels) {
            #expect(ours.index == theirs["index"] as? Int, "\(name) \(ours.name)")
            #expect(ours.color == theirs["color_rgb_int"] as? String, "\(name) \(ours.name)")
            #expect(ours.emissionNm == theirs["emission_nm"] as? Double, "\(name) \(ours.name) emission")
            #expect(ours.excitationNm == theirs["excitation_nm"] as? Double, "\(name) \(ours.name) excitation")
        }
        let isRGB = truth["is_rgb"] as? Bool ?? false
        #expect(info.channels.count == channels.count * (isRGB ? 3 : 1))
        #expect(info.channels.map(\.index) == Array(0..<info.channels.count))
        if isRGB, channels.count == 1 {
            #expect(info.channels.map(\.name) == ["R", "G", "B"])
        } else if !isRGB {
            #expect(info.channels == reader.metadata.fileChannels)
        }
        if let first = channels.first {
            #expect(info.objective == first["objective_name"] as? String, "\(name)")
            #expect(reader.metadata.objectiveMagnification == first["objective_magnification"] as? Double, "\(name)")
            #expect(reader.metadata.objectiveNA == first["objective_na"] as? Double, "\(name)")
        }

        // Pixel size: x and y from the calibration, z from the Z loop (nd2 reports 1.0 without one).
        let pixel = try #require(truth["pixel_size_um"] as? [String: Double])
        // (Foundation's JSON parser can be off in the last bit, hence the tolerance.)
        #expect(abs((info.pixelSizeUm[0] ?? 0) - pixel["x"]!) < 1e-12, "\(name)")
        #expect(abs((info.pixelSizeUm[1] ?? 0) - pixel["y"]!) < 1e-12, "\(name)")
        if let z = info.pixelSizeUm[2] {
            #expect(abs(z - pixel["z"]!) < 1e-12, "\(name)")
        } else {
            #expect(pixel["z"] == 1.0, "\(name)")
        }

        // Loops.
        let loops = try #require(truth["experiment_loops"] as? [[String: Any]])
        #expect(info.loops.map(\.type) == loops.map { $0["type"] as? String ?? "" }, "\(name)")
        #expect(info.loops.map(\.count) == loops.map { $0["count"] as? Int ?? -1 }, "\(name)")
        #expect(info.loops.map(\.nestingLevel) == loops.map { $0["nestingLevel"] as? Int ?? -1 }, "\(name)")
        for loop in loops where loop["type"] as? String == "XYPosLoop" {
            let points = (loop["parameters"] as? [String: Any])?["points"] as? [[String: Any]] ?? []
            #expect(reader.metadata.positionNames == points.map { $0["name"] as? String ?? "" })
        }
        for loop in loops where loop["type"] as? String == "ZStackLoop" {
            let parameters = loop["parameters"] as? [String: Any]
            #expect(reader.metadata.zHomeIndex == parameters?["homeIndex"] as? Int)
        }

        // Frames: loop indices, times, stage positions (nd2's view of them).
        let frames = try #require(truth["frames"] as? [[String: Any]])
        #expect(info.frames.count == frames.count)
        for (ours, theirs) in zip(info.frames, frames) {
            #expect(ours.index == theirs["seq_index"] as? Int)
            #expect(ours.loopIndex == theirs["loop_index"] as? [String: Int], "\(name) frame \(ours.index)")
            if let time = theirs["relative_time_ms"] as? Double {
                let ourTime = try #require(ours.relativeTimeMs, "\(name) frame \(ours.index) has no time")
                #expect(abs(ourTime - time) <= 1e-6, "\(name) frame \(ours.index) time")
            }
            if let stage = theirs["stage_um"] as? [Double] {
                let ourStage = try #require(ours.stageUm, "\(name) frame \(ours.index) has no stage position")
                #expect(ourStage.count == 3)
                for (a, b) in zip(ourStage, stage) {
                    #expect(abs(a - b) <= 1e-6, "\(name) frame \(ours.index) stage \(ourStage) vs \(stage)")
                }
            }
        }
        if let jdn = truth["acquisition_start_jdn"] as? Double, let start = reader.metadata.acquisitionStartJDN {
            // nd2 reports frame 0's time: the start plus frame 0's relative time.
            let frame0 = (info.frames.first?.relativeTimeMs ?? 0) / 86_400_000
            #expect(abs(start + frame0 - jdn) < 1e-9, "\(name)")
        }
        if let date = truth["text_info_date"] as? String {
            #expect(reader.metadata.textInfo["date"] == date)
        }
        if let measured = reader.metadata.measuredStageUm {
            #expect(measured.count == info.frameCount)
        }
    }

    @Test("every plane matches the nd2 package's checksums", arguments: files)
    func pixels(path: String) throws {
        let truth = try Self.truth(path)
        let reader = try ND2Reader(path: path)
        let info = reader.info
        let name = (path as NSString).lastPathComponent
        let frames = try #require(truth["frames"] as? [[String: Any]])
        let isRGB = truth["is_rgb"] as? Bool ?? false
        let samples = isRGB ? 3 : 1
        var everything: [UInt8] = []
        for (n, frame) in frames.enumerated() {
            let expected = try #require(frame["channels"] as? [[String: Any]])
            let planes = try reader.frame(n)
            #expect(planes.count == info.channels.count)
            // plane(_:) decodes each channel on its own; it must agree with frame(_:).
            for (c, plane) in planes.enumerated() where n == 0 || n == frames.count - 1 {
                #expect(try reader.plane(PlaneIndex(frame: n, channel: c)) == plane, "\(name) frame \(n) channel \(c)")
            }
            // nd2 reports one entry per file channel over its (Y, X[, S]) samples.
            #expect(expected.count * samples == planes.count, "\(name) frame \(n)")
            for (c, theirs) in expected.enumerated() {
                let plane =
                    isRGB ? interleaved(Array(planes[(c * samples)..<((c + 1) * samples)])) : planes[c]
                let stats = plane.statistics
                #expect(stats.sha256 == theirs["sha256"] as? String, "\(name) frame \(n) channel \(c)")
                #expect(stats.min == (theirs["min"] as? NSNumber)?.doubleValue, "\(name) frame \(n) channel \(c)")
                #expect(stats.max == (theirs["max"] as? NSNumber)?.doubleValue, "\(name) frame \(n) channel \(c)")
                #expect(stats.sum == (theirs["sum"] as? NSNumber)?.doubleValue, "\(name) frame \(n) channel \(c)")
                everything += plane.bytes
            }
        }
        // The whole array in nd2's axis order hashes the same.
        let full = try #require(truth["full_array"] as? [String: Any])
        let all = Plane(
            width: everything.count / info.pixelType.byteCount, height: 1, pixelType: info.pixelType, bytes: everything)
        #expect(all.statistics.sha256 == full["sha256"] as? String, "\(name) full array")
    }

    @Test("one reader serves many tasks at once", arguments: files.prefix(2))
    func concurrent(path: String) async throws {
        let reader = try ND2Reader(path: path)
        let count = reader.info.frameCount
        var expected: [Int: Plane] = [:]
        for n in 0..<count { expected[n] = try reader.plane(PlaneIndex(frame: n, channel: 0)) }
        let results = try await withThrowingTaskGroup(of: (Int, Plane).self) { group in
            for round in 0..<4 {
                for n in 0..<count {
                    let frame = (n + round) % count
                    group.addTask { (frame, try reader.plane(PlaneIndex(frame: frame, channel: 0))) }
                }
            }
            var seen: [(Int, Plane)] = []
            for try await result in group { seen.append(result) }
            return seen
        }
        #expect(results.count == 4 * count)
        for (n, plane) in results {
            #expect(expected[n] == plane, "frame \(n)")
        }
    }
}

/// R, G, B planes as one (Y, X, S) interleaved plane, as nd2 returns RGB frames.
func interleaved(_ components: [Plane]) -> Plane {
    let first = components[0]
    let size = first.pixelType.byteCount
    let pixels = first.width * first.height
    var bytes = [UInt8](repeating: 0, count: pixels * size * components.count)
    for (s, plane) in components.enumerated() {
        for i in 0..<pixels {
            for b in 0..<size {
                bytes[(i * components.count + s) * size + b] = plane.bytes[i * size + b]
            }
        }
    }
    return Plane(width: first.width * components.count, height: first.height, pixelType: first.pixelType, bytes: bytes)
}

// MARK: - Damaged and hostile files

/// An ND2 file's bytes with its chunk map parsed, for damaging it at exact places.
struct ND2Bytes {
    struct Entry {
        var key: String
        var offset: Int
        var size: Int
        /// Where this entry's u64 offset field is in the file.
        var field: Int
    }

    var bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var mapOffset: Int { Int(bytes.le(UInt64.self, at: bytes.count - 8)) }

    var entries: [Entry] {
        let nameLength = Int(bytes.le(UInt32.self, at: mapOffset + 4))
        let dataLength = Int(bytes.le(UInt64.self, at: mapOffset + 8))
        let start = mapOffset + 16 + nameLength
        var p = start
        var result: [Entry] = []
        while p < start + dataLength {
            let bang = bytes[p...].firstIndex(of: UInt8(ascii: "!"))!
            let key = String(decoding: bytes[p...bang], as: UTF8.self)
            if key == "ND2 CHUNK MAP SIGNATURE 0000001!" { break }
            result.append(
                Entry(
                    key: key, offset: Int(bytes.le(UInt64.self, at: bang + 1)),
                    size: Int(bytes.le(UInt64.self, at: bang + 9)), field: bang + 1))
            p = bang + 17
        }
        return result
    }

    func entry(_ key: String) -> Entry {
        entries.first { $0.key == key }!
    }

    func payloadOffset(_ key: String) -> Int {
        let offset = entry(key).offset
        return offset + 16 + Int(bytes.le(UInt32.self, at: offset + 4))
    }

    /// Offset of the value of the LV entry `name` (of LV `type`) inside chunk `key`.
    func valueOffset(of name: String, type: UInt8, in key: String) -> Int {
        let pattern = LV.header(type, name)
        let start = payloadOffset(key)
        let end = start + entry(key).size
        for i in start..<(end - pattern.count) where Array(bytes[i..<(i + pattern.count)]) == pattern {
            return i + pattern.count
        }
        fatalError("\(name) not found in \(key)")
    }

    mutating func setU32(_ name: String, type: UInt8 = 3, in key: String, to value: UInt32) {
        bytes.put(le: value, at: valueOffset(of: name, type: type, in: key))
    }

    /// The file rebuilt with `transform` applied to the map entries; `extra` chunks (key,
    /// payload) are appended before the new map and listed in it (replacing entries of that key).
    func rebuilt(extra: [(String, [UInt8])] = [], _ transform: ([Entry]) -> [Entry] = { $0 }) -> [UInt8] {
        var out = Array(bytes[..<mapOffset])
        var list = transform(entries).filter { entry in !extra.contains { $0.0 == entry.key } }
        for (key, payload) in extra {
            let offset = out.count
            out.append(le: UInt32(0x0ABE_CEDA))
            out.append(le: UInt32(key.utf8.count))
            out.append(le: UInt64(payload.count))
            out += Array(key.utf8) + payload
            list.append(Entry(key: key, offset: offset, size: payload.count, field: 0))
        }
        let mapStart = out.count
        var map: [UInt8] = []
        for entry in list {
            map += Array(entry.key.utf8)
            map.append(le: UInt64(entry.offset))
            map.append(le: UInt64(entry.size))
        }
        map += Array("ND2 CHUNK MAP SIGNATURE 0000001!".utf8)
        map.append(le: UInt64(mapStart))
        out.append(le: UInt32(0x0ABE_CEDA))
        out.append(le: UInt32(32))
        out.append(le: UInt64(map.count))
        out += Array("ND2 FILEMAP SIGNATURE NAME 0001!".utf8) + map
        return out
    }
}

/// A zlib stream made of stored (uncompressed) deflate blocks, built without zlib.
func storedZlib(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var i = 0
    repeat {
        let n = min(65_535, data.count - i)
        out.append(i + n == data.count ? 1 : 0)
        out.append(le: UInt16(n))
        out.append(le: ~UInt16(n))
        out += data[i..<(i + n)]
        i += n
    } while i < data.count
    var a: UInt32 = 1
    var b: UInt32 = 0
    for byte in data {
        a = (a + UInt32(byte)) % 65_521
        b = (b + a) % 65_521
    }
    let adler = (b << 16) | a
    out += [UInt8(adler >> 24), UInt8((adler >> 16) & 0xFF), UInt8((adler >> 8) & 0xFF), UInt8(adler & 0xFF)]
    return out
}

@Suite("ND2Reader on damaged and hostile files")
struct ND2CorruptInputTests {
    static let spec = ND2Case(pixelType: .uint16, width: 8, height: 4, channels: 2, loops: [("T", 2), ("Z", 2)])

    /// A small valid file (2 channels, T2 × Z2) and its frames.
    func sample(_ dir: TemporaryDirectory, compression: ND2Writer.Compression = .none) throws -> (ND2Bytes, [[Plane]]) {
        var spec = Self.spec
        spec.compression = compression
        let frames = spec.frames()
        let path = dir.path("sample-\(UUID().uuidString).nd2")
        try spec.write(path, frames: frames)
        return (ND2Bytes(try readBytes(path)), frames)
    }

    /// Opens `bytes` written as `name` (and reads every plane); returns the error.
    func failure(_ dir: TemporaryDirectory, _ name: String, _ bytes: [UInt8]) -> (String, MicroscopyIOError?) {
        let path = (try? dir.write(name, bytes)) ?? dir.path(name)
        do {
            let reader = try ND2Reader(path: path)
            for frame in 0..<reader.info.frameCount {
                _ = try reader.frame(frame)
                for channel in 0..<reader.info.channels.count {
                    _ = try reader.plane(PlaneIndex(frame: frame, channel: channel))
                }
            }
            return (path, nil)
        } catch {
            return (path, error)
        }
    }

    func expectFailure(
        _ dir: TemporaryDirectory, _ name: String, _ bytes: [UInt8], _ code: MicroscopyIOError.Code,
        offset: Int? = nil, mentioning text: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let (path, error) = failure(dir, name, bytes)
        guard let error else {
            Issue.record("\(name): read without error, expected \(code)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(error.description.contains(path), sourceLocation: sourceLocation)
        if let offset {
            #expect(error.offset == UInt64(offset), "\(error)", sourceLocation: sourceLocation)
        }
        if let text {
            #expect(error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test("a file cut at any length is reported as truncated")
    func truncated() throws {
        let dir = try TemporaryDirectory()
        let (file, _) = try sample(dir)
        let count = file.bytes.count
        let lengths =
            [1, 2, 3, 16, 50, 111, 112, 113, 4096, 5000, count / 2, file.mapOffset, count - 41, count - 40]
            + [count - 39, count - 8, count - 1]
        for length in Set(lengths).sorted() {
            expectFailure(dir, "cut-\(length).nd2", Array(file.bytes[..<length]), .truncated)
        }
    }

    @Test("files that are not ND2 v2/v3")
    func notND2() throws {
        let dir = try TemporaryDirectory()
        expectFailure(dir, "notes.nd2", Array("These are my notes, not an image.\n".utf8), .unknownFormat, offset: 0)
        expectFailure(dir, "empty.nd2", [], .emptyFile)
        let (path, error) = failure(dir, "missing.nd2", [])
        try FileManager.default.removeItem(atPath: path)
        #expect(failure(dir, "missing.nd2", []).1 != nil)
        _ = error
        do {
            _ = try ND2Reader(path: dir.path("does-not-exist.nd2"))
            Issue.record("opened a missing file")
        } catch {
            #expect(error.code == .notFound)
        }
        let legacy =
            [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A] + [UInt8](repeating: 0, count: 100)
        expectFailure(dir, "old.nd2", legacy, .unsupported, mentioning: "legacy JPEG2000 ND2 is not supported")
        let tiff: [UInt8] = [0x49, 0x49, 0x2A, 0x00] + [UInt8](repeating: 0, count: 100)
        expectFailure(dir, "tiff.nd2", tiff, .unknownFormat)
    }

    @Test("a wrong chunk offset is caught at that frame, with the offset")
    func wrongOffsets() throws {
        let dir = try TemporaryDirectory()
        let (file, frames) = try sample(dir)
        let frame0 = file.entry("ImageDataSeq|0!")
        let frame1 = file.entry("ImageDataSeq|1!")

        // Frame 1 points at frame 0's chunk: the name inside the chunk does not match.
        var aliased = file
        aliased.bytes.put(le: UInt64(frame0.offset), at: frame1.field)
        expectFailure(
            dir, "aliased.nd2", aliased.bytes, .corrupt, offset: frame0.offset + 16, mentioning: "ImageDataSeq|1!")
        // Frame 0 is still readable from that file.
        let reader = try ND2Reader(path: dir.write("aliased-ok.nd2", aliased.bytes))
        #expect(try reader.frame(0) == frames[0])

        // Frame 1 points into the middle of a chunk: no chunk magic there.
        var middle = file
        middle.bytes.put(le: UInt64(frame1.offset + 100), at: frame1.field)
        expectFailure(dir, "middle.nd2", middle.bytes, .corrupt, offset: frame1.offset + 100, mentioning: "magic")

        // Frame 1 points past the end of the file: refused when opening.
        var beyond = file
        beyond.bytes.put(le: UInt64(file.bytes.count + 4096), at: frame1.field)
        expectFailure(dir, "beyond.nd2", beyond.bytes, .truncated, offset: file.bytes.count + 4096)

        // A metadata chunk offset that is wrong fails the open.
        var metadata = file
        metadata.bytes.put(le: UInt64(frame0.offset), at: file.entry("ImageMetadataSeqLV|0!").field)
        expectFailure(dir, "metadata.nd2", metadata.bytes, .corrupt, offset: frame0.offset + 16)

        // The map offset at the end of the file points nowhere.
        var map = file
        map.bytes.put(le: UInt64(7), at: file.bytes.count - 8)
        expectFailure(dir, "map.nd2", map.bytes, .corrupt, offset: file.bytes.count - 8)
    }

    @Test("absurd declared geometry fails before any allocation")
    func absurdGeometry() throws {
        let dir = try TemporaryDirectory()
        let (file, _) = try sample(dir)
        let (zlib, _) = try sample(dir, compression: .zlib())
        let key = "ImageAttributesLV!"
        let attributes = file.payloadOffset(key)

        var wide = file
        wide.setU32("uiWidth", in: key, to: 1 << 20)
        expectFailure(dir, "wide.nd2", wide.bytes, .corrupt, offset: attributes, mentioning: "uiWidthBytes")

        var huge = file
        huge.setU32("uiHeight", in: key, to: 0xFFFF_FFFF)
        expectFailure(dir, "huge.nd2", huge.bytes, .corrupt, offset: attributes, mentioning: "uiHeight")

        var tall = file
        tall.setU32("uiHeight", in: key, to: 1 << 20)
        expectFailure(dir, "tall.nd2", tall.bytes, .corrupt, mentioning: "uiHeight × uiWidthBytes")

        var stride = file
        stride.setU32("uiWidthBytes", in: key, to: 0x7FFF_FFF0)
        expectFailure(dir, "stride.nd2", stride.bytes, .corrupt, mentioning: "uiHeight × uiWidthBytes")

        var tallZlib = zlib
        tallZlib.setU32("uiHeight", in: key, to: 1 << 20)
        expectFailure(dir, "tall-zlib.nd2", tallZlib.bytes, .corrupt, mentioning: "cannot")

        var noComponents = file
        noComponents.setU32("uiComp", in: key, to: 0)
        expectFailure(dir, "nocomp.nd2", noComponents.bytes, .corrupt, mentioning: "uiComp")

        var threeComponents = file
        threeComponents.setU32("uiComp", in: key, to: 3)
        threeComponents.setU32("uiWidthBytes", in: key, to: 48)
        expectFailure(dir, "threecomp.nd2", threeComponents.bytes, .corrupt, mentioning: "not a multiple")

        var bits = file
        bits.setU32("uiBpcInMemory", type: 2, in: key, to: 12)
        expectFailure(dir, "bits.nd2", bits.bytes, .corrupt, mentioning: "uiBpcInMemory")

        var lossy = file
        lossy.setU32("eCompression", type: 2, in: key, to: 1)
        expectFailure(dir, "lossy.nd2", lossy.bytes, .unsupported, mentioning: "lossy")

        var tiled = file
        tiled.setU32("uiTileWidth", in: key, to: 4)
        expectFailure(dir, "tiled.nd2", tiled.bytes, .unsupported, mentioning: "tiled")
    }

    @Test("a sequence count or loop count that disagrees with the frames")
    func counts() throws {
        let dir = try TemporaryDirectory()
        let (file, _) = try sample(dir)

        var absurd = file
        absurd.setU32("uiSequenceCount", in: "ImageAttributesLV!", to: 0x7FFF_FFFF)
        expectFailure(dir, "absurd.nd2", absurd.bytes, .corrupt, mentioning: "lists 4 ImageDataSeq chunks")

        var huge = file
        huge.setU32("uiSequenceCount", in: "ImageAttributesLV!", to: 0xFFFF_FFF0)
        expectFailure(dir, "huge.nd2", huge.bytes, .corrupt, mentioning: "uiSequenceCount")

        // The T loop claims 3 time points: 3 × 2 = 6 frames, but the file has 4.
        var loops = file
        loops.setU32("uiCount", in: "ImageMetadataLV!", to: 3)
        expectFailure(dir, "loops.nd2", loops.bytes, .corrupt, mentioning: "T(3) × Z(2) give 6 frames")

        // A frame listed under a number outside the sequence.
        let renamed = file.rebuilt { entries in
            entries.map { entry in
                var entry = entry
                if entry.key == "ImageDataSeq|3!" { entry.key = "ImageDataSeq|9!" }
                return entry
            }
        }
        expectFailure(dir, "renamed.nd2", renamed, .corrupt, mentioning: "ImageDataSeq|9!")

        // A frame missing from the map.
        let missing = file.rebuilt { $0.filter { $0.key != "ImageDataSeq|2!" } }
        expectFailure(dir, "missing.nd2", missing, .corrupt, mentioning: "lists 3 ImageDataSeq chunks")
    }

    @Test("damaged metadata and damaged zlib frames")
    func damagedContent() throws {
        let dir = try TemporaryDirectory()
        let (zlib, _) = try sample(dir, compression: .zlib())
        let frame = zlib.payloadOffset("ImageDataSeq|1!")
        var broken = zlib
        for i in (frame + 10)..<(frame + 20) { broken.bytes[i] ^= 0x5A }
        expectFailure(dir, "zlib.nd2", broken.bytes, .corrupt, offset: frame + 8, mentioning: "frame 1")

        // A level that declares more items than it holds.
        var levels = zlib
        let key = "ImageMetadataSeqLV|0!"
        let start = levels.payloadOffset(key)
        levels.bytes.put(le: UInt32(1_000_000), at: start + 2 + 2 * 19)  // SLxPictureMetadata's item count
        expectFailure(dir, "levels.nd2", levels.bytes, .corrupt, mentioning: "LV metadata undecodable")

        // An unknown LV type code.
        var types = zlib
        types.bytes[start] = 10
        expectFailure(dir, "types.nd2", types.bytes, .corrupt, offset: start, mentioning: "unknown entry type 10")
    }

    @Test("a compressed LV block (type 76) is expanded")
    func compressedMetadata() throws {
        let dir = try TemporaryDirectory()
        let (file, frames) = try sample(dir)
        let key = "ImageMetadataSeqLV|0!"
        let start = file.payloadOffset(key)
        let original = Array(file.bytes[start..<(start + file.entry(key).size)])
        // Type byte, one byte, 10 skipped bytes, then the zlib stream of the whole payload.
        let compressed: [UInt8] = [76, 0] + [UInt8](repeating: 0, count: 10) + storedZlib(original)
        let path = try dir.write("compressed.nd2", file.rebuilt(extra: [(key, compressed)]))
        let reader = try ND2Reader(path: path)
        #expect(reader.metadata.fileChannels.map(\.name) == Self.spec.channelInfos.map(\.name))
        #expect(reader.info.pixelSizeUm[0] == 0.325)
        #expect(try reader.frame(3) == frames[3])

        // The same block with a damaged stream is a clear error.
        var bad = compressed
        bad[bad.count - 1] ^= 0xFF  // Adler-32
        expectFailure(
            dir, "bad-compressed.nd2", file.rebuilt(extra: [(key, bad)]), .corrupt, mentioning: "compressed block")
    }

    @Test("without CustomData|AcqTimesCache! the frames' own timestamps are used")
    func timestampFallback() throws {
        let dir = try TemporaryDirectory()
        let (file, _) = try sample(dir)
        let path = try dir.write("no-cache.nd2", file.rebuilt { $0.filter { $0.key != "CustomData|AcqTimesCache!" } })
        let reader = try ND2Reader(path: path)
        #expect(reader.info.frames.map(\.relativeTimeMs) == Self.spec.times())
    }

    @Test("random damage never crashes the reader (the fuzz entry point swallows only MicroscopyIOError)")
    func mutations() throws {
        let dir = try TemporaryDirectory()
        let (raw, _) = try sample(dir)
        let (zlib, _) = try sample(dir, compression: .zlib())
        var rng = SplitMix64(seed: 2024)
        for round in 0..<400 {
            var bytes = (round % 2 == 0 ? raw : zlib).bytes
            // Damage near structure more often than inside pixels: the first chunks and the map.
            let hot = [0..<256, 4096..<(4096 + 1024), (bytes.count - 600)..<bytes.count]
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let range = hot[Int(rng.next() % 3)]
                let at = range.lowerBound + Int(rng.next() % UInt64(range.count))
                switch rng.next() % 4 {
                case 0: bytes[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
                case 1: bytes[at] = 0xFF
                case 2: bytes[at] = 0
                default:
                    if at + 4 <= bytes.count { bytes.put(le: UInt32(truncatingIfNeeded: rng.next()), at: at) }
                }
            }
            if rng.next() % 5 == 0 { bytes.removeLast(Int(rng.next() % UInt64(bytes.count))) }
            ND2Fuzz.run(path: try dir.write("m\(round).nd2", bytes))
        }
    }

    @Test("planes that do not exist")
    func outOfRange() throws {
        let dir = try TemporaryDirectory()
        let (file, _) = try sample(dir)
        let reader = try ND2Reader(path: dir.write("ok.nd2", file.bytes))
        for index in [
            PlaneIndex(frame: 4, channel: 0), PlaneIndex(frame: -1, channel: 0), PlaneIndex(frame: 0, channel: 2),
            PlaneIndex(series: 1, frame: 0, channel: 0), PlaneIndex(level: 1, frame: 0, channel: 0),
        ] {
            #expect(throws: MicroscopyIOError.self) { try reader.plane(index) }
        }
        #expect(throws: MicroscopyIOError.self) { try reader.frame(4) }
    }
}

@Suite("ND2Reader on v2 files with XML metadata")
struct ND2XMLMetadataTests {
    /// A v2-style file: our writer's frames, with the LV metadata chunks swapped for XML ones
    /// (nd2-format.md §5.3; no real v2 file was available, so the XML follows the format notes).
    @Test("XML attributes, channels and loops are read like LV ones")
    func xmlMetadata() throws {
        let dir = try TemporaryDirectory()
        var spec = ND2Case(pixelType: .uint16, width: 8, height: 4, channels: 2, loops: [("T", 2), ("Z", 2)])
        spec.compression = .none
        let frames = spec.frames()
        let lvPath = dir.path("lv.nd2")
        try spec.write(lvPath, frames: frames)
        let file = ND2Bytes(try readBytes(lvPath))
        let widthBytes = Int(
            file.bytes.le(UInt32.self, at: file.valueOffset(of: "uiWidthBytes", type: 3, in: "ImageAttributesLV!")))

        func field(_ name: String, _ type: String, _ value: String) -> String {
            "<\(name) runtype=\"\(type)\" value=\"\(value)\"/>"
        }
        let attributes = """
            <?xml version="1.0" encoding="UTF-8"?>
            <variant version="1.0"><no_name runtype="CLxListVariant">
            \(field("uiWidth", "lx_uint32", "8"))\(field("uiWidthBytes", "lx_uint32", "\(widthBytes)"))
            \(field("uiHeight", "lx_uint32", "4"))\(field("uiComp", "lx_uint32", "2"))
            \(field("uiBpcInMemory", "lx_uint32", "16"))\(field("uiBpcSignificant", "lx_uint32", "12"))
            \(field("uiSequenceCount", "lx_uint32", "4"))\(field("eCompression", "lx_int32", "2"))
            </no_name></variant>
            """
        let picture = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- picture metadata -->
            <variant version="1.0"><no_name runtype="CLxListVariant">
            \(field("dCalibration", "double", "0.25"))\(field("bCalibrated", "bool", "true"))
            \(field("wsObjectiveName", "CLxStringW", "Plan &amp; Apo 40x"))
            \(field("dXPos", "double", "10.5"))\(field("dYPos", "double", "-3"))\(field("dZPos", "double", "7"))
            <sPicturePlanes runtype="CLxListVariant">\(field("uiCount", "lx_uint32", "2"))
            <sPlaneNew runtype="CLxListVariant">
            <a0 runtype="CLxListVariant">\(field("sDescription", "CLxStringW", "DAPI &lt;blue&gt;"))\(field("uiColor", "lx_uint32", "16711680"))</a0>
            <a1 runtype="CLxListVariant">\(field("sDescription", "CLxStringW", "GFP"))\(field("uiColor", "lx_uint32", "65280"))</a1>
            </sPlaneNew></sPicturePlanes>
            </no_name></variant>
            """
        func loop(_ type: Int, _ count: Int, _ extra: String = "", next: String = "") -> String {
            """
            \(field("eType", "lx_uint32", "\(type)"))
            <uLoopPars runtype="CLxListVariant"><i0000000000 runtype="CLxListVariant">\(field("uiCount", "lx_uint32", "\(count)"))\(extra)</i0000000000></uLoopPars>
            \(next.isEmpty ? "" : "<ppNextLevelEx runtype=\"CLxListVariant\"><i0000000000 runtype=\"CLxListVariant\">\(next)</i0000000000></ppNextLevelEx>")
            """
        }
        let zLoop = loop(4, 2, field("dZStep", "double", "0.5"))
        let tLoop = loop(1, 2, field("dStart", "double", "0") + field("dPeriod", "double", "100"), next: zLoop)
        let experiment = """
            <?xml version="1.0" encoding="UTF-8"?>
            <variant version="1.0"><no_name runtype="CLxListVariant">\(tLoop)</no_name></variant>
            """
        var bytes = file.rebuilt(
            extra: [
                ("ImageAttributes!", Array(attributes.utf8)), ("ImageMetadataSeq|0!", Array(picture.utf8)),
                ("ImageMetadata!", Array(experiment.utf8)),
            ]
        ) { entries in entries.filter { !$0.key.contains("LV") } }
        bytes.replaceSubrange(48..<54, with: Array("Ver2.0".utf8))
        let reader = try ND2Reader(path: try dir.write("v2.nd2", bytes))
        #expect(reader.metadata.version == "2.0")
        #expect(reader.info.axes == ["T", "Z", "C", "Y", "X"])
        #expect(reader.info.shape == [2, 2, 2, 4, 8])
        #expect(reader.info.significantBits == 12)
        #expect(reader.metadata.fileChannels.map(\.name) == ["DAPI <blue>", "GFP"])
        #expect(reader.metadata.fileChannels.map(\.color) == ["#0000ff", "#00ff00"])
        #expect(reader.info.pixelSizeUm == [0.25, 0.25, 0.5])
        #expect(reader.info.objective == "Plan & Apo 40x")
        #expect(reader.metadata.objectiveMagnification == 40)
        #expect(reader.info.loops.map(\.type) == ["TimeLoop", "ZStackLoop"])
        #expect(reader.info.frames[0].stageUm == [10.5, -3, 7 - 0.5 * 0])  // home index (2-1)/2 = 0
        for (f, planes) in frames.enumerated() {
            #expect(try reader.frame(f) == planes)
        }

        // Broken XML is a clear error naming the chunk.
        let broken = file.rebuilt(extra: [("ImageAttributes!", Array("<variant><no_name>".utf8))]) { entries in
            entries.filter { $0.key != "ImageAttributesLV!" }
        }
        let path = try dir.write("broken.nd2", broken)
        let error = #expect(throws: MicroscopyIOError.self) { try ND2Reader(path: path) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("ImageAttributes!") == true, "\(String(describing: error))")
    }
}
