import Foundation
import MicroscopyIO

/// A tile file-name pattern such as `tile_{channel}_r{row:03}_c{col:03}.tif`.
///
/// Fields: `{row}` and `{col}` (required) and `{channel}` (optional). `{row:03}` / `{col:03}` match
/// exactly that many digits (zero-padded); without a width they match one or more digits. `{channel}`
/// matches one or more characters. Everything else is literal; `{{` and `}}` stand for `{` and `}`.
public struct TilePattern: Sendable, Hashable, CustomStringConvertible {
    /// One piece of a pattern.
    enum Token: Sendable, Hashable {
        case literal([Character])
        case row(width: Int?)
        case col(width: Int?)
        case channel
    }

    /// What one matching file name says.
    public struct Match: Sendable, Hashable {
        /// The `{channel}` text, or nil when the pattern has no `{channel}`.
        public var channel: String?
        /// The `{row}` number as written.
        public var row: Int
        /// The `{col}` number as written.
        public var col: Int
    }

    /// The pattern as given.
    public let text: String
    /// Whether the pattern has a `{channel}` field.
    public let hasChannel: Bool
    let tokens: [Token]

    /// Parses a pattern.
    /// - Throws: ``StitchingError`` `.invalidParameter` for an unknown or repeated field, a bad
    ///   width, an unbalanced brace, or a pattern without `{row}` or `{col}`.
    public init(_ text: String) throws(StitchingError) {
        func fail(_ what: String) -> StitchingError {
            StitchingError(code: .invalidParameter, message: "tile pattern '\(text)': \(what)")
        }
        let chars = Array(text)
        var tokens: [Token] = []
        var literal: [Character] = []
        var seen: Set<String> = []
        var i = 0
        while i < chars.count {
            let ch = chars[i]
            if ch == "{", i + 1 < chars.count, chars[i + 1] == "{" {
                literal.append("{")
                i += 2
            } else if ch == "}", i + 1 < chars.count, chars[i + 1] == "}" {
                literal.append("}")
                i += 2
            } else if ch == "}" {
                throw fail("'}' without '{' at character \(i + 1) (write '}}' for a literal brace)")
            } else if ch == "{" {
                guard let close = chars[(i + 1)...].firstIndex(of: "}") else {
                    throw fail("'{' at character \(i + 1) is not closed")
                }
                let body = String(chars[(i + 1)..<close])
                let parts = body.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let name = parts[0].trimmingCharacters(in: .whitespaces)
                guard ["row", "col", "channel"].contains(name) else {
                    throw fail("unknown field {\(body)} (expected {row}, {col}, {channel}, {row:03}, {col:03})")
                }
                guard seen.insert(name).inserted else { throw fail("field {\(name)} appears twice") }
                var width: Int?
                if parts.count == 2 {
                    let spec = parts[1]
                    guard name != "channel" else { throw fail("{channel} takes no width (found {\(body)})") }
                    guard !spec.isEmpty, spec.allSatisfy({ $0.isASCII && $0.isNumber }), let w = Int(spec), (1...18).contains(w)
                    else { throw fail("bad width in {\(body)} (expected digits such as {\(name):03})") }
                    width = w
                }
                if !literal.isEmpty {
                    tokens.append(.literal(literal))
                    literal = []
                }
                switch name {
                case "row": tokens.append(.row(width: width))
                case "col": tokens.append(.col(width: width))
                default: tokens.append(.channel)
                }
                i = close + 1
            } else {
                literal.append(ch)
                i += 1
            }
        }
        if !literal.isEmpty { tokens.append(.literal(literal)) }
        guard seen.contains("row"), seen.contains("col") else {
            throw fail("{row} and {col} are required (e.g. tile_{channel}_r{row:03}_c{col:03}.tif)")
        }
        self.text = text
        self.tokens = tokens
        hasChannel = seen.contains("channel")
    }

    /// The pattern text.
    public var description: String { text }

