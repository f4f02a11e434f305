import Catalog
import Foundation
import LMDTestSupport
import ImageKit
import MicroscopyIO
import Testing
@testable import Pipeline

/// A synthetic TIFF and a run directory for the ingest stage.
struct IngestFixture {
    let directory: TemporaryDirectory
    let inputPath: String
    let runDirectory: String

    init(name: String = "slide1.tif", width: Int = 64, height: Int = 48) throws {
        directory = try TemporaryDirectory()
        inputPath = directory.file(name)
        let (image, _) = SyntheticSample.nuclei(width: width, height: height, count: 3, seed: 11)
        try TIFFWriter.write(image, to: inputPath)
        runDirectory = directory.file("run")
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
    }

    /// The input's facts as they were when it was taken (now).
    func takeInput() throws -> InputFile {
        try facts(of: inputPath)
    }

    func facts(of path: String) throws -> InputFile {
        let stat = try #require(FileOps.stat(path))
        return InputFile(path: path, originalName: URL(fileURLWithPath: path).lastPathComponent, size: stat.size,
                         mtimeNs: stat.mtimeNs, sha256: try FileOps.sha256(ofFile: path))
    }

    func context(_ input: InputFile) -> StageContext {
        StageContext(runID: 1, runDirectory: runDirectory, input: input, previous: [:], logger: quietLogger)
    }

    /// Runs `stage` and returns the `PipelineError` it throws (nil when it succeeds).
    func failure(_ stage: IngestStage, _ input: InputFile) async -> PipelineError? {
        do {
            _ = try await stage.run(context(input))
            return nil
        } catch let error as PipelineError {
            return error
        } catch {
            Issue.record("expected a PipelineError, got \(error)")
            return nil
        }
    }
}

@Suite("IngestStage")
struct IngestStageTests {
    @Test("a TIFF is recognised and ingest.json records its facts")
    func tiffSucceeds() async throws {
        let fixture = try IngestFixture()
        let input = try fixture.takeInput()
        let result = try await IngestStage().run(fixture.context(input))
        #expect(result.artifacts.count == 1)
        let artifact = try #require(result.artifacts.first)
        #expect(artifact.path == "ingest.json")
        #expect(artifact.kind == "ingest")
        #expect(!artifact.publish)
        let path = "\(fixture.runDirectory)/ingest.json"
        #expect(try FileOps.sha256(ofFile: path) == artifact.sha256)
        #expect(result.message.hasPrefix("tiff 64x48"))
        #expect(result.metrics["width"] == 64)
        #expect(result.metrics["height"] == 48)
        #expect(result.metrics["bytes"] == Double(input.size))

        let json = try jsonObject(path)
        let probe = try #require(json["probe"] as? [String: Any])
        #expect(probe["format"] as? String == "tiff")
        #expect(probe["width"] as? Int == 64)
        let recorded = try #require(json["input"] as? [String: Any])
        #expect(recorded["sha256"] as? String == input.sha256)
    }

    @Test("content changed after it was taken (same size) is input_changed")
    func contentChanged() async throws {
        let fixture = try IngestFixture()
        let input = try fixture.takeInput()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: fixture.inputPath))
        bytes[16] ^= 0xFF  // inside the first strip's compressed data, not the header or IFD
        try bytes.write(to: URL(fileURLWithPath: fixture.inputPath))
        let error = await fixture.failure(IngestStage(), input)
        #expect(error?.code == .inputChanged)
        #expect(error?.stage == "ingest")
        #expect(error?.message.contains("SHA-256") == true)
        #expect(!FileManager.default.fileExists(atPath: "\(fixture.runDirectory)/ingest.json"))

        // Without verify_hash the same-size change goes unnoticed.
        let unverified = try await IngestStage(verifyHash: false).run(fixture.context(input))
        #expect(unverified.artifacts.first?.path == "ingest.json")
    }

    @Test("a size change after it was taken is input_changed even without hashing")
    func sizeChanged() async throws {
        let fixture = try IngestFixture()
        let input = try fixture.takeInput()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: fixture.inputPath))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("more".utf8))
        try handle.close()
        let error = await fixture.failure(IngestStage(verifyHash: false), input)
        #expect(error?.code == .inputChanged)
        #expect(error?.message.contains("size") == true)
    }

    @Test("a missing input is input_unreadable")
    func missingInput() async throws {
        let fixture = try IngestFixture()
        let input = try fixture.takeInput()
        try FileManager.default.removeItem(atPath: fixture.inputPath)
        let error = await fixture.failure(IngestStage(), input)
        #expect(error?.code == .inputUnreadable)
    }

    @Test("a garbage file fails with an input_ code from the probe", arguments: [
        Data("this is not a microscopy image at all".utf8),
        Data([0x49, 0x49]),
        Data(),
    ])
    func garbage(bytes: Data) async throws {
        let fixture = try IngestFixture()
        let path = try fixture.directory.write("garbage.tif", bytes)
        let error = await fixture.failure(IngestStage(), try fixture.facts(of: path))
        let code = try #require(error?.code.rawValue)
        #expect(code.hasPrefix("input_"))
        #expect(code != "input_changed")
        #expect(error?.stage == "ingest")
        #expect(error?.path == path)
    }

    @Test("an unrecognised signature is input_unknownFormat at offset 0")
    func unknownFormat() async throws {
        let fixture = try IngestFixture()
        let path = try fixture.directory.write("notes.tif", "plain text, not an image")
        let error = await fixture.failure(IngestStage(), try fixture.facts(of: path))
        #expect(error?.code.rawValue == "input_unknownFormat")
        #expect(error?.location == "offset 0")
    }

    @Test("a format the profile does not accept is input_invalid")
    func formatNotAccepted() async throws {
        let fixture = try IngestFixture()
        let error = await fixture.failure(IngestStage(formats: ["nd2"]), try fixture.takeInput())
        #expect(error?.code == .inputInvalid)
        #expect(error?.message.contains("tiff") == true)
    }

    @Test("the ingest profile runs end to end through the runner")
    func throughRunner() async throws {
        let fixture = try IngestFixture(name: "sample.ome.tif")
        let layout = StateLayout(stateDirectory: fixture.directory.file("state"))
        try layout.createDirectories()
        let catalog = try Catalog(path: layout.catalog)
        let profile = try parseProfile("stages: [ingest]", path: "/profiles/ingest.yml")
        let facts = try fixture.takeInput()
        _ = try catalog.register(
            InputRecord(path: facts.path, currentPath: facts.path, profile: profile.name, size: facts.size,
                        mtimeNs: facts.mtimeNs, sha256: facts.sha256, state: .queued, firstSeen: Date(),
                        settledAt: Date()),
            configHash: profile.configHash, stageCount: 1, version: LMDFlowVersion.current)
        let claimed = try #require(try catalog.claimNextRun(runDirectory: { "\(layout.runs)/\($0)" }))
        let outcome = await PipelineRunner(catalog: catalog, layout: layout, logger: quietLogger)
            .run(claimed, profile: profile)
        guard case .succeeded(let outputs) = outcome else {
            Issue.record("expected success, got \(outcome)")
            return
        }
        #expect(outputs.contains("\(layout.runs)/\(claimed.run.id!)/ingest.json"))
        let details = try catalog.details(runID: claimed.run.id!)
        #expect(details.stages.first?.message?.hasPrefix("tiff 64x48") == true)
    }
}
