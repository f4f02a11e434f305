import Foundation
import ImageKit
import MicroscopyIO
import Testing

/// What to write in one round trip.
struct ND2Case: Sendable, CustomTestStringConvertible {
    var pixelType: PixelType
    var width: Int
    var height: Int
    var channels: Int
    /// 3 for RGB.
    var samples = 1
    var loops: [(String, Int)] = []
    var compression: ND2Writer.Compression = .none

    var testDescription: String {
        let loopText = loops.map { "\($0.0)\($0.1)" }.joined()
        return "\(pixelType) \(width)×\(height) C\(channels)\(samples == 3 ? " RGB" : "") \(loopText) \(compression)"
    }

    var frameCount: Int { loops.reduce(1) { $0 * $1.1 } }

    var experimentLoops: [ExperimentLoop] {
        loops.enumerated().map { i, loop in
            let type = ["T": "TimeLoop", "P": "XYPosLoop", "Z": "ZStackLoop"][loop.0] ?? "CustomLoop"
            return ExperimentLoop(axis: loop.0, type: type, count: loop.1, nestingLevel: i)
        }
    }

    var channelInfos: [ChannelInfo] {
        let names = ["DAPI", "GFP / 488", "mCherry", "Cy5 λ"]
        let colors = ["#0000ff", "#00ff00", "#ff0000", "#a0f60f"]
        return (0..<channels).map { c in
            samples == 3
                ? ChannelInfo(name: "Brightfield", index: c, color: "#ffffff")
                : ChannelInfo(
                    name: names[c % names.count], index: c, color: colors[c % colors.count],
                    emissionNm: 450 + Double(c) * 75, excitationNm: 405 + Double(c) * 70)
        }
    }

    /// Deterministic pseudo-random planes: frames[f][component].
    func frames(seed: UInt64 = 7) -> [[Plane]] {
        var rng = SplitMix64(seed: seed)
        return (0..<frameCount).map { _ in
            (0..<(channels * samples)).map { _ in
                let count = width * height
                var bytes: [UInt8] = []
                bytes.reserveCapacity(count * pixelType.byteCount)
                for _ in 0..<count {
                    let r = rng.next()
                    switch pixelType {
                    case .uint8: bytes.append(UInt8(truncatingIfNeeded: r))
                    case .uint16: bytes.append(le: UInt16(truncatingIfNeeded: r))
                    case .float32: bytes.append(le: Float(Double(r % 100_000) / 7.0 - 5_000).bitPattern)
                    default: fatalError("not an ND2 pixel type")
                    }
                }
                return Plane(width: width, height: height, pixelType: pixelType, bytes: bytes)
            }
        }
    }

    func stage() -> [[Double]] {
        (0..<frameCount).map { f -> [Double] in
            let n = Double(f)
            return [1000.25 + n * 10.5, -2000.125 - n, 50 + n * 0.3]
        }
    }

    func times() -> [Double] {
        (0..<frameCount).map { Double($0) * 250.5 + 12.25 }
    }

    /// Writes the case to `path`.
    func write(_ path: String, frames: [[Plane]]) throws {
        try ND2Writer.write(
            path: path, frames: frames, channels: channelInfos, loops: experimentLoops, pixelSizeUm: 0.325,
            stageUm: stage(), timesMs: times(), compression: compression,
            options: ND2Writer.Options(
                zStepUm: 0.5, objective: "Plan Apo λ 60x", objectiveNA: 1.4,
                positionNames: (0..<16).map { "well \($0)" }, acquisitionStartJDN: 2_460_000.5))
    }
}

