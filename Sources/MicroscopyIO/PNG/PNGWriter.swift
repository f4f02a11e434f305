import CZlib
import Foundation
public import ImageKit

/// Writes 8-bit PNG images (grey, RGB, RGBA) for previews and thumbnails.
///
/// Each row gets the PNG filter (none, sub or up) whose output has the smallest sum of
/// absolute byte values, a cheap and standard heuristic; the filtered rows are deflated with
/// zlib as they are made, so memory is the input plus the compressed output.
///
/// ```swift
/// let png = try PNGWriter.encode(width: 256, height: 256, colorType: .gray, pixels: preview)
/// try PNGWriter.write(width: 256, height: 256, colorType: .gray, pixels: preview, to: "/runs/7/preview.png")
/// ```
public enum PNGWriter {
    /// The pixel layout of the input and of the PNG.
    public enum ColorType: String, Sendable, Codable, CaseIterable {
        /// One byte per pixel.
        case gray
        /// Three bytes per pixel: red, green, blue.
        case rgb
        /// Four bytes per pixel: red, green, blue, alpha (not premultiplied).
        case rgba

        /// Bytes per pixel.
        public var channels: Int {
            switch self {
            case .gray: 1
            case .rgb: 3
            case .rgba: 4
            }
        }

        /// The PNG `IHDR` colour type.
        var code: UInt8 {
            switch self {
            case .gray: 0
            case .rgb: 2
            case .rgba: 6
            }
        }
    }

    /// Largest width or height PNG allows.
    static let maxDimension = Int(Int32.max)
    /// Size of each `IDAT` chunk's data (the last may be shorter).
    static let idatChunkBytes = 256 << 10

    /// Encodes interleaved 8-bit pixels as a PNG file's bytes.
    ///
    /// - Parameters:
    ///   - width: Columns, at least 1.
    ///   - height: Rows, at least 1.
    ///   - colorType: How many bytes each pixel has and what they mean.
    ///   - pixels: `width * height * colorType.channels` bytes, row-major, interleaved.
    ///   - compressionLevel: zlib level 0 (store) to 9 (smallest); 6 by default.
    /// - Returns: The complete PNG file.
    /// - Throws: ``MicroscopyIOError`` `.writeFailed` for sizes that do not match or zlib errors.
    public static func encode(
        width: Int, height: Int, colorType: ColorType, pixels: [UInt8], compressionLevel: Int = 6
    ) throws(MicroscopyIOError) -> [UInt8] {
        func invalid(_ message: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .writeFailed, path: "<png>", message: message)
        }
        guard width >= 1, height >= 1, width <= maxDimension, height <= maxDimension else {
            throw invalid("invalid PNG size \(width) x \(height)")
        }
        let bpp = colorType.channels
        let (rowBytes, overflow1) = width.multipliedReportingOverflow(by: bpp)
        let (total, overflow2) = rowBytes.multipliedReportingOverflow(by: height)
        guard !overflow1, !overflow2, pixels.count == total else {
            throw invalid(
                "\(pixels.count) bytes for a \(width) x \(height) \(colorType.rawValue) image (expected \(total))")
        }
        guard (0...9).contains(compressionLevel) else {
            throw invalid("zlib level \(compressionLevel) is not in 0...9")
        }

        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header += [8, colorType.code, 0, 0, 0]
        appendChunk(&png, type: "IHDR", data: header)

        var stream = z_stream()
        guard deflateInit_(&stream, Int32(compressionLevel), zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else {
            throw invalid("zlib deflateInit failed")
        }
        defer { deflateEnd(&stream) }

        var pending: [UInt8] = []
        pending.reserveCapacity(idatChunkBytes)
        var output = [UInt8](repeating: 0, count: 64 << 10)
        var failure: Int32 = Z_OK

        /// Feeds `input` to zlib, moving finished output into `IDAT` chunks.
        func deflate(_ input: UnsafeBufferPointer<UInt8>, finish: Bool) {
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            while true {
                let status = output.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    return CZlib.deflate(&stream, finish ? Z_FINISH : Z_NO_FLUSH)
                }
                let produced = output.count - Int(stream.avail_out)
                pending.append(contentsOf: output[0..<produced])
                while pending.count >= idatChunkBytes {
                    appendChunk(&png, type: "IDAT", data: pending[0..<idatChunkBytes])
                    pending.removeFirst(idatChunkBytes)
                }
                if status == Z_STREAM_END { return }
                guard status == Z_OK || status == Z_BUF_ERROR else {
                    failure = status
                    return
                }
                if !finish && stream.avail_in == 0 && stream.avail_out > 0 { return }
            }
        }

