/// Reads a list of cell ids from CSV text (the caller reads the file; this module does no I/O).
///
/// Accepted shapes:
/// - a header naming the id column — `cell_id`, `scportrait_cell_id` or `id` (case-insensitive,
///   first match in that order) — and any other columns, which are ignored (so an exported feature
///   table or a pandas `to_csv` works as is);
/// - a single column of ids without a header (py-lmd's plain list).
///
/// The delimiter is `,`, or tab or `;` when the first line has no comma. Fields may be
/// double-quoted. Blank lines and lines starting with `#` are skipped. Ids are whole numbers
/// ≥ 0; `12.0` is read as 12 (pandas writes float columns that way). Ids are returned in file
/// order, duplicates included (selection drops and reports them).
///
/// ```swift
/// let ids = try IDList.parse(csv: "cell_id,score\n12,0.5\n40,0.7\n", path: "picked.csv")  // [12, 40]
/// ```
public enum IDList {
    /// Header names recognised as the id column, in order of preference.
    public static let idColumnNames = ["cell_id", "scportrait_cell_id", "id"]

    /// Parses CSV text into cell ids.
    ///
    /// - Parameters:
    ///   - text: the CSV content.
    ///   - path: the file it came from, for error messages.
    /// - Throws: ``SingleCellError`` `.unknownCell` naming the line and field (in `context.object`,
    ///   e.g. `line 4, field 2 (cell_id)`) of a value that is not an id, a missing id column, an
    ///   unterminated quote, or an empty file.
    public static func parse(csv text: String, path: String? = nil) throws(SingleCellError) -> [Int] {
        var body = Substring(text)
        if body.first == "\u{FEFF}" { body = body.dropFirst() }
        var records: [(line: Int, text: Substring)] = []
        for (index, line) in body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            records.append((index + 1, line))
        }
        guard let first = records.first else {
            throw SingleCellError(
                code: .unknownCell, message: "the id list is empty (expected a cell_id column or one id per line)",
                context: .init(path: path))
        }
        let delimiter: Character =
            first.text.contains(",")
            ? ","
            : first.text.contains("\t")
                ? "\t"
                : first.text.contains(";") ? ";" : ","
        let firstFields = try fields(of: first.text, delimiter: delimiter, line: first.line, path: path)
        let hasHeader = firstFields.contains { integer($0) == nil }
        var column = 0
        var columnName: String?
        if hasHeader {
            let names = firstFields.map { $0.lowercased() }
            guard let found = idColumnNames.lazy.compactMap({ names.firstIndex(of: $0) }).first else {
                var message = "no cell id column: the header must name one of \(idColumnNames.joined(separator: ", "))"
                message += " (found: \(firstFields.joined(separator: ", ")))"
                throw SingleCellError(
                    code: .unknownCell, message: message,
                    context: .init(path: path, object: "line \(first.line)"))
            }
            column = found
            columnName = firstFields[found]
        } else if firstFields.count > 1 {
            throw SingleCellError(
                code: .unknownCell,
                message: "\(firstFields.count) columns and no header: add a header that names the id column (cell_id)",
                context: .init(path: path, object: "line \(first.line)"))
        }
        var ids: [Int] = []
        for record in records.dropFirst(hasHeader ? 1 : 0) {
            let values = try fields(of: record.text, delimiter: delimiter, line: record.line, path: path)
            let where_ = "line \(record.line), field \(column + 1)" + (columnName.map { " (\($0))" } ?? "")
            guard column < values.count else {
                throw SingleCellError(
                    code: .unknownCell,
                    message: "the row has \(values.count) field\(values.count == 1 ? "" : "s"), so no id",
                    context: .init(path: path, object: where_))
            }
            guard let id = integer(values[column]) else {
                let shown = values[column].isEmpty ? "an empty field" : "'\(values[column])'"
                throw SingleCellError(
                    code: .unknownCell, message: "\(shown) is not a cell id (a whole number ≥ 0)",
                    context: .init(path: path, object: where_))
            }
            ids.append(id)
        }
        return ids
    }

    /// A whole number ≥ 0 written as `12`, `+12` or `12.0`; nil otherwise.
    static func integer(_ field: String) -> Int? {
        if let value = Int(field) { return value >= 0 ? value : nil }
        guard let value = Double(field), value.isFinite, value >= 0, value == value.rounded(),
            value < 9.0e15
        else { return nil }
        return Int(value)
    }

    /// Splits one line into trimmed fields, honouring double quotes (`""` is a quote inside).
    static func fields(
        of line: Substring, delimiter: Character, line number: Int,
        path: String?
    ) throws(SingleCellError) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var wasQuoted = false
        var iterator = line.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" {
                            field.append("\"")
                        } else {
                            quoted = false
                            pending = next
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" && field.trimmingWhitespace().isEmpty {
                quoted = true
                wasQuoted = true
                field = ""
            } else if character == delimiter {
                fields.append(wasQuoted ? field : String(field.trimmingWhitespace()))
                field = ""
                wasQuoted = false
            } else if !(wasQuoted && character.isWhitespace) {
                field.append(character)
            }
        }
        guard !quoted else {
            throw SingleCellError(
                code: .unknownCell, message: "unterminated quote",
                context: .init(path: path, object: "line \(number), field \(fields.count + 1)"))
        }
        fields.append(wasQuoted ? field : String(field.trimmingWhitespace()))
        return fields
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace.
    fileprivate func trimmingWhitespace() -> SubSequence {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<end]
    }
}
