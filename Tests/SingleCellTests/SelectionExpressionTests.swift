import Foundation
import Testing

@testable import SingleCell

/// The `SingleCellError` that `body` throws, or nil.
func selectionError<T>(_ body: () throws(SingleCellError) -> T) -> SingleCellError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// Six cells in unsorted row order, with NaN in two columns:
///
/// | id | area_nucleus | mean_ch1_cytosol | area_cytosol |
/// |----|--------------|------------------|--------------|
/// | 5  | 120          | 0.5              | 400          |
/// | 3  | 250          | 0.2              | 500          |
/// | 9  | 300          | 0.35             | 600          |
/// | 1  | NaN          | 0.9              | 100          |
/// | 7  | 250          | NaN              | 250          |
/// | 2  | 80           | 0.31             | 160          |
func selectionTable() throws(SingleCellError) -> FeatureTable {
    try FeatureTable(
        cellIDs: [5, 3, 9, 1, 7, 2],
        columns: [
            .init(name: "area_nucleus", values: [120, 250, 300, .nan, 250, 80]),
            .init(name: "mean_ch1_cytosol", values: [0.5, 0.2, 0.35, 0.9, .nan, 0.31]),
            .init(name: "area_cytosol", values: [400, 500, 600, 100, 250, 160]),
        ])
}

/// The caret line of an error message: the index of `^` in the last line, minus the 4-space indent.
func caretColumn(_ message: String) -> Int? {
    guard let last = message.split(separator: "\n", omittingEmptySubsequences: false).last,
        last.hasSuffix("^"), last.dropLast().allSatisfy({ $0 == " " })
    else { return nil }
    return last.count - 1 - 4
}

@Suite("Selection expressions: parsing")
struct SelectionExpressionParsingTests {
    private func canonical(_ text: String, as kind: SelectionExpression.ResultKind = .condition) throws -> String {
        try SelectionExpression(text, as: kind).canonical
    }

    @Test("precedence: or < and < not < comparison < + - < * / < unary minus")
    func precedence() throws {
        #expect(
            try canonical("a + b * c > 3 and d < 4 or not e == 1")
                == "((((a + (b * c)) > 3) and (d < 4)) or (not (e == 1)))")
        #expect(try canonical("p > 0 or q > 0 and r > 0") == "((p > 0) or ((q > 0) and (r > 0)))")
        #expect(try canonical("not p > 0 and q > 0") == "((not (p > 0)) and (q > 0))")
        #expect(try canonical("-a * b < -3") == "(((-a) * b) < -3)")
        #expect(try canonical("a - b / c * d", as: .number) == "(a - ((b / c) * d))")
        #expect(try canonical("(a + b) * c > 0") == "(((a + b) * c) > 0)")
        #expect(try canonical("(p > 0 or q > 0) and r > 0") == "(((p > 0) or (q > 0)) and (r > 0))")
    }

    @Test("binary operators are left-associative")
    func associativity() throws {
        #expect(try canonical("a - b - c", as: .number) == "((a - b) - c)")
        #expect(try canonical("a / b / c", as: .number) == "((a / b) / c)")
        #expect(try canonical("a + b - c + d", as: .number) == "(((a + b) - c) + d)")
        #expect(try canonical("x > 1 or y > 1 or z > 1") == "(((x > 1) or (y > 1)) or (z > 1))")
        #expect(try canonical("x > 1 and y > 1 and z > 1") == "(((x > 1) and (y > 1)) and (z > 1))")
    }

    @Test("symbolic and upper-case spellings parse like the words")
    func synonyms() throws {
        let words = try canonical("a > 1 and b > 2 or not (c > 3)")
        #expect(try canonical("a > 1 && b > 2 || !(c > 3)") == words)
        #expect(try canonical("a > 1 AND b > 2 OR NOT (c > 3)") == words)
        #expect(try canonical("!!(a > 1)") == "(not (not (a > 1)))")
    }

    @Test("unary minus and plus, including double negation and a negative literal operand")
    func unary() throws {
        #expect(try canonical("- -a", as: .number) == "(-(-a))")
        #expect(try canonical("a - -3", as: .number) == "(a - -3)")
        #expect(try canonical("+a", as: .number) == "a")
        #expect(try canonical("-(a + 1)", as: .number) == "(-(a + 1))")
    }

    @Test("comparison chains mean 'and', as in Python")
    func chains() throws {
        #expect(try canonical("100 < area <= 500") == "((100 < area) and (area <= 500))")
        #expect(try canonical("0 <= a < b < 1") == "(((0 <= a) and (a < b)) and (b < 1))")
    }

    @Test("every comparison operator", arguments: ["<", "<=", ">", ">=", "==", "!="])
    func comparisonOperators(op: String) throws {
        #expect(try canonical("a \(op) 2") == "(a \(op) 2)")
    }

    @Test(
        "number literals",
        arguments: [
            ("1e3", "1000"), ("2.5e-2", "0.025"), (".5", "0.5"), ("3.", "3"), ("1E+2", "100"), ("007", "7"),
            ("0.3", "0.3"),
        ])
    func numbers(text: String, expected: String) throws {
        #expect(try canonical(text, as: .number) == expected)
    }

    @Test("functions parse with their arguments")
    func functions() throws {
        #expect(try canonical("a > quantile(a, 0.9)") == "(a > quantile(a, 0.9))")
        #expect(try canonical("abs(a - mean(a)) > 2 * std(a)") == "(abs((a - mean(a))) > (2 * std(a)))")
        #expect(
            try canonical("not isnan(x) and log(x) + sqrt(y) > exp(1)")
                == "((not isnan(x)) and ((log(x) + sqrt(y)) > exp(1)))")
        #expect(try canonical("quantile(a / b, 1 - 0.25)", as: .number) == "quantile((a / b), (1 - 0.25))")
        #expect(
            try canonical("max(a) - min(a) + median(a) + log2(a) + log10(a)", as: .number)
                == "((((max(a) - min(a)) + median(a)) + log2(a)) + log10(a))")
    }

    @Test("columns are listed once, in order of appearance; back-quotes allow any name")
    func columns() throws {
        let expression = try SelectionExpression("b > mean(a) and `odd name!` < 1 and b > a")
        #expect(expression.columns == ["b", "a", "odd name!"])
        #expect(expression.canonical == "(((b > mean(a)) and (`odd name!` < 1)) and (b > a))")
        #expect(expression.description == "b > mean(a) and `odd name!` < 1 and b > a")
        #expect(try SelectionExpression("area_nucleus_2 > 0").columns == ["area_nucleus_2"])
    }
}

