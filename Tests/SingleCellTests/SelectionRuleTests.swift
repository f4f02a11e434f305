import ImageKit
import Testing

@testable import SingleCell

@Suite("Selection rules: ids, filters, rankings, samples, caps")
struct SelectionRuleTests {
    private func select(_ rules: [SelectionRule], maxPerWell: Int? = nil) throws(SingleCellError) -> SelectionResult {
        try Selection.evaluate(rules, on: selectionTable(), maxPerWell: maxPerWell)
    }

    private func rule(
        _ name: String = "s", well: String? = "A1", cells: SelectionRule.Cells = .all, filter: String? = nil,
        ranking: SelectionRule.Ranking? = nil, sample: SelectionRule.Sample? = nil,
        maxCells: Int? = nil
    ) throws(SingleCellError) -> SelectionRule {
        var expression: SelectionExpression?
        if let filter { expression = try SelectionExpression(filter) }
        return try SelectionRule(
            name: name, well: well, cells: cells, filter: expression,
            ranking: ranking, sample: sample, maxCells: maxCells)
    }

    @Test("all cells come in ascending id order; an id list keeps its order and drops repeats")
    func idsAndAll() throws {
        let result = try select([rule("all"), rule("list", cells: .ids([9, 3, 3, 5, 9]))])
        #expect(result.sets[0].ids == [1, 2, 3, 5, 7, 9])
        #expect(result.sets[1].ids == [9, 3, 5])
        #expect(result.sets[1].matched == 3)
        #expect(result.notes.contains("'list': 2 repeated ids ignored"))
    }

