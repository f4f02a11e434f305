/// A function a selection expression can call.
enum SelectionFunction: String, CaseIterable, Sendable, Hashable {
    case quantile, mean, median, std, min, max
    case abs, sqrt, log, log2, log10, exp, isnan

    /// Number of arguments.
    var arity: Int { self == .quantile ? 2 : 1 }

    /// Whether the function reduces its first argument over all cells to one value.
    var isAggregate: Bool {
        switch self {
        case .quantile, .mean, .median, .std, .min, .max: true
        default: false
        }
    }

    /// How the call is written, for error messages.
    var signature: String { self == .quantile ? "quantile(x, q)" : "\(rawValue)(x)" }
}

/// Arithmetic operators (`+ - * /`).
enum ArithmeticOperator: String, Sendable, Hashable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
}

/// Comparison operators.
enum ComparisonOperator: String, Sendable, Hashable {
    case less = "<"
    case lessOrEqual = "<="
    case greater = ">"
    case greaterOrEqual = ">="
    case equal = "=="
    case notEqual = "!="
}

/// A parsed, type-checked node of a selection expression.
struct ExpressionNode: Sendable, Hashable {
    /// The node's shape.
    indirect enum Kind: Sendable, Hashable {
        /// A number literal (negative literals are folded: `-3` is one node).
        case number(Double)
        /// A feature column, by name.
        case column(String)
        /// Unary minus.
        case negate(ExpressionNode)
        /// Logical not.
        case not(ExpressionNode)
        /// `left op right` on numbers.
        case arithmetic(ArithmeticOperator, ExpressionNode, ExpressionNode)
        /// `left op right` comparing numbers; false when either side is NaN.
        case comparison(ComparisonOperator, ExpressionNode, ExpressionNode)
        /// Logical and.
        case and(ExpressionNode, ExpressionNode)
        /// Logical or.
        case or(ExpressionNode, ExpressionNode)
        /// A function call.
        case call(SelectionFunction, [ExpressionNode])
    }

    /// The node's shape.
    let kind: Kind
    /// 0-based character offset where the node's text starts.
    let offset: Int
    /// True for a condition (true/false), false for a number.
    let isCondition: Bool
    /// True when the value differs per cell (it reads a column outside any aggregate).
    let perCell: Bool
    /// Height of the tree below and including this node.
    let depth: Int

    /// The children, in order.
    var children: [ExpressionNode] {
        switch kind {
        case .number, .column: []
        case .negate(let operand), .not(let operand): [operand]
        case .arithmetic(_, let left, let right), .comparison(_, let left, let right),
            .and(let left, let right), .or(let left, let right):
            [left, right]
        case .call(_, let arguments): arguments
        }
    }

    /// Column names with the offset of each reference, in text order.
    var columnReferences: [(name: String, offset: Int)] {
        if case .column(let name) = kind { return [(name, offset)] }
        return children.flatMap(\.columnReferences).sorted { $0.offset < $1.offset }
    }

    /// The expression fully parenthesised, with canonical spelling (`and`, `or`, `not`).
    var canonical: String {
        switch kind {
        case .number(let value): Self.format(value)
        case .column(let name): Self.isBareName(name) ? name : "`\(name)`"
        case .negate(let operand): "(-\(operand.canonical))"
        case .not(let operand): "(not \(operand.canonical))"
        case .arithmetic(let op, let left, let right): "(\(left.canonical) \(op.rawValue) \(right.canonical))"
        case .comparison(let op, let left, let right): "(\(left.canonical) \(op.rawValue) \(right.canonical))"
        case .and(let left, let right): "(\(left.canonical) and \(right.canonical))"
        case .or(let left, let right): "(\(left.canonical) or \(right.canonical))"
        case .call(let function, let arguments):
            "\(function.rawValue)(\(arguments.map(\.canonical).joined(separator: ", ")))"
        }
    }

    /// Integers without a fraction (`200`), other numbers as Swift prints them (`0.3`, `1e-05`).
    static func format(_ value: Double) -> String {
        if value == value.rounded(), Swift.abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Words that cannot be bare column names.
    static let keywords: Set<String> = ["and", "or", "not", "AND", "OR", "NOT"]

    /// Whether `name` can be written without back-quotes.
    static func isBareName(_ name: String) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) } && !keywords.contains(name)
    }
}
