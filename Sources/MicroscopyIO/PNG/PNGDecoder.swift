import CZlib

/// Decodes the PNGs ``PNGWriter`` makes (8-bit grey, RGB, RGBA, not interlaced), checking every
/// chunk's CRC and all five row filters. Package-internal: it exists so tests can check the
/// writer's output byte for byte.
package enum PNGDecoder {
    /// A decoded image: interleaved 8-bit pixels.
    package struct Decoded: Equatable {
        package var width: Int
        package var height: Int
        package var colorType: PNGWriter.ColorType
        package var pixels: [UInt8]
        /// The chunk types in file order.
        package var chunks: [String]
        /// Each row's filter type.
        package var filters: [UInt8]
    }

    /// What went wrong while decoding.
    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// Decodes `bytes`.
    package static func decode(_ bytes: [UInt8]) throws(Failure) -> Decoded {
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw Failure(description: "no PNG signature")
        }
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        var position = 8
        var chunks: [String] = []
        var header: [UInt8] = []
        var compressed: [UInt8] = []
        while position < bytes.count {
            guard position + 12 <= bytes.count else { throw Failure(description: "chunk header cut at \(position)") }
            let length = Int(u32(position))
            guard position + 12 + length <= bytes.count else {
                throw Failure(description: "chunk data cut at \(position)")
            }
            let type = String(decoding: bytes[(position + 4)..<(position + 8)], as: UTF8.self)
            let data = Array(bytes[(position + 8)..<(position + 8 + length)])
            let stored = u32(position + 8 + length)
            let computed = bytes[(position + 4)..<(position + 8 + length)].withUnsafeBufferPointer {
                UInt32(truncatingIfNeeded: crc32(0, $0.baseAddress, UInt32($0.count)))
            }
            guard stored == computed else { throw Failure(description: "\(type) CRC \(stored) != \(computed)") }
            chunks.append(type)
            if type == "IHDR" { header = data }
            if type == "IDAT" { compressed += data }
            position += 12 + length
            if type == "IEND" { break }
        }
        guard header.count == 13, chunks.first == "IHDR", chunks.last == "IEND" else {
            throw Failure(description: "bad chunk order \(chunks)")
        }
        let width = Int(UInt32(header[0]) << 24 | UInt32(header[1]) << 16 | UInt32(header[2]) << 8 | UInt32(header[3]))
        let height = Int(UInt32(header[4]) << 24 | UInt32(header[5]) << 16 | UInt32(header[6]) << 8 | UInt32(header[7]))
        guard header[8] == 8, header[12] == 0,
            let colorType = PNGWriter.ColorType.allCases.first(where: { $0.code == header[9] })
        else {
            throw Failure(description: "unsupported IHDR \(header)")
        }
        let bpp = colorType.channels
        let rowBytes = width * bpp
        var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * height)
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        let status = compressed.withUnsafeMutableBufferPointer { input in
            raw.withUnsafeMutableBufferPointer { output in
                stream.next_in = input.baseAddress
                stream.avail_in = UInt32(input.count)
                stream.next_out = output.baseAddress
                stream.avail_out = UInt32(output.count)
                return inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, stream.avail_out == 0 else {
            throw Failure(description: "inflate ended with status \(status), \(stream.avail_out) bytes missing")
        }
        var pixels = [UInt8](repeating: 0, count: rowBytes * height)
        var filters: [UInt8] = []
        for row in 0..<height {
            let filter = raw[row * (rowBytes + 1)]
            filters.append(filter)
            for i in 0..<rowBytes {
                let x = raw[row * (rowBytes + 1) + 1 + i]
                let a = i >= bpp ? pixels[row * rowBytes + i - bpp] : 0
                let b = row > 0 ? pixels[(row - 1) * rowBytes + i] : 0
                let c = i >= bpp && row > 0 ? pixels[(row - 1) * rowBytes + i - bpp] : 0
                let predicted: UInt8
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = UInt8((Int(a) + Int(b)) / 2)
                case 4:
                    let p = Int(a) + Int(b) - Int(c)
                    let (pa, pb, pc) = (abs(p - Int(a)), abs(p - Int(b)), abs(p - Int(c)))
                    predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw Failure(description: "row \(row) has filter \(filter)")
                }
                pixels[row * rowBytes + i] = x &+ predicted
            }
        }
        return Decoded(
            width: width, height: height, colorType: colorType, pixels: pixels, chunks: chunks, filters: filters)
    }
}
