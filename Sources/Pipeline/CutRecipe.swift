public import Catalog
public import Foundation
public import Logging
import Microdissection

/// Everything the `cut` stage used besides the cell sets — the mask, the py-lmd settings, the
/// calibration it resolved and the preview background — saved as `cut.json` in the run
/// directory, so a later re-selection (`lmdflow select`) cuts the same way even after the
/// profile or the calibration sidecar changed.
public struct CutRecipe: Sendable, Codable, Hashable {
    /// The label mask, relative to the run directory (or absolute for a sidecar mask).
    public var maskPath: String
    /// py-lmd settings (LMDSelection keys).
    public var settings: [String: ConfigValue]
    /// Calibration points `[row, column]` in mask pixels.
    public var calibration: [[Double]]
    /// Channel drawn under the preview.
    public var previewChannel: Int
    /// The image drawn under the preview (the run's input).
    public var imagePath: String
    /// The sample name (file names start with it).
    public var stem: String

    enum CodingKeys: String, CodingKey {
        case maskPath = "mask_path", settings, calibration, previewChannel = "preview_channel", imagePath = "image_path", stem
    }

    /// Creates a recipe.
    public init(maskPath: String, settings: [String: ConfigValue], calibration: [[Double]], previewChannel: Int, imagePath: String, stem: String) {
        self.maskPath = maskPath
        self.settings = settings
        self.calibration = calibration
        self.previewChannel = previewChannel
        self.imagePath = imagePath
        self.stem = stem
    }

    /// Pretty JSON.
    func encoded() throws(PipelineError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(self) + Data("\n".utf8) } catch {
            throw PipelineError(code: .writeFailed, message: "cannot encode cut.json: \(error)")
        }
    }

    /// Reads `cut.json`.
    public static func load(path: String) throws(PipelineError) -> CutRecipe {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError(code: .inputUnreadable, path: path, message: "no cut recipe: the run has no cut stage output (cut.json)")
        }
        do { return try JSONDecoder().decode(CutRecipe.self, from: data) } catch {
            throw PipelineError(code: .inputInvalid, path: path, message: "cut.json is not a cut recipe: \(error)")
        }
    }

    /// What one cut produced.
    public struct Made: Sendable {
        /// The plan and the XML bytes.
        public var output: CutJob.Output
        /// The preview PNG bytes.
        public var png: [UInt8]
        /// `<stem>_<sets>.xml`, or `<stem>_<sets>.v<N>.xml` for a re-selection.
        public var xmlName: String
        /// `preview.png`, or `preview.v<N>.png`.
        public var previewName: String
        /// One line: shapes, cells, wells, travel.
        public var summary: String
    }

    /// Plans and renders the cut of `sets` with this recipe.
    /// - Parameter version: nil for the run's own cut, N ≥ 2 for a re-selection (file names get `.vN`).
    public func cut(sets: [(name: String, well: String?, ids: [Int])], runDirectory: String, version: Int?, logger: Logger) async throws(PipelineError) -> Made {
        try await cut(sets: sets.map { CellSet(name: $0.name, classes: $0.ids, well: $0.well) }, runDirectory: runDirectory, version: version, logger: logger)
    }

    func cut(sets all: [CellSet], runDirectory: String, version: Int?, logger: Logger) async throws(PipelineError) -> Made {
        // An empty set (a rule that matched nothing, a well already full) has nothing to cut: it
        // is reported and left out of the file; a selection with no cells at all is an error.
        let sets = all.filter { !$0.classes.isEmpty }
        for set in all where set.classes.isEmpty {
            logger.warning("cell set '\(set.name ?? "?")' has no cells; it is left out of the cut file")
        }
        guard !sets.isEmpty else {
            throw PipelineError(code: PipelineError.Code(rawValue: "cut_emptySelection"),
                                message: "no cell set has any cells (sets: \(all.map { $0.name ?? "?" }.joined(separator: ", "))); nothing to cut")
        }
        let mask = maskPath.hasPrefix("/") ? maskPath : "\(runDirectory)/\(maskPath)"
        let calibration: Calibration
        do { calibration = try Calibration(points: self.calibration.map { PixelPoint(row: $0[0], column: $0[1]) }) } catch {
            throw PipelineError(code: PipelineError.Code(rawValue: "cut_\(error.code.rawValue)"), message: error.description)
        }
        let job = CutJob(maskPath: mask, cellSets: sets, calibration: calibration, config: try CutJob.config(from: .object(settings), path: "LMDSelection"))
        let output = try await Blocking.run { () throws(PipelineError) -> CutJob.Output in try job.run() }
        for warning in output.plan.warnings { logger.notice("\(warning)") }
        let imagePath = self.imagePath, channel = previewChannel
        let png = try await Blocking.run { () throws(PipelineError) -> [UInt8] in
            try CutJob.previewPNG(output, imagePath: FileManager.default.fileExists(atPath: imagePath) ? imagePath : nil, channel: channel)
        }
        let suffix = version.map { ".v\($0)" } ?? ""
        let names = sets.map { $0.name ?? "set" }.joined(separator: "_")
        let xmlName = "\(stem)_\(names)\(suffix).xml".replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "/", with: "_")
        let travel = output.plan.sets.reduce(0) { $0 + $1.travel }
        let wells = Set(output.plan.sets.compactMap(\.well)).sorted()
        let summary = "\(output.plan.shapeCount) shapes from \(output.plan.sets.reduce(0) { $0 + $1.cellCount }) cells, wells \(wells.joined(separator: ",")), laser travel \(Int(travel)) px"
        return Made(output: output, png: png, xmlName: xmlName, previewName: "preview\(suffix).png", summary: summary)
    }
}