@Suite("Selection expressions: errors")
struct SelectionExpressionErrorTests {
    /// Parses `text` and returns its error; asserts code and offset, and that the caret sits at the offset.
    @discardableResult
    private func failure(
        _ text: String, as kind: SelectionExpression.ResultKind = .condition,
        code: SingleCellError.Code, offset: Int, contains: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> SingleCellError? {
        let error = selectionError { () throws(SingleCellError) in try SelectionExpression(text, as: kind) }
        #expect(error?.code == code, "\(error?.message ?? "no error")", sourceLocation: sourceLocation)
        #expect(error?.context.offset == offset, sourceLocation: sourceLocation)
        #expect(
            error?.message.contains(contains) == true, "\(error?.message ?? "no error")", sourceLocation: sourceLocation
        )
        if let error, !text.contains("\n") {
            #expect(caretColumn(error.message) == offset, "\(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains("\n    \(text)\n"), sourceLocation: sourceLocation)
            #expect(error.message.contains("(at character \(offset + 1))"), sourceLocation: sourceLocation)
        }
        return error
    }

    @Test("a dangling operator points at the end, after the operator")
    func danglingOperator() {
        let error = failure(
            "area_nucleus > 200 and", code: .syntax, offset: 22,
            contains: "after 'and', found the end of the expression")
        #expect(
            error?.message.hasSuffix("\n    area_nucleus > 200 and\n" + String(repeating: " ", count: 26) + "^") == true
        )
    }

    @Test("syntax errors point at the offending character")
    func syntaxErrors() {
        failure("area > > 3", code: .syntax, offset: 7, contains: "after '>', found '>'")
        failure("(a > 1", code: .syntax, offset: 6, contains: "expected ')' to close the '(' at character 1")
        failure("a > 1)", code: .syntax, offset: 5, contains: "unmatched ')'")
        failure("a = 1", code: .syntax, offset: 2, contains: "use '==' to compare")
        failure("a > 1 & b > 2", code: .syntax, offset: 6, contains: "use 'and'")
        failure("a > 1 | b > 2", code: .syntax, offset: 6, contains: "use 'or'")
        failure("a > 'x'", code: .syntax, offset: 4, contains: "quotes are not allowed")
        failure("a > 1 b > 2", code: .syntax, offset: 6, contains: "missing 'and' or 'or'?")
        failure("a > 1e", code: .syntax, offset: 5, contains: "exponent needs digits")
        failure("3abc > 1", code: .syntax, offset: 1, contains: "unexpected 'a' after '3'")
        failure("1.2.3 > 1", code: .syntax, offset: 3, contains: "malformed number")
        failure("a > 1 and or b", code: .syntax, offset: 10, contains: "found 'or'")
        failure("a ^ 2 > 1", code: .syntax, offset: 2, contains: "unexpected character '^'")
        failure("`unclosed > 1", code: .syntax, offset: 0, contains: "unterminated back-quoted")
        failure("   ", code: .syntax, offset: 3, contains: "empty")
        failure("max(a, b) > 1", code: .syntax, offset: 0, contains: "max takes 1 argument")
        failure("quantile(a) > 1", code: .syntax, offset: 0, contains: "as in quantile(x, q); got 1")
        failure("a > mean(a", code: .syntax, offset: 10, contains: "expected ',' or ')'")
    }

    @Test("an unknown function is named with the closest functions")
    func unknownFunction() {
        failure(
            "qantile(a, 0.5) > 1", code: .syntax, offset: 0, contains: "unknown function 'qantile' (closest: quantile)")
        failure("a > 1 and frobnicate(a) > 1", code: .syntax, offset: 10, contains: "functions: quantile, mean")
    }

    @Test("type errors are evaluation errors at the operand")
    func typeErrors() {
        failure("a > 1 and 2", code: .evaluation, offset: 10, contains: "right side of 'and' must be a condition")
        failure("a + (b > 1) > 0", code: .evaluation, offset: 5, contains: "right side of '+' must be a number")
        failure("not a", code: .evaluation, offset: 4, contains: "operand of 'not' must be a condition")
        failure("-(a > 1) < 0", code: .evaluation, offset: 2, contains: "operand of '-' must be a number")
        failure("mean(a > 1) > 0", code: .evaluation, offset: 5, contains: "argument x of mean(x) must be a number")
        failure("area_nucleus", code: .evaluation, offset: 0, contains: "must be a condition (true/false)")
        failure("a > 1", as: .number, code: .evaluation, offset: 0, contains: "ranking key must be a number")
    }

    @Test("quantile's q must be a single number in 0…1")
    func quantileQ() {
        failure("a > quantile(a, 1.5)", code: .evaluation, offset: 16, contains: "between 0 and 1, got 1.5")
        failure("a > quantile(a, -0.1)", code: .evaluation, offset: 16, contains: "got -0.1")
        failure(
            "a > quantile(a, 90)", code: .evaluation, offset: 16, contains: "got 90; for the 90th percentile write 0.9")
        failure("a > quantile(a, b)", code: .evaluation, offset: 16, contains: "must be one number")
    }

    @Test("a computed q outside 0…1 fails at evaluation, at q")
    func computedQ() throws {
        let table = try selectionTable()
        let expression = try SelectionExpression("area_nucleus > quantile(area_nucleus, max(mean_ch1_cytosol) + 0.5)")
        let error = selectionError { () throws(SingleCellError) in try expression.evaluate(on: table) }
        #expect(error?.code == .evaluation)
        #expect(error?.context.offset == 38)
        #expect(error?.message.contains("got 1.4") == true)
        #expect(error.flatMap { caretColumn($0.message) } == 38)
    }

    @Test("in a multi-line expression the caret is under the spot on its own line")
    func multiline() throws {
        let text = "a > 1 and\n  b >"
        let error = try #require(selectionError { () throws(SingleCellError) in try SelectionExpression(text) })
        #expect(error.code == .syntax)
        #expect(error.context.offset == 15)
        #expect(error.message.contains("(at line 2, character 6)"))
        #expect(error.message.hasSuffix("\n      b >\n         ^"))
    }

    @Test("nesting beyond the limit is refused, not a stack overflow")
    func depthLimit() {
        let parens = String(repeating: "(", count: 500) + "a > 1" + String(repeating: ")", count: 500)
        let error = selectionError { () throws(SingleCellError) in try SelectionExpression(parens) }
        #expect(error?.code == .syntax)
        #expect(error?.message.contains("nested too deeply") == true)
        let chain = Array(repeating: "a", count: 300).joined(separator: " + ") + " > 0"
        let chainError = selectionError { () throws(SingleCellError) in try SelectionExpression(chain) }
        #expect(chainError?.message.contains("nested too deeply") == true)
        #expect((try? SelectionExpression(Array(repeating: "a", count: 150).joined(separator: " + ") + " > 0")) != nil)
    }

    @Test("an unknown column names up to three closest columns and points at the name")
    func unknownColumn() throws {
        let table = try selectionTable()
        let expression = try SelectionExpression("area_nucleus > 200 and mean_ch1_cytosl > 0.3")
        let error = try #require(selectionError { () throws(SingleCellError) in try expression.evaluate(on: table) })
        #expect(error.code == .unknownColumn)
        #expect(error.context.column == "mean_ch1_cytosl")
        #expect(error.context.offset == 23)
        #expect(caretColumn(error.message) == 23)
        #expect(error.message.hasPrefix("unknown column 'mean_ch1_cytosl' (closest: mean_ch1_cytosol)"))

        let many = ["mean_ch1_nucleus", "mean_ch1_cytosol", "mean_ch2_nucleus", "mean_ch2_cytosol", "area_nucleus"]
        let wide = try SelectionExpression("mean > 1")
        let tooMany = try #require(selectionError { () throws(SingleCellError) in try wide.validate(columns: many) })
        let listed = try #require(tooMany.message.split(separator: "(closest: ").last?.split(separator: ")").first)
        #expect(listed.split(separator: ",").count == 3)
        #expect(listed.split(separator: ",").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("mean_") })

        let first = try SelectionExpression("zzz > 1 and area_nucleos > 2")
        let firstError = try #require(
            selectionError { () throws(SingleCellError) in try first.validate(columns: table.columnNames) })
        #expect(firstError.context.column == "zzz")
        #expect(firstError.message.contains("the table has 3 columns: area_nucleus, mean_ch1_cytosol, area_cytosol"))
        let second = try SelectionExpression("area_nucleus > 1 and Area_Nucleos > 2")
        let secondError = try #require(
            selectionError { () throws(SingleCellError) in try second.validate(columns: table.columnNames) })
        #expect(secondError.message.contains("(closest: area_nucleus)"))
        #expect(secondError.context.offset == 21)
        try expression.validate(columns: table.columnNames + ["mean_ch1_cytosl"])
    }
}

