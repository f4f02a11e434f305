public import Foundation
import GRDB

/// The single cells of one run as the catalog stores them: the feature column names and, per
/// cell, its id, position, area and feature vector.
public struct CellTableRecord: Sendable, Hashable {
    /// One cell.
    public struct Cell: Sendable, Hashable {
        /// The cell id (mask label).
        public var cellID: Int
        /// Centroid column in mask pixels, when known.
        public var centroidX: Double?
        /// Centroid row in mask pixels, when known.
        public var centroidY: Double?
        /// Area in pixels (the cell's outermost region), when known.
        public var area: Double?
        /// One value per column of ``CellTableRecord/columns`` (`NaN` = no value).
        public var values: [Double]

        /// Creates a cell row.
        public init(cellID: Int, centroidX: Double? = nil, centroidY: Double? = nil, area: Double? = nil, values: [Double]) {
            self.cellID = cellID
            self.centroidX = centroidX
            self.centroidY = centroidY
            self.area = area
            self.values = values
        }
    }

    /// Feature column names, in order.
    public var columns: [String]
    /// The cells, ascending id.
    public var cells: [Cell]

    /// Creates a table.
    public init(columns: [String], cells: [Cell]) {
        self.columns = columns
        self.cells = cells
    }
}

/// One cell set of a selection version: which cells go to which well.
public struct CellSetRecord: Sendable, Hashable, Codable {
    /// The run.
    public var runID: Int64
    /// The selection version: 1 for the run's own, 2… for each `lmdflow select`.
    public var version: Int
    /// Position of the set in the cut file.
    public var ordinal: Int
    /// The set name.
    public var name: String
    /// The well (e.g. `A1`), when given.
    public var well: String?
    /// The selected cell ids, ascending.
    public var cellIDs: [Int]
    /// The rule that chose them, as written (expression, `ids`, `all`…).
    public var rule: String?
    /// Where the rule came from: `profile`, `sidecar:<file>`, `cli:<file>`.
    public var source: String
    /// When the selection was made.
    public var createdAt: Date

    /// Creates a record.
    public init(runID: Int64, version: Int, ordinal: Int, name: String, well: String?, cellIDs: [Int], rule: String?,
                source: String, createdAt: Date = Date()) {
        self.runID = runID
        self.version = version
        self.ordinal = ordinal
        self.name = name
        self.well = well
        self.cellIDs = cellIDs
        self.rule = rule
        self.source = source
        self.createdAt = createdAt
    }
}