        // Filter candidates: 0 none, 1 sub, 2 up; each with its filter byte in front.
        var candidates = [[UInt8]](repeating: [UInt8](repeating: 0, count: rowBytes + 1), count: 3)
        for index in 0..<3 { candidates[index][0] = UInt8(index) }
        pixels.withUnsafeBufferPointer { all in
            for row in 0..<height {
                let current = UnsafeBufferPointer(rebasing: all[(row * rowBytes)..<((row + 1) * rowBytes)])
                let previous =
                    row > 0 ? UnsafeBufferPointer(rebasing: all[((row - 1) * rowBytes)..<(row * rowBytes)]) : nil
                let best = filterRow(current, previous: previous, bpp: bpp, into: &candidates)
                candidates[best].withUnsafeBufferPointer { deflate($0, finish: false) }
            }
        }
        let empty: [UInt8] = []
        empty.withUnsafeBufferPointer { deflate($0, finish: true) }
        guard failure == Z_OK else { throw invalid("zlib deflate failed with status \(failure)") }
        if !pending.isEmpty { appendChunk(&png, type: "IDAT", data: pending[...]) }
        appendChunk(&png, type: "IEND", data: [])
        return png
    }

    /// Encodes and writes a PNG file (atomically: a temporary file renamed into place).
    ///
    /// - Parameters: As for ``encode(width:height:colorType:pixels:compressionLevel:)``, plus
    ///   `path`, the output file.
    /// - Throws: ``MicroscopyIOError`` `.writeFailed` naming `path`.
    public static func write(
        width: Int, height: Int, colorType: ColorType, pixels: [UInt8], to path: String, compressionLevel: Int = 6
    ) throws(MicroscopyIOError) {
        let bytes: [UInt8]
        do {
            bytes = try encode(
                width: width, height: height, colorType: colorType, pixels: pixels, compressionLevel: compressionLevel)
        } catch {
            throw MicroscopyIOError(code: error.code, path: path, message: error.message)
        }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw MicroscopyIOError(
                code: .writeFailed, path: path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Writes an 8-bit image: 1 channel as grey, 3 as RGB, 4 as RGBA (planar channels are
    /// interleaved for PNG).
    ///
    /// - Throws: `.writeFailed` for other channel counts or when the file cannot be written.
    public static func write(_ image: Image<UInt8>, to path: String, compressionLevel: Int = 6)
        throws(MicroscopyIOError)
    {
        let colorType: ColorType
        switch image.channels {
        case 1: colorType = .gray
        case 3: colorType = .rgb
        case 4: colorType = .rgba
        default:
            throw MicroscopyIOError(
                code: .writeFailed, path: path,
                message: "a PNG needs 1, 3 or 4 channels, the image has \(image.channels)")
        }
        let count = image.planeCount
        let channels = image.channels
        var interleaved: [UInt8]
        if channels == 1 {
            interleaved = image.pixels
        } else {
            interleaved = [UInt8](repeating: 0, count: count * channels)
            image.withUnsafeBufferPointer { planes in
                interleaved.withUnsafeMutableBufferPointer { out in
                    for c in 0..<channels {
                        var i = 0
                        var j = c
                        let base = c &* count
                        while i < count {
                            out[j] = planes[base &+ i]
                            i &+= 1
                            j &+= channels
                        }
                    }
                }
            }
        }
        try write(
            width: image.width, height: image.height, colorType: colorType, pixels: interleaved, to: path,
            compressionLevel: compressionLevel)
    }

    /// Fills the three candidate rows and returns the index of the one with the smallest sum
    /// of absolute (signed) byte values.
    static func filterRow(
        _ current: UnsafeBufferPointer<UInt8>, previous: UnsafeBufferPointer<UInt8>?, bpp: Int,
        into candidates: inout [[UInt8]]
    ) -> Int {
        let count = current.count
        var sums = [0, 0, 0]
        candidates[0].withUnsafeMutableBufferPointer { none in
            var sum = 0
            for i in 0..<count {
                let v = current[i]
                none[i &+ 1] = v
                sum &+= Int(Int8(bitPattern: v).magnitude)
            }
            sums[0] = sum
        }
        candidates[1].withUnsafeMutableBufferPointer { sub in
            var sum = 0
            for i in 0..<count {
                let v = i >= bpp ? current[i] &- current[i &- bpp] : current[i]
                sub[i &+ 1] = v
                sum &+= Int(Int8(bitPattern: v).magnitude)
            }
            sums[1] = sum
        }
        if let previous {
            candidates[2].withUnsafeMutableBufferPointer { up in
                var sum = 0
                for i in 0..<count {
                    let v = current[i] &- previous[i]
                    up[i &+ 1] = v
                    sum &+= Int(Int8(bitPattern: v).magnitude)
                }
                sums[2] = sum
            }
        } else {
            sums[2] = Int.max
        }
        var best = 0
        for index in 1..<3 where sums[index] < sums[best] { best = index }
        return best
    }

    /// Appends a chunk: length, type, data, CRC-32 of type and data.
    static func appendChunk(_ png: inout [UInt8], type: String, data: ArraySlice<UInt8>) {
        let typeBytes = Array(type.utf8)
        png.appendBigEndian(UInt32(data.count))
        png += typeBytes
        png += data
        var crc = crc32(0, nil, 0)
        crc = typeBytes.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, UInt32($0.count)) }
        crc = data.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, UInt32($0.count)) }
        png.appendBigEndian(UInt32(truncatingIfNeeded: crc))
    }

    static func appendChunk(_ png: inout [UInt8], type: String, data: [UInt8]) {
        appendChunk(&png, type: type, data: data[...])
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }
}
