/// The cells one rule selected, ready to become a cut set.
///
/// Named `SelectedCellSet` rather than `CellSet` so that files importing both SingleCell and
/// Microdissection (whose `CellSet` is py-lmd's cut set) need no module qualification.
public struct SelectedCellSet: Sendable, Hashable {
    /// The rule's name.
    public let name: String
    /// The well (`CapID`), or nil.
    public let well: String?
    /// The selected cell ids, in the set's order (see ``SelectionRule``).
    public let ids: [Int]
    /// How many cells passed the id list and the filter, before ranking, sampling and caps.
    public let matched: Int
    /// How many cells `max_per_well` removed from this set.
    public let removedByWellCap: Int

    /// Creates a selected set.
    public init(name: String, well: String?, ids: [Int], matched: Int, removedByWellCap: Int) {
        self.name = name
        self.well = well
        self.ids = ids
        self.matched = matched
        self.removedByWellCap = removedByWellCap
    }

    /// Whether the set selected no cell (allowed, and reported in ``SelectionResult/notes``).
    public var isEmpty: Bool { ids.isEmpty }
}

/// Two sets that selected some of the same cells.
public struct SelectionOverlap: Sendable, Hashable {
    /// The earlier set's name.
    public let first: String
    /// The later set's name.
    public let second: String
    /// The shared cell ids, ascending.
    public let ids: [Int]

    /// Creates an overlap record.
    public init(first: String, second: String, ids: [Int]) {
        self.first = first
        self.second = second
        self.ids = ids
    }
}

/// What ``Selection/evaluate(_:on:maxPerWell:)`` selected, and what the caller should log.
public struct SelectionResult: Sendable, Hashable {
    /// One entry per rule, in rule order (empty sets included).
    public let sets: [SelectedCellSet]
    /// Pairs of sets sharing cells (a cell may be in several sets, as in scPortrait).
    public let overlaps: [SelectionOverlap]
    /// One line per thing worth logging: empty sets, duplicate ids, rankings or samples short of
    /// cells, caps that removed cells, overlaps. Each line starts with the set's name in quotes.
    public let notes: [String]

    /// Creates a result.
    public init(sets: [SelectedCellSet], overlaps: [SelectionOverlap], notes: [String]) {
        self.sets = sets
        self.overlaps = overlaps
        self.notes = notes
    }

    /// Names of the sets that selected no cell.
    public var emptySets: [String] { sets.filter(\.isEmpty).map(\.name) }
}

/// Applies selection rules to a feature table.
public enum Selection {
    /// Evaluates `rules` in order on `table`.
    ///
    /// Each rule is applied as ``SelectionRule`` describes. Then, when `maxPerWell` is set, the
    /// sets are capped per well in rule order: a set keeps the head of its cells (in its order)
    /// while its well has room, so earlier sets are served first and a later set may be cut short
    /// or emptied. Sets without a well share one allowance. A cell may be in several sets (as in
    /// scPortrait); every overlap is reported, and each membership counts against its well.
    ///
    /// A table with no feature columns (just the mask's labels) serves rules without filter or
    /// ranking, such as scPortrait's `{name, classes, well}` sets.
    ///
    /// - Parameters:
    ///   - rules: the sets, with unique names.
    ///   - table: the cells (rows) and their features.
    ///   - maxPerWell: the most cells a well may receive across all its sets (≥ 1), or nil.
    /// - Returns: the selected sets (empty ones included) with overlaps and notes to log.
    /// - Throws: ``SingleCellError`` with `context.set`: `.unknownCell` when an id list names ids
    ///   missing from the table (the first few are listed); `.unknownColumn`, `.evaluation` from
    ///   a filter or ranking key (with `context.object` `"filter"` or `"ranking"`, and the
    ///   expression's offset and caret); `.invalidParameter` for duplicate set names or
    ///   `maxPerWell < 1`; `.invalidInput` when the table repeats a cell id.
    public static func evaluate(
        _ rules: [SelectionRule], on table: FeatureTable,
        maxPerWell: Int? = nil
    ) throws(SingleCellError) -> SelectionResult {
        if let maxPerWell, maxPerWell < 1 {
            throw SingleCellError(code: .invalidParameter, message: "max_per_well must be ≥ 1, got \(maxPerWell)")
        }
        var names = Set<String>()
        for rule in rules where !names.insert(rule.name).inserted {
            throw SingleCellError(
                code: .invalidParameter, message: "two cell sets are named '\(rule.name)'",
                context: .init(set: rule.name))
        }
        var rowOf: [Int: Int] = [:]
        rowOf.reserveCapacity(table.rowCount)
        for (row, id) in table.cellIDs.enumerated() where rowOf.updateValue(row, forKey: id) != nil {
            throw SingleCellError(code: .invalidInput, message: "the feature table lists cell id \(id) twice")
        }
        let ascending = table.cellIDs.sorted()

        var sets: [SelectedCellSet] = []
        var notes: [String] = []
        var usedPerWell: [String: Int] = [:]
        for rule in rules {
            var ids: [Int]
            let matched: Int
            do {
                ids = try candidates(of: rule, rowOf: rowOf, ascending: ascending, notes: &notes)
                ids = try part("filter") { () throws(SingleCellError) in
                    try refine(ids, by: rule, table: table, rowOf: rowOf)
                }
                matched = ids.count
                ids = try part("ranking") { () throws(SingleCellError) in
                    try rank(ids, by: rule, table: table, rowOf: rowOf, notes: &notes)
                }
            } catch {
                var error = error
                error.context.set = rule.name
                throw error
            }
            if let sample = rule.sample {
                if ids.count <= sample.count {
                    notes.append("'\(rule.name)': sample of \(sample.count) from \(cells(ids.count)) takes them all")
                }
                ids = SeededSample.draw(sample.count, from: ids, seed: sample.seed)
            }
            if let maxCells = rule.maxCells, ids.count > maxCells {
                notes.append("'\(rule.name)': max_cells \(maxCells) removed \(cells(ids.count - maxCells))")
                ids = Array(ids.prefix(maxCells))
            }
            var removed = 0
            if let maxPerWell {
                let well = rule.well ?? ""
                let room = maxPerWell - usedPerWell[well, default: 0]
                if ids.count > room {
                    removed = ids.count - room
                    let full =
                        rule.well.map { "well \($0) is full" } ?? "the sets without a well have used their allowance"
                    notes.append("'\(rule.name)': max_per_well \(maxPerWell) removed \(cells(removed)) (\(full))")
                    ids = Array(ids.prefix(room))
                }
                usedPerWell[well, default: 0] += ids.count
            }
            if ids.isEmpty { notes.append("'\(rule.name)': selected 0 cells") }
            sets.append(
                SelectedCellSet(
                    name: rule.name, well: rule.well, ids: ids, matched: matched,
                    removedByWellCap: removed))
        }

        var overlaps: [SelectionOverlap] = []
        let members = sets.map { Set($0.ids) }
        for i in sets.indices {
            for j in sets.indices where j > i {
                let shared = members[i].intersection(members[j])
                guard !shared.isEmpty else { continue }
                let ids = shared.sorted()
                overlaps.append(SelectionOverlap(first: sets[i].name, second: sets[j].name, ids: ids))
                notes.append("'\(sets[i].name)' and '\(sets[j].name)' share \(cells(ids.count)): \(listed(ids))")
            }
        }
        return SelectionResult(sets: sets, overlaps: overlaps, notes: notes)
    }

