import ArgumentParser
import Foundation
import MicroscopyIO
import Pipeline
import Stitching

/// `lmdflow stitch`: a multi-position ND2, a tile folder or a Fiji `TileConfiguration.txt` to a
/// registered, blended, pyramidal OME-TIFF mosaic, standalone.
struct StitchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stitch",
        abstract: "Stitch a multi-position scan or a tile folder into a pyramidal OME-TIFF mosaic.",
        discussion: """
            INPUT is a multi-position ND2 (XY loop with stage positions), a folder of tiles named by row and \
            column (--pattern with {channel}, {row}, {col}, zero-padded as {row:03}; inferred from names like \
            tile_DAPI_r000_c001.tif when omitted; --overlap required), a folder holding a Fiji \
            TileConfiguration.txt, or that file itself. Tiles are registered by phase correlation on their \
            overlaps, all accepted pairs solved at once, tiles without an accepted pair placed by a fitted \
            stage model (with a warning); the axis orientation is detected unless --orientation is given. \
            Writes OUT atomically; --positions-json writes {"tiles": [{"row", "col", "y", "x"}]} (top-left \
            corners in mosaic pixels); --report-json the full report (pairs, scores, orientation checks, \
            stage → mosaic map). Exit 65 for unusable input, 64 for bad options.
            """)

    @Argument(help: "A multi-position ND2, a tile folder, or a TileConfiguration.txt.")
    var input: String

    @Option(help: "Tile file name pattern, e.g. 'tile_{channel}_r{row:03}_c{col:03}.tif'.")
    var pattern: String?

    @Option(help: "Nominal overlap of neighbouring tiles as a fraction (tile folders), e.g. 0.1.")
    var overlap: Double?

    @Option(help: "Channel to register (name or index; default the first).")
    var channel: String?

    @Option(name: .shortAndLong, help: "Output mosaic (OME-TIFF).")
    var output: String

    @Option(help: "Write the tile positions as JSON here.")
    var positionsJson: String?

    @Option(help: "Write the full stitching report as JSON here.")
    var reportJson: String?

    @Option(help: "Overlap blending: linear, max or none.")
    var blend: String = "linear"

    @Option(help: "Axis orientation of the nominal layout: auto, none, flip-x, flip-y, flip-xy.")
    var orientation: String = "auto"

    @Option(help: "Largest correction of a pair versus its nominal offset, in pixels.")
    var maxShift: Int = 15

    @Option(help: "Pixel size in µm (tile folders without metadata).")
    var pixelSize: Double?

    @Option(help: "OME-TIFF tile size (multiple of 16).")
    var tileSize: Int = 1024

    @Option(help: "Channels to write (comma-separated names or indices; default all).")
    var outputChannels: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() async throws {
        try await guarded {
            var options = Stitcher.Options()
            options.channel = channel
            options.registration.maxShift = maxShift
            guard let mode = BlendMode(rawValue: blend) else {
                throw CLIError(exitCode: .usage, message: "--blend \(blend): expected linear, max or none")
            }
            options.blend = mode
            guard orientation == "auto" || Orientation(name: orientation) != nil else {
                throw CLIError(exitCode: .usage, message: "--orientation \(orientation): expected auto, none, flip-x, flip-y or flip-xy")
            }
            options.orientation = Orientation(name: orientation)
            guard tileSize >= 16, tileSize % 16 == 0 else {
                throw CLIError(exitCode: .usage, message: "--tile-size \(tileSize): expected a multiple of 16")
            }
            options.tiff.tileSize = tileSize
            if let outputChannels {
                options.outputChannels = outputChannels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            guard maxShift >= 1 else { throw CLIError(exitCode: .usage, message: "--max-shift must be ≥ 1") }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
                throw CLIError(exitCode: .notFound, message: "\(input): no such file or folder")
            }
            let set: TileSet
            if isDirectory.boolValue {
                set = try TileSet.folder(input, pattern: pattern, overlap: overlap, pixelSizeUm: pixelSize)
            } else if input.lowercased().hasSuffix(".txt") {
                set = try TileSet.tileConfiguration(path: input)
            } else {
                if pattern != nil || overlap != nil {
                    throw CLIError(exitCode: .usage, message: "--pattern and --overlap apply to tile folders; \(input) is a file")
                }
                let format = try FormatProbe.probe(path: input).format
                guard format == .nd2 else {
                    throw CLIError(
                        exitCode: .dataError,
                        message: "\(input) is a \(format.rawValue) file, not a multi-position ND2; lmdflow stitch takes an ND2 scan, a tile folder or a TileConfiguration.txt")
                }
                set = try TileSet.nd2(path: input)
            }
            let clock = ContinuousClock()
            let start = clock.now
            var report = try Stitcher.register(set, options: options)
            try FileOps.writeAtomically(to: output) { (temporary: String) throws(PipelineError) in
                do throws(StitchingError) {
                    try Stitcher.writeMosaic(set, report: &report, to: temporary, options: options)
                } catch {
                    throw PipelineError(code: .writeFailed, path: output, message: error.description)
                }
            }
            if let positionsJson {
                try FileOps.writeAtomically(Stitcher.positionsJSON(report), to: positionsJson)
            }
            if let reportJson {
                try FileOps.writeAtomically(Stitcher.reportJSON(report), to: reportJson)
            }
            let total = clock.now - start
            let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) * 1e-18
            for warning in report.warnings {
                FileHandle.standardError.write(Data("lmdflow: warning: \(warning)\n".utf8))
            }
            if json {
                var object: [String: Any] = [
                    "output": output, "tiles": report.placements.count, "pairs": report.pairs.count,
                    "accepted_pairs": report.acceptedPairs, "width": report.mosaicWidth, "height": report.mosaicHeight,
                    "orientation": report.orientation.description, "channels": report.mosaicChannels,
                    "model_placed": report.placements.filter(\.modelPlaced).count, "total_s": seconds,
                    "warnings": report.warnings,
                ]
                for (phase, value) in report.seconds { object["\(phase)_s"] = value }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(
                    "\(output): \(report.mosaicWidth) x \(report.mosaicHeight), \(report.mosaicChannels.count) channel(s), "
                        + "\(report.placements.count) tiles, \(report.acceptedPairs)/\(report.pairs.count) pairs accepted, "
                        + "orientation \(report.orientation) (\(String(format: "%.2f", seconds)) s)")
            }
        }
    }
}
