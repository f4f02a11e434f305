import Foundation
import Testing

@testable import SingleCell

/// Helpers shared by the H5SC* tests.
enum H5SCFixtures {
    /// The scPortrait reference `.h5sc` (WGA run, 429 cells × 4 × 128 × 128), if present.
    static var referenceFile: String? {
        guard let root = sharedTestData else { return nil }
        let path = root.appendingPathComponent("scportrait/outputs/wga/reference_files/single_cells.h5sc").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The reference run's output folder (layout dumps, first-cell stack), if present.
    static var wgaOutputs: URL? {
        sharedTestData?.appendingPathComponent("scportrait/outputs/wga", isDirectory: true)
    }

    /// scPortrait's WGA layout: 2 masks, 2 image channels, 128 px, LZF.
    static func wgaLayout(compression: StackCompression = .lzf, imageSize: Int = 128) -> CellStackLayout {
        CellStackLayout(
            maskNames: ["seg_all_nucleus", "seg_all_cytosol"], imageChannelNames: ["nucleus", "cytosol"],
            imageSize: imageSize, compression: compression)
    }

    /// A fresh temporary directory (removed by the caller with ``remove(_:)``).
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("h5sc-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Removes a temporary directory.
    static func remove(_ url: URL) {
        try? FileManager.default.removeItem(at: url)
    }

    /// A deterministic pseudo-random generator (SplitMix64) so failures reproduce.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A realistic-looking stack for `seed`: soft-edged masks (a disc and a larger disc) and
    /// image channels with a smooth blob times the mask plus a little noise, zero outside the
    /// cell, as scPortrait's extraction produces.
    static func syntheticStack(layout: CellStackLayout, seed: UInt64) -> [Float16] {
        var random = SeededGenerator(seed: seed)
        let size = layout.imageSize
        let centre = Double(size) / 2 + Double.random(in: -3...3, using: &random)
        let nucleusRadius = Double(size) * Double.random(in: 0.10...0.16, using: &random)
        let cellRadius = nucleusRadius * Double.random(in: 1.6...2.4, using: &random)
        var values = [Float16](repeating: 0, count: layout.valuesPerCell)
        let plane = size * size
        for channel in 0..<layout.channelCount {
            let isMask = channel < layout.maskNames.count
            let radius = (channel % 2 == 0) ? nucleusRadius : cellRadius
            let phase = Double.random(in: 0...6.28, using: &random)
            for y in 0..<size {
                for x in 0..<size {
                    let dx = Double(x) - centre, dy = Double(y) - centre
                    let distance = (dx * dx + dy * dy).squareRoot()
                    let edge = 1 / (1 + exp((distance - radius) * 1.5))  // soft mask
                    var value: Double
                    if isMask {
                        value = edge < 1e-3 ? 0 : edge
                    } else {
                        let cellEdge = 1 / (1 + exp((distance - cellRadius) * 1.5))
                        let texture = 0.5 + 0.3 * sin(Double(x) * 0.21 + phase) * cos(Double(y) * 0.17 - phase)
                        value = cellEdge < 1e-3 ? 0 : min(1, cellEdge * texture + Double.random(in: 0..<0.02, using: &random))
                    }
                    values[channel * plane + y * size + x] = Float16(value)
                }
            }
        }
        return values
    }

    /// Parses a little-endian float16 `.npy` file (format 1.0–3.0, C order) into its shape and
    /// values.
    static func readNPYFloat16(_ url: URL) throws -> (shape: [Int], values: [Float16]) {
        let data = try Data(contentsOf: url)
        let bytes = [UInt8](data)
        guard bytes.count > 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw NPYError.notNPY
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        }
        guard headerStart + headerLength <= bytes.count else { throw NPYError.badHeader("header past end") }
        let header = String(decoding: bytes[headerStart ..< headerStart + headerLength], as: UTF8.self)
        guard header.contains("'descr': '<f2'") else { throw NPYError.badHeader("not little-endian float16: \(header)") }
        guard header.contains("'fortran_order': False") else { throw NPYError.badHeader("Fortran order: \(header)") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw NPYError.badHeader("no shape: \(header)")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let count = shape.reduce(1, *)
        let start = headerStart + headerLength
        guard bytes.count - start == count * 2 else { throw NPYError.badHeader("payload is \(bytes.count - start) bytes, expected \(count * 2)") }
        var values = [Float16](repeating: 0, count: count)
        for index in 0..<count {
            let bits = UInt16(bytes[start + 2 * index]) | UInt16(bytes[start + 2 * index + 1]) << 8
            values[index] = Float16(bitPattern: bits)
        }
        return (shape, values)
    }

    enum NPYError: Error {
        case notNPY
        case badHeader(String)
    }

    /// Runs `executable` with `arguments`; returns exit status, stdout and stderr.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a large output cannot block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Whether two float16 arrays are bit-identical (NaN-safe; `memcmp`, fast in debug builds).
    static func sameBits(_ a: [Float16], _ b: [Float16]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                guard let p = x.baseAddress, let q = y.baseAddress else { return x.count == y.count }
                return memcmp(p, q, x.count) == 0
            }
        }
    }
}
