import Foundation

/// A value during evaluation: one value for the whole table, or one per row.
enum EvaluatedLane<Element: Sendable>: Sendable {
    /// The same value for every row (literals, aggregates and what is computed from them).
    case single(Element)
    /// One value per row of the table.
    case perRow([Element])

    /// The value of `row`.
    func value(at row: Int) -> Element {
        switch self {
        case .single(let value): value
        case .perRow(let values): values[row]
        }
    }

    /// Applies `transform` to every value.
    func map<Result: Sendable>(_ transform: (Element) -> Result) -> EvaluatedLane<Result> {
        switch self {
        case .single(let value): .single(transform(value))
        case .perRow(let values): .perRow(values.map(transform))
        }
    }

    /// Combines two lanes value by value (a single value is repeated for every row).
    static func zip<Left: Sendable, Right: Sendable>(
        _ left: EvaluatedLane<Left>, _ right: EvaluatedLane<Right>, rows: Int,
        _ combine: (Left, Right) -> Element
    ) -> EvaluatedLane<Element> {
        if case .single(let l) = left, case .single(let r) = right { return .single(combine(l, r)) }
        var result: [Element] = []
        result.reserveCapacity(rows)
        for row in 0..<rows { result.append(combine(left.value(at: row), right.value(at: row))) }
        return .perRow(result)
    }
}

/// Evaluates a type-checked expression tree over the rows of a feature table.
struct ExpressionEvaluator {
    /// The expression text (for error messages).
    let source: String
    /// Number of rows of the table.
    let rows: Int
    /// The columns the expression reads, by name.
    let columns: [String: [Double]]

    /// The numeric value of `node`.
    func number(_ node: ExpressionNode) throws(SingleCellError) -> EvaluatedLane<Double> {
        switch node.kind {
        case .number(let value):
            return .single(value)
        case .column(let name):
            guard let values = columns[name] else {
                throw ExpressionDiagnostics.unknownColumn(
                    name, available: columns.keys.sorted(), source: source,
                    offset: node.offset)
            }
            return .perRow(values)
        case .negate(let operand):
            return try number(operand).map { -$0 }
        case .arithmetic(let op, let left, let right):
            let l = try number(left)
            let r = try number(right)
            switch op {
            case .add: return .zip(l, r, rows: rows, +)
            case .subtract: return .zip(l, r, rows: rows, -)
            case .multiply: return .zip(l, r, rows: rows, *)
            case .divide: return .zip(l, r, rows: rows, /)
            }
        case .call(let function, let arguments):
            return try call(function, arguments, at: node)
        case .not, .comparison, .and, .or:
            throw ExpressionDiagnostics.error(
                .evaluation, "'\(node.canonical)' is a condition, not a number",
                in: source, at: node.offset)
        }
    }

    /// The truth value of `node`.
    func condition(_ node: ExpressionNode) throws(SingleCellError) -> EvaluatedLane<Bool> {
        switch node.kind {
        case .not(let operand):
            return try condition(operand).map { !$0 }
        case .and(let left, let right):
            return .zip(try condition(left), try condition(right), rows: rows) { $0 && $1 }
        case .or(let left, let right):
            return .zip(try condition(left), try condition(right), rows: rows) { $0 || $1 }
        case .comparison(let op, let left, let right):
            let l = try number(left)
            let r = try number(right)
            // Every comparison with NaN is false, `!=` included (unlike IEEE and numpy).
            switch op {
            case .less: return .zip(l, r, rows: rows) { $0 < $1 }
            case .lessOrEqual: return .zip(l, r, rows: rows) { $0 <= $1 }
            case .greater: return .zip(l, r, rows: rows) { $0 > $1 }
            case .greaterOrEqual: return .zip(l, r, rows: rows) { $0 >= $1 }
            case .equal: return .zip(l, r, rows: rows) { $0 == $1 }
            case .notEqual: return .zip(l, r, rows: rows) { !$0.isNaN && !$1.isNaN && $0 != $1 }
            }
        case .call(.isnan, let arguments):
            return try number(arguments[0]).map(\.isNaN)
        case .number, .column, .negate, .arithmetic, .call:
            throw ExpressionDiagnostics.error(
                .evaluation, "'\(node.canonical)' is a number, not a condition",
                in: source, at: node.offset)
        }
    }