    /// The fields of `name` when the whole name matches the pattern, else nil.
    public func match(_ name: String) -> Match? {
        let chars = Array(name)
        var result = Match(channel: nil, row: 0, col: 0)
        return Self.match(tokens[...], chars, 0, &result) ? result : nil
    }

    /// Backtracking match of `tokens` against `chars[position...]`.
    private static func match(
        _ tokens: ArraySlice<Token>, _ chars: [Character], _ position: Int, _ result: inout Match
    ) -> Bool {
        guard let token = tokens.first else { return position == chars.count }
        let rest = tokens.dropFirst()
        switch token {
        case .literal(let literal):
            guard position + literal.count <= chars.count, Array(chars[position..<(position + literal.count)]) == literal
            else { return false }
            return match(rest, chars, position + literal.count, &result)
        case .row(let width), .col(let width):
            var digits = 0
            while position + digits < chars.count, digits < 18, isDigit(chars[position + digits]) { digits += 1 }
            let lengths: [Int] =
                if let width { digits >= width ? [width] : [] } else { digits > 0 ? Array((1...digits).reversed()) : [] }
            for length in lengths {
                let value = Int(String(chars[position..<(position + length)]))!
                if case .row = token { result.row = value } else { result.col = value }
                if match(rest, chars, position + length, &result) { return true }
            }
            return false
        case .channel:
            var length = 1
            while position + length <= chars.count, chars[position + length - 1] != "/" {
                result.channel = String(chars[position..<(position + length)])
                if match(rest, chars, position + length, &result) { return true }
                length += 1
            }
            return false
        }
    }

    private static func isDigit(_ c: Character) -> Bool { c.isASCII && c.isNumber }

    /// The file name the pattern gives for these fields (numbers zero-padded to the field's width).
    public func fileName(channel: String?, row: Int, col: Int) -> String {
        func padded(_ value: Int, _ width: Int?) -> String {
            let digits = String(value)
            guard let width, digits.count < width else { return digits }
            return String(repeating: "0", count: width - digits.count) + digits
        }
        var name = ""
        for token in tokens {
            switch token {
            case .literal(let literal): name += String(literal)
            case .row(let width): name += padded(row, width)
            case .col(let width): name += padded(col, width)
            case .channel: name += channel ?? ""
            }
        }
        return name
    }

