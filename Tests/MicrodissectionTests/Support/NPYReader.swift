import Foundation
import ImageKit

/// A minimal `.npy` reader for the reference cases: format versions 1–3, little-endian
/// unsigned integers (`u1`, `u2`, `u4`, `u8`) in C order, two dimensions. Test-only: lmdflow
/// reads masks through MicroscopyIO (TIFF).
enum NPYReader {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The array as a label image (values widened to `UInt32`) plus its numpy dtype string.
    static func labelImage(path: String) throws -> (image: Image<UInt32>, dtype: String) {
        let data: Data
        if path.hasSuffix(".gz") {
            data = try gunzip(path)
        } else {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        }
        return try labelImage(data: [UInt8](data))
    }

    static func labelImage(data bytes: [UInt8]) throws -> (image: Image<UInt32>, dtype: String) {
        guard bytes.count > 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw Failure(description: "not an .npy file")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw Failure(description: "unsupported .npy version \(major)")
        }
        guard bytes.count >= headerStart + headerLength else { throw Failure(description: "truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = match(header, #"'descr':\s*'([^']+)'"#) else { throw Failure(description: "no descr") }
        guard match(header, #"'fortran_order':\s*(False)"#) != nil else {
            throw Failure(description: "Fortran order is not supported")
        }
        guard let shapeText = match(header, #"'shape':\s*\(([^)]*)\)"#) else { throw Failure(description: "no shape") }
        let dims = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 2 else { throw Failure(description: "expected a 2-D array, shape (\(shapeText))") }
        let (rows, cols) = (dims[0], dims[1])
        let width: Int
        switch descr {
        case "|u1", "<u1": width = 1
        case "<u2": width = 2
        case "<u4": width = 4
        case "<u8": width = 8
        default: throw Failure(description: "unsupported dtype \(descr) (need little-endian unsigned integers)")
        }
        let start = headerStart + headerLength
        let count = rows * cols
        guard bytes.count >= start + count * width else { throw Failure(description: "truncated data") }
        var pixels = [UInt32](repeating: 0, count: count)
        bytes.withUnsafeBufferPointer { b in
            for i in 0..<count {
                var v: UInt64 = 0
                for k in 0..<width { v |= UInt64(b[start + i * width + k]) << (8 * UInt64(k)) }
                pixels[i] = UInt32(truncatingIfNeeded: v)
            }
        }
        return (try Image(width: cols, height: rows, pixels: pixels), descr)
    }

    private static func match(_ text: String, _ pattern: String) -> String? {
        guard let re = try? NSRegularExpression(pattern: pattern),
            let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let r = Range(m.range(at: 1), in: text)
        else { return nil }
        return String(text[r])
    }

    private static func gunzip(_ path: String) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gunzip", "-c", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure(description: "gunzip failed for \(path)") }
        return data
    }
}
