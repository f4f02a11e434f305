import Foundation
import ImageKit
import Microdissection
import MicroscopyIO
import Logging
import SingleCell

/// The `cut` stage: a label mask and cell sets to the Leica LMD cutting XML and a preview PNG,
/// both published to `outbox/<sample>/`.
///
/// Section `LMDSelection` (scPortrait's name): every py-lmd key (`shape_dilation`,
/// `binary_smoothing`, `convolution_smoothing`, `rdp_epsilon`, `path_optimization`,
/// `orientation_transform`, `xml_decimal_transform`, …) with py-lmd's defaults, plus:
/// - `cell_sets` / `max_per_well`: the cell sets (docs/SELECTION.md). scPortrait's
///   `{name, classes, well}` with `classes: all` for every label (default: one set `all` → well
///   `A1`); when the profile has a `select` stage that stage evaluates them (expressions over
///   features, id CSVs, ranks, samples, the `<stem>.select.yml` sidecar) and `cut` cuts its
///   `selection.json`. Without one, only id lists, `all` and samples work.
/// - `calibration_points`: `[[row, col], …]` in mask pixels, used when the input has no
///   `<stem>.calibration.json` sidecar.
/// - `preview_channel`: channel of the input drawn under the preview (default 0).
/// - `segmentation_channel` (scPortrait's key): which mask of the `segment` stage to cut,
///   `seg_all_nucleus` / `seg_all_cytosol` (or just `nucleus` / `cytosol`); default: the cytosol
///   mask when there is one, else the first.
///
/// The mask comes from the `segment` stage when the profile has one, else from the sidecar
/// `<stem>.mask.tif` beside the input (a label image made elsewhere, e.g. by Cellpose).
public struct CutStage: Stage {
    /// The stage name.
    public let name = "cut"
    /// Version 2: cell sets through `SelectionPlan`; writes `cut.json`.
    public let version = 2
    /// py-lmd settings.
    public let settings: [String: ConfigValue]
    /// Cell sets from `cell_sets` (used when the profile has no `select` stage).
    public let plan: SelectionPlan
    /// Calibration points from the profile.
    public let calibrationPoints: [[Double]]?
    /// Preview background channel.
    public let previewChannel: Int
    /// The `segment` mask to cut (`nil` = cytosol if present, else the first).
    public let segmentationChannel: String?

    /// The registry entry.
    public static let descriptor = StageRegistry.StageDescriptor(
        name: "cut", sections: ["LMDSelection"],
        summary: "label mask + cell sets → Leica LMD cut XML and preview PNG (published to the outbox)"
    ) { sections throws(PipelineError) in
        try CutStage(section: sections["LMDSelection"])
    }

    init(section: ConfigNode?) throws(PipelineError) {
        var settings: [String: ConfigValue] = [:]
        var plan = SelectionPlan.everyCell
        var calibration: [[Double]]?
        var previewChannel = 0
        var segmentationChannel: String?
        if let section {
            let reader = try ConfigReader(section)
            let base = URL(fileURLWithPath: section.file).deletingLastPathComponent().path
            if let parsed = try SelectionPlan.read(from: reader, baseDirectory: base) { plan = parsed }
            if let node = reader.child("calibration_points") {
                guard case .array(let points) = node.value else { throw node.error("expected [[row, col], ...]") }
                calibration = try points.map { point throws(PipelineError) -> [Double] in
                    guard case .array(let pair) = point, pair.count == 2 else { throw node.error("expected [[row, col], ...]") }
                    return try pair.map { value throws(PipelineError) -> Double in
                        switch value {
                        case .int(let v): return Double(v)
                        case .double(let v): return v
                        default: throw node.error("calibration coordinates must be numbers")
                        }
                    }
                }
            }
            previewChannel = try reader.int("preview_channel", default: 0, range: 0...255)
            if let channel = try reader.optionalString("segmentation_channel") {
                segmentationChannel = channel.hasPrefix("seg_all_") ? String(channel.dropFirst("seg_all_".count)) : channel
            }
            for key in reader.keys where !["cell_sets", "max_per_well", "calibration_points", "preview_channel", "segmentation_channel"].contains(key) {
                settings[key] = reader.child(key)?.value
            }
            // py-lmd keys are validated by LMDConfig (unknown keys are errors naming the key).
            do {
                _ = try CutJob.config(from: .object(settings), path: section.file)
            } catch {
                throw PipelineError(code: .config, path: section.file, location: section.line > 0 ? "\(section.line):\(section.column)" : nil,
                                    message: "LMDSelection: \(error.message)")
            }
        }
        self.settings = settings
        self.plan = plan
        self.calibrationPoints = calibration
        self.previewChannel = previewChannel
        self.segmentationChannel = segmentationChannel
    }

    /// The configuration that is hashed.
    public var configuration: ConfigValue {
        .object([
            "settings": .object(settings),
            "selection": plan.configuration,
            "calibration_points": calibrationPoints.map { .array($0.map { .array($0.map(ConfigValue.double)) }) } ?? .null,
            "preview_channel": .int(previewChannel),
            "segmentation_channel": segmentationChannel.map(ConfigValue.string) ?? .null,
        ])
    }