    @Test("ids missing from the table are an error naming them and the set")
    func unknownIDs() throws {
        let error = try #require(
            selectionError { () throws(SingleCellError) in
                try Selection.evaluate([try rule("picked", cells: .ids([9, 42, 77, 42]))], on: try selectionTable())
            })
        #expect(error.code == .unknownCell)
        #expect(error.context.set == "picked")
        #expect(error.message.contains("2 cell ids are not in the feature table (6 cells): 42, 77"))
        #expect(error.description.hasPrefix("set 'picked': "))
        let many = try #require(
            selectionError { () throws(SingleCellError) in
                try Selection.evaluate([try rule(cells: .ids(Array(100...120)))], on: try selectionTable())
            })
        #expect(many.message.hasSuffix("100, 101, 102, 103, 104, …"))
    }

    @Test("an id list is filtered by the expression, and aggregates still see every cell")
    func idsThenFilter() throws {
        let result = try select([
            rule("big", cells: .ids([9, 3, 5, 2]), filter: "area_nucleus > 100"),
            // Median over all cells (80, 120, 250, 250, 300) is 250; over just 5 and 2 it would be 100.
            rule("median", cells: .ids([5, 2]), filter: "area_nucleus >= quantile(area_nucleus, 0.5)"),
        ])
        #expect(result.sets[0].ids == [9, 3, 5])
        #expect(result.sets[1].ids == [])
        #expect(result.sets[1].matched == 0)
    }

    @Test("an unknown column in a filter names the set and the closest column")
    func unknownColumnInRule() throws {
        let error = try #require(
            selectionError { () throws(SingleCellError) in
                try Selection.evaluate([try rule("bright", filter: "mean_ch1_cytosl > 0.3")], on: try selectionTable())
            })
        #expect(error.code == .unknownColumn)
        #expect(error.context.set == "bright")
        #expect(error.message.contains("closest: mean_ch1_cytosol"))
    }

    @Test("top and bottom n: ties by the smaller id, NaN never ranked")
    func ranking() throws {
        // area_nucleus by id: 5→120, 3→250, 9→300, 1→NaN, 7→250, 2→80
        let result = try select([
            rule("top2", ranking: .top(2, by: "area_nucleus")),
            rule("top3", ranking: .top(3, by: "area_nucleus")),
            rule("bottom2", ranking: .bottom(2, by: "area_nucleus")),
            rule("bottom10", ranking: .bottom(10, by: "area_nucleus")),
            rule("ratio", ranking: .top(1, by: "mean_ch1_cytosol * 2")),
            rule("filtered", filter: "mean_ch1_cytosol > 0.3", ranking: .top(1, by: "area_nucleus")),
        ])
        #expect(result.sets[0].ids == [9, 3])
        #expect(result.sets[1].ids == [9, 3, 7])
        #expect(result.sets[2].ids == [2, 5])
        #expect(result.sets[3].ids == [2, 5, 3, 7, 9])
        #expect(result.sets[4].ids == [1])
        #expect(result.sets[5].ids == [9])
        #expect(result.sets[5].matched == 4)
        #expect(result.notes.contains("'bottom10': bottom 10 by area_nucleus found only 5 cells"))
        #expect(
            result.notes.contains("'bottom10': 1 cell without a value (NaN) not ranked for bottom 10 by area_nucleus"))

        let tied = try FeatureTable(cellIDs: [40, 10, 30, 20], columns: [.init(name: "x", values: [1, 1, 1, 1])])
        let ties = try Selection.evaluate(
            [
                try SelectionRule(name: "t", well: nil, ranking: .top(2, by: "x")),
                try SelectionRule(name: "b", well: nil, ranking: .bottom(3, by: "x")),
            ], on: tied)
        #expect(ties.sets[0].ids == [10, 20])
        #expect(ties.sets[1].ids == [10, 20, 30])
    }

    @Test("a seeded sample is exactly n, reproducible, independent of row order, and seed-dependent")
    func sample() throws {
        let ids = Array(1...1000)
        let forward = try FeatureTable(cellIDs: ids, columns: [])
        let backward = try FeatureTable(cellIDs: ids.reversed(), columns: [])
        func draw(_ table: FeatureTable, seed: UInt64, n: Int = 10) throws -> [Int] {
            try Selection.evaluate(
                [try SelectionRule(name: "s", well: "A1", sample: .init(count: n, seed: seed))],
                on: table
            ).sets[0].ids
        }
        let first = try draw(forward, seed: 42)
        #expect(first.count == 10)
        #expect(Set(first).count == 10)
        #expect(first == first.sorted())
        #expect(try draw(forward, seed: 42) == first)
        #expect(try draw(backward, seed: 42) == first)
        #expect(try draw(forward, seed: 43) != first)
        // Computed independently in Python (SplitMix64, Lemire bounded draws, partial Fisher–Yates).
        #expect(first == [42, 161, 224, 281, 346, 347, 622, 742, 803, 869])
        #expect(try draw(forward, seed: 43) == [6, 102, 188, 326, 434, 614, 654, 729, 832, 885])
        #expect(SeededSample.draw(3, from: [14, 2, 8, 4, 12, 6, 10], seed: 7) == [4, 6, 14])
        #expect(SeededSample.draw(5, from: Array(1...20), seed: 0) == [3, 6, 10, 18, 20])
    }

    @Test("bounded draws reject the biased zone (checked with a bound where half the draws are rejected)")
    func boundedDraws() {
        var generator = SplitMix64(seed: 1)
        let bound = UInt64(1) << 63 + 1
        let draws = (0..<6).map { _ in SeededSample.uniform(below: bound, using: &generator) }
        // Python reference of the same algorithm; without rejection the first two would be
        // 5225608189600411233 and 6878622605533214260.
        #expect(
            draws == [
                8_955_919_645_141_445_295, 4_098_490_376_910_890_117, 4_097_618_618_563_484_380,
                7_036_458_801_432_265_024, 7_323_326_090_023_318_475, 3_727_553_580_931_688_368,
            ])
    }

    @Test("the sample is close to uniform over many seeds")
    func sampleUniformity() {
        var counts = Array(repeating: 0, count: 20)
        for seed in UInt64(0)..<2000 {
            for id in SeededSample.draw(5, from: Array(0..<20), seed: seed) { counts[id] += 1 }
        }
        // Each id is expected in 1/4 of the samples: 500 ± 5 standard deviations (≈ 19 each).
        #expect(counts.allSatisfy { (405...595).contains($0) }, "\(counts)")
    }

    @Test("a sample of more cells than there are takes them all, with a note; sampling follows the filter")
    func sampleShort() throws {
        let result = try select([
            rule("few", filter: "area_nucleus > 200", sample: try .init(count: 5, seed: 1)),
            rule("some", filter: "area_nucleus > 100", sample: try .init(count: 2, seed: 1)),
        ])
        #expect(result.sets[0].ids == [3, 7, 9])
        #expect(result.notes.contains("'few': sample of 5 from 3 cells takes them all"))
        #expect(result.sets[1].ids.count == 2)
        #expect(Set(result.sets[1].ids).isSubset(of: [3, 5, 7, 9]))
    }

    @Test("max_cells keeps the head of the set's order")
    func maxCells() throws {
        let result = try select([
            rule("a", maxCells: 2),
            rule("b", cells: .ids([9, 3, 5]), maxCells: 2),
            rule("c", ranking: .top(3, by: "area_nucleus"), maxCells: 1),
            rule("d", maxCells: 10),
        ])
        #expect(result.sets.map(\.ids) == [[1, 2], [9, 3], [9], [1, 2, 3, 5, 7, 9]])
        #expect(result.notes.contains("'a': max_cells 2 removed 4 cells"))
    }

    @Test("max_per_well caps each well across its sets, earlier sets first")
    func perWellCap() throws {
        let result = try select(
            [
                rule("first", well: "A1"),  // 6 cells → 4 kept
                rule("second", well: "A1", cells: .ids([9, 3])),  // well full → 0
                rule("other", well: "B1", cells: .ids([1, 2])),  // own well
                rule("loose1", well: nil, cells: .ids([5, 7, 9])),  // no well: one shared allowance
                rule("loose2", well: nil, cells: .ids([3, 2])),
            ], maxPerWell: 4)
        #expect(result.sets.map(\.ids) == [[1, 2, 3, 5], [], [1, 2], [5, 7, 9], [3]])
        #expect(result.sets.map(\.removedByWellCap) == [2, 2, 0, 0, 1])
        #expect(result.sets[1].isEmpty)
        #expect(result.emptySets == ["second"])
        #expect(result.notes.contains("'first': max_per_well 4 removed 2 cells (well A1 is full)"))
        #expect(result.notes.contains("'second': selected 0 cells"))
        #expect(
            result.notes.contains(
                "'loose2': max_per_well 4 removed 1 cell (the sets without a well have used their allowance)"))

        let uncapped = try select([rule("first", well: "A1"), rule("second", well: "A1", cells: .ids([9, 3]))])
        #expect(uncapped.sets.map(\.ids) == [[1, 2, 3, 5, 7, 9], [9, 3]])
        #expect(uncapped.sets.allSatisfy { $0.removedByWellCap == 0 })
    }

    @Test("a cell may be in two sets; the overlap is reported")
    func overlaps() throws {
        let result = try select([
            rule("a", well: "A1", cells: .ids([1, 2, 3])),
            rule("b", well: "B1", cells: .ids([3, 9])),
            rule("c", well: "C1", cells: .ids([5])),
            rule("d", well: "D1", cells: .ids([9, 2, 3])),
        ])
        #expect(
            result.overlaps == [
                SelectionOverlap(first: "a", second: "b", ids: [3]),
                SelectionOverlap(first: "a", second: "d", ids: [2, 3]),
                SelectionOverlap(first: "b", second: "d", ids: [3, 9]),
            ])
        #expect(result.notes.contains("'a' and 'd' share 2 cells: 2, 3"))
    }

    @Test("an empty result is allowed and reported")
    func emptySet() throws {
        let result = try select([
            rule("none", filter: "area_nucleus > 1000"), rule("some", filter: "area_nucleus > 200"),
        ])
        #expect(result.sets[0].ids.isEmpty)
        #expect(result.emptySets == ["none"])
        #expect(result.notes == ["'none': selected 0 cells"])
    }

    @Test("a table without feature columns serves scPortrait's {name, classes, well} sets")
    func labelsOnly() throws {
        let labels = try FeatureTable(cellIDs: [3, 1, 2], columns: [])
        let result = try Selection.evaluate(
            [
                try SelectionRule(name: "set_a", well: "A1", cells: .ids([2, 1])),
                try SelectionRule(name: "all", well: "B1"),
            ], on: labels)
        #expect(result.sets.map(\.ids) == [[2, 1], [1, 2, 3]])
        let error = selectionError { () throws(SingleCellError) in
            try Selection.evaluate(
                [try SelectionRule(name: "f", well: nil, filter: SelectionExpression("area > 1"))], on: labels)
        }
        #expect(error?.code == .unknownColumn)
        #expect(error?.message.contains("the feature table has no columns") == true)
    }

    @Test("invalid selections: repeated names, max_per_well < 1, repeated table ids")
    func invalidSelections() throws {
        let twice = selectionError { () throws(SingleCellError) in
            try select([try rule("x"), try rule("x", well: "B1")])
        }
        #expect(twice?.code == .invalidParameter)
        #expect(twice?.message.contains("two cell sets are named 'x'") == true)
        let cap = selectionError { () throws(SingleCellError) in try select([try rule("x")], maxPerWell: 0) }
        #expect(cap?.code == .invalidParameter)
        let table = try FeatureTable(cellIDs: [1, 2, 1], columns: [])
        let repeated = selectionError { () throws(SingleCellError) in
            try Selection.evaluate([try SelectionRule(name: "a", well: nil)], on: table)
        }
        #expect(repeated?.code == .invalidInput)
    }

    @Test("rule parameters are checked when the rule is made")
    func invalidRules() throws {
        let empty = selectionError { () throws(SingleCellError) in try SelectionRule(name: " ", well: nil) }
        #expect(empty?.code == .invalidParameter)
        let cap = selectionError { () throws(SingleCellError) in try SelectionRule(name: "x", well: nil, maxCells: 0) }
        #expect(cap?.message.contains("max_cells must be ≥ 1") == true)
        #expect(cap?.context.set == "x")
        #expect(
            selectionError { () throws(SingleCellError) in try SelectionRule.Ranking.top(0, by: "a") }?.code
                == .invalidParameter)
        #expect(
            selectionError { () throws(SingleCellError) in try SelectionRule.Sample(count: 0, seed: 1) }?.code
                == .invalidParameter)
        let conditionKey = selectionError { () throws(SingleCellError) in
            try SelectionRule.Ranking(.top, 3, by: SelectionExpression("a > 1"))
        }
        #expect(conditionKey?.code == .invalidParameter)
        let numberFilter = selectionError { () throws(SingleCellError) in
            try SelectionRule(name: "x", well: nil, filter: SelectionExpression("a", as: .number))
        }
        #expect(numberFilter?.code == .invalidParameter)
        #expect(
            selectionError { () throws(SingleCellError) in try SelectionRule.Ranking.top(3, by: "a >") }?.code
                == .syntax)
    }

    @Test("well names", arguments: ["A1", "B1", "H12", "P24", "AF48", "C", "A01"])
    func validWells(well: String) throws {
        try SelectionRule.validateWell(well)
    }

    @Test(
        "malformed well names are refused", arguments: ["", "a1", "A 1", "A0", "ABC1", "A1234", "1A", "well1", "A1 "])
    func invalidWells(well: String) throws {
        let error = try #require(
            selectionError { () throws(SingleCellError) in
                try SelectionRule(name: "set", well: well)
            })
        #expect(error.code == .invalidParameter)
        #expect(error.context.set == "set")
        #expect(error.message.contains("is not a well name"))
        #expect(error.message.contains("did you mean 'A1'?") == (well == "a1"))
    }
}
