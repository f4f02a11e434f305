/// Entry point for a libFuzzer harness: exercises the whole reader on one input file.
///
/// Opens the file, reads the metadata of every series and every plane of every level, and
/// swallows ``MicroscopyIOError`` (the expected outcome for damaged input). Anything else (a
/// crash, a trap, a hang, an allocation past the limits) is a bug the fuzzer should report.
/// Planes are capped per file so one input cannot take minutes.
package enum TIFFFuzz {
    /// Most planes decoded per input.
    package static let maxPlanes = 256

    /// Reads everything in `path`, ignoring reader errors.
    package static func run(path: String) {
        // A small plane limit keeps a hostile 64k x 64k declaration from allocating gigabytes.
        guard let reader = try? TIFFReader(path: path, maxPlaneBytes: 64 << 20) else { return }
        var decoded = 0
        for series in 0..<reader.seriesCount {
            guard let info = try? reader.info(series: series), let levels = try? reader.levels(series: series) else {
                continue
            }
            for level in levels.indices {
                for frame in 0..<info.frameCount {
                    for channel in info.channels.indices {
                        guard decoded < maxPlanes else { return }
                        decoded += 1
                        let index = PlaneIndex(series: series, level: level, frame: frame, channel: channel)
                        if let plane = try? reader.plane(index) {
                            _ = plane.statistics
                        }
                    }
                }
            }
        }
    }
}