extension Catalog {
    /// Replaces the cells and features of a run (idempotent: a resumed run imports again).
    /// - Throws: `CatalogError` when a vector's length differs from the column count.
    public func saveCells(runID: Int64, table: CellTableRecord) throws(CatalogError) {
        for cell in table.cells where cell.values.count != table.columns.count {
            throw CatalogError(code: .invalidRecord, path: path,
                               message: "cell \(cell.cellID) has \(cell.values.count) feature values for \(table.columns.count) columns")
        }
        try write { db in
            try db.execute(sql: "DELETE FROM features WHERE run_id = ?", arguments: [runID])
            try db.execute(sql: "DELETE FROM feature_columns WHERE run_id = ?", arguments: [runID])
            try db.execute(sql: "DELETE FROM cells WHERE run_id = ?", arguments: [runID])
            let column = try db.makeStatement(sql: "INSERT INTO feature_columns (run_id, ordinal, name) VALUES (?, ?, ?)")
            for (ordinal, name) in table.columns.enumerated() { try column.execute(arguments: [runID, ordinal, name]) }
            let cell = try db.makeStatement(sql: "INSERT INTO cells (run_id, cell_id, centroid_x, centroid_y, area) VALUES (?, ?, ?, ?, ?)")
            let feature = try db.makeStatement(sql: "INSERT INTO features (run_id, cell_id, vector) VALUES (?, ?, ?)")
            for row in table.cells {
                try cell.execute(arguments: [runID, row.cellID, row.centroidX, row.centroidY, row.area])
                var blob = Data(count: row.values.count * 8)
                blob.withUnsafeMutableBytes { raw in
                    for (i, value) in row.values.enumerated() { raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
                }
                try feature.execute(arguments: [runID, row.cellID, blob])
            }
        }
    }

    /// The cells and features of a run (empty when it has none).
    public func cells(runID: Int64) throws(CatalogError) -> CellTableRecord {
        try read { db in
            let columns = try String.fetchAll(db, sql: "SELECT name FROM feature_columns WHERE run_id = ? ORDER BY ordinal", arguments: [runID])
            let rows = try Row.fetchAll(db, sql: """
                SELECT c.cell_id, c.centroid_x, c.centroid_y, c.area, f.vector FROM cells c
                LEFT JOIN features f ON f.run_id = c.run_id AND f.cell_id = c.cell_id
                WHERE c.run_id = ? ORDER BY c.cell_id
                """, arguments: [runID])
            let cells = rows.map { row -> CellTableRecord.Cell in
                var values: [Double] = []
                if let blob = row["vector"] as Data? {
                    values = blob.withUnsafeBytes { raw in
                        (0..<(raw.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
                    }
                }
                return CellTableRecord.Cell(cellID: row["cell_id"], centroidX: row["centroid_x"], centroidY: row["centroid_y"],
                                            area: row["area"], values: values)
            }
            return CellTableRecord(columns: columns, cells: cells)
        }
    }

    /// Number of cells recorded for a run.
    public func cellCount(runID: Int64) throws(CatalogError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cells WHERE run_id = ?", arguments: [runID]) ?? 0 }
    }

    /// Replaces the cell sets of one selection version of a run.
    public func saveCellSets(runID: Int64, version: Int, sets: [CellSetRecord]) throws(CatalogError) {
        try write { db in
            try db.execute(sql: "DELETE FROM cell_sets WHERE run_id = ? AND version = ?", arguments: [runID, version])
            for set in sets {
                let ids = String(decoding: try JSONEncoder().encode(set.cellIDs), as: UTF8.self)
                try db.execute(sql: """
                    INSERT INTO cell_sets (run_id, version, ordinal, name, well, cell_count, cell_ids_json, rule, source, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [runID, version, set.ordinal, set.name, set.well, set.cellIDs.count, ids, set.rule, set.source, set.createdAt])
            }
            try EventRecord(kind: "cells_selected", runID: runID,
                            message: "selection v\(version): " + sets.map { "\($0.name) \($0.cellIDs.count) cells → \($0.well ?? "-")" }.joined(separator: ", "))
                .append(to: db)
        }
    }

    /// All cell sets of a run, by version then position.
    public func cellSets(runID: Int64) throws(CatalogError) -> [CellSetRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM cell_sets WHERE run_id = ? ORDER BY version, ordinal", arguments: [runID]).map { row in
                let json: String = row["cell_ids_json"]
                let ids = (try? JSONDecoder().decode([Int].self, from: Data(json.utf8))) ?? []
                return CellSetRecord(runID: row["run_id"], version: row["version"], ordinal: row["ordinal"], name: row["name"],
                                     well: row["well"], cellIDs: ids, rule: row["rule"], source: row["source"], createdAt: row["created_at"])
            }
        }
    }

    /// The highest selection version of a run (0 when it has none).
    public func latestSelectionVersion(runID: Int64) throws(CatalogError) -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT MAX(version) FROM cell_sets WHERE run_id = ?", arguments: [runID]) ?? 0 }
    }

    /// Records extra outputs of a finished run (a re-selection's cut file and preview).
    public func addOutputs(runID: Int64, outputs: [OutputRecord]) throws(CatalogError) {
        try write { db in
            for var output in outputs {
                output.runID = runID
                try output.upsert(db)
            }
        }
    }
}
