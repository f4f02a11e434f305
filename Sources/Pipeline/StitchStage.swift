import Foundation
import Logging
import MicroscopyIO
import Stitching

/// The `stitch` stage: a multi-position scan (an ND2 with an XY loop and stage positions) to one
/// registered, blended mosaic, `mosaic.ome.tif` (tiled pyramidal BigTIFF OME-TIFF) in the run
/// directory; the stages after it (segment, extract, featurize, cut's preview) read the mosaic
/// instead of the input (``StageContext/imagePath``). An input that is not a multi-position scan
/// passes through unchanged, so one profile serves scans and single fields.
///
/// Also writes `stitch.json` (orientation checks, every pair's offset, score and status, every
/// tile's position, warnings, and the stage → mosaic pixel map needed for calibration) and
/// `positions.json` (`{"tiles": [{"row", "col", "y", "x", "name"}]}`, top-left corners in mosaic
/// pixels, as `lmdflow stitch --positions-json` writes).
///
/// Section `Stitching` (all optional):
/// - `channel`: channel registered, a name or index (default 0);
/// - `max_shift`: largest correction of a pair versus the stage, px (default 15);
/// - `false_positive_rate`: of the null-distribution threshold (default 0.01, ASHLAR's alpha);
/// - `orientation`: `auto` (default: tries the four axis flips), `none`, `flip-x`, `flip-y`, `flip-xy`;
/// - `blend`: `linear` (default), `max`, `none`;
/// - `output_channels`: channels written to the mosaic (default all);
/// - `tile_size` (1024) and `compression` (`deflate`, `zstd`, `lzw`, `none`) of the mosaic file.
public struct StitchStage: Stage {
    /// The stage name.
    public let name = "stitch"
    /// Version 1.
    public let version = 1
    /// Stitcher settings.
    public let options: Stitcher.Options

    /// The registry entry.
    public static let descriptor = StageRegistry.StageDescriptor(
        name: "stitch", sections: ["Stitching"],
        summary: "multi-position scan → registered, blended pyramidal OME-TIFF mosaic (other inputs pass through)"
    ) { sections throws(PipelineError) in
        try StitchStage(section: sections["Stitching"])
    }

    init(section: ConfigNode?) throws(PipelineError) {
        var options = Stitcher.Options()
        if let section {
            let reader = try ConfigReader(section)
            options.channel = try reader.optionalString("channel")
            options.registration.maxShift = try reader.int("max_shift", default: 15, range: 1...2000)
            options.registration.falsePositiveRate = try reader.double("false_positive_rate", default: 0.01, range: 0.0001...0.5)
            let orientation = try reader.choice("orientation", default: "auto", in: ["auto"] + Orientation.names)
            options.orientation = Orientation(name: orientation)
            let blend = try reader.choice("blend", default: "linear", in: BlendMode.allCases.map(\.rawValue))
            options.blend = BlendMode(rawValue: blend) ?? .linear
            if reader.child("output_channels") != nil {
                options.outputChannels = try reader.strings("output_channels", default: [])
            }
            options.tiff.tileSize = try reader.int("tile_size", default: 1024, range: 16...8192)
            guard options.tiff.tileSize % 16 == 0 else {
                throw (reader.child("tile_size") ?? section).error("tile_size must be a multiple of 16 (a TIFF rule)")
            }
            let compression = try reader.choice(
                "compression", default: "deflate", in: TIFFCompression.allCases.map(\.rawValue))
            options.tiff.compression = TIFFCompression(rawValue: compression) ?? .deflate
            try reader.finish()
        }
        self.options = options
    }

    /// The configuration that is hashed.
    public var configuration: ConfigValue {
        .object([
            "channel": options.channel.map(ConfigValue.string) ?? .null,
            "max_shift": .int(options.registration.maxShift),
            "false_positive_rate": .double(options.registration.falsePositiveRate),
            "orientation": .string(options.orientation?.description ?? "auto"),
            "blend": .string(options.blend.rawValue),
            "output_channels": options.outputChannels.map { .array($0.map(ConfigValue.string)) } ?? .null,
            "tile_size": .int(options.tiff.tileSize), "compression": .string(options.tiff.compression.rawValue),
        ])
    }