    private func call(
        _ function: SelectionFunction, _ arguments: [ExpressionNode],
        at node: ExpressionNode
    ) throws(SingleCellError) -> EvaluatedLane<Double> {
        let x = try number(arguments[0])
        switch function {
        case .abs: return x.map { Swift.abs($0) }
        case .sqrt: return x.map { $0.squareRoot() }
        case .log: return x.map { Foundation.log($0) }
        case .log2: return x.map { Foundation.log2($0) }
        case .log10: return x.map { Foundation.log10($0) }
        case .exp: return x.map { Foundation.exp($0) }
        case .isnan:
            throw ExpressionDiagnostics.error(
                .evaluation, "isnan(x) is a condition, not a number", in: source, at: node.offset)
        case .quantile, .mean, .median, .std, .min, .max:
            let values: [Double]
            switch x {
            case .single(let value): values = [value]
            case .perRow(let all): values = all
            }
            switch function {
            case .quantile:
                let qNode = arguments[1]
                guard case .single(let q) = try number(qNode) else {
                    throw ExpressionDiagnostics.error(
                        .evaluation, "q of quantile(x, q) must be one number, not a value per cell",
                        in: source, at: qNode.offset)
                }
                guard (0...1).contains(q) else {
                    throw ExpressionDiagnostics.error(
                        .evaluation, "q of quantile(x, q) must be between 0 and 1, got \(ExpressionNode.format(q))",
                        in: source, at: qNode.offset)
                }
                return .single(SelectionStatistics.quantile(values, q))
            case .mean: return .single(SelectionStatistics.mean(values))
            case .median: return .single(SelectionStatistics.median(values))
            case .std: return .single(SelectionStatistics.standardDeviation(values))
            case .min: return .single(SelectionStatistics.minimum(values))
            default: return .single(SelectionStatistics.maximum(values))
            }
        }
    }
}

/// numpy's `nan…` reductions: NaN values are skipped; no values left gives NaN.
enum SelectionStatistics {
    /// `numpy.nanquantile(values, q)` with the default `method="linear"`: the sorted values are
    /// interpolated at the virtual index `(n - 1) · q`, with numpy's two-sided `lerp` (so the
    /// result matches numpy to the last bit).
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.filter { !$0.isNaN }.sorted()
        guard !sorted.isEmpty else { return .nan }
        let index = Double(sorted.count - 1) * q
        let below = Swift.min(Swift.max(Int(index.rounded(.down)), 0), sorted.count - 1)
        let above = Swift.min(below + 1, sorted.count - 1)
        let gamma = index - Double(below)
        let a = sorted[below]
        let b = sorted[above]
        let difference = b - a
        return gamma >= 0.5 ? b - difference * (1 - gamma) : a + difference * gamma
    }

    /// `numpy.nanmedian`: the middle value, or the mean of the two middle values.
    static func median(_ values: [Double]) -> Double {
        let sorted = values.filter { !$0.isNaN }.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// `numpy.nanmean`.
    static func mean(_ values: [Double]) -> Double {
        let present = values.filter { !$0.isNaN }
        guard !present.isEmpty else { return .nan }
        return present.reduce(0, +) / Double(present.count)
    }

    /// `numpy.nanstd` with `ddof=0` (the population standard deviation, numpy's default).
    static func standardDeviation(_ values: [Double]) -> Double {
        let present = values.filter { !$0.isNaN }
        guard !present.isEmpty else { return .nan }
        let mean = present.reduce(0, +) / Double(present.count)
        let squares = present.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (squares / Double(present.count)).squareRoot()
    }

    /// `numpy.nanmin`.
    static func minimum(_ values: [Double]) -> Double {
        values.filter { !$0.isNaN }.min() ?? .nan
    }

    /// `numpy.nanmax`.
    static func maximum(_ values: [Double]) -> Double {
        values.filter { !$0.isNaN }.max() ?? .nan
    }
}
