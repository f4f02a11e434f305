/// Recursive-descent parser for selection expressions. Precedence, loosest first:
///
/// 1. `or`, `||` (left-associative)
/// 2. `and`, `&&` (left-associative)
/// 3. `not`, `!` (prefix)
/// 4. comparisons `< <= > >= == !=`; a chain `a < b < c` means `a < b and b < c` (as in Python)
/// 5. `+ -` (left-associative)
/// 6. `* /` (left-associative)
/// 7. unary `-` and `+`
/// 8. numbers, columns, function calls, parentheses
///
/// Types are checked while parsing: logical operators take conditions, everything else takes
/// numbers; a mismatch is an `.evaluation` error pointing at the operand.
struct ExpressionParser {
    /// Deepest nesting accepted (parentheses, operators, calls), so that neither the parser nor
    /// the evaluator can exhaust the stack.
    static let maxDepth = 200

    private let source: String
    private let tokens: [ExpressionToken]
    private var position = 0
    private var nesting = 0

    init(source: String) throws(SingleCellError) {
        self.source = source
        self.tokens = try ExpressionLexer(source).tokens()
    }

    /// Parses the whole text.
    mutating func parse() throws(SingleCellError) -> ExpressionNode {
        if case .end = current.kind {
            throw syntax("the expression is empty", at: current.offset)
        }
        let node = try parseOr()
        guard case .end = current.kind else {
            var message = "unexpected \(current.shown) after a complete expression"
            if case .name = current.kind { message += " (missing 'and' or 'or'?)" }
            if case .symbol(")") = current.kind { message = "unmatched ')'" }
            throw syntax(message, at: current.offset)
        }
        return node
    }

    // MARK: - Tokens

    private var current: ExpressionToken { tokens[position] }

