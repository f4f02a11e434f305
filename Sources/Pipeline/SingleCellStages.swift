import Foundation
import ImageKit
import Logging
import MicroscopyIO
import Segmentation
import SingleCell

/// The `extract` stage: scPortrait's `HDF5CellExtraction`. Per-cell crops of the segment
/// stage's masks and the input channels to `single_cells.h5sc` (scPortrait's exact HDF5 layout),
/// and the ids dropped at the image border to `removed_classes.csv`.
///
/// Section `HDF5CellExtraction` (scPortrait's keys and defaults): `image_size` (128),
/// `normalize_output` (true), `normalization_range` ([0.001, 0.999]), `compression`
/// (true/`lzf`, `gzip`, false/`none`; default lzf), `threads` (0 = all cores),
/// `segmentation_key` (`seg_all`, the prefix of the mask channel names); `channels` (lmdflow:
/// input channel names or indices to extract, default all). scPortrait's tuning keys `cache`,
/// `max_batch_size`, `target_ram_utilization`, `max_inflight_result_batches`, `flush_every` are
/// accepted and have no effect: extraction streams each crop straight to the file.
public struct ExtractStage: Stage {
    /// The stage name.
    public let name = "extract"
    /// Version 1.
    public let version = 1
    /// Extraction settings.
    public let settings: ExtractionSettings
    /// Chunk compression.
    public let compression: StackCompression
    /// Prefix of the mask channel names (`seg_all` → `seg_all_nucleus`).
    public let segmentationKey: String
    /// Input channels to extract (names or indices), nil = all.
    public let channels: [String]?

    /// The registry entry.
    public static let descriptor = StageRegistry.StageDescriptor(
        name: "extract", sections: ["HDF5CellExtraction"],
        summary: "masks + image → per-cell crops in scPortrait's single_cells.h5sc"
    ) { sections throws(PipelineError) in
        try ExtractStage(section: sections["HDF5CellExtraction"])
    }

    init(section: ConfigNode?) throws(PipelineError) {
        var settings = ExtractionSettings()
        var compression = StackCompression.lzf
        var key = "seg_all"
        var channels: [String]?
        if let section {
            let reader = try ConfigReader(section)
            settings.imageSize = try reader.int("image_size", default: 128, range: 2...4096)
            guard settings.imageSize % 2 == 0 else {
                throw (reader.child("image_size") ?? section).error("image_size must be even (the crop is centred: image_size/2 on each side)")
            }
            settings.normalize = try reader.bool("normalize_output", default: true)
            if let node = reader.child("normalization_range") {
                guard case .array(let values) = node.value, values.count == 2,
                      let lo = Self.number(values[0]), let hi = Self.number(values[1]), lo >= 0, hi <= 1, lo < hi
                else { throw node.error("expected [lower, upper] quantile fractions with 0 <= lower < upper <= 1") }
                settings.lowerQuantile = lo
                settings.upperQuantile = hi
            }
            settings.threads = try reader.int("threads", default: 0, range: 0...1024)
            if let node = reader.child("compression") {
                switch node.value {
                case .bool(true), .string("lzf"), .string("True"), .string("true"): compression = .lzf
                case .string("gzip"): compression = .gzip(level: 4)
                case .bool(false), .null, .string("none"), .string("None"), .string("false"): compression = .none
                default: throw node.error("expected true/lzf, gzip or false/none")
                }
            }
            key = try reader.string("segmentation_key", default: "seg_all")
            if reader.child("channels") != nil { channels = try reader.strings("channels", default: []) }
            reader.allow(["cache", "max_batch_size", "target_ram_utilization", "max_inflight_result_batches", "flush_every", "segmentation_mask"])
            try reader.finish()
        }
        self.settings = settings
        self.compression = compression
        self.segmentationKey = key
        self.channels = channels
    }