@Suite("ND2Writer round trips")
struct ND2WriterTests {
    static let cases: [ND2Case] = [
        ND2Case(pixelType: .uint16, width: 37, height: 23, channels: 2, loops: [("T", 2), ("Z", 3)]),
        ND2Case(
            pixelType: .uint16, width: 37, height: 23, channels: 2, loops: [("T", 2), ("Z", 3)],
            compression: .zlib()),
        ND2Case(pixelType: .uint8, width: 33, height: 17, channels: 1),
        ND2Case(pixelType: .uint8, width: 33, height: 17, channels: 1, compression: .zlib(level: 9)),
        ND2Case(pixelType: .uint8, width: 31, height: 9, channels: 1, samples: 3, loops: [("T", 3)]),
        ND2Case(
            pixelType: .uint8, width: 31, height: 9, channels: 1, samples: 3, loops: [("T", 3)],
            compression: .zlib(level: 1)),
        ND2Case(pixelType: .float32, width: 19, height: 7, channels: 3, loops: [("P", 4)]),
        ND2Case(
            pixelType: .float32, width: 19, height: 7, channels: 1, loops: [("P", 2), ("Z", 2)],
            compression: .zlib()),
        ND2Case(pixelType: .uint16, width: 256, height: 16, channels: 4, loops: [("T", 2)], compression: .zlib()),
        ND2Case(pixelType: .uint16, width: 64, height: 8, channels: 1, loops: [("P", 3), ("T", 2), ("Z", 2)]),
        // Frames of several 1 MiB row bands (the reader decodes interleaved frames band by band).
        ND2Case(pixelType: .uint16, width: 1025, height: 600, channels: 2, loops: [("T", 2)]),
        ND2Case(
            pixelType: .uint16, width: 1025, height: 600, channels: 2, loops: [("T", 2)], compression: .zlib(level: 1)),
    ]

    @Test("write, then read back identically", arguments: cases)
    func roundTrip(_ spec: ND2Case) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("out.nd2")
        let frames = spec.frames()
        try spec.write(path, frames: frames)
        // Written under a temporary name and renamed: nothing else is left in the folder.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path) == ["out.nd2"])

        let reader = try ND2Reader(path: path)
        let info = reader.info
        #expect(info.width == spec.width && info.height == spec.height)
        #expect(info.pixelType == spec.pixelType)
        #expect(info.frameCount == spec.frameCount)
        var axes = spec.loops.map(\.0)
        var shape = spec.loops.map(\.1)
        if spec.channels > 1 {
            axes.append("C")
            shape.append(spec.channels)
        }
        axes += ["Y", "X"] + (spec.samples == 3 ? ["S"] : [])
        shape += [spec.height, spec.width] + (spec.samples == 3 ? [3] : [])
        #expect(info.axes == axes)
        #expect(info.shape == shape)
        #expect(info.loops == spec.experimentLoops)
        #expect(reader.metadata.compression == (spec.compression == .none ? "none" : "zlib"))
        #expect(reader.metadata.widthBytes % 4 == 0)
        #expect(reader.metadata.widthBytes >= spec.width * spec.channels * spec.samples * spec.pixelType.byteCount)

        // Channels: names, colours and wavelengths survive; RGB reads as R, G, B.
        let fileChannels = reader.metadata.fileChannels
        #expect(fileChannels.map(\.name) == spec.channelInfos.map(\.name))
        #expect(fileChannels.map(\.color) == spec.channelInfos.map(\.color))
        if spec.samples == 1 {
            #expect(fileChannels == spec.channelInfos)
            #expect(info.channels == spec.channelInfos)
        } else {
            #expect(info.channels.map(\.name) == ["R", "G", "B"])
        }
        #expect(info.pixelSizeUm[0] == 0.325 && info.pixelSizeUm[1] == 0.325)
        #expect(info.pixelSizeUm[2] == (spec.loops.contains { $0.0 == "Z" } ? 0.5 : nil))
        #expect(info.objective == "Plan Apo λ 60x")
        #expect(reader.metadata.objectiveMagnification == 60)
        #expect(reader.metadata.objectiveNA == 1.4)
        #expect(reader.metadata.acquisitionStartJDN == 2_460_000.5)

