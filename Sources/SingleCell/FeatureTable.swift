/// A table of per-cell features: one row per cell id, one `Double` column per feature
/// (`NaN` where a value does not exist, e.g. a cytosol feature of a cell without cytosol).
/// Columns are stored column-major, which is what selection rules and quantiles read.
public struct FeatureTable: Sendable, Hashable {
    /// One named column of values, one per row.
    public struct Column: Sendable, Hashable {
        /// The column name, e.g. `area_nucleus`, `mean_ch1_cytosol`.
        public var name: String
        /// The values, one per row of the table.
        public var values: [Double]
        /// Creates a column.
        public init(name: String, values: [Double]) {
            self.name = name
            self.values = values
        }
    }

    /// The cell id (mask label) of each row.
    public var cellIDs: [Int]
    /// The columns, in output order.
    public var columns: [Column]

    /// Creates a table; every column must have one value per cell id.
    public init(cellIDs: [Int], columns: [Column]) throws(SingleCellError) {
        for column in columns where column.values.count != cellIDs.count {
            throw SingleCellError(
                code: .invalidInput,
                message: "column has \(column.values.count) values for \(cellIDs.count) cells",
                context: .init(column: column.name)
            )
        }
        var seen = Set<String>()
        for column in columns where !seen.insert(column.name).inserted {
            throw SingleCellError(code: .invalidInput, message: "duplicate column name", context: .init(column: column.name))
        }
        self.cellIDs = cellIDs
        self.columns = columns
    }

    /// Number of rows (cells).
    public var rowCount: Int { cellIDs.count }
    /// The column names in order.
    public var columnNames: [String] { columns.map(\.name) }
    /// The column with this exact name, if any.
    public func column(_ name: String) -> Column? { columns.first { $0.name == name } }
}