    /// Whether the file is a scan with several XY positions.
    static func isMultiPosition(_ path: String) throws(PipelineError) -> Bool {
        let info: AcquisitionInfo
        do { info = try AcquisitionFile.open(path: path).info } catch { throw PipelineError(input: error) }
        return info.format == .nd2 && info.loops.contains { $0.axis == "P" && $0.count > 1 }
    }

    /// Stitches the input when it is a multi-position scan; otherwise passes it through.
    public func run(_ context: StageContext) async throws -> StageResult {
        let input = context.input
        let options = self.options
        let runDirectory = context.runDirectory
        let cancelled = CancelFlag()
        let report = try await withTaskCancellationHandler {
            try await Blocking.run { () throws(PipelineError) -> Stitcher.Report? in
                guard try Self.isMultiPosition(input.path) else { return nil }
                let path = "\(runDirectory)/mosaic.ome.tif"
                var report: Stitcher.Report?
                try FileOps.writeAtomically(to: path) { (temporary: String) throws(PipelineError) in
                    do throws(StitchingError) {
                        let set = try TileSet.nd2(path: input.path)
                        report = try Stitcher.stitch(set, to: temporary, options: options, isCancelled: { cancelled.isSet })
                    } catch {
                        throw PipelineError(
                            code: PipelineError.Code(rawValue: "stitch_\(error.code.rawValue)"), path: input.path,
                            stage: "stitch", message: error.message)
                    }
                }
                return report
            }
        } onCancel: {
            cancelled.set()
        }
        try context.checkCancellation()
        guard let report else {
            context.logger.info("not a multi-position scan: nothing to stitch")
            return StageResult(artifacts: [], message: "single field, nothing to stitch", metrics: ["tiles": 1])
        }
        let mosaicPath = "\(runDirectory)/mosaic.ome.tif"
        let mosaic = Artifact(
            path: "mosaic.ome.tif", kind: Self.mosaicKind, sha256: try FileOps.sha256(ofFile: mosaicPath),
            bytes: FileOps.stat(mosaicPath)?.size ?? 0)
        let reportArtifact = try context.writeArtifact(Stitcher.reportJSON(report), name: "stitch.json", kind: "stitch_report")
        let positions = try context.writeArtifact(Stitcher.positionsJSON(report), name: "positions.json", kind: "tile_positions")
        let modelPlaced = report.placements.filter(\.modelPlaced).count
        var metrics: [String: Double] = [
            "tiles": Double(report.placements.count), "pairs": Double(report.pairs.count),
            "accepted_pairs": Double(report.acceptedPairs), "model_placed": Double(modelPlaced),
            "mosaic_width": Double(report.mosaicWidth), "mosaic_height": Double(report.mosaicHeight),
            "flip_x": report.orientation.flipX ? 1 : 0, "flip_y": report.orientation.flipY ? 1 : 0,
        ]
        for (phase, seconds) in report.seconds { metrics["\(phase)_s"] = seconds }
        if let mapping = report.stageToMosaic { metrics["stage_map_rms_px"] = mapping.rmsResidualPx }
        for warning in report.warnings { context.logger.warning("\(warning)") }
        let message = "\(report.placements.count) tiles, \(report.acceptedPairs)/\(report.pairs.count) pairs accepted → "
            + "\(report.mosaicWidth) x \(report.mosaicHeight) mosaic"
            + (report.orientation == .identity ? "" : " (\(report.orientation))")
            + (modelPlaced > 0 ? ", \(modelPlaced) tile(s) placed by the stage model" : "")
        context.logger.info("stitched: \(message)")
        return StageResult(artifacts: [mosaic, reportArtifact, positions], message: message, metrics: metrics)
    }

    /// Artifact kind of the mosaic.
    public static let mosaicKind = "mosaic"
}
