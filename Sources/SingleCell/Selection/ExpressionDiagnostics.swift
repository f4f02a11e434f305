/// Builds the errors of selection expressions: a message that names the spot and repeats the
/// expression with a caret under it, and "did you mean" lists for unknown names.
enum ExpressionDiagnostics {
    /// An error at `offset` (0-based characters) of `source`:
    ///
    /// ```text
    /// expected a value after 'and', found the end of the expression (at character 23)
    ///     area_nucleus > 200 and
    ///                           ^
    /// ```
    ///
    /// For an expression written over several lines, only the line holding the spot is shown and
    /// the position is given as line and character within the expression.
    static func error(
        _ code: SingleCellError.Code, _ message: String, in source: String, at offset: Int,
        column: String? = nil
    ) -> SingleCellError {
        SingleCellError(
            code: code, message: message + pointer(in: source, at: offset),
            context: .init(column: column, offset: offset))
    }

    /// `" (at character N)"` and the two caret lines.
    static func pointer(in source: String, at offset: Int) -> String {
        let characters = Array(source)
        let offset = min(max(0, offset), characters.count)
        var lineStart = 0
        var lineNumber = 1
        for index in 0..<offset where characters[index].isNewline {
            lineStart = index + 1
            lineNumber += 1
        }
        var lineEnd = lineStart
        while lineEnd < characters.count, !characters[lineEnd].isNewline { lineEnd += 1 }
        let line = characters[lineStart..<lineEnd].map { $0 == "\t" ? " " : $0 }
        let column = offset - lineStart
        let multiline = characters.contains { $0.isNewline }
        let position = multiline ? "line \(lineNumber), character \(column + 1)" : "character \(offset + 1)"
        return " (at \(position))\n    \(String(line))\n    \(String(repeating: " ", count: column))^"
    }

    /// Up to `limit` names from `candidates` that are close to `name`: a small edit distance
    /// (case-insensitive), a shared prefix, or one containing the other; best first.
    static func closest(to name: String, in candidates: [String], limit: Int = 3) -> [String] {
        let lower = name.lowercased()
        var scored: [(name: String, score: Int)] = []
        for candidate in Set(candidates) {
            let other = candidate.lowercased()
            let distance = editDistance(lower, other)
            if distance <= max(2, lower.count / 3) {
                scored.append((candidate, distance))
            } else if lower.count >= 3, other.hasPrefix(lower) || lower.hasPrefix(other) {
                scored.append((candidate, 100 + abs(other.count - lower.count)))
            } else if lower.count >= 4, other.contains(lower) || lower.contains(other) {
                scored.append((candidate, 200 + abs(other.count - lower.count)))
            }
        }
        scored.sort { $0.score != $1.score ? $0.score < $1.score : $0.name < $1.name }
        return scored.prefix(limit).map(\.name)
    }

    /// The "unknown column" error: the closest names when there are any, else a few of the columns.
    static func unknownColumn(_ name: String, available: [String], source: String, offset: Int) -> SingleCellError {
        var message = "unknown column '\(name)'"
        let suggestions = closest(to: name, in: available)
        if !suggestions.isEmpty {
            message += " (closest: \(suggestions.joined(separator: ", ")))"
        } else if available.isEmpty {
            message += " (the feature table has no columns)"
        } else {
            let shown = available.prefix(8).joined(separator: ", ")
            message += " (the table has \(available.count) columns: \(shown)\(available.count > 8 ? ", …" : ""))"
        }
        return error(.unknownColumn, message, in: source, at: offset, column: name)
    }

    /// Levenshtein distance over UTF-8 bytes.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = Array(repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
