/// Entry point for a libFuzzer harness: opens a file with ``ND2Reader``, reads its metadata and
/// every plane, and swallows ``MicroscopyIOError`` (the expected outcome for damaged input).
/// Anything else (a crash, a trap, a hang, a huge allocation) is a bug the fuzzer reports.
package enum ND2Fuzz {
    /// Reads everything in `path`; returns normally whether the file is valid or not.
    package static func run(path: String) {
        do {
            let reader = try ND2Reader(path: path)
            _ = try reader.info(series: 0)
            for frame in 0..<reader.info.frameCount {
                _ = try reader.frame(frame)
                // Also the single-plane path, which decodes differently for interleaved frames.
                _ = try reader.plane(PlaneIndex(frame: frame, channel: reader.info.channels.count - 1))
            }
        } catch {
            // MicroscopyIOError only (typed throws): a clean rejection.
        }
    }
}