    static func number(_ value: ConfigValue) -> Double? {
        switch value {
        case .int(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }

    /// The configuration that is hashed.
    public var configuration: ConfigValue {
        .object([
            "image_size": .int(settings.imageSize), "normalize_output": .bool(settings.normalize),
            "normalization_range": .array([.double(settings.lowerQuantile), .double(settings.upperQuantile)]),
            "compression": .string(compression.name), "segmentation_key": .string(segmentationKey),
            "channels": channels.map { .array($0.map(ConfigValue.string)) } ?? .null,
        ])
    }

    /// Extracts every cell not too close to the border into `single_cells.h5sc`.
    public func run(_ context: StageContext) async throws -> StageResult {
        let files = try SingleCellJob.maskFiles(context, stage: name)
        let imagePath = context.imagePath
        let settings = self.settings, compression = self.compression, key = segmentationKey, channels = self.channels
        let runDirectory = context.runDirectory
        let started = Date()
        let cancelled = CancelFlag()
        let outcome = try await withTaskCancellationHandler {
            try await Blocking.run { () throws(PipelineError) -> (cells: Int, removed: [Int]) in
                let image = try SegmentJob.loadInput(path: imagePath, channels: channels)
                let masks = try SingleCellJob.loadMasks(files, width: image.width, height: image.height)
                let centres = masks.nucleus ?? masks.images[0]
                let plan = CellExtractor.plan(centres: centres, imageSize: settings.imageSize)
                guard !plan.cells.isEmpty else {
                    throw PipelineError(
                        code: PipelineError.Code(rawValue: "extract_noCells"), stage: "extract",
                        message: plan.removed.isEmpty
                            ? "no cell to extract: the masks are empty"
                            : "no cell to extract: all \(plan.removed.count) cells are closer than image_size/2 = \(settings.imageSize / 2) px to the image border")
                }
                let layout = CellStackLayout(
                    maskNames: masks.names.map { "\(key)_\($0)" },
                    imageChannelNames: image.names.enumerated().map { $0.element.isEmpty ? "ch\($0.offset)" : $0.element },
                    imageSize: settings.imageSize, normalization: settings.normalize,
                    normalizationLower: settings.lowerQuantile, normalizationUpper: settings.upperQuantile, compression: compression)
                let path = "\(runDirectory)/single_cells.h5sc"
                try FileOps.writeAtomically(to: path) { (temporary: String) throws(PipelineError) in
                    do throws(SingleCellError) {
                        let writer = try H5SCWriter(path: temporary, layout: layout, cellCount: plan.cells.count)
                        try CellExtractor.extract(plan: plan, masks: masks.images, channels: image.channels, settings: settings) { row, id, stack throws(SingleCellError) in
                            // A daemon stop ends the extraction between cells; the run is requeued.
                            if cancelled.isSet { throw SingleCellError(code: .cancelled, message: "stopped") }
                            try writer.write(row: row, cellID: UInt64(id), stack: stack)
                        }
                        try writer.finish()
                    } catch {
                        throw PipelineError(code: PipelineError.Code(rawValue: "extract_\(error.code.rawValue)"), path: path, stage: "extract",
                                            message: error.description)
                    }
                }
                return (plan.cells.count, plan.removed)
            }
        } onCancel: {
            cancelled.set()
        }
        try context.checkCancellation()
        let h5Path = "\(runDirectory)/single_cells.h5sc"
        let h5 = Artifact(path: "single_cells.h5sc", kind: "single_cells", sha256: try FileOps.sha256(ofFile: h5Path),
                          bytes: FileOps.stat(h5Path)?.size ?? 0)
        let removedCSV = outcome.removed.map(String.init).joined(separator: "\n") + (outcome.removed.isEmpty ? "" : "\n")
        let removed = try context.writeArtifact(Data(removedCSV.utf8), name: "removed_classes.csv", kind: "removed_classes")
        let seconds = Date().timeIntervalSince(started)
        context.logger.info("extracted \(outcome.cells) cells (\(outcome.removed.count) too close to the border)")
        return StageResult(artifacts: [h5, removed],
                           message: "\(outcome.cells) cells extracted, \(outcome.removed.count) at the border",
                           metrics: ["cells": Double(outcome.cells), "removed": Double(outcome.removed.count), "extract_s": seconds])
    }
}

/// The `featurize` stage: per-cell features into `features.csv` (and the catalog's `cells` and
/// `features` tables when the run succeeds).
///
/// Section `CellFeaturizer` (scPortrait's name). lmdflow keys:
/// - `mode`: `raw` (default; morphology and raw-intensity statistics per region, PhenoPixel and
///   pyama descriptors — see docs/FEATURES.md), `scportrait` (scPortrait's CellFeaturizer
///   columns, computed like scPortrait on the extracted, blurred and per-crop normalized
///   `single_cells.h5sc`; needs the extract stage) or `both`.
/// - `pixel_size_um` (default: from the input's metadata, else lengths stay in pixels),
///   `channel_names` (column keys of the channels, default `ch0`, `ch1`, …),
///   `background_correction` (true), `background_weight` (1), `centreline_degree` (4),
///   `threads` (0 = all cores).
/// scPortrait's `batch_size`, `dataloader_worker_number`, `inference_device`, `label` and
/// `channel_selection` are accepted and have no effect.
public struct FeaturizeStage: Stage {
    /// The stage name.
    public let name = "featurize"
    /// Version 1.
    public let version = 1
    /// `raw`, `scportrait` or `both`.
    public let mode: String
    /// Pixel size from the profile (overrides the input's metadata).
    public let pixelSizeMicrons: Double?
    /// Column keys of the channels.
    public let channelNames: [String]?
    /// pyama background correction.
    public let backgroundCorrection: Bool
    /// pyama background weight.
    public let backgroundWeight: Double
    /// PhenoPixel centreline polynomial degree.
    public let centrelineDegree: Int
    /// Worker threads (0 = all cores).
    public let threads: Int

    /// The registry entry.
    public static let descriptor = StageRegistry.StageDescriptor(
        name: "featurize", sections: ["CellFeaturizer"],
        summary: "masks + image → per-cell features (features.csv, catalog)"
    ) { sections throws(PipelineError) in
        try FeaturizeStage(section: sections["CellFeaturizer"])
    }

    init(section: ConfigNode?) throws(PipelineError) {
        var mode = "raw"
        var pixelSize: Double?
        var names: [String]?
        var background = true, weight = 1.0, degree = 4, threads = 0
        if let section {
            let reader = try ConfigReader(section)
            mode = try reader.choice("mode", default: "raw", in: ["raw", "scportrait", "both"])
            if reader.child("pixel_size_um") != nil { pixelSize = try reader.double("pixel_size_um", default: 1, range: 1e-6...1e6) }
            if reader.child("channel_names") != nil {
                names = try reader.strings("channel_names", default: [])
                for name in names ?? [] where !Self.isIdentifier(name) {
                    throw (reader.child("channel_names") ?? section).error("channel name '\(name)' must be lowercase letters, digits and '_' (it becomes part of column names)")
                }
            }
            background = try reader.bool("background_correction", default: true)
            weight = try reader.double("background_weight", default: 1, range: 0...1)
            degree = try reader.int("centreline_degree", default: 4, range: 1...8)
            threads = try reader.int("threads", default: 0, range: 0...1024)
            reader.allow(["batch_size", "dataloader_worker_number", "inference_device", "label", "channel_selection"])
            try reader.finish()
        }
        self.mode = mode
        self.pixelSizeMicrons = pixelSize
        self.channelNames = names
        self.backgroundCorrection = background
        self.backgroundWeight = weight
        self.centrelineDegree = degree
        self.threads = threads
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, CharacterSet.lowercaseLetters.contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { CharacterSet.lowercaseLetters.contains($0) || CharacterSet.decimalDigits.contains($0) || $0 == "_" }
    }

    /// The configuration that is hashed.
    public var configuration: ConfigValue {
        .object([
            "mode": .string(mode), "pixel_size_um": pixelSizeMicrons.map(ConfigValue.double) ?? .null,
            "channel_names": channelNames.map { .array($0.map(ConfigValue.string)) } ?? .null,
            "background_correction": .bool(backgroundCorrection), "background_weight": .double(backgroundWeight),
            "centreline_degree": .int(centrelineDegree),
        ])
    }

    /// Computes the features and writes `features.csv`.
    public func run(_ context: StageContext) async throws -> StageResult {
        let imagePath = context.imagePath
        let runDirectory = context.runDirectory
        let started = Date()
        var h5Path: String?
        if mode != "raw" {
            guard let extract = context.previous["extract"], let artifact = extract.artifacts.first(where: { $0.kind == "single_cells" }) else {
                throw PipelineError(code: .config, stage: name,
                                    message: "CellFeaturizer mode '\(mode)' computes scPortrait's features from single_cells.h5sc: add the extract stage before featurize")
            }
            h5Path = "\(runDirectory)/\(artifact.path)"
        }
        let files = mode == "scportrait" ? [] : try SingleCellJob.maskFiles(context, stage: name)
        let stage = self, stackFile = h5Path
        let table = try await Blocking.run { () throws(PipelineError) -> FeatureTable in
            var raw: FeatureTable?
            if stage.mode != "scportrait" {
                let image = try SegmentJob.loadInput(path: imagePath)
                let masks = try SingleCellJob.loadMasks(files, width: image.width, height: image.height)
                var ids = Set<Int>()
                for mask in masks.images {
                    let regions = LabelKernels.regions(mask)
                    for id in 1..<(regions.maxLabel + 1) where regions.area[id] > 0 { ids.insert(id) }
                }
                var settings = FeatureSettings(channelNames: stage.channelNames ?? (0..<image.channels.count).map { "ch\($0)" })
                settings.pixelSizeMicrons = stage.pixelSizeMicrons ?? Self.pixelSize(imagePath)
                settings.backgroundCorrection = stage.backgroundCorrection
                settings.backgroundWeight = stage.backgroundWeight
                settings.centrelineDegree = stage.centrelineDegree
                settings.threads = stage.threads
                guard settings.channelNames.count == image.channels.count else {
                    throw PipelineError(code: .config, stage: "featurize",
                                        message: "CellFeaturizer.channel_names has \(settings.channelNames.count) names for \(image.channels.count) channels")
                }
                do throws(SingleCellError) {
                    raw = try Featurizer.compute(nucleus: masks.nucleus, cytosol: masks.cytosol, channels: image.channels,
                                                 cellIDs: ids.sorted(), settings: settings)
                } catch {
                    throw PipelineError(code: PipelineError.Code(rawValue: "featurize_\(error.code.rawValue)"), stage: "featurize",
                                        message: error.description)
                }
            }
            var scp: FeatureTable?
            if let stackFile { scp = try Self.scPortraitTable(stackFile, threads: stage.threads) }
            return try Self.merge(raw, scp)
        }
        try context.checkCancellation()
        let csv = try context.writeArtifact(SingleCellJob.csv(table), name: "features.csv", kind: "features_csv")
        let seconds = Date().timeIntervalSince(started)
        context.logger.info("featurized \(table.rowCount) cells, \(table.columns.count) columns (\(mode))")
        return StageResult(artifacts: [csv], message: "\(table.rowCount) cells × \(table.columns.count) features (\(mode))",
                           metrics: ["cells": Double(table.rowCount), "columns": Double(table.columns.count), "featurize_s": seconds])
    }

    /// The input's pixel size in µm (x), when its metadata has one.
    static func pixelSize(_ path: String) -> Double? {
        guard let reader = try? AcquisitionFile.open(path: path) else { return nil }
        guard let size = reader.info.pixelSizeUm.first ?? nil, size > 0, size.isFinite else { return nil }
        return size
    }

    /// scPortrait's CellFeaturizer columns, one row per extracted cell, computed from the h5sc.
    static func scPortraitTable(_ path: String, threads: Int) throws(PipelineError) -> FeatureTable {
        do throws(SingleCellError) {
            let reader = try H5SCReader(path: path)
            let featurizer = try ScPortraitFeatures(layout: reader.layout)
            let rows = try reader.mapStacks(threads: threads) { stack in featurizer.compute(stack: stack) }
            var columns = featurizer.columnNames.map { FeatureTable.Column(name: $0, values: []) }
            for row in rows { for k in columns.indices { columns[k].values.append(row[k]) } }
            return try FeatureTable(cellIDs: reader.cellIDs.map { Int($0) }, columns: columns)
        } catch {
            throw PipelineError(code: PipelineError.Code(rawValue: "featurize_\(error.code.rawValue)"), path: path, stage: "featurize",
                                message: error.description)
        }
    }

    /// Joins two tables on cell id (union of rows, NaN where a table has no row).
    static func merge(_ a: FeatureTable?, _ b: FeatureTable?) throws(PipelineError) -> FeatureTable {
        guard let a else { return b ?? (try! FeatureTable(cellIDs: [], columns: [])) }
        guard let b else { return a }
        let ids = Set(a.cellIDs).union(b.cellIDs).sorted()
        func expand(_ t: FeatureTable) -> [FeatureTable.Column] {
            let index = Dictionary(uniqueKeysWithValues: t.cellIDs.enumerated().map { ($1, $0) })
            return t.columns.map { column in
                FeatureTable.Column(name: column.name, values: ids.map { index[$0].map { column.values[$0] } ?? .nan })
            }
        }
        do { return try FeatureTable(cellIDs: ids, columns: expand(a) + expand(b)) } catch {
            throw PipelineError(code: .stageFailed, stage: "featurize", message: error.description)
        }
    }
}
