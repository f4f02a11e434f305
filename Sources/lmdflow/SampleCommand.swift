import ArgumentParser
import Foundation
import ImageKit
import MicroscopyIO

/// `lmdflow sample`: synthetic acquisitions made by lmdflow's own code, for trying a drop
/// folder end to end and for the format benchmarks.
struct SampleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Write a synthetic acquisition (nuclei images): ND2, TIFF or a tiled pyramidal OME-TIFF.",
        discussion: """
            Deterministic for a given --seed. ND2 files get a T loop of --frames with --channels channels; \
            OME-TIFF files are written tile by tile (memory stays bounded at any size), with pyramid levels. \
            The file is written under a temporary name and renamed into place, so it can go straight into a \
            drop folder.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case nd2, tiff, ome
    }

    @Argument(help: "nd2, tiff or ome (tiled pyramidal BigTIFF OME-TIFF).")
    var format: Format

    @Option(name: .shortAndLong, help: "Output file.")
    var output: String

    @Option(help: "Width in pixels.")
    var width = 1024

    @Option(help: "Height in pixels.")
    var height = 1024

    @Option(help: "ND2: frames (time points).")
    var frames = 1

    @Option(help: "Channels.")
    var channels = 1

    @Flag(help: "ND2: zlib-compress the frames.")
    var zlib = false

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    func run() async throws {
        try await guarded {
            guard width > 0, height > 0, frames > 0, channels > 0, width <= 1 << 20, height <= 1 << 20 else {
                throw CLIError(exitCode: .usage, message: "sizes must be positive (width and height at most 1048576)")
            }
            let temp = URL(fileURLWithPath: output).deletingLastPathComponent().path
                + "/.\(URL(fileURLWithPath: output).lastPathComponent).part"
            let names = (0..<channels).map { $0 == 0 ? "DAPI" : "C\($0)" }
            let started = ContinuousClock.now
            switch format {
            case .nd2:
                // A few distinct images per channel, cycled over frames (realistic compressibility).
                let pool = (0..<min(frames, 4)).map { index in
                    (0..<channels).map { channel in
                        Self.plane(SyntheticSample.nuclei(width: width, height: height, count: max(1, width * height / 6000),
                                                          seed: seed &+ UInt64(index * 31 + channel)).image)
                    }
                }
                try ND2Writer.write(
                    path: temp, frameCount: frames, width: width, height: height, pixelType: .uint16, planesPerFrame: channels,
                    channels: names.enumerated().map { ChannelInfo(name: $1, index: $0) },
                    loops: frames > 1 ? [ExperimentLoop(axis: "T", type: "TimeLoop", count: frames, nestingLevel: 0)] : [],
                    pixelSizeUm: 0.65, timesMs: (0..<frames).map { Double($0) * 1000 },
                    compression: zlib ? .zlib(level: 1) : .none
                ) { frame in pool[frame % pool.count] }
            case .tiff:
                let sample = SyntheticSample.nuclei(width: width, height: height, count: max(1, width * height / 6000), seed: seed)
                try TIFFWriter.write(sample.image, to: temp, description: "lmdflow sample, seed \(seed)")
            case .ome:
                // A 2048² nuclei tile repeated with a per-repeat offset: the mosaic is never in memory.
                let base = min(2048, max(width, height))
                let tile = SyntheticSample.nuclei(width: base, height: base, count: max(1, base * base / 6000), seed: seed).image
                let layout = OMETIFFLayout(width: width, height: height, pixelType: .uint16, channelNames: names,
                                           pixelSizeUm: [0.65, 0.65, nil])
                try tile.withUnsafeBufferPointer { source in
                    try TIFFWriter.writeOMETiles(layout, to: temp) { request throws(MicroscopyIOError) -> [UInt8] in
                        var bytes = [UInt8](repeating: 0, count: request.width * request.height * 2)
                        bytes.withUnsafeMutableBytes { raw in
                            let out = raw.bindMemory(to: UInt16.self)
                            for row in 0..<request.height {
                                let y = (request.y &+ row) % base
                                for column in 0..<request.width {
                                    let x = (request.x &+ column) % base
                                    out[row &* request.width &+ column] =
                                        (source[y &* base &+ x] &+ UInt16(request.plane.channel &* 100)).littleEndian
                                }
                            }
                        }
                        return bytes
                    }
                }
            }
            guard rename(temp, output) == 0 else {
                throw CLIError(exitCode: .cannotCreate, message: "\(output): cannot rename into place")
            }
            let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                + Double((ContinuousClock.now - started).components.seconds)
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            print("wrote \(output): \(size) bytes in \(String(format: "%.2f", seconds)) s")
        }
    }

    static func plane(_ image: Image<UInt16>) -> Plane {
        image.withUnsafeBufferPointer { buffer in
            Plane(width: image.width, height: image.height, pixelType: .uint16,
                  bytes: Array(UnsafeRawBufferPointer(buffer)))
        }
    }
}
