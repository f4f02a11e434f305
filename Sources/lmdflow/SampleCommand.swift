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

    @Option(help: ArgumentHelp("ND2: take the pixels from this image (TIFF, OME-TIFF or ND2; its first frame, every channel, its channel names and pixel size) instead of synthetic nuclei.", valueName: "IMAGE"))
    var from: String?

    @Option(help: ArgumentHelp("ND2 with --from: cut the image into a ROWSxCOLS multi-position scan (XY loop with stage positions, snake order), tiles overlapping by --overlap.", valueName: "ROWSxCOLS"))
    var scan: String?

    @Option(help: "Overlap of neighbouring scan tiles, as a fraction of the tile size.")
    var overlap = 0.1

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
            case .nd2 where from != nil:
                try writeND2(from: from!, to: temp)
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

    /// `--from`: the first frame of IMAGE as a one-frame ND2, or (`--scan`) as a multi-position scan
    /// of overlapping tiles with their stage positions (µm = pixel origin × pixel size).
    private func writeND2(from source: String, to temp: String) throws {
        let reader = try AcquisitionFile.open(path: source)
        let info = reader.info
        let count = max(1, info.channels.count)
        var planes: [Plane] = []
        for c in 0..<count { planes.append(try reader.plane(PlaneIndex(frame: 0, channel: c))) }
        guard let first = planes.first, [.uint8, .uint16].contains(first.pixelType) else {
            throw CLIError(exitCode: .dataError, message: "\(source): only 8- and 16-bit images can be converted")
        }
        let channels = info.channels.isEmpty ? [ChannelInfo(name: "C0", index: 0)]
            : info.channels.enumerated().map { ChannelInfo(name: $1.name, index: $0) }
        let pixelSize = info.pixelSizeUm.first.flatMap { $0 } ?? 0.65
        guard let scan else {
            try ND2Writer.write(path: temp, frames: [planes], channels: channels, pixelSizeUm: pixelSize)
            return
        }
        let parts = scan.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0, overlap >= 0, overlap < 0.9 else {
            throw CLIError(exitCode: .usage, message: "--scan expects ROWSxCOLS (e.g. 3x4) and --overlap a fraction in [0, 0.9)")
        }
        let (rows, cols) = (parts[0], parts[1])
        // Tile size so that the tiles with the overlap cover the image.
        let tileW = Int((Double(first.width) / (Double(cols) - Double(cols - 1) * overlap)).rounded(.down))
        let tileH = Int((Double(first.height) / (Double(rows) - Double(rows - 1) * overlap)).rounded(.down))
        let stepX = cols > 1 ? (first.width - tileW) / (cols - 1) : 0
        let stepY = rows > 1 ? (first.height - tileH) / (rows - 1) : 0
        guard tileW >= 32, tileH >= 32 else { throw CLIError(exitCode: .usage, message: "--scan \(scan): tiles would be under 32 px") }
        var origins: [(y: Int, x: Int)] = []
        for r in 0..<rows {
            for k in 0..<cols { origins.append((r * stepY, (r % 2 == 0 ? k : cols - 1 - k) * stepX)) }
        }
        let bytesPerSample = first.pixelType == .uint8 ? 1 : 2
        try ND2Writer.write(
            path: temp, frameCount: origins.count, width: tileW, height: tileH, pixelType: first.pixelType,
            planesPerFrame: count, channels: channels,
            loops: [ExperimentLoop(axis: "P", type: "XYPosLoop", count: origins.count, nestingLevel: 0)],
            pixelSizeUm: pixelSize, stageUm: origins.map { [Double($0.x) * pixelSize, Double($0.y) * pixelSize, 0] }
        ) { (f: Int) throws(MicroscopyIOError) -> [Plane] in
            let (y0, x0) = origins[f]
            return planes.map { plane in
                var bytes = [UInt8](repeating: 0, count: tileW * tileH * bytesPerSample)
                let rowBytes = tileW * bytesPerSample
                for row in 0..<tileH {
                    let from = ((y0 + row) * plane.width + x0) * bytesPerSample
                    bytes.withUnsafeMutableBytes { dst in
                        plane.bytes.withUnsafeBytes { src in
                            dst.baseAddress!.advanced(by: row * rowBytes).copyMemory(from: src.baseAddress!.advanced(by: from), byteCount: rowBytes)
                        }
                    }
                }
                return Plane(width: tileW, height: tileH, pixelType: plane.pixelType, bytes: bytes)
            }
        }
    }

    static func plane(_ image: Image<UInt16>) -> Plane {
        image.withUnsafeBufferPointer { buffer in
            Plane(width: image.width, height: image.height, pixelType: .uint16,
                  bytes: Array(UnsafeRawBufferPointer(buffer)))
        }
    }
}
