import ArgumentParser
import Foundation
import Microdissection
import Pipeline

/// `lmdflow cut`: a label mask and cell sets to a Leica LMD cut file, standalone.
struct CutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cut",
        abstract: "Turn a label mask and cell sets into a Leica LMD cutting XML (py-lmd compatible), and a preview.",
        discussion: """
            The inputs are those of py-lmd: cellsets.json is a list of {name, classes, well?}; \
            calibration.json is {"points_row_col_px": [[r, c], ...]} (3 or more, not collinear); the config \
            (YAML or JSON) holds py-lmd / scPortrait LMDSelection keys (shape_dilation, binary_smoothing, \
            convolution_smoothing, rdp_epsilon, path_optimization, orientation_transform, ...). Writes OUT.xml \
            atomically; prints shapes, wells and laser travel per set. Exit 65 for bad input (labels not in the \
            mask, an empty set, collinear calibration, a mask that is not a label image), 78 for a bad config.
            """)

    @Option(help: "Label mask (TIFF/OME-TIFF; first plane; 0 = background).")
    var mask: String

    @Option(help: "Cell sets JSON: [{\"name\": ..., \"classes\": [ids], \"well\": \"A1\"}, ...].")
    var sets: String

    @Option(help: "Calibration JSON: {\"points_row_col_px\": [[row, col], ...]}.")
    var calibration: String

    @Option(help: "py-lmd settings (YAML or JSON); defaults are py-lmd's.")
    var config: String?

    @Option(name: .shortAndLong, help: "Output XML.")
    var output: String

    @Option(help: "Also write a preview PNG here.")
    var preview: String?

    @Option(help: "Background image for the preview (TIFF/ND2; first plane).")
    var image: String?

    @Option(help: "Channel of --image for the preview.")
    var channel = 0

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() async throws {
        try await guarded {
            let setsData = try Self.read(sets)
            let calibrationData = try Self.read(calibration)
            var lmdConfig = LMDConfig()
            if let config {
                do throws(PipelineError) {
                    lmdConfig = try CutJob.config(from: try ConfigNode.load(path: config).value, path: config)
                } catch {
                    throw CLIError(exitCode: .config, message: error.description)
                }
            }
            let job: CutJob
            do {
                job = CutJob(maskPath: mask, cellSets: try CellSet.list(json: setsData),
                             calibration: try Calibration(json: calibrationData), config: lmdConfig)
            } catch {
                throw CLIError(exitCode: .dataError, message: "\(error)")
            }
            let result = try job.run()
            try FileOps.writeAtomically(Data(result.xml), to: output)
            if let preview {
                try FileOps.writeAtomically(Data(try CutJob.previewPNG(result, imagePath: image, channel: channel)), to: preview)
            }
            for warning in result.plan.warnings {
                FileHandle.standardError.write(Data("lmdflow: warning: \(warning)\n".utf8))
            }
            let summary = result.plan.sets.map { set in
                ["name": set.name ?? "", "well": set.well ?? "", "cells": set.cellCount, "shapes": set.shapes.count,
                 "travel": set.travel] as [String: Any]
            }
            if json {
                let object: [String: Any] = ["output": output, "shapes": result.plan.shapeCount, "sets": summary,
                                             "seconds": result.plan.timings.total]
                FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) + Data("\n".utf8))
            } else {
                for set in result.plan.sets {
                    print("set \(set.name ?? "-"): well \(set.well ?? "-"), \(set.cellCount) cells → \(set.shapes.count) shapes, laser travel \(Int(set.travel)) px")
                }
                print("wrote \(output) (\(result.plan.shapeCount) shapes)" + (preview.map { " and \($0)" } ?? ""))
            }
        }
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(exitCode: .notFound, message: "\(path): cannot read")
        }
        return Array(data)
    }
}