    /// Runs one step, marking its errors with `context.object` = `part`.
    private static func part<T>(_ part: String, _ body: () throws(SingleCellError) -> T) throws(SingleCellError) -> T {
        do {
            return try body()
        } catch {
            var error = error
            error.context.object = part
            throw error
        }
    }

    /// Step 1: the rule's starting cells, checked against the table, duplicates dropped.
    private static func candidates(
        of rule: SelectionRule, rowOf: [Int: Int], ascending: [Int],
        notes: inout [String]
    ) throws(SingleCellError) -> [Int] {
        guard case .ids(let list) = rule.cells else { return ascending }
        let missing = list.filter { rowOf[$0] == nil }
        if !missing.isEmpty {
            let distinct = Array(Set(missing)).sorted()
            throw SingleCellError(
                code: .unknownCell,
                message:
                    "\(distinct.count) cell id\(distinct.count == 1 ? " is" : "s are") not in the feature table (\(rowOf.count) cells): \(listed(distinct))"
            )
        }
        var seen = Set<Int>()
        let unique = list.filter { seen.insert($0).inserted }
        if unique.count < list.count {
            let repeats = list.count - unique.count
            notes.append("'\(rule.name)': \(repeats) repeated id\(repeats == 1 ? "" : "s") ignored")
        }
        return unique
    }

    /// Step 2: the filter.
    private static func refine(
        _ ids: [Int], by rule: SelectionRule, table: FeatureTable,
        rowOf: [Int: Int]
    ) throws(SingleCellError) -> [Int] {
        guard let filter = rule.filter else { return ids }
        let keep = try filter.evaluate(on: table)
        return ids.filter { keep[rowOf[$0]!] }
    }

    /// Step 3: top/bottom `n`, ties by id, NaN keys left out.
    private static func rank(
        _ ids: [Int], by rule: SelectionRule, table: FeatureTable, rowOf: [Int: Int],
        notes: inout [String]
    ) throws(SingleCellError) -> [Int] {
        guard let ranking = rule.ranking else { return ids }
        let keys = try ranking.key.values(on: table)
        var ranked = ids.map { (id: $0, key: keys[rowOf[$0]!]) }.filter { !$0.key.isNaN }
        let what = "\(ranking.direction.rawValue) \(ranking.count) by \(ranking.key.text)"
        if ranked.count < ids.count {
            notes.append(
                "'\(rule.name)': \(cells(ids.count - ranked.count)) without a value (NaN) not ranked for \(what)")
        }
        if ranked.count < ranking.count {
            notes.append("'\(rule.name)': \(what) found only \(cells(ranked.count))")
        }
        let top = ranking.direction == .top
        ranked.sort { a, b in
            if a.key != b.key { return top ? a.key > b.key : a.key < b.key }
            return a.id < b.id
        }
        return ranked.prefix(ranking.count).map(\.id)
    }

    /// "1 cell", "2 cells".
    private static func cells(_ count: Int) -> String { count == 1 ? "1 cell" : "\(count) cells" }

    /// Up to five ids, then "…".
    private static func listed(_ ids: [Int]) -> String {
        ids.prefix(5).map(String.init).joined(separator: ", ") + (ids.count > 5 ? ", …" : "")
    }
}
