import ArgumentParser
import Foundation
import MicroscopyIO
import Synchronization

/// `lmdflow inspect FILE`: what an acquisition holds, and per-plane checksums.
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an ND2 or TIFF file's dimensions, channels, calibration, loops, positions and timestamps.",
        discussion: """
            With --checksums, prints one JSON line per plane: {"frame", "channel", "sha256", "min", "max", "sum"} \
            (TIFF adds "series" and "level"); sha256 is over the plane's little-endian (Y,X) bytes, as in the \
            truth files of the test data. Exit 65 for a damaged or unsupported file, 66 when it does not exist.
            """)

    @Argument(help: "The file (format is recognised by content, not name).")
    var file: String

    @Flag(name: .long, help: "Machine-readable JSON.")
    var json = false

    @Flag(name: .long, help: "One JSON line per plane with SHA-256, min, max and sum.")
    var checksums = false

    @Flag(name: .long, help: "Read every plane of every series and level and report the throughput (benchmarks).")
    var readAll = false

    func run() async throws {
        try await guarded {
            let reader = try AcquisitionFile.open(path: file)
            let first = reader.info
            var infos = [first]
            for series in 1..<max(1, first.seriesCount) { infos.append(try reader.info(series: series)) }
            if readAll {
                // Every plane, frames decoded in parallel (the reader is safe to share: pread only).
                let started = ContinuousClock.now
                var jobs: [PlaneIndex] = []
                for (series, info) in infos.enumerated() {
                    for level in 0..<max(1, info.levelCount) {
                        for frame in 0..<info.frameCount {
                            for channel in 0..<info.channels.count {
                                jobs.append(PlaneIndex(series: series, level: level, frame: frame, channel: channel))
                            }
                        }
                    }
                }
                let total = Mutex<(bytes: Int, error: MicroscopyIOError?)>((0, nil))
                let planes = jobs
                DispatchQueue.concurrentPerform(iterations: planes.count) { job in
                    do throws(MicroscopyIOError) {
                        let count = try reader.plane(planes[job]).bytes.count
                        total.withLock { $0.bytes += count }
                    } catch {
                        total.withLock { $0.error = $0.error ?? error }
                    }
                }
                let (bytes, failure) = total.withLock { $0 }
                if let failure { throw failure }
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let line: [String: Any] = ["bytes": bytes, "seconds": seconds, "mb_per_s": Double(bytes) / 1e6 / max(seconds, 1e-9)]
                FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]) + Data("\n".utf8))
                return
            }
            if checksums {
                for (series, info) in infos.enumerated() {
                    for level in 0..<max(1, info.levelCount) {
                        for frame in 0..<info.frameCount {
                            for channel in 0..<info.channels.count {
                                let index = PlaneIndex(series: series, level: level, frame: frame, channel: channel)
                                let stats = try reader.plane(index).statistics
                                var line: [String: Any] = [
                                    "frame": frame, "channel": channel, "sha256": stats.sha256,
                                    "min": Self.number(stats.min), "max": Self.number(stats.max), "sum": Self.number(stats.sum),
                                ]
                                if info.format == .tiff || info.format == .bigTIFF {
                                    line["series"] = series
                                    line["level"] = level
                                }
                                let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
                                FileHandle.standardOutput.write(data + Data("\n".utf8))
                            }
                        }
                    }
                }
                return
            }
            if json {
                try Report.printJSON(infos.count == 1 ? [first] : infos)
                return
            }
            for (series, info) in infos.enumerated() {
                if infos.count > 1 { print("series \(series)") }
                print("file:      \(info.path) (\(info.format.rawValue))")
                print("axes:      " + zip(info.axes, info.shape).map { "\($0)=\($1)" }.joined(separator: " "))
                print("plane:     \(info.width) x \(info.height) \(info.pixelType.rawValue)"
                    + (info.significantBits.map { " (\($0) significant bits)" } ?? ""))
                print("frames:    \(info.frameCount)" + (info.levelCount > 1 ? ", \(info.levelCount) pyramid levels" : ""))
                let size = info.pixelSizeUm.map { $0.map { String(format: "%.6g", $0) } ?? "?" }
                print("pixel µm:  x \(size[0]), y \(size[1]), z \(size.count > 2 ? size[2] : "?")")
                if let objective = info.objective { print("objective: \(objective)") }
                for channel in info.channels {
                    var line = "channel \(channel.index): \(channel.name)"
                    if let color = channel.color { line += " \(color)" }
                    if let em = channel.emissionNm { line += " em \(Int(em)) nm" }
                    if let ex = channel.excitationNm { line += " ex \(Int(ex)) nm" }
                    print(line)
                }
                for loop in info.loops { print("loop:      \(loop.axis) × \(loop.count) (\(loop.type), level \(loop.nestingLevel))") }
                for frame in info.frames.prefix(20) {
                    var line = "frame \(frame.index): " + frame.loopIndex.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: " ")
                    if let time = frame.relativeTimeMs { line += String(format: "  t=%.1f ms", time) }
                    if let stage = frame.stageUm { line += "  stage " + stage.map { String(format: "%.2f", $0) }.joined(separator: ", ") + " µm" }
                    print(line)
                }
                if info.frames.count > 20 { print("… \(info.frames.count - 20) more frames (--json for all)") }
            }
        }
    }

    static func number(_ value: Double) -> Any {
        value.rounded() == value && abs(value) < 9e15 ? Int64(value) as Any : value as Any
    }
}