    /// Infers a pattern from the names in a tile folder, or nil when the names do not look like a grid.
    ///
    /// Names are recognised by their last `r<digits>_c<digits>` part (letters in either case), which
    /// becomes `r{row:0N}_c{col:0N}` with the observed digit count (`{row}` when the counts vary).
    /// Names without such a part (and dot files) are ignored. With that part taken out, the names'
    /// longest common prefix and suffix are kept literal, each shortened to end (start) at a
    /// separator (`_`, `-`, `.`, space) so that a shared start of two channel names stays part of the
    /// channel; if the names then still differ, the varying middle is `{channel}`.
    ///
    /// ```
    /// Timepoint001_Row02_Well04_Alexa488_zstack001_r000_c002.tif
    ///   → Timepoint001_Row02_Well04_{channel}_zstack001_r{row:03}_c{col:03}.tif
    /// ```
    public static func infer(fileNames: [String]) -> String? {
        let marker: Character = "\u{0}"
        struct Candidate {
            var name: String
            var rest: [Character]  // the name with the row/column part replaced by `marker`
            var rowLetter: Character
            var colLetter: Character
            var rowDigits: Int
            var colDigits: Int
        }
        var candidates: [Candidate] = []
        for name in fileNames where !name.hasPrefix(".") && !name.contains("/") && !name.contains(marker) {
            let chars = Array(name)
            var found: Candidate?
            var start = chars.count - 1
            while start >= 0, found == nil {
                defer { start -= 1 }
                guard chars[start] == "r" || chars[start] == "R" else { continue }
                var i = start + 1
                while i < chars.count, isDigit(chars[i]) { i += 1 }
                let rowDigits = i - start - 1
                guard rowDigits > 0, i + 1 < chars.count, chars[i] == "_", chars[i + 1] == "c" || chars[i + 1] == "C" else { continue }
                var j = i + 2
                while j < chars.count, isDigit(chars[j]) { j += 1 }
                let colDigits = j - i - 2
                guard colDigits > 0 else { continue }
                found = Candidate(
                    name: name, rest: Array(chars[..<start]) + [marker] + Array(chars[j...]), rowLetter: chars[start],
                    colLetter: chars[i + 1], rowDigits: rowDigits, colDigits: colDigits)
            }
            if let found { candidates.append(found) }
        }
        guard let first = candidates.first else { return nil }

        func width(_ counts: [Int]) -> String { Set(counts).count == 1 ? String(format: ":%02d", counts[0]) : "" }
        let gridPart =
            "\(first.rowLetter){row\(width(candidates.map(\.rowDigits)))}_\(first.colLetter){col\(width(candidates.map(\.colDigits)))}"
        func render(_ chars: ArraySlice<Character>) -> String {
            var text = ""
            for c in chars {
                switch c {
                case marker: text += gridPart
                case "{": text += "{{"
                case "}": text += "}}"
                default: text.append(c)
                }
            }
            return text
        }

        let rests = candidates.map(\.rest)
        let pattern: String
        if rests.allSatisfy({ $0 == first.rest }) {
            pattern = render(first.rest[...])
        } else {
            let shortest = rests.map(\.count).min() ?? 0
            var prefix = 0
            while prefix < shortest, rests.allSatisfy({ $0[prefix] == first.rest[prefix] }) { prefix += 1 }
            var suffix = 0
            while suffix < shortest, rests.allSatisfy({ $0[$0.count - 1 - suffix] == first.rest[first.rest.count - 1 - suffix] }) {
                suffix += 1
            }
            func isBoundary(_ c: Character) -> Bool { c == marker || "_-. ".contains(c) }
            while prefix > 0, !isBoundary(first.rest[prefix - 1]) { prefix -= 1 }
            while suffix > 0, !isBoundary(first.rest[first.rest.count - suffix]) { suffix -= 1 }
            for rest in rests {
                guard prefix + suffix < rest.count, !rest[prefix..<(rest.count - suffix)].contains(marker) else { return nil }
            }
            pattern =
                render(first.rest[..<prefix]) + "{channel}" + render(first.rest[(first.rest.count - suffix)...])
        }
        guard let parsed = try? TilePattern(pattern), candidates.allSatisfy({ parsed.match($0.name) != nil }) else { return nil }
        return pattern
    }
}

