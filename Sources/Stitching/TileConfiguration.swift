import Foundation
import MicroscopyIO

extension TileSet {
    /// The tiles listed in a Fiji/ImageJ `TileConfiguration.txt` (Grid/Collection stitching), placed
    /// where it says.
    ///
    /// Accepted format: `#` comment lines and blank lines, `dim = 2`, then one line per tile,
    /// `file; series; (x, y)`: the file name relative to the configuration's folder, a series number
    /// (usually empty, meaning 0) and the tile's top-left corner in pixels (floats, may be negative).
    ///
    /// ```
    /// # Define the number of dimensions we are working on
    /// dim = 2
    /// # Define the image coordinates
    /// tile_000.tif; ; (0.0, 0.0)
    /// tile_001.tif; ; (921.6, -2.5)
    /// ```
    ///
    /// - Nominal place: the given coordinates minus their minimum. ``Tile/row`` / ``Tile/col`` are
    ///   inferred from them as for ``nd2(path:)``.
    /// - Each file may hold several channels: the channels are the first file's, and every file must
    ///   have as many, of the same size and type. The reader opens the file for each call and reads
    ///   frame 0 of the line's series.
    /// - File names that leave the folder (absolute paths, `..`, symbolic links to elsewhere) are refused.
    ///
    /// - Parameter path: The configuration file.
    /// - Throws: ``StitchingError`` `.inputUnreadable` when the configuration or a tile cannot be read;
    ///   `.inputInvalid` for a malformed line (naming the file and its 1-based line number), `dim = 3`,
    ///   `multiseries`, a refused path, no tiles, or a channel count that differs; `.sizeMismatch` when
    ///   two tiles differ in size or sample type.
    public static func tileConfiguration(path: String) throws(StitchingError) -> TileSet {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw StitchingError(
                code: .inputUnreadable, message: "\(path): cannot read the tile configuration (\(error.localizedDescription))")
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path

        struct Entry {
            var name: String
            var file: String
            var series: Int
            var x: Double
            var y: Double
            var line: Int
        }
        var entries: [Entry] = []
        for (offset, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = offset + 1
            func invalid(_ what: String) -> StitchingError {
                StitchingError(code: .inputInvalid, message: "\(path) line \(number): \(what)")
            }
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }

            if !line.contains(";"), let equals = line.firstIndex(of: "=") {
                let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                switch key {
                case "dim":
                    if value == "3" { throw invalid("3-D tile configurations are not supported (dim = 3); expected dim = 2") }
                    guard value == "2" else { throw invalid("expected 'dim = 2', found '\(line)'") }
                case "multiseries":
                    throw invalid(
                        "multi-series tile configurations (one file holding every tile, '\(line)') are not supported; "
                            + "expected one file per tile")
                default:
                    throw invalid("unknown setting '\(line)' (expected 'dim = 2' or lines 'file; ; (x, y)')")
                }
                continue
            }

            let fields = line.split(separator: ";", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == 3 else {
                throw invalid("expected 'file; ; (x, y)' (three fields separated by ';'), found '\(line)'")
            }
            let name = fields[0]
            guard !name.isEmpty else { throw invalid("expected a file name before the first ';', found '\(line)'") }
            let series: Int
            if fields[1].isEmpty {
                series = 0
            } else if let value = Int(fields[1]), value >= 0 {
                series = value
            } else {
                throw invalid("expected an empty field or a series number between the ';', found '\(fields[1])'")
            }
            let coordinates = fields[2]
            guard coordinates.hasPrefix("("), coordinates.hasSuffix(")") else {
                throw invalid("expected coordinates '(x, y)', found '\(coordinates)'")
            }
            let numbers = coordinates.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if numbers.count == 3 { throw invalid("3-D coordinates '\(coordinates)' are not supported; expected '(x, y)'") }
            guard numbers.count == 2, let x = Double(numbers[0]), let y = Double(numbers[1]), x.isFinite, y.isFinite else {
                throw invalid("expected coordinates '(x, y)' with two numbers, found '\(coordinates)'")
            }
            let file = try fileInside(folder: folder, name: name, source: "\(path) line \(number)")
            entries.append(Entry(name: name, file: file, series: series, x: x, y: y, line: number))
        }
        guard let firstEntry = entries.first else {
            throw StitchingError(code: .inputInvalid, message: "\(path): no tiles listed (expected lines 'file; ; (x, y)')")
        }

        let first = try tileFileInfo(firstEntry.file, series: firstEntry.series, source: "\(path) line \(firstEntry.line)")
        for entry in entries.dropFirst() {
            let source = "\(path) line \(entry.line)"
            let info = try tileFileInfo(entry.file, series: entry.series, source: source)
            try checkSameGeometry(info, as: first, path: entry.file, firstPath: firstEntry.file, source: source)
            guard info.channels.count == first.channels.count else {
                throw StitchingError(
                    code: .inputInvalid,
                    message: "\(source): \(entry.file) holds \(info.channels.count) channels but \(firstEntry.file) holds "
                        + "\(first.channels.count)")
            }
        }

        let minX = entries.map(\.x).min()!
        let minY = entries.map(\.y).min()!
        let xs = entries.map { $0.x - minX }
        let ys = entries.map { $0.y - minY }
        let rows = gridIndices(ys, gap: Double(first.height) / 2)
        let cols = gridIndices(xs, gap: Double(first.width) / 2)
        let tiles = entries.indices.map { i in
            Tile(row: rows[i], col: cols[i], name: entries[i].name, nominalY: ys[i], nominalX: xs[i])
        }
        let files = entries.map(\.file)
        let series = entries.map(\.series)
        let channelNames = first.channels.map(\.name)
        return TileSet(
            tiles: tiles, tileWidth: first.width, tileHeight: first.height, channelNames: channelNames,
            pixelType: first.pixelType, pixelSizeUm: metadataPixelSize(first), source: path
        ) { (tile: Int, channel: Int) throws(StitchingError) -> Plane in
            guard files.indices.contains(tile), channelNames.indices.contains(channel) else {
                throw StitchingError(
                    code: .invalidParameter,
                    message: "\(path): no tile \(tile) channel \(channel) (\(files.count) tiles, \(channelNames.count) channels)")
            }
            return try readTilePlane(files[tile], series: series[tile], channel: channel)
        }
    }
}
