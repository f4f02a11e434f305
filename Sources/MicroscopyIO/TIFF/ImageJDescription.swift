/// The `ImageJ=` image description ImageJ (and tifffile with `imagej=True`) writes into the first
/// page: `key=value` lines such as `images=24`, `channels=2`, `slices=3`, `frames=4`,
/// `hyperstack=true`, `unit=micron`, `spacing=0.5`.
struct ImageJDescription: Sendable {
    var values: [String: String]

    /// Parses `text`; nil unless it starts with `ImageJ=`.
    init?(_ text: String) {
        guard text.hasPrefix("ImageJ=") else { return nil }
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = trimmed(line[..<equals])
            let value = trimmed(line[line.index(after: equals)...])
            if values[key] == nil { values[key] = value }
        }
        self.values = values
    }

    func int(_ key: String) -> Int? {
        values[key].flatMap { Int($0) }
    }

    func double(_ key: String) -> Double? {
        values[key].flatMap { Double($0) }.flatMap { $0.isFinite ? $0 : nil }
    }

    /// `images=`: planes in the file (may exceed the number of IFDs: ImageJ then stores the rest
    /// contiguously after the first plane's data).
    var images: Int? { int("images") }
    var channels: Int? { int("channels") }
    var slices: Int? { int("slices") }
    var frames: Int? { int("frames") }
    var isHyperstack: Bool { values["hyperstack"] == "true" }
    /// Micrometres per `unit=` (nil when absent or not a length).
    var micrometresPerUnit: Double? { values["unit"].flatMap(OMEMetadata.micrometres(per:)) }
    /// `spacing=`: Z step in `unit`.
    var spacing: Double? { double("spacing") }
    /// `finterval=`: seconds between frames.
    var frameInterval: Double? { double("finterval") }
}

/// `text` without leading and trailing spaces and tabs.
private func trimmed(_ text: Substring) -> String {
    var start = text.startIndex
    var end = text.endIndex
    while start < end, text[start] == " " || text[start] == "\t" { start = text.index(after: start) }
    while end > start, text[text.index(before: end)] == " " || text[text.index(before: end)] == "\t" {
        end = text.index(before: end)
    }
    return String(text[start..<end])
}
