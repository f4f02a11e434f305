/// One token of a selection expression, with the 0-based character offset where it starts.
struct ExpressionToken: Sendable, Hashable {
    /// What the token is.
    enum Kind: Sendable, Hashable {
        /// A number literal (`200`, `0.3`, `1e3`, `.5`).
        case number(Double)
        /// A bare name: a column, a function name or a keyword (`and`, `or`, `not`).
        case name(String)
        /// A back-quoted column name (`` `odd name` ``); never a keyword or function.
        case quotedName(String)
        /// An operator or punctuation: `( ) , + - * / < <= > >= == != ! && ||`.
        case symbol(String)
        /// The end of the text.
        case end
    }

    /// What the token is.
    let kind: Kind
    /// 0-based character offset of the token's first character.
    let offset: Int
    /// The token as written.
    let text: String

    /// How the token reads in an error message ("'and'", "the end of the expression").
    var shown: String {
        if case .end = kind { return "the end of the expression" }
        return "'\(text)'"
    }
}

/// Splits a selection expression into tokens. Offsets count `Character`s (what an editor shows
/// as one character), so a caret can be placed under the spot an error refers to.
struct ExpressionLexer {
    private let characters: [Character]
    private let source: String

    init(_ source: String) {
        self.source = source
        self.characters = Array(source)
    }

    /// All tokens, ending with `.end`.
    func tokens() throws(SingleCellError) -> [ExpressionToken] {
        var tokens: [ExpressionToken] = []
        var index = 0
        while true {
            while index < characters.count, characters[index].isWhitespace { index += 1 }
            guard index < characters.count else {
                tokens.append(ExpressionToken(kind: .end, offset: characters.count, text: ""))
                return tokens
            }
            let start = index
            let character = characters[index]
            if character.isASCII, character.isNumber || (character == "." && isDigit(at: index + 1)) {
                tokens.append(try number(at: &index))
            } else if isNameStart(character) {
                while index < characters.count, isNamePart(characters[index]) { index += 1 }
                let name = String(characters[start..<index])
                tokens.append(ExpressionToken(kind: .name(name), offset: start, text: name))
            } else if character == "`" {
                index += 1
                while index < characters.count, characters[index] != "`", !characters[index].isNewline { index += 1 }
                guard index < characters.count, characters[index] == "`" else {
                    throw syntax("unterminated back-quoted column name (close it with `)", at: start)
                }
                let name = String(characters[(start + 1)..<index])
                guard !name.isEmpty else { throw syntax("empty back-quoted column name", at: start) }
                index += 1
                tokens.append(ExpressionToken(kind: .quotedName(name), offset: start, text: "`\(name)`"))
            } else {
                tokens.append(try symbol(at: &index))
            }
        }
    }

    private func number(at index: inout Int) throws(SingleCellError) -> ExpressionToken {
        let start = index
        while isDigit(at: index) { index += 1 }
        if index < characters.count, characters[index] == "." {
            index += 1
            while isDigit(at: index) { index += 1 }
        }
        if index < characters.count, characters[index] == "e" || characters[index] == "E" {
            var exponent = index + 1
            if exponent < characters.count, characters[exponent] == "+" || characters[exponent] == "-" { exponent += 1 }
            guard isDigit(at: exponent) else {
                throw syntax("malformed number: an exponent needs digits (as in 1e3 or 2.5e-4)", at: index)
            }
            index = exponent
            while isDigit(at: index) { index += 1 }
        }
        if index < characters.count, isNamePart(characters[index]) || characters[index] == "." {
            throw syntax(
                "malformed number: unexpected '\(characters[index])' after '\(String(characters[start..<index]))'",
                at: index)
        }
        let text = String(characters[start..<index])
        guard let value = Double(text), value.isFinite else {
            throw syntax("number '\(text)' is out of range", at: start)
        }
        return ExpressionToken(kind: .number(value), offset: start, text: text)
    }

    private func symbol(at index: inout Int) throws(SingleCellError) -> ExpressionToken {
        let start = index
        let character = characters[index]
        let next: Character? = index + 1 < characters.count ? characters[index + 1] : nil
        let text: String
        switch (character, next) {
        case ("<", "="), (">", "="), ("=", "="), ("!", "="), ("&", "&"), ("|", "|"):
            text = String([character, next!])
        case ("(", _), (")", _), (",", _), ("+", _), ("-", _), ("*", _), ("/", _), ("<", _), (">", _), ("!", _):
            text = String(character)
        case ("=", _):
            throw syntax("'=' is not an operator: use '==' to compare", at: start)
        case ("&", _):
            throw syntax("'&' is not an operator: use 'and' (or '&&')", at: start)
        case ("|", _):
            throw syntax("'|' is not an operator: use 'or' (or '||')", at: start)
        case ("~", _):
            throw syntax("'~' is not an operator: use 'not' (or '!')", at: start)
        case ("'", _), ("\"", _):
            throw syntax("quotes are not allowed: write column names bare, or in back-quotes (`name`)", at: start)
        default:
            throw syntax("unexpected character '\(character)'", at: start)
        }
        index += text.count
        return ExpressionToken(kind: .symbol(text), offset: start, text: text)
    }

    private func isDigit(at index: Int) -> Bool {
        index < characters.count && characters[index].isASCII && characters[index].isNumber
    }

    private func isNameStart(_ character: Character) -> Bool {
        character == "_" || (character.isASCII && character.isLetter)
    }

    private func isNamePart(_ character: Character) -> Bool {
        character == "_" || (character.isASCII && (character.isLetter || character.isNumber))
    }

    private func syntax(_ message: String, at offset: Int) -> SingleCellError {
        ExpressionDiagnostics.error(.syntax, message, in: source, at: offset)
    }
}