        // Pixels, frame by frame and plane by plane.
        for (f, planes) in frames.enumerated() {
            #expect(try reader.frame(f) == planes, "frame \(f)")
            for (c, plane) in planes.enumerated() {
                #expect(try reader.plane(PlaneIndex(frame: f, channel: c)) == plane, "frame \(f) channel \(c)")
            }
        }

        // The allocation-free path: one set of planes reused for every frame.
        var reused: [Plane] = []
        for (f, planes) in frames.enumerated() {
            try reader.readFrame(f, into: &reused)
            #expect(reused == planes, "readFrame \(f)")
        }
        // (Single-component raw frames are read straight into new storage instead: faster.)
        if frames.count > 1, spec.channels * spec.samples > 1 || spec.compression != .none {
            let before = reused[0].bytes.withUnsafeBytes { $0.baseAddress }
            try reader.readFrame(0, into: &reused)
            #expect(reused[0].bytes.withUnsafeBytes { $0.baseAddress } == before, "storage was not reused")
            #expect(reused == frames[0])
        }

        // Times, stage arrays, and the stage as nd2 reports it (XY point, one z per stack).
        let stage = spec.stage()
        #expect(info.frames.map(\.relativeTimeMs) == spec.times())
        #expect(reader.metadata.measuredStageUm == stage)
        var strides = [Int](repeating: 1, count: spec.loops.count)
        for i in stride(from: spec.loops.count - 2, through: 0, by: -1) {
            strides[i] = strides[i + 1] * spec.loops[i + 1].1
        }
        let pLoop = spec.loops.firstIndex { $0.0 == "P" }
        for frame in info.frames {
            // The first frame of this position (or frame 0 without an XY loop).
            let source = pLoop.map { frame.loopIndex["P"]! * strides[$0] } ?? 0
            let reported = try #require(frame.stageUm)
            for (a, b) in zip(reported, stage[source]) {
                #expect(abs(a - b) < 1e-9, "frame \(frame.index): \(reported) vs \(stage[source])")
            }
        }
        if pLoop != nil {
            let count = spec.loops.first { $0.0 == "P" }!.1
            #expect(reader.metadata.positionNames == (0..<count).map { "well \($0)" })
        }
    }

    @Test("the streaming writer asks for frames in order and passes the caller's error through")
    func streaming() throws {
        let dir = try TemporaryDirectory()
        let spec = ND2Case(pixelType: .uint16, width: 16, height: 4, channels: 2, loops: [("T", 3)])
        let frames = spec.frames()
        var asked: [Int] = []
        try ND2Writer.write(
            path: dir.path("s.nd2"), frameCount: 3, width: 16, height: 4, pixelType: .uint16, planesPerFrame: 2,
            channels: spec.channelInfos, loops: spec.experimentLoops, pixelSizeUm: 1
        ) { (f: Int) throws(MicroscopyIOError) -> [Plane] in
            asked.append(f)
            return frames[f]
        }
        #expect(asked == [0, 1, 2])
        let reader = try ND2Reader(path: dir.path("s.nd2"))
        #expect(try reader.frame(2) == frames[2])
        // No time given: every frame at 0 ms.
        #expect(reader.info.frames.map(\.relativeTimeMs) == [0, 0, 0])

        let failure = MicroscopyIOError(code: .unreadable, path: "/source.tif", message: "source went away")
        let error = #expect(throws: MicroscopyIOError.self) {
            try ND2Writer.write(
                path: dir.path("t.nd2"), frameCount: 3, width: 16, height: 4, pixelType: .uint16, planesPerFrame: 2,
                channels: spec.channelInfos, loops: spec.experimentLoops, pixelSizeUm: 1
            ) { (f: Int) throws(MicroscopyIOError) -> [Plane] in
                if f == 1 { throw failure }
                return frames[f]
            }
        }
        #expect(error?.path == "/source.tif")
        // The partial file was removed.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path) == ["s.nd2"])
    }

    @Test("inconsistent arguments are refused before anything is written")
    func refusals() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("bad.nd2")
        let spec = ND2Case(pixelType: .uint16, width: 8, height: 4, channels: 2, loops: [("T", 2)])
        let frames = spec.frames()
        func expectRefusal(_ text: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("expected a refusal mentioning \(text)")
            } catch let error as MicroscopyIOError {
                #expect(error.code == .writeFailed)
                #expect(error.path == path)
                #expect(error.message.contains(text), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        expectRefusal("give 3 frames") {
            try ND2Writer.write(
                path: path, frames: frames, channels: spec.channelInfos,
                loops: [ExperimentLoop(axis: "T", type: "TimeLoop", count: 3, nestingLevel: 0)], pixelSizeUm: 1)
        }
        expectRefusal("int16") {
            let plane = Plane(width: 2, height: 2, pixelType: .int16, bytes: [UInt8](repeating: 0, count: 8))
            try ND2Writer.write(
                path: path, frames: [[plane]], channels: [ChannelInfo(name: "x", index: 0)], pixelSizeUm: 1)
        }
        expectRefusal("frame 1") {
            var mixed = frames
            mixed[1][0] = Plane(width: 4, height: 4, pixelType: .uint16, bytes: [UInt8](repeating: 0, count: 32))
            try ND2Writer.write(
                path: path, frames: mixed, channels: spec.channelInfos, loops: spec.experimentLoops, pixelSizeUm: 1)
        }
        expectRefusal("planes per channel") {
            try ND2Writer.write(
                path: path, frames: frames.map { $0 + $0 }, channels: spec.channelInfos, loops: spec.experimentLoops,
                pixelSizeUm: 1)
        }
        expectRefusal("stageUm") {
            try ND2Writer.write(
                path: path, frames: frames, channels: spec.channelInfos, loops: spec.experimentLoops, pixelSizeUm: 1,
                stageUm: [[1, 2, 3]])
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).isEmpty)
    }
}