extension TileSet {
    /// The tiles of a folder of files named by a ``TilePattern`` (grid row, column and optionally
    /// channel), placed on a regular grid.
    ///
    /// - The folder is scanned without recursion; dot files and names that do not match are ignored.
    ///   Numbering may start anywhere (the smallest row and column become 0), but every cell of the
    ///   grid must exist for every channel.
    /// - Channels: with `{channel}` in the pattern, one per distinct value, sorted by name, and every
    ///   file must hold one channel; without it, the channels of the files themselves.
    /// - Nominal place: `y = row · tileHeight · (1 − overlap)`, `x = col · tileWidth · (1 − overlap)`.
    /// - The reader opens the tile's file for each call and reads frame 0 (the first plane of a
    ///   multi-plane file, series 0, full resolution).
    ///
    /// - Parameters:
    ///   - folder: The tile folder.
    ///   - pattern: The file-name pattern, e.g. `tile_{channel}_r{row:03}_c{col:03}.tif`.
    ///   - overlap: The fraction of a tile shared with its neighbour, `0 ≤ overlap < 1`.
    ///   - pixelSizeUm: The pixel size in µm; nil takes the first file's, if recorded.
    /// - Throws: ``StitchingError`` `.invalidParameter` for a bad pattern, overlap or pixel size;
    ///   `.inputUnreadable` when the folder or a file cannot be read; `.inputInvalid` when no file
    ///   matches, a grid cell is missing, files hold the wrong channel count, or a symbolic link leads
    ///   outside the folder; `.sizeMismatch` when two tiles differ in size or sample type.
    public static func pattern(
        folder: String, pattern: String, overlap: Double, pixelSizeUm: Double? = nil
    ) throws(StitchingError) -> TileSet {
        guard overlap.isFinite, overlap >= 0, overlap < 1 else {
            throw StitchingError(
                code: .invalidParameter, message: "\(folder): overlap \(overlap) is out of range (expected 0 ≤ overlap < 1)")
        }
        try checkPixelSize(pixelSizeUm, source: folder)
        let parsed = try TilePattern(pattern)
        let names = try listFolder(folder)

        // channel ("" without {channel}) → (row, col) → file name
        var cells: [String: [GridCell: String]] = [:]
        for name in names {
            guard let match = parsed.match(name) else { continue }
            let path = try fileInside(folder: folder, name: name, source: folder)
            guard isRegularFile(path) else { continue }
            let cell = GridCell(row: match.row, col: match.col)
            let channel = match.channel ?? ""
            if let other = cells[channel]?[cell] {
                throw StitchingError(
                    code: .inputInvalid,
                    message: "\(folder): \(other) and \(name) are both row \(match.row) column \(match.col)"
                        + (match.channel.map { " of channel \($0)" } ?? ""))
            }
            cells[channel, default: [:]][cell] = name
        }
        guard !cells.isEmpty else {
            let examples = names.prefix(3).joined(separator: ", ")
            throw StitchingError(
                code: .inputInvalid,
                message: "\(folder): no file matches the tile pattern '\(pattern)' (\(names.count) files"
                    + (examples.isEmpty ? ")" : ", e.g. \(examples))"))
        }

        let channels = cells.keys.sorted()
        let all = cells.values.flatMap(\.keys)
        let minRow = all.map(\.row).min()!, maxRow = all.map(\.row).max()!
        let minCol = all.map(\.col).min()!, maxCol = all.map(\.col).max()!
        let rowCount = maxRow - minRow + 1, colCount = maxCol - minCol + 1
        guard rowCount * colCount <= 1_000_000 else {
            throw StitchingError(
                code: .inputInvalid,
                message: "\(folder): rows \(minRow)–\(maxRow) and columns \(minCol)–\(maxCol) make a grid of more than a million tiles")
        }
        let expected = rowCount * colCount * channels.count
        let present = cells.values.map(\.count).reduce(0, +)
        if present < expected {
            var missing: [String] = []
            search: for channel in channels {
                for row in minRow...maxRow {
                    for col in minCol...maxCol where cells[channel]?[GridCell(row: row, col: col)] == nil {
                        missing.append(parsed.fileName(channel: parsed.hasChannel ? channel : nil, row: row, col: col))
                        if missing.count == 5 { break search }
                    }
                }
            }
            throw StitchingError(
                code: .inputInvalid,
                message: "\(folder): \(expected - present) of \(expected) tile files of the \(rowCount)x\(colCount) grid"
                    + "\(parsed.hasChannel ? " × \(channels.count) channels" : "") are missing: "
                    + missing.joined(separator: ", ") + (expected - present > missing.count ? ", …" : ""))
        }

        // Files per tile (row-major) and channel.
        var files: [[String]] = []
        var tileNames: [String] = []
        var cellsInOrder: [GridCell] = []
        for row in minRow...maxRow {
            for col in minCol...maxCol {
                let cell = GridCell(row: row, col: col)
                let names = channels.map { cells[$0]![cell]! }
                files.append(names.map { folder + "/" + $0 })
                tileNames.append(names[0])
                cellsInOrder.append(cell)
            }
        }

        let first = try tileFileInfo(files[0][0], series: 0, source: folder)
        for (t, tileFiles) in files.enumerated() {
            for (c, file) in tileFiles.enumerated() {
                let info = (t == 0 && c == 0) ? first : try tileFileInfo(file, series: 0, source: folder)
                try checkSameGeometry(info, as: first, path: file, firstPath: files[0][0], source: folder)
                if parsed.hasChannel, info.channels.count != 1 {
                    throw StitchingError(
                        code: .inputInvalid,
                        message: "\(file) holds \(info.channels.count) channels; with {channel} in the pattern every file must hold one")
                }
                if !parsed.hasChannel, info.channels.count != first.channels.count {
                    throw StitchingError(
                        code: .inputInvalid,
                        message: "\(file) holds \(info.channels.count) channels but \(files[0][0]) holds \(first.channels.count)")
                }
            }
        }

        let stepY = Double(first.height) * (1 - overlap)
        let stepX = Double(first.width) * (1 - overlap)
        let tiles = cellsInOrder.enumerated().map { t, cell in
            Tile(
                row: cell.row - minRow, col: cell.col - minCol, name: tileNames[t],
                nominalY: Double(cell.row - minRow) * stepY, nominalX: Double(cell.col - minCol) * stepX)
        }
        let channelNames = parsed.hasChannel ? channels : first.channels.map(\.name)
        let oneChannelPerFile = parsed.hasChannel
        let tileFiles = files
        return TileSet(
            tiles: tiles, tileWidth: first.width, tileHeight: first.height, channelNames: channelNames,
            pixelType: first.pixelType, pixelSizeUm: pixelSizeUm ?? metadataPixelSize(first), source: folder
        ) { (tile: Int, channel: Int) throws(StitchingError) -> Plane in
            guard tileFiles.indices.contains(tile), channelNames.indices.contains(channel) else {
                throw StitchingError(
                    code: .invalidParameter,
                    message: "\(folder): no tile \(tile) channel \(channel) (\(tileFiles.count) tiles, \(channelNames.count) channels)")
            }
            return oneChannelPerFile
                ? try readTilePlane(tileFiles[tile][channel], series: 0, channel: 0)
                : try readTilePlane(tileFiles[tile][0], series: 0, channel: channel)
        }
    }