@Suite("Selection expressions: evaluation")
struct SelectionExpressionEvaluationTests {
    private func rows(_ text: String) throws -> [Bool] {
        try SelectionExpression(text).evaluate(on: selectionTable())
    }

    private func numbers(_ text: String, _ table: FeatureTable? = nil) throws -> [Double] {
        try SelectionExpression(text, as: .number).values(on: table ?? selectionTable())
    }

    @Test("the issue's example, with NaN cells not selected")
    func example() throws {
        #expect(try rows("area_nucleus > 200 and mean_ch1_cytosol > 0.3") == [false, false, true, false, false, false])
        #expect(try rows("area_nucleus > 200 or mean_ch1_cytosol > 0.3") == [true, true, true, true, true, true])
    }

    @Test("each comparison; every comparison with NaN is false, != included")
    func comparisons() throws {
        // area_nucleus: 120, 250, 300, NaN, 250, 80
        #expect(try rows("area_nucleus < 250") == [true, false, false, false, false, true])
        #expect(try rows("area_nucleus <= 250") == [true, true, false, false, true, true])
        #expect(try rows("area_nucleus > 250") == [false, false, true, false, false, false])
        #expect(try rows("area_nucleus >= 250") == [false, true, true, false, true, false])
        #expect(try rows("area_nucleus == 250") == [false, true, false, false, true, false])
        #expect(try rows("area_nucleus != 250") == [true, false, true, false, false, true])
        #expect(try rows("not (area_nucleus > 200)") == [true, false, false, true, false, true])
        #expect(try rows("isnan(area_nucleus) or isnan(mean_ch1_cytosol)") == [false, false, false, true, true, false])
        #expect(try rows("100 < area_nucleus < 300") == [true, true, false, false, true, false])
    }

