/// One cell set to select: a name, the well it is collected in, which cells it starts from, an
/// optional filter, and optional ranking, sampling and cap. Applied in this order:
///
/// 1. ``cells``: every cell of the table, or an id list (duplicates dropped, first kept);
/// 2. ``filter``: keep the cells for which the condition is true;
/// 3. ``ranking``: keep the `n` cells with the highest (`top`) or lowest (`bottom`) key, ties
///    broken by the smaller cell id; cells whose key is NaN are never taken;
/// 4. ``sample``: keep a seeded random sample of `n` cells (without replacement);
/// 5. ``maxCells``: keep at most this many cells, the first ones in the set's order.
///
/// The set's order, which caps keep the head of and which ``SelectedCellSet/ids`` is returned
/// in, is: ranking order after a ranking, ascending id after a sample, otherwise the id list's
/// order (`.ids`) or ascending id (`.all`).
///
/// ```swift
/// let rule = try SelectionRule(name: "bright", well: "B1",
///                              filter: SelectionExpression("mean_ch1_cytosol > 0.3"),
///                              ranking: .top(50, by: "area_nucleus"))
/// ```
public struct SelectionRule: Sendable, Hashable {
    /// The cells a set starts from.
    public enum Cells: Sendable, Hashable {
        /// Every cell of the feature table (scPortrait's `classes: all`).
        case all
        /// These cell ids, in this order (scPortrait's `classes: [ids]`, or an `ids_csv` file).
        case ids([Int])
    }

    /// Keep the `count` cells with the highest or lowest value of a key.
    public struct Ranking: Sendable, Hashable {
        /// Highest or lowest values first.
        public enum Direction: String, Sendable, Hashable {
            /// Highest values first.
            case top
            /// Lowest values first.
            case bottom
        }

        /// Highest or lowest values first.
        public let direction: Direction
        /// How many cells to keep (≥ 1).
        public let count: Int
        /// The number ranked by: a column or any number expression (`area_nucleus / area_cytosol`).
        public let key: SelectionExpression

        /// Creates a ranking.
        /// - Throws: ``SingleCellError`` `.invalidParameter` when `count < 1` or `key` is a condition.
        public init(_ direction: Direction, _ count: Int, by key: SelectionExpression) throws(SingleCellError) {
            guard count >= 1 else {
                throw SingleCellError(
                    code: .invalidParameter, message: "\(direction.rawValue) needs n ≥ 1, got \(count)")
            }
            guard key.kind == .number else {
                throw SingleCellError(
                    code: .invalidParameter,
                    message: "\(direction.rawValue) ranks by a number, but '\(key.text)' is a condition")
            }
            self.direction = direction
            self.count = count
            self.key = key
        }

        /// The `count` cells with the highest value of `key` (a column name or a number expression).
        /// - Throws: ``SingleCellError`` `.syntax`/`.evaluation` when `key` does not parse as a number,
        ///   `.invalidParameter` when `count < 1`.
        public static func top(_ count: Int, by key: String) throws(SingleCellError) -> Ranking {
            try Ranking(.top, count, by: SelectionExpression(key, as: .number))
        }

        /// The `count` cells with the lowest value of `key` (a column name or a number expression).
        /// - Throws: as ``top(_:by:)``.
        public static func bottom(_ count: Int, by key: String) throws(SingleCellError) -> Ranking {
            try Ranking(.bottom, count, by: SelectionExpression(key, as: .number))
        }
    }

    /// A reproducible random sample of `count` cells, without replacement.
    ///
    /// The draw depends only on the seed and the candidate ids (sorted first), never on the
    /// platform, the run or the order of the table: SplitMix64 with unbiased bounded draws and a
    /// partial Fisher–Yates shuffle.
    public struct Sample: Sendable, Hashable {
        /// How many cells to keep (≥ 1); all of them when fewer are left.
        public let count: Int
        /// The seed; the same seed and candidates give the same cells everywhere.
        public let seed: UInt64