    /// The tiles of a folder, read the way its contents suggest.
    ///
    /// Without a `pattern`, a `TileConfiguration.registered.txt` (preferred) or `TileConfiguration.txt`
    /// in the folder is read with ``tileConfiguration(path:)``. Otherwise the tiles are read with
    /// ``pattern(folder:pattern:overlap:pixelSizeUm:)``, the pattern given or inferred from the file
    /// names by ``TilePattern/infer(fileNames:)``.
    ///
    /// - Parameters:
    ///   - folder: The tile folder.
    ///   - pattern: A file-name pattern, or nil to use a tile configuration or infer one.
    ///   - overlap: The tiles' overlap fraction; required when a pattern is used.
    ///   - pixelSizeUm: The pixel size in µm; nil takes the files' own, if recorded.
    /// - Throws: ``StitchingError``: `.invalidParameter` when a pattern is used without `overlap`;
    ///   `.inputInvalid` when no pattern can be inferred; what the chosen reader throws.
    public static func folder(
        _ folder: String, pattern: String?, overlap: Double?, pixelSizeUm: Double?
    ) throws(StitchingError) -> TileSet {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw StitchingError(code: .inputUnreadable, message: "\(folder): not found or not a folder")
        }
        try checkPixelSize(pixelSizeUm, source: folder)
        if pattern == nil {
            for name in ["TileConfiguration.registered.txt", "TileConfiguration.txt"] {
                let path = folder + "/" + name
                guard FileManager.default.fileExists(atPath: path) else { continue }
                var set = try tileConfiguration(path: path)
                if let pixelSizeUm { set.pixelSizeUm = pixelSizeUm }
                return set
            }
        }
        let names = try listFolder(folder)
        guard let chosen = pattern ?? TilePattern.infer(fileNames: names) else {
            throw StitchingError(
                code: .inputInvalid,
                message: "\(folder): no TileConfiguration.txt, and no tile name pattern can be inferred from the file names "
                    + "(expected names like tile_<channel>_r000_c000.tif); give a pattern")
        }
        guard let overlap else {
            throw StitchingError(
                code: .invalidParameter,
                message: "\(folder): tiles named by the pattern '\(chosen)' need --overlap (the fraction of a tile shared with its neighbour)")
        }
        return try TileSet.pattern(folder: folder, pattern: chosen, overlap: overlap, pixelSizeUm: pixelSizeUm)
    }
}

