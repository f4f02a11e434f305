import Foundation
import Logging
import Segmentation
import Synchronization

/// The `segment` stage: the input image to uint32 label masks (OME-TIFF, one file per mask:
/// `masks/nucleus.ome.tif`, `masks/cytosol.ome.tif`, …) in the run directory, with object
/// counts and timings as stage metrics in the catalog. The method and its parameters come from
/// the profile's segmentation section (see ``SegmentationSettings``); the `cut` stage then cuts
/// from these masks.
public struct SegmentStage: Stage {
    /// The stage name.
    public let name = "segment"
    /// Version 1.
    public let version = 1
    /// The parsed section.
    public let settings: SegmentationSettings

    /// The registry entry.
    public static let descriptor = StageRegistry.StageDescriptor(
        name: "segment", sections: SegmentationSettings.sectionNames,
        summary: "image → label masks (DAPI/WGA as scPortrait, automatic nuclei, LOG-STD, contours, imported or external)"
    ) { sections throws(PipelineError) in
        SegmentStage(settings: try SegmentationSettings.parse(sections))
    }

    /// The configuration that is hashed: the section name and its content.
    public var configuration: ConfigValue {
        .object(["section": .string(settings.section), "config": settings.configuration])
    }

    /// Artifact kind of a mask: `mask:<name>`.
    public static func maskKind(_ name: String) -> String { "mask:\(name)" }

    /// Segments the input's first frame and writes the masks.
    public func run(_ context: StageContext) async throws -> StageResult {
        let input = context.input
        let imagePath = context.imagePath
        let settings = self.settings
        let cancelled = CancelFlag()
        let output = try await withTaskCancellationHandler {
            try await Blocking.run { () throws(PipelineError) -> SegmentationOutput in
                let image = try SegmentJob.loadInput(path: imagePath, channels: settings.channels)
                return try SegmentJob.run(settings, input: image, inputPath: input.originalPath ?? input.path, stem: input.stem,
                                          isCancelled: { cancelled.isSet })
            }
        } onCancel: {
            cancelled.set()
        }
        try context.checkCancellation()
        var artifacts: [Artifact] = []
        try FileOps.createDirectory("\(context.runDirectory)/masks")
        FileOps.removeStaleTemporaries(in: "\(context.runDirectory)/masks")
        for (name, mask) in zip(output.maskNames, output.masks) {
            let relative = "masks/\(name).ome.tif"
            let path = "\(context.runDirectory)/\(relative)"
            let artifact = try await Blocking.run { () throws(PipelineError) -> Artifact in
                try FileOps.writeAtomically(to: path) { (temporary: String) throws(PipelineError) in
                    try SegmentJob.writeMasks([mask], names: [name], to: temporary)
                }
                let size = FileOps.stat(path)?.size ?? 0
                return Artifact(path: relative, kind: Self.maskKind(name), sha256: try FileOps.sha256(ofFile: path), bytes: size)
            }
            artifacts.append(artifact)
        }
        var metrics: [String: Double] = ["objects": Double(output.objectCount), "tiles": Double(output.tileCount)]
        for (name, count) in output.counts { metrics["\(name)_count"] = Double(count) }
        for (phase, seconds) in output.timings { metrics["\(phase)_s"] = seconds }
        let summary = output.maskNames.map { "\(output.counts[$0] ?? 0) \($0)" }.joined(separator: ", ")
        context.logger.info("segmented: \(summary) (\(settings.section), \(output.tileCount) tile(s))")
        return StageResult(artifacts: artifacts, message: "\(summary) (\(settings.section))", metrics: metrics)
    }
}

/// A flag set from a task-cancellation handler and read by blocking work.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}
