/// Decides what a name in a drop folder is: an input, a file to ignore quietly (temporary,
/// hidden, partial, a sidecar of another input) or an unsupported file (logged once, left alone).
public enum DropFilter {
    /// The verdict for one name.
    public enum Verdict: Sendable, Equatable {
        /// An acquisition to process.
        case input
        /// Hidden, temporary or partial (a copy in progress): ignored without a word.
        case temporary
        /// A sidecar that steers another input (`.calibration.json`, `.select.yml`, `.mask.tif`...).
        case sidecar
        /// Not an extension lmdflow processes: logged once and left where it is.
        case unsupported(String)
    }

    /// Suffixes of files still being copied or written by common tools.
    public static let temporarySuffixes = [
        ".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart", ".swp", ".swx", ".lock",
        ".!sync", ".opdownload", ".inprogress", "~",
    ]
    /// Suffixes of sidecar files (read by stages next to their input, never inputs themselves).
    public static let sidecarSuffixes = [
        ".calibration.json", ".select.yml", ".select.yaml", ".profile", ".error.txt", ".mask.tif", ".mask.tiff",
        ".stitching.json", ".json",
    ]

    /// Classifies a file name against the accepted extensions (lowercase, no dot).
    public static func classify(_ name: String, extensions: [String]) -> Verdict {
        let lower = name.lowercased()
        if name.hasPrefix(".") || name.hasPrefix("~$") || name.hasPrefix("#") { return .temporary }
        if temporarySuffixes.contains(where: { lower.hasSuffix($0) }) { return .temporary }
        if sidecarSuffixes.contains(where: { lower.hasSuffix($0) }) { return .sidecar }
        guard let dot = lower.lastIndex(of: ".") else { return .unsupported("") }
        let ext = String(lower[lower.index(after: dot)...])
        return extensions.contains(ext) ? .input : .unsupported(ext)
    }
}