    private mutating func advance() -> ExpressionToken {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private func isSymbol(_ symbols: Set<String>) -> Bool {
        if case .symbol(let symbol) = current.kind { return symbols.contains(symbol) }
        return false
    }

    private func isWord(_ word: String) -> Bool {
        if case .name(let name) = current.kind { return name == word || name == word.uppercased() }
        return false
    }

    private mutating func enter() throws(SingleCellError) {
        nesting += 1
        if nesting > Self.maxDepth {
            throw syntax("the expression is nested too deeply (more than \(Self.maxDepth) levels)", at: current.offset)
        }
    }

    // MARK: - Grammar

    private mutating func parseOr() throws(SingleCellError) -> ExpressionNode {
        try enter()
        defer { nesting -= 1 }
        var left = try parseAnd()
        while isWord("or") || isSymbol(["||"]) {
            let op = advance()
            let right = try parseAnd()
            try requireCondition(left, operand: "left side of \(op.shown)")
            try requireCondition(right, operand: "right side of \(op.shown)")
            left = try node(.or(left, right), at: left.offset, condition: true)
        }
        return left
    }

    private mutating func parseAnd() throws(SingleCellError) -> ExpressionNode {
        var left = try parseNot()
        while isWord("and") || isSymbol(["&&"]) {
            let op = advance()
            let right = try parseNot()
            try requireCondition(left, operand: "left side of \(op.shown)")
            try requireCondition(right, operand: "right side of \(op.shown)")
            left = try node(.and(left, right), at: left.offset, condition: true)
        }
        return left
    }

    private mutating func parseNot() throws(SingleCellError) -> ExpressionNode {
        guard isWord("not") || isSymbol(["!"]) else { return try parseComparison() }
        try enter()
        defer { nesting -= 1 }
        let op = advance()
        let operand = try parseNot()
        try requireCondition(operand, operand: "operand of \(op.shown)")
        return try node(.not(operand), at: op.offset, condition: true)
    }

    private static let comparisons: Set<String> = ["<", "<=", ">", ">=", "==", "!="]

    private mutating func parseComparison() throws(SingleCellError) -> ExpressionNode {
        let first = try parseAdditive()
        guard isSymbol(Self.comparisons) else { return first }
        var operands = [first]
        var operators: [ExpressionToken] = []
        while isSymbol(Self.comparisons) {
            operators.append(advance())
            operands.append(try parseAdditive())
        }
        var result: ExpressionNode?
        for (index, op) in operators.enumerated() {
            let left = operands[index]
            let right = operands[index + 1]
            try requireNumber(left, operand: "left side of \(op.shown)")
            try requireNumber(right, operand: "right side of \(op.shown)")
            guard case .symbol(let text) = op.kind, let comparison = ComparisonOperator(rawValue: text) else {
                throw syntax("unknown comparison \(op.shown)", at: op.offset)
            }
            let link = try node(.comparison(comparison, left, right), at: left.offset, condition: true)
            if let previous = result {
                result = try node(.and(previous, link), at: previous.offset, condition: true)
            } else {
                result = link
            }
        }
        return result ?? first
    }

    private mutating func parseAdditive() throws(SingleCellError) -> ExpressionNode {
        var left = try parseMultiplicative()
        while isSymbol(["+", "-"]) {
            left = try arithmetic(left, op: advance(), right: try parseMultiplicative())
        }
        return left
    }

    private mutating func parseMultiplicative() throws(SingleCellError) -> ExpressionNode {
        var left = try parseUnary()
        while isSymbol(["*", "/"]) {
            left = try arithmetic(left, op: advance(), right: try parseUnary())
        }
        return left
    }

    private func arithmetic(_ left: ExpressionNode, op: ExpressionToken, right: ExpressionNode) throws(SingleCellError)
        -> ExpressionNode
    {
        try requireNumber(left, operand: "left side of \(op.shown)")
        try requireNumber(right, operand: "right side of \(op.shown)")
        guard case .symbol(let text) = op.kind, let arithmetic = ArithmeticOperator(rawValue: text) else {
            throw syntax("unknown operator \(op.shown)", at: op.offset)
        }
        return try node(.arithmetic(arithmetic, left, right), at: left.offset, condition: false)
    }

    private mutating func parseUnary() throws(SingleCellError) -> ExpressionNode {
        guard isSymbol(["-", "+"]) else { return try parsePrimary() }
        try enter()
        defer { nesting -= 1 }
        let op = advance()
        let operand = try parseUnary()
        try requireNumber(operand, operand: "operand of \(op.shown)")
        if op.text == "+" { return operand }
        if case .number(let value) = operand.kind {
            return try node(.number(-value), at: op.offset, condition: false)
        }
        return try node(.negate(operand), at: op.offset, condition: false)
    }

    private mutating func parsePrimary() throws(SingleCellError) -> ExpressionNode {
        let token = current
        switch token.kind {
        case .number(let value):
            _ = advance()
            return try node(.number(value), at: token.offset, condition: false)
        case .quotedName(let name):
            _ = advance()
            return try node(.column(name), at: token.offset, condition: false, perCell: true)
        case .name(let name):
            if ExpressionNode.keywords.contains(name) { throw expectedValue(found: token) }
            _ = advance()
            if isSymbol(["("]) { return try parseCall(name: name, at: token) }
            return try node(.column(name), at: token.offset, condition: false, perCell: true)
        case .symbol("("):
            _ = advance()
            let inner = try parseOr()
            guard isSymbol([")"]) else {
                throw syntax(
                    "expected ')' to close the '(' at character \(token.offset + 1), found \(current.shown)",
                    at: current.offset)
            }
            _ = advance()
            return inner
        default:
            throw expectedValue(found: token)
        }
    }

    private mutating func parseCall(name: String, at nameToken: ExpressionToken) throws(SingleCellError)
        -> ExpressionNode
    {
        guard let function = SelectionFunction(rawValue: name) else {
            let all = SelectionFunction.allCases.map(\.rawValue)
            let close = ExpressionDiagnostics.closest(to: name, in: all)
            let hint =
                close.isEmpty
                ? "functions: \(all.joined(separator: ", "))" : "closest: \(close.joined(separator: ", "))"
            throw syntax("unknown function '\(name)' (\(hint))", at: nameToken.offset)
        }
        let open = advance()
        var arguments: [ExpressionNode] = []
        if !isSymbol([")"]) {
            arguments.append(try parseOr())
            while isSymbol([","]) {
                _ = advance()
                arguments.append(try parseOr())
            }
        }
        guard isSymbol([")"]) else {
            throw syntax(
                "expected ',' or ')' in the call of \(name) opened at character \(open.offset + 1), found \(current.shown)",
                at: current.offset)
        }
        _ = advance()
        guard arguments.count == function.arity else {
            let expected = function.arity == 1 ? "1 argument" : "\(function.arity) arguments"
            throw syntax(
                "\(name) takes \(expected), as in \(function.signature); got \(arguments.count)",
                at: nameToken.offset)
        }
        try requireNumber(arguments[0], operand: "argument x of \(function.signature)")
        if function == .quantile {
            let q = arguments[1]
            try requireNumber(q, operand: "argument q of quantile(x, q)")
            if q.perCell {
                throw evaluation(
                    "q of quantile(x, q) must be one number (such as 0.9), not a value per cell", at: q.offset)
            }
            if case .number(let value) = q.kind, !(0...1).contains(value) {
                var message = "q of quantile(x, q) must be between 0 and 1, got \(ExpressionNode.format(value))"
                if value > 1, value <= 100 {
                    message +=
                        "; for the \(ExpressionNode.format(value))th percentile write \(ExpressionNode.format(value / 100))"
                }
                throw evaluation(message, at: q.offset)
            }
        }
        let perCell = function.isAggregate ? false : arguments[0].perCell
        return try node(
            .call(function, arguments), at: nameToken.offset, condition: function == .isnan, perCell: perCell)
    }

    // MARK: - Helpers

    /// A node with its type and depth; `perCell` defaults to "any child is per cell".
    private func node(
        _ kind: ExpressionNode.Kind, at offset: Int, condition: Bool,
        perCell: Bool? = nil
    ) throws(SingleCellError) -> ExpressionNode {
        let probe = ExpressionNode(kind: kind, offset: offset, isCondition: condition, perCell: false, depth: 0)
        let children = probe.children
        let depth = 1 + (children.map(\.depth).max() ?? 0)
        if depth > Self.maxDepth {
            throw syntax("the expression is nested too deeply (more than \(Self.maxDepth) levels)", at: offset)
        }
        return ExpressionNode(
            kind: kind, offset: offset, isCondition: condition,
            perCell: perCell ?? children.contains(where: \.perCell), depth: depth)
    }

    private func requireCondition(_ node: ExpressionNode, operand: String) throws(SingleCellError) {
        guard !node.isCondition else { return }
        throw evaluation(
            "the \(operand) must be a condition (true/false) but '\(node.canonical)' is a number; compare it, as in '\(node.canonical) > 0'",
            at: node.offset)
    }

    private func requireNumber(_ node: ExpressionNode, operand: String) throws(SingleCellError) {
        guard node.isCondition else { return }
        throw evaluation(
            "the \(operand) must be a number but '\(node.canonical)' is a condition (true/false)",
            at: node.offset)
    }

    private func expectedValue(found token: ExpressionToken) -> SingleCellError {
        var message = "expected a number, a column, a function call or '('"
        if position > 0 { message += " after \(tokens[position - 1].shown)" }
        message += ", found \(token.shown)"
        return syntax(message, at: token.offset)
    }

    private func syntax(_ message: String, at offset: Int) -> SingleCellError {
        ExpressionDiagnostics.error(.syntax, message, in: source, at: offset)
    }

    private func evaluation(_ message: String, at offset: Int) -> SingleCellError {
        ExpressionDiagnostics.error(.evaluation, message, in: source, at: offset)
    }
}