// MARK: - Python interop

/// The anchors venv made by ../shared/tools/setup-anchors.sh (`$LMDFLOW_ANCHORS_VENV`, else
/// `~/.cache/lmdflow-anchors`), if its Python can import nd2.
let anchorsPython: String? = {
    let venv =
        ProcessInfo.processInfo.environment["LMDFLOW_ANCHORS_VENV"]
        ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/lmdflow-anchors")
    let python = (venv as NSString).appendingPathComponent("bin/python")
    guard FileManager.default.isExecutableFile(atPath: python) else { return nil }
    let check = Process()
    check.executableURL = URL(fileURLWithPath: python)
    check.arguments = ["-c", "import nd2"]
    check.standardOutput = FileHandle.nullDevice
    check.standardError = FileHandle.nullDevice
    guard (try? check.run()) != nil else { return nil }
    check.waitUntilExit()
    return check.terminationStatus == 0 ? python : nil
}()

/// Reads an ND2 file with the `nd2` package and prints what the interop test compares.
let nd2ReadbackScript = #"""
    import hashlib, json, sys
    import numpy as np
    import nd2

    with nd2.ND2File(sys.argv[1]) as f:
        out = {"sizes": dict(f.sizes), "axes": list(f.sizes), "dtype": str(f.dtype), "is_rgb": bool(f.is_rgb),
               "names": [c.channel.name for c in f.metadata.channels],
               "colors": [c.channel.color.as_hex() for c in f.metadata.channels],
               "voxel": list(f.voxel_size()),
               "loops": [[l.type, l.count, l.nestingLevel] for l in f.experiment], "frames": []}
        indices = f.loop_indices
        for i in range(f.attributes.sequenceCount):
            a = f.read_frame(i)
            if f.is_rgb:
                frames = [a] if a.ndim == 3 else [a[c] for c in range(a.shape[0])]
                planes = [fr[..., s] for fr in frames for s in range(fr.shape[-1])]
            else:
                planes = [a] if a.ndim == 2 else [a[c] for c in range(a.shape[0])]
            ch = f.frame_metadata(i).channels[0]
            p = ch.position.stagePositionUm
            out["frames"].append({
                "sha": [hashlib.sha256(np.ascontiguousarray(pl).astype(pl.dtype.newbyteorder("<")).tobytes()).hexdigest()
                        for pl in planes],
                "time": ch.time.relativeTimeMs, "stage": [p.x, p.y, p.z], "loop": dict(indices[i])})
    print(json.dumps(out))
    """#

@Suite(
    "ND2Writer output read by the Python nd2 package",
    .enabled(if: anchorsPython != nil, "no anchors venv with nd2 (run ../shared/tools/setup-anchors.sh): skipped"))
struct ND2PythonInteropTests {
    static let cases: [ND2Case] = [
        ND2Case(pixelType: .uint16, width: 37, height: 23, channels: 2, loops: [("T", 2), ("Z", 3)]),
        ND2Case(
            pixelType: .uint16, width: 40, height: 12, channels: 3, loops: [("P", 2), ("Z", 2)],
            compression: .zlib()),
        ND2Case(pixelType: .uint8, width: 31, height: 9, channels: 1, samples: 3, loops: [("T", 2)]),
        ND2Case(pixelType: .uint8, width: 31, height: 9, channels: 1, samples: 3, compression: .zlib()),
        ND2Case(pixelType: .float32, width: 19, height: 7, channels: 1, loops: [("P", 3)]),
    ]

    @Test("nd2 sees the same pixels, channels, loops, times and stage", arguments: cases)
    func interop(_ spec: ND2Case) throws {
        let python = try #require(anchorsPython)
        let dir = try TemporaryDirectory()
        let path = dir.path("interop.nd2")
        try spec.write(path, frames: spec.frames())
        let reader = try ND2Reader(path: path)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", nd2ReadbackScript, path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python failed: \(errorText)")
        let result = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])

        let info = reader.info
        #expect(result["axes"] as? [String] == info.axes)
        #expect(result["sizes"] as? [String: Int] == Dictionary(uniqueKeysWithValues: zip(info.axes, info.shape)))
        #expect(result["dtype"] as? String == info.pixelType.rawValue)
        #expect(result["is_rgb"] as? Bool == (spec.samples == 3))
        #expect(result["names"] as? [String] == spec.channelInfos.map(\.name))
        #expect(result["colors"] as? [String] == spec.channelInfos.map { $0.color ?? "" })
        let voxel = try #require(result["voxel"] as? [Double])
        #expect(abs(voxel[0] - 0.325) < 1e-12 && abs(voxel[1] - 0.325) < 1e-12)
        #expect(abs(voxel[2] - (info.pixelSizeUm[2] ?? 1)) < 1e-12)
        let loops = try #require(result["loops"] as? [[Any]])
        #expect(loops.map { $0[0] as? String } == info.loops.map(\.type))
        #expect(loops.map { $0[1] as? Int } == info.loops.map(\.count))
        #expect(loops.map { $0[2] as? Int } == info.loops.map(\.nestingLevel))

        let frames = try #require(result["frames"] as? [[String: Any]])
        #expect(frames.count == info.frameCount)
        for (f, theirs) in frames.enumerated() {
            let ours = try reader.frame(f).map(\.statistics.sha256)
            #expect(theirs["sha"] as? [String] == ours, "frame \(f)")
            let time = try #require(theirs["time"] as? Double)
            #expect(abs(time - (info.frames[f].relativeTimeMs ?? .nan)) < 1e-9, "frame \(f)")
            let stage = try #require(theirs["stage"] as? [Double])
            let ourStage = try #require(info.frames[f].stageUm)
            for (a, b) in zip(stage, ourStage) {
                #expect(abs(a - b) < 1e-6, "frame \(f) stage \(stage) vs \(ourStage)")
            }
            #expect(theirs["loop"] as? [String: Int] == info.frames[f].loopIndex, "frame \(f)")
        }
    }
}