        /// Creates a sample.
        /// - Throws: ``SingleCellError`` `.invalidParameter` when `count < 1`.
        public init(count: Int, seed: UInt64) throws(SingleCellError) {
            guard count >= 1 else {
                throw SingleCellError(code: .invalidParameter, message: "sample needs n ≥ 1, got \(count)")
            }
            self.count = count
            self.seed = seed
        }
    }

    /// The set's name (scPortrait names the output after it); unique within a selection.
    public let name: String
    /// The collection well written as the shapes' `CapID`, e.g. `A1`; nil writes none.
    public let well: String?
    /// The cells the set starts from.
    public let cells: Cells
    /// Keep only cells for which this condition is true.
    public let filter: SelectionExpression?
    /// Keep the top or bottom `n` by a key.
    public let ranking: Ranking?
    /// Keep a seeded random sample.
    public let sample: Sample?
    /// Keep at most this many cells (≥ 1), the first in the set's order.
    public let maxCells: Int?

    /// Creates a rule.
    ///
    /// - Parameters:
    ///   - name: non-empty, one line.
    ///   - well: a well name (see ``validateWell(_:)``) or nil.
    ///   - cells: where the set starts (default: every cell).
    ///   - filter: a condition (``SelectionExpression/ResultKind/condition``).
    ///   - ranking: top/bottom `n` by a key.
    ///   - sample: a seeded sample of `n`.
    ///   - maxCells: a cap on the set's size.
    /// - Throws: ``SingleCellError`` `.invalidParameter` (with `context.set`) for an empty name, a
    ///   malformed well, a filter that is a number expression, or `maxCells < 1`.
    public init(
        name: String, well: String?, cells: Cells = .all, filter: SelectionExpression? = nil,
        ranking: Ranking? = nil, sample: Sample? = nil, maxCells: Int? = nil
    ) throws(SingleCellError) {
        let context = SingleCellError.Context(set: name)
        guard !name.allSatisfy(\.isWhitespace), !name.contains(where: { $0.isNewline }) else {
            throw SingleCellError(
                code: .invalidParameter, message: "a cell set needs a name on one line", context: context)
        }
        if let well {
            do {
                try Self.validateWell(well)
            } catch {
                var error = error
                error.context.set = name
                throw error
            }
        }
        if let filter, filter.kind != .condition {
            throw SingleCellError(
                code: .invalidParameter,
                message: "the filter must be a condition, but '\(filter.text)' is a number", context: context)
        }
        if let maxCells, maxCells < 1 {
            throw SingleCellError(
                code: .invalidParameter, message: "max_cells must be ≥ 1, got \(maxCells)", context: context)
        }
        self.name = name
        self.well = well
        self.cells = cells
        self.filter = filter
        self.ranking = ranking
        self.sample = sample
        self.maxCells = maxCells
    }

    /// Checks a well name: one or two capital letters (the row), then optionally a number ≥ 1
    /// of up to three digits (the column): `A1`, `P24`, `AF48`, or `C` for a tube-strip cap.
    /// Free text is refused because Leica's software matches `CapID` literally, so a typo would
    /// send cells to no well.
    /// - Throws: ``SingleCellError`` `.invalidParameter`, suggesting the capitalised form when
    ///   that would be valid (`a1` → `A1`).
    public static func validateWell(_ well: String) throws(SingleCellError) {
        if isWell(well) { return }
        var message =
            "well '\(well)' is not a well name like A1, H12 or P24 (one or two capital letters, then the column number)"
        if isWell(well.uppercased()) { message += "; did you mean '\(well.uppercased())'?" }
        throw SingleCellError(code: .invalidParameter, message: message)
    }

    private static func isWell(_ well: String) -> Bool {
        let letters = well.prefix { $0.isASCII && $0.isUppercase }
        let digits = well.dropFirst(letters.count)
        guard (1...2).contains(letters.count), digits.count <= 3,
            digits.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return false }
        return digits.isEmpty || (Int(digits) ?? 0) >= 1
    }
}