    /// Plans the cut, writes `<stem>_<sets>.xml` and `preview.png` (both published).
    public func run(_ context: StageContext) async throws -> StageResult {
        let input = context.input
        let folder = URL(fileURLWithPath: input.originalPath ?? input.path).deletingLastPathComponent().path
        let maskPath: String
        if let segment = context.previous["segment"] {
            let masks = segment.artifacts.filter { $0.kind.hasPrefix("mask:") }
            let names = masks.map { String($0.kind.dropFirst("mask:".count)) }
            let wanted = segmentationChannel ?? (names.contains("cytosol") ? "cytosol" : names.first ?? "nucleus")
            guard let artifact = masks.first(where: { $0.kind == SegmentStage.maskKind(wanted) }) else {
                throw PipelineError(code: .config, stage: name,
                                    message: "LMDSelection.segmentation_channel '\(wanted)' is not a mask of the segment stage (masks: \(names.joined(separator: ", ")))")
            }
            maskPath = "\(context.runDirectory)/\(artifact.path)"
        } else {
            maskPath = "\(folder)/\(input.stem).mask.tif"
            guard FileManager.default.fileExists(atPath: maskPath) else {
                throw PipelineError(code: .inputUnreadable, path: maskPath, stage: name,
                                    message: "no label mask: this profile has no segment stage, so it needs the sidecar \(input.stem).mask.tif beside the input")
            }
        }
        let calibration: Calibration
        let sidecar = "\(folder)/\(input.stem).calibration.json"
        do throws(MicrodissectionError) {
            if let data = FileManager.default.contents(atPath: sidecar) {
                calibration = try Calibration(json: Array(data))
            } else if let points = calibrationPoints {
                calibration = try Calibration(points: points.map { PixelPoint(row: $0[0], column: $0[1]) })
            } else {
                throw MicrodissectionError(code: .invalidCalibration,
                                           message: "no calibration: add \(input.stem).calibration.json beside the input or calibration_points to LMDSelection")
            }
        } catch {
            throw PipelineError(code: PipelineError.Code(rawValue: "cut_\(error.code.rawValue)"), path: sidecar, stage: name,
                                message: error.description)
        }
        var cellSets: [CellSet] = []
        if let select = context.previous["select"], let artifact = select.artifacts.first(where: { $0.kind == "selection" }) {
            // The select stage chose the cells (expressions, id lists, sidecar): cut those sets.
            let document = try SelectionDocument.load(path: "\(context.runDirectory)/\(artifact.path)")
            cellSets = document.sets.map { CellSet(name: $0.name, classes: $0.cellIDs, well: $0.well) }
        } else {
            // No select stage: the cell sets are id lists or `all` over the mask's labels.
            let labels = try Self.allLabels(maskPath)
            let table: FeatureTable
            do { table = try FeatureTable(cellIDs: labels, columns: []) } catch {
                throw PipelineError(code: .stageFailed, stage: name, message: error.description)
            }
            let result: SelectionResult
            do { result = try Selection.evaluate(plan.rules, on: table, maxPerWell: plan.maxPerWell) } catch {
                let failure = plan.pipelineError(error)
                guard error.code == .unknownColumn else { throw failure }
                throw PipelineError(code: failure.code, path: failure.path, location: failure.location, stage: name,
                                    message: failure.message + " (selecting by features needs the featurize and select stages before cut)")
            }
            for note in result.notes { context.logger.notice("\(note)") }
            cellSets = result.sets.map { CellSet(name: $0.name, classes: $0.ids, well: $0.well) }
        }
        let recipe = CutRecipe(
            maskPath: maskPath.hasPrefix(context.runDirectory + "/") ? String(maskPath.dropFirst(context.runDirectory.count + 1)) : maskPath,
            settings: settings, calibration: calibration.points.map { [$0.row, $0.column] }, previewChannel: previewChannel,
            imagePath: context.imagePath, stem: input.stem)
        let recipeArtifact = try context.writeArtifact(try recipe.encoded(), name: "cut.json", kind: "cut_recipe")
        try context.checkCancellation()
        let made = try await recipe.cut(sets: cellSets, runDirectory: context.runDirectory, version: nil, logger: context.logger)
        let xml = try context.writeArtifact(Data(made.output.xml), name: made.xmlName, kind: "cut_xml", publish: true)
        let preview = try context.writeArtifact(Data(made.png), name: made.previewName, kind: "preview", publish: true)
        let plan = made.output.plan
        let travel = plan.sets.reduce(0) { $0 + $1.travel }
        return StageResult(
            artifacts: [xml, preview, recipeArtifact],
            message: made.summary,
            metrics: ["shapes": Double(plan.shapeCount), "travel_px": travel, "plan_s": plan.timings.total,
                      "cells": Double(plan.sets.reduce(0) { $0 + $1.cellCount })])
    }

    /// Every non-zero label of the mask, ascending.
    static func allLabels(_ maskPath: String) throws(PipelineError) -> [Int] {
        let plane: Plane
        do { plane = try AcquisitionFile.open(path: maskPath).plane(PlaneIndex(frame: 0, channel: 0)) } catch {
            throw PipelineError(input: error)
        }
        let regions = LabelKernels.regions(try SegmentJob.labels(from: plane, path: maskPath))
        return (1..<(regions.maxLabel + 1)).filter { regions.area[$0] > 0 }
    }
}
