import Foundation
import MicroscopyIO

extension TileSet {
    /// The tiles of a multi-position ND2 scan (an XY loop, axis `P`), placed by their stage positions.
    ///
    /// - Nominal place: `nominalX = (stageX - min stageX) / pixelSize`, the same for y; stage +y is
    ///   taken as image +y (no flip: a caller whose stage points the other way flips the result).
    /// - When the scan also has other loops (time, z), each position's tile is the frame with every
    ///   other loop at index 0 (the first time point, the first z plane).
    /// - Tile names are the file's point names (`r0c1`) when it records them, else `P<index>`.
    /// - ``Tile/row`` and ``Tile/col`` are inferred from the positions: sorted nominal y values start a
    ///   new row where consecutive values differ by more than half the tile height (columns likewise
    ///   with x and the width), numbered from 0 at the top / left.
    /// - The reader reads `PlaneIndex(frame:channel:)` through one reader opened here.
    ///
    /// - Parameter path: The ND2 file.
    /// - Throws: ``StitchingError`` `.inputUnreadable` when the file cannot be opened or read;
    ///   `.inputInvalid` when it has no XY loop with at least two positions, or lacks a stage position
    ///   or the pixel size.
    public static func nd2(path: String) throws(StitchingError) -> TileSet {
        let reader: ND2Reader
        do {
            reader = try ND2Reader(path: path)
        } catch {
            throw StitchingError(code: .inputUnreadable, message: error.description)
        }
        let info = reader.info
        guard let positionLoop = info.loops.first(where: { $0.axis == "P" }) else {
            throw StitchingError(code: .inputInvalid, message: "\(path) is not a multi-position scan (no XY loop)")
        }
        guard positionLoop.count >= 2 else {
            throw StitchingError(
                code: .inputInvalid,
                message: "\(path) is not a multi-position scan (no XY loop): its XY loop has \(positionLoop.count) position")
        }
        guard let pixelSize = info.pixelSizeUm.first ?? nil, pixelSize > 0, pixelSize.isFinite else {
            throw StitchingError(
                code: .inputInvalid,
                message: "\(path) records no pixel size (calibration), which is needed to turn stage µm into pixels")
        }

        // The frame of each position: P = p and every other loop at 0.
        var frameOfPosition = [Int?](repeating: nil, count: positionLoop.count)
        var stage = [[Double]?](repeating: nil, count: positionLoop.count)
        for frame in info.frames {
            guard let p = frame.loopIndex["P"], frameOfPosition.indices.contains(p), frameOfPosition[p] == nil else { continue }
            guard frame.loopIndex.allSatisfy({ $0.key == "P" || $0.value == 0 }) else { continue }
            frameOfPosition[p] = frame.index
            stage[p] = frame.stageUm
        }
        var frameList: [Int] = []
        var stageXY: [[Double]] = []
        for p in 0..<positionLoop.count {
            guard let frame = frameOfPosition[p] else {
                throw StitchingError(
                    code: .inputInvalid, message: "\(path): no frame of position P\(p) at the first time point and z plane")
            }
            guard let xyz = stage[p], xyz.count >= 2, xyz[0].isFinite, xyz[1].isFinite else {
                throw StitchingError(code: .inputInvalid, message: "\(path): position P\(p) has no stage position")
            }
            frameList.append(frame)
            stageXY.append([xyz[0], xyz[1]])
        }

        let frames = frameList
        let minX = stageXY.map { $0[0] }.min() ?? 0
        let minY = stageXY.map { $0[1] }.min() ?? 0
        let xs = stageXY.map { ($0[0] - minX) / pixelSize }
        let ys = stageXY.map { ($0[1] - minY) / pixelSize }
        let rows = gridIndices(ys, gap: Double(info.height) / 2)
        let cols = gridIndices(xs, gap: Double(info.width) / 2)
        let pointNames = reader.metadata.positionNames
        let tiles = (0..<frames.count).map { p in
            let pointName = p < pointNames.count ? pointNames[p].trimmingCharacters(in: .whitespaces) : ""
            return Tile(
                row: rows[p], col: cols[p], name: pointName.isEmpty ? "P\(p)" : pointName,
                nominalY: ys[p], nominalX: xs[p], stageUm: stageXY[p])
        }
        let channelCount = info.channels.count
        return TileSet(
            tiles: tiles, tileWidth: info.width, tileHeight: info.height, channelNames: info.channels.map(\.name),
            pixelType: info.pixelType, pixelSizeUm: pixelSize, source: path
        ) { (tile: Int, channel: Int) throws(StitchingError) -> Plane in
            guard frames.indices.contains(tile), (0..<channelCount).contains(channel) else {
                throw StitchingError(
                    code: .invalidParameter,
                    message: "\(path): no tile \(tile) channel \(channel) (\(frames.count) tiles, \(channelCount) channels)")
            }
            return try readND2Plane(reader, frame: frames[tile], channel: channel)
        }
    }

    /// Reads one plane of an ND2 frame, as a ``StitchingError``.
    static func readND2Plane(_ reader: ND2Reader, frame: Int, channel: Int) throws(StitchingError) -> Plane {
        do {
            return try reader.plane(PlaneIndex(frame: frame, channel: channel))
        } catch {
            throw StitchingError(code: .inputUnreadable, message: error.description)
        }
    }

    /// Groups values into grid lines: sorted, a new group starts where consecutive values differ by
    /// more than `gap`. Returns each value's group number (0 = smallest values).
    static func gridIndices(_ values: [Double], gap: Double) -> [Int] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var result = [Int](repeating: 0, count: values.count)
        var group = 0
        for (k, i) in order.enumerated() {
            if k > 0, values[i] - values[order[k - 1]] > gap { group += 1 }
            result[i] = group
        }
        return result
    }
}
