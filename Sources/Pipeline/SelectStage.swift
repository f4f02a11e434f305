import Foundation
import ImageKit
import Logging
import SingleCell

/// The `select` stage: evaluates the cell-set rules on the run's features and writes
/// `selection.json` (the sets, their wells and cell ids), which the `cut` stage cuts and the
/// catalog records as selection version 1.
///
/// The rules are `LMDSelection.cell_sets` and `max_per_well` of the profile (docs/SELECTION.md),
/// unless the input has a sidecar `<stem>.select.yml` beside it, which replaces them for that
/// input. Features come from the `featurize` stage's `features.csv`; without one, the table is
/// the mask's labels alone (id lists, `all` and samples still work).
public struct SelectStage: Stage {
    /// The stage name.
    public let name = "select"
    /// Version 1.
    public let version = 1
    /// The profile's rules.
    public let plan: SelectionPlan

    /// The registry entry.
    public static let descriptor = StageRegistry.StageDescriptor(
        name: "select", sections: ["LMDSelection"],
        summary: "features + rules (profile or <stem>.select.yml) → cell sets per well (selection.json)"
    ) { sections throws(PipelineError) in
        try SelectStage(section: sections["LMDSelection"])
    }

    init(section: ConfigNode?) throws(PipelineError) {
        var plan = SelectionPlan.everyCell
        if let section {
            // The cut stage validates the other LMDSelection keys; this stage reads only the sets.
            let reader = try ConfigReader(section)
            let base = URL(fileURLWithPath: section.file).deletingLastPathComponent().path
            if let parsed = try SelectionPlan.read(from: reader, baseDirectory: base) { plan = parsed }
        }
        self.plan = plan
    }

    /// The configuration that is hashed.
    public var configuration: ConfigValue { plan.configuration }

    /// Selects and writes `selection.json`.
    public func run(_ context: StageContext) async throws -> StageResult {
        let input = context.input
        let folder = URL(fileURLWithPath: input.originalPath ?? input.path).deletingLastPathComponent().path
        let sidecar = SelectionPlan.sidecarPath(directory: folder, stem: input.stem)
        var plan = self.plan
        var source = "profile"
        if FileOps.stat(sidecar) != nil {
            plan = try SelectStage.loadSidecar(sidecar, folder: folder)
            source = "sidecar:\(sidecar)"
            context.logger.info("cell sets from \(sidecar)")
        }
        let table = try await Blocking.run { () throws(PipelineError) -> FeatureTable in
            try SelectStage.table(context)
        }
        let document = try Self.select(plan, on: table, version: 1, source: source, hasFeatures: !table.columns.isEmpty,
                                       logger: context.logger)
        let artifact = try context.writeArtifact(try document.encoded(), name: "selection.json", kind: "selection")
        let summary = document.sets.map { "\($0.name) \($0.cellIDs.count)\($0.well.map { " → \($0)" } ?? "")" }.joined(separator: ", ")
        var metrics: [String: Double] = ["sets": Double(document.sets.count), "cells": Double(document.sets.reduce(0) { $0 + $1.cellIDs.count })]
        for set in document.sets { metrics["set_\(set.name)_cells"] = Double(set.cellIDs.count) }
        return StageResult(artifacts: [artifact], message: "\(summary) (\(source == "profile" ? "profile" : "sidecar"))", metrics: metrics)
    }

    /// A sidecar selection file, refused when it is a symlink or not a regular file (a drop
    /// folder is writable by others; its sidecars must not point elsewhere).
    static func loadSidecar(_ path: String, folder: String) throws(PipelineError) -> SelectionPlan {
        guard let info = FileOps.stat(path), info.isRegular, !info.isSymlink else {
            throw PipelineError(code: .config, path: path, message: "the selection sidecar must be a regular file, not a symlink or directory")
        }
        return try SelectionPlan.load(path: path)
    }

    /// Evaluates `plan` and describes the result as a selection document.
    static func select(_ plan: SelectionPlan, on table: FeatureTable, version: Int, source: String, hasFeatures: Bool = true,
                       logger: Logger) throws(PipelineError) -> SelectionDocument {
        let result: SelectionResult
        do {
            result = try Selection.evaluate(plan.rules, on: table, maxPerWell: plan.maxPerWell)
        } catch {
            let failure = plan.pipelineError(error)
            guard !hasFeatures, error.code == .unknownColumn else { throw failure }
            // Rules over features on a run that computed none: say what is missing.
            throw PipelineError(code: failure.code, path: failure.path, location: failure.location, stage: "select",
                                message: failure.message + " (no featurize stage ran, so only ids, `all` and samples can be selected)")
        }
        for note in result.notes { logger.notice("\(note)") }
        for overlap in result.overlaps {
            logger.notice("cells in both '\(overlap.first)' and '\(overlap.second)': \(overlap.ids.prefix(10).map(String.init).joined(separator: ", "))\(overlap.ids.count > 10 ? " …" : "")")
        }
        for empty in result.emptySets { logger.warning("cell set '\(empty)' selected no cells") }
        let sets = zip(plan.rules, result.sets).map { rule, set in
            SelectionDocument.ChosenSet(name: set.name, well: set.well, rule: Self.describe(rule), cellIDs: set.ids)
        }
        var notes = result.notes
        notes += result.overlaps.map { "\($0.ids.count) cells in both '\($0.first)' and '\($0.second)'" }
        return SelectionDocument(version: version, source: source, sets: sets, notes: notes)
    }

    /// The rule in words for the catalog: `ids (12)`, `all`, the filter, ranking, sample and cap.
    static func describe(_ rule: SelectionRule) -> String {
        var parts: [String] = []
        switch rule.cells {
        case .all: parts.append("all")
        case .ids(let ids): parts.append("ids (\(ids.count))")
        }
        if let filter = rule.filter { parts.append("select: \(filter.text)") }
        if let ranking = rule.ranking { parts.append("\(ranking.direction.rawValue) \(ranking.count) by \(ranking.key.text)") }
        if let sample = rule.sample { parts.append("sample \(sample.count) seed \(sample.seed)") }
        if let cap = rule.maxCells { parts.append("max_cells \(cap)") }
        return parts.joined(separator: "; ")
    }

    /// The feature table of a run: `features.csv` of the featurize stage, else the mask labels.
    static func table(_ context: StageContext) throws(PipelineError) -> FeatureTable {
        if let featurize = context.previous["featurize"], let csv = featurize.artifacts.first(where: { $0.kind == "features_csv" }) {
            return try SingleCellJob.readCSV(path: "\(context.runDirectory)/\(csv.path)")
        }
        let files = try SingleCellJob.maskFiles(context, stage: "select")
        var ids = Set<Int>()
        for file in files { ids.formUnion(try CutStage.allLabels(file.path)) }
        do { return try FeatureTable(cellIDs: ids.sorted(), columns: []) } catch {
            throw PipelineError(code: .stageFailed, stage: "select", message: error.description)
        }
    }
}
