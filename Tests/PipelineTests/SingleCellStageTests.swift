import Foundation
import ImageKit
import LMDTestSupport
import MicroscopyIO
import SingleCell
import Testing
@testable import Pipeline

/// An input image, a sidecar label mask and a run directory: enough for extract, featurize,
/// select and cut without a segment stage.
struct SingleCellFixture {
    let directory: TemporaryDirectory
    let inputPath: String
    let runDirectory: String
    let cellCount: Int

    init(size: Int = 160, count: Int = 12) throws {
        directory = try TemporaryDirectory()
        inputPath = directory.file("plate.tif")
        let sample = SyntheticSample.nuclei(width: size, height: size, count: count, seed: 5)
        try TIFFWriter.write(sample.image, to: inputPath)
        try TIFFWriter.write(sample.labels, to: directory.file("plate.mask.tif"))
        let regions = LabelKernels.regions(sample.labels)
        cellCount = (1..<(regions.maxLabel + 1)).filter { regions.area[$0] > 0 }.count
        runDirectory = directory.file("run")
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
    }

    func context(previous: [String: StageResult] = [:]) throws -> StageContext {
        let stat = try #require(FileOps.stat(inputPath))
        let input = InputFile(path: inputPath, originalName: "plate.tif", size: stat.size, mtimeNs: stat.mtimeNs,
                              sha256: try FileOps.sha256(ofFile: inputPath), originalPath: inputPath)
        return StageContext(runID: 1, runDirectory: runDirectory, input: input, previous: previous, logger: quietLogger)
    }

    func stage<S>(_ yaml: String, _ type: S.Type) throws -> S {
        let profile = try parseProfile(yaml, path: directory.file("profile.yml"))
        return try #require(profile.stages.compactMap { $0 as? S }.first)
    }
}

/// The error a stage run throws, or nil.
func stageFailure(_ body: () async throws -> StageResult) async -> (any Error)? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}

@Suite("single-cell stages")
struct SingleCellStageTests {
    @Test("extract → featurize → select → cut on a sidecar mask: h5sc, features.csv, selection.json, cut file")
    func wholeChain() async throws {
        let f = try SingleCellFixture()
        let yaml = """
            stages: [extract, featurize, select, cut]
            HDF5CellExtraction: {image_size: 32, threads: 2}
            CellFeaturizer: {mode: both}
            LMDSelection:
              calibration_points: [[0, 0], [0, 150], [150, 75]]
              cell_sets:
                - {name: big, well: A1, top: {n: 3, by: area_cytosol}}
                - {name: rest, well: B2, select: area_cytosol <= 0 or not (area_cytosol > 0)}
            """
        let extract = try f.stage(yaml, ExtractStage.self)
        let featurize = try f.stage(yaml, FeaturizeStage.self)
        let select = try f.stage(yaml, SelectStage.self)
        let cut = try f.stage(yaml, CutStage.self)
        var previous: [String: StageResult] = [:]
        previous["extract"] = try await extract.run(try f.context())
        let reader = try H5SCReader(path: "\(f.runDirectory)/single_cells.h5sc")
        #expect(reader.layout.channelNames == ["seg_all_cytosol", "C0"])  // the input channel's name
        #expect(reader.layout.imageSize == 32)
        let removed = try #require(contents("\(f.runDirectory)/removed_classes.csv"))
        #expect(reader.cellCount + removed.split(separator: "\n").count == f.cellCount)

        previous["featurize"] = try await featurize.run(try f.context(previous: previous))
        let table = try SingleCellJob.readCSV(path: "\(f.runDirectory)/features.csv")
        #expect(table.rowCount == f.cellCount)
        #expect(table.column("area_cytosol") != nil)
        // scPortrait's columns from the h5sc (one whole-cell mask → region `cytosol`); cells at
        // the border have no stack, so their scPortrait columns are empty.
        let scArea = try #require(table.column("cytosol_area"))
        #expect(table.column("C0_mean_cytosol") != nil)
        #expect(scArea.values.filter(\.isNaN).count == f.cellCount - reader.cellCount)

        previous["select"] = try await select.run(try f.context(previous: previous))
        let document = try SelectionDocument.load(path: "\(f.runDirectory)/selection.json")
        #expect(document.sets.map(\.name) == ["big", "rest"])
        #expect(document.sets[0].cellIDs.count == 3)
        #expect(document.sets[1].cellIDs.isEmpty)
        let areas = try #require(table.column("area_cytosol")).values
        let biggest = zip(table.cellIDs, areas).sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(3).map(\.0).sorted()
        #expect(document.sets[0].cellIDs.sorted() == biggest)

        let result = try await cut.run(try f.context(previous: previous))
        let xml = try #require(result.artifacts.first { $0.kind == "cut_xml" })
        #expect(xml.path == "plate_big.xml")  // the empty set is left out of the file
        let recipe = try CutRecipe.load(path: "\(f.runDirectory)/cut.json")
        #expect(recipe.calibration == [[0, 0], [0, 150], [150, 75]])
        #expect(recipe.maskPath.hasSuffix("plate.mask.tif"))
    }

