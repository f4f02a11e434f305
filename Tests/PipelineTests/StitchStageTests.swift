import Foundation
import ImageKit
import LMDTestSupport
import MicroscopyIO
import Testing
@testable import Pipeline

/// A synthetic 2×3 multi-position ND2 (nuclei image cut into overlapping tiles, stage positions
/// with sub-pixel errors) and a run directory.
struct ScanFixture {
    let directory: TemporaryDirectory
    let scanPath: String
    let runDirectory: String
    let source: Image<UInt16>
    let origins: [(y: Int, x: Int)]
    let tileWidth = 200, tileHeight = 160

    init() throws {
        directory = try TemporaryDirectory()
        scanPath = directory.file("scan.nd2")
        source = SyntheticSample.nuclei(width: 620, height: 360, count: 160, seed: 11).image
        var origins: [(Int, Int)] = []
        var stage: [[Double]] = []
        let jitter = [(2, -1), (0, 3), (-2, 1), (1, 0), (-1, -3), (3, 2)]
        for r in 0..<2 {
            for c in 0..<3 {
                let (jy, jx) = jitter[r * 3 + c]
                let y = 10 + r * 130 + jy, x = 10 + c * 170 + jx
                origins.append((y, x))
                // Stage = nominal grid (no jitter), tile centre, 0.5 µm pixels.
                stage.append([Double(10 + c * 170 + tileWidth / 2) * 0.5, Double(10 + r * 130 + tileHeight / 2) * 0.5, 0])
            }
        }
        self.origins = origins
        let width = tileWidth, height = tileHeight, image = source
        let frames = origins.map { o -> [Plane] in
            var bytes = [UInt8](repeating: 0, count: width * height * 2)
            for y in 0..<height {
                for x in 0..<width {
                    let v = image[x: o.1 + x, y: o.0 + y]
                    bytes[(y * width + x) * 2] = UInt8(v & 0xff)
                    bytes[(y * width + x) * 2 + 1] = UInt8(v >> 8)
                }
            }
            return [Plane(width: width, height: height, pixelType: .uint16, bytes: bytes)]
        }
        try ND2Writer.write(
            path: scanPath, frames: frames, channels: [ChannelInfo(name: "DAPI", index: 0)],
            loops: [ExperimentLoop(axis: "P", type: "XYPosLoop", count: 6, nestingLevel: 0)], pixelSizeUm: 0.5,
            stageUm: stage)
        runDirectory = directory.file("run")
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
    }

    func context(_ path: String? = nil, previous: [String: StageResult] = [:]) throws -> StageContext {
        let file = path ?? scanPath
        let stat = try #require(FileOps.stat(file))
        let input = InputFile(
            path: file, originalName: URL(fileURLWithPath: file).lastPathComponent, size: stat.size,
            mtimeNs: stat.mtimeNs, sha256: try FileOps.sha256(ofFile: file), originalPath: file)
        return StageContext(runID: 1, runDirectory: runDirectory, input: input, previous: previous, logger: quietLogger)
    }

    func stage<S>(_ yaml: String, _ type: S.Type) throws -> S {
        let profile = try parseProfile(yaml, path: directory.file("profile.yml"))
        return try #require(profile.stages.compactMap { $0 as? S }.first)
    }
}

@Suite("stitch stage")
struct StitchStageTests {
    @Test("a multi-position scan is stitched and the next stage segments the mosaic")
    func stitchThenSegment() async throws {
        let f = try ScanFixture()
        let yaml = """
            stages: [stitch, segment]
            Stitching: {channel: DAPI, tile_size: 128}
            NucleusSegmentation: {}
            """
        let stitch = try f.stage(yaml, StitchStage.self)
        let segment = try f.stage(yaml, SegmentStage.self)
        let result = try await stitch.run(try f.context())
        #expect(result.artifacts.map(\.kind) == ["mosaic", "stitch_report", "tile_positions"])
        #expect(result.metrics["tiles"] == 6)
        #expect(result.metrics["accepted_pairs"] == 7, "\(result.message)")
        let mosaicPath = "\(f.runDirectory)/mosaic.ome.tif"
        let mosaic = try AcquisitionFile.open(path: mosaicPath)
        // Jitter is ±3 px: the mosaic spans the true extent of the tiles.
        let height = f.origins.map { $0.y + f.tileHeight }.max()! - f.origins.map(\.y).min()!
        let width = f.origins.map { $0.x + f.tileWidth }.max()! - f.origins.map(\.x).min()!
        #expect(mosaic.info.width == width && mosaic.info.height == height)
        #expect(mosaic.info.pixelSizeUm[0] == 0.5)
        let positions = try jsonObject("\(f.runDirectory)/positions.json")
        #expect((positions["tiles"] as? [[String: Any]])?.count == 6)
        let report = try jsonObject("\(f.runDirectory)/stitch.json")
        #expect(report["stage_to_mosaic"] is [String: Any])
        #expect((report["pairs"] as? [[String: Any]])?.count == 7)

        let context = try f.context(previous: ["stitch": result])
        #expect(context.imagePath == mosaicPath)
        let segmented = try await segment.run(context)
        let mask = try AcquisitionFile.open(path: "\(f.runDirectory)/\(try #require(segmented.artifacts.first).path)")
        #expect(mask.info.width == width && mask.info.height == height)
        #expect((segmented.metrics["objects"] ?? 0) > 50)
    }

    @Test("a single-field input passes through: no mosaic, later stages read the input")
    func singleFieldPassesThrough() async throws {
        let f = try ScanFixture()
        let tiff = f.directory.file("field.tif")
        try TIFFWriter.write(f.source, to: tiff)
        let stitch = try f.stage("stages: [stitch]", StitchStage.self)
        let context = try f.context(tiff)
        let result = try await stitch.run(context)
        #expect(result.artifacts.isEmpty)
        #expect(result.message.contains("nothing to stitch"))
        #expect(try f.context(tiff, previous: ["stitch": result]).imagePath == tiff)
        #expect(!FileManager.default.fileExists(atPath: "\(f.runDirectory)/mosaic.ome.tif"))
    }

    @Test("bad Stitching keys are refused with their place")
    func configErrors() throws {
        let unknown = profileError("stages: [stitch]\nStitching: {blend: average}\n")
        #expect(unknown?.message.contains("linear") == true)
        #expect(profileError("stages: [stitch]\nStitching: {tile_size: 100}\n")?.message.contains("multiple of 16") == true)
        #expect(profileError("stages: [stitch]\nStitching: {orientation: sideways}\n")?.message.contains("flip-y") == true)
        #expect(profileError("stages: [stitch]\nStitching: {max_shfit: 3}\n") != nil)
    }

    @Test("an unknown registration channel fails the stage and leaves no mosaic")
    func unknownChannel() async throws {
        let f = try ScanFixture()
        let stitch = try f.stage("stages: [stitch]\nStitching: {channel: GFP}\n", StitchStage.self)
        let failure = await stageFailure { try await stitch.run(try f.context()) }
        let error = try #require(failure as? PipelineError)
        #expect(error.code.rawValue == "stitch_invalidParameter")
        #expect(error.message.contains("DAPI"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.runDirectory).isEmpty)
    }
}