    @Test("arithmetic and per-cell functions")
    func arithmetic() throws {
        #expect(try rows("area_nucleus / 2 + 10 == 135") == [false, true, false, false, true, false])
        #expect(try rows("area_cytosol - area_nucleus * 2 > 0") == [true, false, false, false, false, false])
        let ratio = try numbers("area_nucleus / area_cytosol")
        #expect(ratio[0] == 0.3 && ratio[4] == 1 && ratio[3].isNaN)
        #expect(try numbers("-area_cytosol")[0] == -400)
        #expect(try numbers("abs(80 - area_nucleus)")[5] == 0)
        #expect(try numbers("abs(80 - area_nucleus)")[0] == 40)
        #expect(try numbers("sqrt(area_cytosol)")[0] == 20)
        #expect(try numbers("log10(area_cytosol)")[1] == log10(500))
        #expect(try numbers("log2(area_cytosol / 25)")[0] == 4)
        #expect(try numbers("log(exp(2))")[0] == log(exp(2)))
        #expect(try numbers("sqrt(0 - area_cytosol)")[0].isNaN)
        #expect(try numbers("area_cytosol / 0")[0] == .infinity)
    }

    @Test("aggregates run over all cells of the table, skipping NaN")
    func aggregates() throws {
        // mean of 120, 250, 300, 250, 80 = 200
        #expect(try rows("area_nucleus > mean(area_nucleus)") == [false, true, true, false, true, false])
        #expect(try numbers("max(area_nucleus) - min(area_nucleus)")[2] == 220)
        #expect(try numbers("median(area_nucleus)")[0] == 250)
        #expect(try rows("1 < 2") == Array(repeating: true, count: 6))
        #expect(try rows("1 > 2") == Array(repeating: false, count: 6))
    }