    @Test("a <stem>.select.yml sidecar replaces the profile's sets; a symlinked one is refused")
    func sidecarOverrides() async throws {
        let f = try SingleCellFixture()
        let yaml = "stages: [select]\nLMDSelection:\n  cell_sets: [{name: all, classes: all, well: A1}]\n"
        let select = try f.stage(yaml, SelectStage.self)
        try "cell_sets:\n  - {name: two, well: C3, classes: [1, 2]}\n".write(toFile: f.directory.file("plate.select.yml"), atomically: true, encoding: .utf8)
        _ = try await select.run(try f.context())
        let document = try SelectionDocument.load(path: "\(f.runDirectory)/selection.json")
        #expect(document.sets.map(\.name) == ["two"])
        #expect(document.sets[0].cellIDs == [1, 2])
        #expect(document.source.hasPrefix("sidecar:"))

        try FileManager.default.removeItem(atPath: f.directory.file("plate.select.yml"))
        try "cell_sets:\n  - {name: x, well: A1, classes: all}\n".write(toFile: f.directory.file("elsewhere.yml"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: f.directory.file("plate.select.yml"), withDestinationPath: f.directory.file("elsewhere.yml"))
        let error = await stageFailure { try await select.run(try f.context()) } as? PipelineError
        #expect(error?.code == .config)
        #expect(error?.message.contains("symlink") == true)
    }

    @Test("extraction with no cell away from the border fails clearly and writes no file")
    func noCellToExtract() async throws {
        let f = try SingleCellFixture(size: 60, count: 4)
        let extract = try f.stage("stages: [extract]\nHDF5CellExtraction: {image_size: 128}\n", ExtractStage.self)
        let error = await stageFailure { try await extract.run(try f.context()) } as? PipelineError
        #expect(error?.code.rawValue == "extract_noCells")
        #expect(error?.message.contains("closer than image_size/2 = 64 px") == true, "\(String(describing: error))")
        #expect(FileManager.default.fileExists(atPath: "\(f.runDirectory)/single_cells.h5sc") == false)
    }

    @Test("a cancelled extraction stops and never leaves a partial .h5sc")
    func cancelledExtraction() async throws {
        let f = try SingleCellFixture(size: 400, count: 60)
        let extract = try f.stage("stages: [extract]\nHDF5CellExtraction: {image_size: 32, threads: 1}\n", ExtractStage.self)
        let context = try f.context()
        let task = Task { try await extract.run(context) }
        task.cancel()
        let outcome = await task.result
        #expect((try? outcome.get()) == nil, "a cancelled stage must not report success")
        let path = "\(f.runDirectory)/single_cells.h5sc"
        if FileManager.default.fileExists(atPath: path) {
            // Finished before the cancel was seen: then the file is complete.
            #expect(try H5SCReader(path: path).cellCount > 0)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: f.runDirectory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test("selecting by a feature without a featurize stage says what is missing")
    func featureRuleWithoutFeatures() async throws {
        let f = try SingleCellFixture()
        let select = try f.stage("stages: [select]\nLMDSelection:\n  cell_sets: [{name: big, well: A1, select: area_cytosol > 5}]\n", SelectStage.self)
        let error = await stageFailure { try await select.run(try f.context()) } as? PipelineError
        #expect(error?.code == .config)
        #expect(error?.message.contains("no featurize stage") == true, "\(String(describing: error))")
        #expect(FileManager.default.fileExists(atPath: "\(f.runDirectory)/selection.json") == false)
    }

    @Test("featurize in scPortrait mode needs the extract stage; bad sections are refused at load")
    func configurationErrors() async throws {
        let f = try SingleCellFixture()
        let featurize = try f.stage("stages: [featurize]\nCellFeaturizer: {mode: scportrait}\n", FeaturizeStage.self)
        let error = await stageFailure { try await featurize.run(try f.context()) } as? PipelineError
        #expect(error?.message.contains("extract stage") == true)
        #expect(profileError("stages: [extract]\nHDF5CellExtraction: {image_size: 31}\n")?.message.contains("even") == true)
        #expect(profileError("stages: [extract]\nHDF5CellExtraction: {normalization_range: [0.9, 0.1]}\n") != nil)
        #expect(profileError("stages: [extract]\nHDF5CellExtraction: {compression: zstd}\n") != nil)
        #expect(profileError("stages: [featurize]\nCellFeaturizer: {mode: deep}\n") != nil)
        #expect(profileError("stages: [featurize]\nCellFeaturizer: {channel_names: [DAPI]}\n")?.message.contains("lowercase") == true)
        // scPortrait's own keys are accepted unchanged.
        _ = try parseProfile("""
            stages: [extract, featurize]
            HDF5CellExtraction: {threads: 1, image_size: 128, cache: ".", normalize_output: True, normalization_range: [0.001, 0.999], compression: True}
            CellFeaturizer: {batch_size: 900, dataloader_worker_number: 0, inference_device: "cpu", label: "all_channels"}
            """)
    }

    @Test("features.csv round-trips; malformed tables name the line and column")
    func featureCSV() throws {
        let table = try FeatureTable(cellIDs: [3, 10], columns: [
            .init(name: "area", values: [120, 7]), .init(name: "mean", values: [0.1, .nan]), .init(name: "neg", values: [-2.5e-7, 1e20]),
        ])
        let directory = try TemporaryDirectory()
        let path = try directory.write("f.csv", SingleCellJob.csv(table))
        #expect(contents(path)?.hasPrefix("cell_id,area,mean,neg\n3,120,0.1,-2.5e-07\n") == true)
        let back = try SingleCellJob.readCSV(path: path)
        #expect(back.cellIDs == [3, 10])
        #expect(back.column("area")?.values == [120, 7])
        #expect(back.column("mean")?.values[1].isNaN == true)
        #expect(back.column("neg")?.values == [-2.5e-7, 1e20])
        let crlf = try directory.write("crlf.csv", "id,a\r\n1, 2.5 \r\n\r\n2,nan\r\n")
        #expect(try SingleCellJob.readCSV(path: crlf).column("a")?.values[0] == 2.5)
        for (text, location) in [("cell_id,a\n1,2\n2,x\n", "line 3, column a"), ("cell_id,a\n1,2,3\n", "line 2"),
                                 ("cell_id,a\n1\n", "line 2"), ("a,b\n1,2\n", "line 1"), ("cell_id,a\n1.5,2\n", "line 2")] {
            let bad = try directory.write("bad.csv", text)
            let error = pipelineError { () throws(PipelineError) in try SingleCellJob.readCSV(path: bad) }
            #expect(error?.code == .inputInvalid)
            #expect(error?.location == location, "\(text): \(String(describing: error))")
        }
    }
}
