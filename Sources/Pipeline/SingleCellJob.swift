import Foundation
import ImageKit
import MicroscopyIO
public import SingleCell

/// Masks and image channels of a run, as the single-cell stages read them, and the shared file
/// formats of those stages (`features.csv`, `selection.json`).
public enum SingleCellJob {
    /// The label masks a run has: nucleus and/or cytosol (or one other mask, e.g. `cells` from
    /// a LOG-STD segmentation, used as the whole-cell mask).
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
    /// beside the input (one mask of whole cells, named `cytosol` as scPortrait names its
    /// whole-cell mask).
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
        return [(name: "cytosol", path: sidecar)]
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
        guard var data = FileManager.default.contents(atPath: path) else {
            throw PipelineError(code: .inputUnreadable, path: path, message: "cannot read the feature table")
        }
        data.append(0)  // strtod stops at the terminator after the last field
        // Byte-level parsing with strtod: a 10k-cell table has ~3 M numbers, and String splitting
        // plus Double(String) took seconds.
        let result = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Result<FeatureTable, PipelineError> in
            do throws(PipelineError) { return .success(try parseCSV(raw, path: path)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Parses NUL-terminated CSV bytes (see ``readCSV(path:)``).
    static func parseCSV(_ raw: UnsafeRawBufferPointer, path: String) throws(PipelineError) -> FeatureTable {
        do {
            let bytes = raw.bindMemory(to: UInt8.self)
            let end = bytes.count - 1
            var pos = 0
            func lineEnd(_ from: Int) -> Int {
                var i = from
                while i < end && bytes[i] != 10 { i += 1 }
                return i
            }
            let headerEnd = lineEnd(0)
            guard headerEnd > 0 else {
                throw PipelineError(code: .inputInvalid, path: path, message: "the feature table is empty (expected a header line)")
            }
            let header = String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<headerEnd]), as: UTF8.self)
                .split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            guard let idColumn = header.firstIndex(where: { ["cell_id", "scportrait_cell_id", "id"].contains($0) }) else {
                throw PipelineError(code: .inputInvalid, path: path, location: "line 1", message: "the header has no cell_id column")
            }
            let names = header.enumerated().filter { $0.offset != idColumn }.map(\.element)
            var ids: [Int] = []
            var columns = Array(repeating: [Double](), count: names.count)
            var lineNumber = 1
            pos = headerEnd + 1
            let start = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            while pos < end {
                let stop = lineEnd(pos)
                lineNumber += 1
                if stop == pos || (stop == pos + 1 && bytes[pos] == 13) {  // blank line
                    pos = stop + 1
                    continue
                }
                var fieldStart = pos
                var field = 0
                var k = 0
                while true {
                    var fieldEnd = fieldStart
                    while fieldEnd < stop && bytes[fieldEnd] != 44 { fieldEnd += 1 }
                    // Trim blanks and a CR.
                    var a = fieldStart, b = fieldEnd
                    while a < b && (bytes[a] == 32 || bytes[a] == 9) { a += 1 }
                    while b > a && (bytes[b - 1] == 32 || bytes[b - 1] == 9 || bytes[b - 1] == 13) { b -= 1 }
                    guard field < header.count else {
                        throw PipelineError(code: .inputInvalid, path: path, location: "line \(lineNumber)",
                                            message: "more fields than the header's \(header.count)")
                    }
                    var value = Double.nan
                    if a < b {
                        var after: UnsafeMutablePointer<CChar>?
                        value = strtod(start + a, &after)
                        let consumed = after.map { UnsafeRawPointer($0) - UnsafeRawPointer(start) } ?? a
                        guard consumed == b else {
                            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self)
                            throw PipelineError(code: .inputInvalid, path: path, location: "line \(lineNumber), column \(header[field])",
                                                message: "'\(text)' is not a number")
                        }
                    }
                    if field == idColumn {
                        guard value.isFinite, value == value.rounded(), abs(value) < 9e15 else {
                            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self)
                            throw PipelineError(code: .inputInvalid, path: path, location: "line \(lineNumber)",
                                                message: "cell_id '\(text)' is not an integer")
                        }
                        ids.append(Int(value))
                    } else {
                        columns[k].append(value)
                        k += 1
                    }
                    field += 1
                    if fieldEnd >= stop { break }
                    fieldStart = fieldEnd + 1
                }
                guard field == header.count else {
                    throw PipelineError(code: .inputInvalid, path: path, location: "line \(lineNumber)",
                                        message: "\(field) fields, the header has \(header.count)")
                }
                pos = stop + 1
            }
            do throws(SingleCellError) {
                return try FeatureTable(cellIDs: ids, columns: zip(names, columns).map { FeatureTable.Column(name: $0, values: $1) })
            } catch {
                throw PipelineError(code: .inputInvalid, path: path, message: error.description)
            }
        }
    }

    /// The rows of a catalog import: cell id, centroid and area from the table's usual columns
    /// (`centroid_x_<region>`, `area_<region>`, whole cell first), and every value.
    static func catalogCells(_ table: FeatureTable) -> [(id: Int, x: Double?, y: Double?, area: Double?, values: [Double])] {
        func first(_ names: [String]) -> [Double]? { names.lazy.compactMap { table.column($0)?.values }.first }
        let xs = first(["centroid_x_cytosol", "centroid_x_nucleus"])
        let ys = first(["centroid_y_cytosol", "centroid_y_nucleus"])
        let areas = first(["area_cytosol", "area_nucleus", "cytosol_area", "nucleus_area"])
        return (0..<table.rowCount).map { row in
            let value = { (column: [Double]?) -> Double? in
                guard let v = column?[row], !v.isNaN else { return nil }
                return v
            }
            return (table.cellIDs[row], value(xs), value(ys), value(areas), table.columns.map { $0.values[row] })
        }
    }
}
