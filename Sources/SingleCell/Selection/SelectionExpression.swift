/// A parsed selection expression over feature columns, such as
/// `area_nucleus > 200 and mean_ch1_cytosol > quantile(mean_ch1_cytosol, 0.9)`.
///
/// Grammar (loosest binding first; docs/SELECTION.md has the full reference):
/// `or`/`||` · `and`/`&&` · `not`/`!` · comparisons `< <= > >= == !=` (chains like
/// `100 < area < 500` mean `100 < area and area < 500`) · `+ -` · `* /` · unary `-` ·
/// numbers (`200`, `0.3`, `1e3`), columns (`snake_case`, or any name in back-quotes) and calls.
///
/// Functions: the aggregates `quantile(x, q)`, `mean(x)`, `median(x)`, `std(x)`, `min(x)`,
/// `max(x)` reduce `x` over **all** rows of the table, skipping NaN (numpy's `nanquantile` with
/// `method="linear"`, `nanmean`, `nanmedian`, `nanstd` with `ddof=0`, `nanmin`, `nanmax`); the
/// per-cell functions are `abs`, `sqrt`, `log` (natural), `log2`, `log10`, `exp` and `isnan`
/// (a condition).
///
/// NaN (a missing feature) makes every comparison false, `!=` included; arithmetic with NaN
/// gives NaN. So `not (x > 1)` is true for a cell whose `x` is missing; use `isnan(x)` to be
/// explicit.
///
/// ```swift
/// let big = try SelectionExpression("area_nucleus > 200 and not isnan(mean_ch1_cytosol)")
/// let keep: [Bool] = try big.evaluate(on: table)
/// ```
public struct SelectionExpression: Sendable, Hashable, CustomStringConvertible {
    /// What an expression produces.
    public enum ResultKind: Sendable, Hashable {
        /// True or false per cell: a filter (`select:`).
        case condition
        /// A number per cell: a ranking key (`top: {by: …}`).
        case number
    }

    /// The text as written.
    public let text: String
    /// What the expression produces.
    public let kind: ResultKind
    /// The parsed tree.
    let root: ExpressionNode

    /// Parses and type-checks `text`.
    ///
    /// - Parameters:
    ///   - text: the expression.
    ///   - kind: `.condition` for a filter, `.number` for a ranking key.
    /// - Throws: ``SingleCellError`` `.syntax` (the text does not parse) or `.evaluation` (a type
    ///   error such as `area and 3`, the wrong kind of result, a literal `q` outside 0…1), with
    ///   `context.offset` the 0-based character position and a
    ///   message that repeats the expression with a caret under that position.
    public init(_ text: String, as kind: ResultKind = .condition) throws(SingleCellError) {
        var parser = try ExpressionParser(source: text)
        let root = try parser.parse()
        switch kind {
        case .condition where !root.isCondition:
            throw ExpressionDiagnostics.error(
                .evaluation,
                "a selection must be a condition (true/false) but '\(root.canonical)' is a number; compare it, as in '\(root.canonical) > 0'",
                in: text, at: root.offset)
        case .number where root.isCondition:
            throw ExpressionDiagnostics.error(
                .evaluation, "a ranking key must be a number but '\(root.canonical)' is a condition (true/false)",
                in: text, at: root.offset)
        default:
            break
        }
        self.text = text
        self.kind = kind
        self.root = root
    }

    /// The column names the expression reads, in order of first appearance.
    public var columns: [String] {
        var seen = Set<String>()
        return root.columnReferences.map(\.name).filter { seen.insert($0).inserted }
    }

    /// The expression fully parenthesised with canonical operators, e.g.
    /// `((area_nucleus > 200) and (not isnan(x)))`: shows exactly how it was parsed.
    public var canonical: String { root.canonical }

    /// The text as written.
    public var description: String { text }

    /// Checks that every column the expression reads is in `available`.
    /// - Throws: ``SingleCellError`` `.unknownColumn` for the first unknown column (in text
    ///   order), with up to three closest names in the message and the column's offset.
    public func validate(columns available: [String]) throws(SingleCellError) {
        let known = Set(available)
        for reference in root.columnReferences where !known.contains(reference.name) {
            throw ExpressionDiagnostics.unknownColumn(
                reference.name, available: available, source: text,
                offset: reference.offset)
        }
    }

    /// Evaluates a condition for every row of `table` (in row order).
    /// - Throws: ``SingleCellError`` `.unknownColumn` (see ``validate(columns:)``),
    ///   `.evaluation` (a computed `q` outside 0…1, or an expression of kind `.number`).
    public func evaluate(on table: FeatureTable) throws(SingleCellError) -> [Bool] {
        guard kind == .condition else {
            throw SingleCellError(code: .evaluation, message: "'\(text)' is a number expression, not a condition")
        }
        let evaluator = try evaluator(for: table)
        switch try evaluator.condition(root) {
        case .single(let value): return Array(repeating: value, count: table.rowCount)
        case .perRow(let values): return values
        }
    }

    /// Evaluates a number expression for every row of `table` (in row order).
    /// - Throws: ``SingleCellError`` `.unknownColumn` (see ``validate(columns:)``),
    ///   `.evaluation` (a computed `q` outside 0…1, or an expression of kind `.condition`).
    public func values(on table: FeatureTable) throws(SingleCellError) -> [Double] {
        guard kind == .number else {
            throw SingleCellError(code: .evaluation, message: "'\(text)' is a condition, not a number expression")
        }
        let evaluator = try evaluator(for: table)
        switch try evaluator.number(root) {
        case .single(let value): return Array(repeating: value, count: table.rowCount)
        case .perRow(let values): return values
        }
    }

    private func evaluator(for table: FeatureTable) throws(SingleCellError) -> ExpressionEvaluator {
        try validate(columns: table.columnNames)
        var columns: [String: [Double]] = [:]
        for name in self.columns {
            columns[name] = table.column(name)?.values
        }
        return ExpressionEvaluator(source: text, rows: table.rowCount, columns: columns)
    }
}