// MARK: - Helpers shared by the file-based inputs

/// A grid cell as numbered in file names.
struct GridCell: Hashable {
    var row: Int
    var col: Int
}

extension TileSet {
    /// The folder's entries, sorted, without dot files.
    static func listFolder(_ folder: String) throws(StitchingError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw StitchingError(code: .inputUnreadable, message: "\(folder): cannot list the folder (\(error.localizedDescription))")
        }
    }

    /// `folder/name`, refusing a name that leaves the folder: an absolute path, a `..` component, or
    /// symbolic links that resolve outside it. A name that does not exist is returned as is (opening
    /// it reports that).
    static func fileInside(folder: String, name: String, source: String) throws(StitchingError) -> String {
        guard !name.hasPrefix("/") else {
            throw StitchingError(code: .inputInvalid, message: "\(source): absolute tile path '\(name)' refused (names are relative to the folder)")
        }
        guard !name.split(separator: "/").contains("..") else {
            throw StitchingError(code: .inputInvalid, message: "\(source): tile path '\(name)' refused: '..' leaves the folder")
        }
        let path = folder + "/" + name
        guard let resolvedFolder = realPath(folder) else {
            throw StitchingError(code: .inputUnreadable, message: "\(source): folder \(folder) not found")
        }
        guard let resolved = realPath(path) else { return path }
        guard resolved.hasPrefix(resolvedFolder == "/" ? "/" : resolvedFolder + "/") else {
            throw StitchingError(
                code: .inputInvalid,
                message: "\(source): tile '\(name)' refused: it is a symbolic link to \(resolved), outside the folder \(resolvedFolder)")
        }
        return path
    }

    /// The canonical absolute path (symbolic links resolved), or nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path` is (or links to) a regular file.
    static func isRegularFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// The metadata of one series of a tile file.
    static func tileFileInfo(_ path: String, series: Int, source: String) throws(StitchingError) -> AcquisitionInfo {
        do {
            let reader = try AcquisitionFile.open(path: path)
            return series == 0 ? reader.info : try reader.info(series: series)
        } catch {
            throw StitchingError(code: .inputUnreadable, message: "\(source): \(error.description)")
        }
    }

    /// Reads frame 0 of one channel of a tile file, opening it for this call.
    static func readTilePlane(_ path: String, series: Int, channel: Int) throws(StitchingError) -> Plane {
        do {
            return try AcquisitionFile.open(path: path).plane(PlaneIndex(series: series, frame: 0, channel: channel))
        } catch {
            throw StitchingError(code: .inputUnreadable, message: error.description)
        }
    }

    /// Throws `.sizeMismatch` naming both files when `info` differs from `first` in size or type.
    static func checkSameGeometry(
        _ info: AcquisitionInfo, as first: AcquisitionInfo, path: String, firstPath: String, source: String
    ) throws(StitchingError) {
        guard info.width == first.width, info.height == first.height, info.pixelType == first.pixelType else {
            throw StitchingError(
                code: .sizeMismatch,
                message: "\(source): \(path) is \(info.width)x\(info.height) \(info.pixelType.rawValue) but \(firstPath) is "
                    + "\(first.width)x\(first.height) \(first.pixelType.rawValue); every tile must have the same size and type")
        }
    }

    /// Throws `.invalidParameter` unless `pixelSizeUm` is nil or a positive finite number.
    static func checkPixelSize(_ pixelSizeUm: Double?, source: String) throws(StitchingError) {
        if let pixelSizeUm, !(pixelSizeUm > 0 && pixelSizeUm.isFinite) {
            throw StitchingError(
                code: .invalidParameter, message: "\(source): pixel size \(pixelSizeUm) µm is not a positive number")
        }
    }

    /// The x pixel size a file records, if positive.
    static func metadataPixelSize(_ info: AcquisitionInfo) -> Double? {
        guard let size = info.pixelSizeUm.first ?? nil, size > 0, size.isFinite else { return nil }
        return size
    }
}
