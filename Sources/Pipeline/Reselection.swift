public import Catalog
import Foundation
public import Logging
import SingleCell

/// Re-selects cells on a finished run without segmenting again (`lmdflow select RUN --sets
/// FILE`, and the HTTP API): the run's features and cut recipe are reused, new rules are
/// evaluated, and a new cut-file version is written beside the old ones — in the run directory
/// and in the outbox — and recorded in the catalog. Earlier versions are never touched.
public struct Reselection: Sendable {
    /// The catalog.
    public let catalog: Catalog
    /// The state directory layout (for the outbox).
    public let layout: StateLayout
    /// Where progress is logged.
    public let logger: Logger

    /// Creates a re-selection runner.
    public init(catalog: Catalog, layout: StateLayout, logger: Logger) {
        self.catalog = catalog
        self.layout = layout
        self.logger = logger
    }

    /// What a re-selection made.
    public struct Outcome: Sendable, Codable, Hashable {
        /// The run.
        public var runID: Int64
        /// The new selection version (2, 3, …).
        public var version: Int
        /// The sets chosen.
        public var sets: [SelectionDocument.ChosenSet]
        /// The new cut file (run directory).
        public var xml: String
        /// The new preview (run directory).
        public var preview: String
        /// The copies in the outbox.
        public var published: [String]
        /// One line: shapes, cells, wells, travel.
        public var summary: String

        enum CodingKeys: String, CodingKey { case runID = "run_id", version, sets, xml, preview, published, summary }
    }

    /// Re-selects on run `runID` with the rules of `setsFile` (the sidecar format: `cell_sets:`
    /// and `max_per_well:`, docs/SELECTION.md).
    /// - Throws: `PipelineError` — `not_found`/`invalid_state` for a run that does not exist or has
    ///   not succeeded, `config_invalid` for bad rules (file, line, expression caret), and the
    ///   cut stage's errors. Nothing is written unless the selection and the cut succeed.
    public func run(runID: Int64, setsFile: String) async throws(PipelineError) -> Outcome {
        let plan = try SelectionPlan.load(path: setsFile)
        return try await run(runID: runID, plan: plan, source: "cli:\(setsFile)")
    }

    /// Re-selects on run `runID` with `plan`; `source` is recorded with the sets.
    public func run(runID: Int64, plan: SelectionPlan, source: String) async throws(PipelineError) -> Outcome {
        let record: RunRecord
        do { record = try catalog.run(id: runID) } catch {
            throw PipelineError(code: PipelineError.Code(rawValue: error.code.rawValue), message: error.description)
        }
        guard record.state == .succeeded, let runDirectory = record.runDir else {
            throw PipelineError(code: PipelineError.Code(rawValue: "invalid_state"),
                                message: "run \(runID) is \(record.state.rawValue); only a succeeded run can be re-selected")
        }
        let recipe = try CutRecipe.load(path: "\(runDirectory)/cut.json")
        let featuresPath = "\(runDirectory)/features.csv"
        let table: FeatureTable
        if FileManager.default.fileExists(atPath: featuresPath) {
            table = try await Blocking.run { () throws(PipelineError) -> FeatureTable in try SingleCellJob.readCSV(path: featuresPath) }
        } else {
            let mask = recipe.maskPath.hasPrefix("/") ? recipe.maskPath : "\(runDirectory)/\(recipe.maskPath)"
            let ids = try await Blocking.run { () throws(PipelineError) -> [Int] in try CutStage.allLabels(mask) }
            do { table = try FeatureTable(cellIDs: ids, columns: []) } catch {
                throw PipelineError(code: .stageFailed, message: error.description)
            }
        }
        // Claim a version number: mkdir is atomic, so two concurrent re-selections never share one.
        let selections = "\(runDirectory)/selections"
        try FileOps.createDirectory(selections)
        var version = max(1, (try? catalog.latestSelectionVersion(runID: runID)) ?? 1) + 1
        while mkdir("\(selections)/v\(version)", 0o750) != 0 {
            guard errno == EEXIST, version < 100_000 else {
                throw PipelineError(code: .writeFailed, path: selections, message: "cannot claim a selection version: \(String(cString: strerror(errno)))")
            }
            version += 1
        }
        let claimed = "\(selections)/v\(version)"
        var written: [String] = []
        do throws(PipelineError) {
            let document = try SelectStage.select(plan, on: table, version: version, source: source,
                                                  hasFeatures: !table.columns.isEmpty, logger: logger)
            let made = try await recipe.cut(sets: document.sets.map { (name: $0.name, well: $0.well, ids: $0.cellIDs) },
                                            runDirectory: runDirectory, version: version, logger: logger)
            let selectionPath = "\(claimed)/selection.json"
            try FileOps.writeAtomically(try document.encoded(), to: selectionPath)
            let xmlPath = "\(runDirectory)/\(made.xmlName)", previewPath = "\(runDirectory)/\(made.previewName)"
            for path in [xmlPath, previewPath] where FileManager.default.fileExists(atPath: path) {
                throw PipelineError(code: .writeFailed, path: path, message: "refusing to overwrite an earlier cut file")
            }
            written = [xmlPath, previewPath]
            try FileOps.writeAtomically(Data(made.output.xml), to: xmlPath)
            try FileOps.writeAtomically(Data(made.png), to: previewPath)
            let folder = "\(layout.outbox)/\(recipe.stem)"
            try FileOps.createDirectory(folder)
            var published: [String] = []
            var outputs: [OutputRecord] = []
            let now = Date()
            for (path, kind) in [(selectionPath, "selection"), (xmlPath, "cut_xml"), (previewPath, "preview")] {
                let data = FileManager.default.contents(atPath: path) ?? Data()
                outputs.append(OutputRecord(runID: runID, kind: kind, path: path, sha256: FileOps.sha256(of: data), bytes: Int64(data.count), createdAt: now))
                if kind != "selection" {
                    let target = "\(folder)/\(URL(fileURLWithPath: path).lastPathComponent)"
                    written.append(target)
                    try FileOps.copyAtomically(from: path, to: target)
                    published.append(target)
                    outputs.append(OutputRecord(runID: runID, kind: "outbox_\(kind)", path: target, sha256: FileOps.sha256(of: data),
                                                bytes: Int64(data.count), createdAt: now))
                }
            }
            do {
                try catalog.saveCellSets(runID: runID, version: version, sets: document.records(runID: runID))
                try catalog.addOutputs(runID: runID, outputs: outputs)
            } catch {
                throw PipelineError(code: .catalog, path: catalog.path, message: error.description)
            }
            logger.info("re-selection v\(version) of run \(runID): \(made.summary)", metadata: ["xml": "\(xmlPath)"])
            return Outcome(runID: runID, version: version, sets: document.sets, xml: xmlPath, preview: previewPath,
                           published: published, summary: made.summary)
        } catch {
            // Nothing of this version is left half-made: its files and its claim go.
            for path in written { unlink(path) }
            try? FileManager.default.removeItem(atPath: claimed)
            throw error
        }
    }
}