/// `selection.json`: the cell sets a selection chose (the `select` stage's output, and each
/// `lmdflow select` re-selection's record).
public struct SelectionDocument: Sendable, Codable, Hashable {
    /// One chosen set.
    public struct ChosenSet: Sendable, Codable, Hashable {
        /// The set name.
        public var name: String
        /// The well, when given.
        public var well: String?
        /// The rule as written (expression, `ids`, `all`…).
        public var rule: String?
        /// The chosen cell ids, ascending.
        public var cellIDs: [Int]

        enum CodingKeys: String, CodingKey { case name, well, rule, cellIDs = "cell_ids" }

        /// Creates a set.
        public init(name: String, well: String?, rule: String?, cellIDs: [Int]) {
            self.name = name
            self.well = well
            self.rule = rule
            self.cellIDs = cellIDs
        }
    }

    /// 1 for a run's own selection, 2… for re-selections.
    public var version: Int
    /// Where the rules came from: `profile`, `sidecar:<path>`, `cli:<path>`.
    public var source: String
    /// The sets in cut order.
    public var sets: [ChosenSet]
    /// Notes from the selection (empty sets, cells in two sets, caps applied).
    public var notes: [String]

    /// Creates a document.
    public init(version: Int, source: String, sets: [ChosenSet], notes: [String] = []) {
        self.version = version
        self.source = source
        self.sets = sets
        self.notes = notes
    }

    /// Pretty JSON.
    public func encoded() throws(PipelineError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do { return try encoder.encode(self) + Data("\n".utf8) } catch {
            throw PipelineError(code: .writeFailed, message: "cannot encode selection.json: \(error)")
        }
    }

    /// Reads a selection document.
    public static func load(path: String) throws(PipelineError) -> SelectionDocument {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError(code: .inputUnreadable, path: path, message: "cannot read the selection")
        }
        do { return try JSONDecoder().decode(SelectionDocument.self, from: data) } catch {
            throw PipelineError(code: .inputInvalid, path: path, message: "not a selection document: \(error)")
        }
    }

    /// The catalog rows of this selection.
    public func records(runID: Int64) -> [CellSetRecord] {
        sets.enumerated().map { index, set in
            CellSetRecord(runID: runID, version: version, ordinal: index, name: set.name, well: set.well, cellIDs: set.cellIDs,
                          rule: set.rule, source: source)
        }
    }
}