    @Test("quantile, median, mean, std, min, max match numpy's nan-functions to the bit")
    func numpyValues() throws {
        let table = try FeatureTable(
            cellIDs: Array(1...9),
            columns: [
                .init(name: "v", values: [3, 1, 4, 1, 5, 9, 2, 6, .nan]),
                .init(name: "w", values: [0.1, 0.7, 0.2, .nan, .nan, .nan, .nan, .nan, .nan]),
                .init(name: "gone", values: Array(repeating: .nan, count: 9)),
            ])
        // numpy 2.4: np.nanquantile(v, q) with the default method="linear".
        let expected: [(Double, Double)] = [
            (0, 1.0), (0.1, 1.0), (0.3, 2.1), (0.5, 3.5), (0.75, 5.25), (0.9, 6.8999999999999995),
            (0.95, 7.949999999999998), (1, 9.0),
        ]
        for (q, value) in expected {
            #expect(try numbers("quantile(v, \(q))", table)[0] == value, "q = \(q)")
        }
        #expect(try numbers("quantile(w, 0.1)", table)[0] == 0.12000000000000001)
        #expect(try numbers("quantile(w, 0.3)", table)[0] == 0.16)
        #expect(try numbers("quantile(w, 0.55)", table)[0] == 0.25000000000000006)
        #expect(try numbers("quantile(w, 0.9)", table)[0] == 0.6)
        // Where numpy's two-sided lerp (b - (b - a)·(1 - γ) for γ ≥ 0.5) differs from a + (b - a)·γ in the last bit:
        // 9.79 - 6.79 · 0.4 = 7.074 (one-sided: 7.073999999999999).
        let pairs = try FeatureTable(
            cellIDs: [1, 2, 3, 4, 5, 6],
            columns: [
                .init(name: "p", values: [9.79, 3.0, .nan, .nan, .nan, .nan]),
                .init(name: "r", values: [2.58, 8.88, 2.9, 6.34, 9.13, 3.4]),
            ])
        #expect(try numbers("quantile(p, 0.6)", pairs)[0] == 7.074)
        #expect(try numbers("quantile(r, 0.55)", pairs)[0] == 5.6049999999999995)
        #expect(try numbers("median(v)", table)[0] == 3.5)
        #expect(try numbers("mean(v)", table)[0] == 3.875)
        #expect(abs(try numbers("std(v)", table)[0] - 2.5708704751503917) < 1e-12)
        #expect(abs(try numbers("std(w)", table)[0] - 0.262466929133727) < 1e-12)
        #expect(try numbers("min(v)", table)[0] == 1)
        #expect(try numbers("max(v)", table)[0] == 9)
        #expect(try numbers("quantile(gone, 0.5)", table)[0].isNaN)
        #expect(try numbers("mean(gone)", table)[0].isNaN)
        #expect(
            try SelectionExpression("v > quantile(gone, 0.5)").evaluate(on: table) == Array(repeating: false, count: 9))
        // v > its 75th percentile (5.25): 9 and 6.
        #expect(
            try SelectionExpression("v > quantile(v, 0.75)").evaluate(on: table)
                == [false, false, false, false, false, true, false, true, false])
    }

    @Test("evaluating the wrong kind of expression is refused")
    func wrongKind() throws {
        let table = try selectionTable()
        let key = try SelectionExpression("area_nucleus", as: .number)
        #expect(selectionError { () throws(SingleCellError) in try key.evaluate(on: table) }?.code == .evaluation)
        let condition = try SelectionExpression("area_nucleus > 1")
        #expect(selectionError { () throws(SingleCellError) in try condition.values(on: table) }?.code == .evaluation)
    }
}
