import Foundation
import ImageKit
import MicroscopyIO
public import SingleCell

/// Masks and image channels of a run, as the single-cell stages read them, and the shared file
/// formats of those stages (`features.csv`, `selection.json`).
public enum SingleCellJob {
    /// The label masks a run has: nucleus and/or cytosol (or one other mask, e.g. `cells`).
    public struct Masks: Sendable {
        /// Mask names in extraction order (nucleus first, then cytosol).
        public var names: [String]
        /// The masks, same order.
        public var images: [Image<UInt32>]
        /// The nucleus mask, when there is one.
        public var nucleus: Image<UInt32>? { names.firstIndex(of: "nucleus").map { images[$0] } }
        /// The cytosol (whole-cell) mask: `cytosol`, else the one non-nucleus mask.
        public var cytosol: Image<UInt32>? {
            if let i = names.firstIndex(of: "cytosol") { return images[i] }
            if let i = names.firstIndex(where: { $0 != "nucleus" }) { return images[i] }
            return nil
        }
    }

    /// The mask files of a run: the `segment` stage's masks, else the sidecar `<stem>.mask.tif`
    /// beside the input (one mask, treated as whole cells).
    static func maskFiles(_ context: StageContext, stage: String) throws(PipelineError) -> [(name: String, path: String)] {
        if let segment = context.previous["segment"] {
            let files = segment.artifacts.filter { $0.kind.hasPrefix("mask:") }
                .map { (name: String($0.kind.dropFirst("mask:".count)), path: "\(context.runDirectory)/\($0.path)") }
            guard !files.isEmpty else { throw PipelineError(code: .stageFailed, stage: stage, message: "the segment stage wrote no mask") }
            return files
        }
        let input = context.input
        let folder = URL(fileURLWithPath: input.originalPath ?? input.path).deletingLastPathComponent().path
        let sidecar = "\(folder)/\(input.stem).mask.tif"
        guard FileManager.default.fileExists(atPath: sidecar) else {
            throw PipelineError(code: .inputUnreadable, path: sidecar, stage: stage,
                                message: "no label mask: this profile has no segment stage, so it needs the sidecar \(input.stem).mask.tif beside the input")
        }
        return [(name: "cells", path: sidecar)]
    }

    /// Reads the masks (nucleus first) and checks they have the image's size.
    static func loadMasks(_ files: [(name: String, path: String)], width: Int, height: Int) throws(PipelineError) -> Masks {
        let ordered = files.sorted { rank($0.name) < rank($1.name) }
        var images: [Image<UInt32>] = []
        for file in ordered {
            let mask = try SegmentJob.readMasks(path: file.path, width: width, height: height, count: 1)
            images.append(mask[0])
        }
        return Masks(names: ordered.map(\.name), images: images)
    }

    private static func rank(_ name: String) -> Int { name == "nucleus" ? 0 : (name == "cytosol" ? 1 : 2) }

    // MARK: - features.csv

    /// Writes a feature table as CSV: `cell_id` then the columns; numbers in their shortest
    /// round-trip form (integers without a decimal point), `NaN` as an empty field.
    public static func csv(_ table: FeatureTable) -> Data {
        var out = "cell_id," + table.columnNames.joined(separator: ",") + "\n"
        out.reserveCapacity(table.rowCount * (table.columns.count * 10 + 8))
        for row in 0..<table.rowCount {
            out += String(table.cellIDs[row])
            for column in table.columns {
                out += ","
                out += format(column.values[row])
            }
            out += "\n"
        }
        return Data(out.utf8)
    }

    /// One CSV number.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value == value.rounded(), abs(value) < 9.0e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Reads a `features.csv` written by ``csv(_:)`` (or any CSV with a `cell_id` column and
    /// numeric columns; empty fields and `nan` are NaN).
    /// - Throws: `input_invalid` naming the file, line and column of a malformed value.
    public static func readCSV(path: String) throws(PipelineError) -> FeatureTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError(code: .inputUnreadable, path: path, message: "cannot read the feature table")
        }
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).makeIterator()
        guard let headerLine = lines.next() else {
            throw PipelineError(code: .inputInvalid, path: path, message: "the feature table is empty (expected a header line)")
        }
        let header = headerLine.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        guard let idColumn = header.firstIndex(where: { ["cell_id", "scportrait_cell_id", "id"].contains($0) }) else {
            throw PipelineError(code: .inputInvalid, path: path, location: "line 1", message: "the header has no cell_id column")
        }
        let names = header.enumerated().filter { $0.offset != idColumn }.map(\.element)
        var ids: [Int] = []
        var columns = Array(repeating: [Double](), count: names.count)
        var lineNumber = 1
        while let line = lines.next() {
            lineNumber += 1
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw PipelineError(code: .inputInvalid, path: path, location: "line \(lineNumber)",
                                    message: "\(fields.count) fields, the header has \(header.count)")
            }
            guard let id = Int(fields[idColumn].trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw PipelineError(code: .inputInvalid, path: path, location: "line \(lineNumber)",
                                    message: "cell_id '\(fields[idColumn])' is not an integer")
            }
            ids.append(id)
            var k = 0
            for (i, field) in fields.enumerated() where i != idColumn {
                let text = field.trimmingCharacters(in: .whitespacesAndNewlines)
                if text.isEmpty || text.lowercased() == "nan" {
                    columns[k].append(.nan)
                } else if let value = Double(text) {
                    columns[k].append(value)
                } else {
                    throw PipelineError(code: .inputInvalid, path: path, location: "line \(lineNumber), column \(header[i])",
                                        message: "'\(text)' is not a number")
                }
                k += 1
            }
        }
        do {
            return try FeatureTable(cellIDs: ids, columns: zip(names, columns).map { FeatureTable.Column(name: $0, values: $1) })
        } catch {
            throw PipelineError(code: .inputInvalid, path: path, message: error.description)
        }
    }

    /// The rows of a catalog import: cell id, centroid and area from the table's usual columns
    /// (`centroid_x_<region>`, `area_<region>`, whole cell first), and every value.
    static func catalogCells(_ table: FeatureTable) -> [(id: Int, x: Double?, y: Double?, area: Double?, values: [Double])] {
        func first(_ names: [String]) -> [Double]? { names.lazy.compactMap { table.column($0)?.values }.first }
        let xs = first(["centroid_x_cytosol", "centroid_x_cells", "centroid_x_nucleus"])
        let ys = first(["centroid_y_cytosol", "centroid_y_cells", "centroid_y_nucleus"])
        let areas = first(["area_cytosol", "area_cells", "area_nucleus", "cytosol_area", "nucleus_area"])
        return (0..<table.rowCount).map { row in
            let value = { (column: [Double]?) -> Double? in
                guard let v = column?[row], !v.isNaN else { return nil }
                return v
            }
            return (table.cellIDs[row], value(xs), value(ys), value(areas), table.columns.map { $0.values[row] })
        }
    }
}
