/// LZF, the byte-oriented LZ77 format of liblzf that h5py's `lzf` filter (HDF5 filter 32000)
/// stores in every chunk, and therefore the format of scPortrait's `single_cells.h5sc` images.
///
/// The stream is a sequence of items, each starting with a control byte `c`:
///
/// * `c < 32`: a literal run; the next `c + 1` bytes are copied to the output.
/// * `c >= 32`: a back-reference. `len = c >> 5` (1…6, or 7 followed by one extra length byte
///   that is added), `distance = ((c & 0x1f) << 8 | next byte) + 1`; copy `len + 2` bytes from
///   `distance` bytes back in the output (the source may overlap the bytes being written, which
///   repeats a pattern). Matches are therefore 3…264 bytes long and reach at most 8192 bytes back.
///
/// The compressor is a single-probe hash matcher (one candidate position per 3-byte hash),
/// written from this description; the decompressor checks every read and write against the
/// buffer bounds, so corrupt input yields an error, never a crash or an out-of-bounds access.
enum LZF {
    /// Why decompression failed.
    enum Failure: Error, Equatable {
        /// The output buffer is too small for the decompressed data.
        case outputTooSmall
        /// The input is not a valid LZF stream; `offset` is the input position of the bad item.
        case corrupt(offset: Int, reason: String)
    }

    /// log2 of the number of hash-table entries.
    static let hashLog = 14
    /// Number of `UInt32` entries a compressor hash table needs.
    static let hashTableCount = 1 << hashLog
    /// Longest literal run one control byte describes.
    static let maxLiteral = 32
    /// Longest back-reference (7 + 255 + 2).
    static let maxMatch = 264
    /// Farthest back-reference distance (13 bits, stored minus one).
    static let maxDistance = 8192

    /// Worst-case compressed size of `count` bytes (all literals: one control byte per 32 bytes).
    static func maxCompressedSize(_ count: Int) -> Int {
        count &+ (count &+ maxLiteral &- 1) / maxLiteral &+ 1
    }

    /// Compresses `input` into `output`.
    ///
    /// - Parameters:
    ///   - table: scratch space of at least ``hashTableCount`` entries; its content on entry does
    ///     not matter (it is cleared), so one table can be reused for many calls by one thread.
    /// - Returns: the number of bytes written, or `nil` when the compressed data would not fit
    ///   in `output` (callers that pass `input.count - 1` bytes of room get `nil` exactly when
    ///   compression does not shrink the data). An empty input compresses to 0 bytes.
    static func compress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
        table: UnsafeMutableBufferPointer<UInt32>
    ) -> Int? {
        let n = input.count
        guard n > 0 else { return 0 }
        guard let src = input.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let dst = output.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let slots = table.baseAddress, table.count >= hashTableCount
        else { return nil }
        let capacity = output.count
        slots.initialize(repeating: 0, count: hashTableCount)
        let shift = UInt32(32 &- hashLog)

        var ip = 0          // next input byte to look at
        var literalStart = 0  // first input byte not yet emitted
        var op = 0          // next output byte

        // Emits input[literalStart ..< end] as literal runs of at most 32 bytes.
        @inline(__always)
        func flushLiterals(upTo end: Int) -> Bool {
            var start = literalStart
            while start < end {
                let run = min(end &- start, maxLiteral)
                if op &+ 1 &+ run > capacity { return false }
                dst[op] = UInt8(truncatingIfNeeded: run &- 1)
                (dst + (op &+ 1)).update(from: src + start, count: run)
                op = op &+ 1 &+ run
                start = start &+ run
            }
            literalStart = end
            return true
        }

        @inline(__always)
        func load3(_ position: Int) -> UInt32 {
            UInt32(src[position]) | UInt32(src[position &+ 1]) << 8 | UInt32(src[position &+ 2]) << 16
        }

        @inline(__always)
        func hash(_ value: UInt32) -> Int {
            Int(truncatingIfNeeded: (value &* 0x9E37_79B1) >> shift)
        }

        // A match needs 3 bytes at ip.
        while ip &+ 2 < n {
            let value = load3(ip)
            let slot = hash(value)
            let candidate = Int(truncatingIfNeeded: slots[slot])
            slots[slot] = UInt32(truncatingIfNeeded: ip)
            let distance = ip &- candidate
            if distance > 0, distance <= maxDistance, load3(candidate) == value {
                // Extend the match: 8 bytes at a time, then the rest byte by byte.
                let limit = min(maxMatch, n &- ip)
                var length = 3
                while length &+ 8 <= limit {
                    let a = UnsafeRawPointer(src + (ip &+ length)).loadUnaligned(as: UInt64.self)
                    let b = UnsafeRawPointer(src + (candidate &+ length)).loadUnaligned(as: UInt64.self)
                    let difference = a ^ b
                    if difference != 0 {
                        #if _endian(little)
                            length = length &+ difference.trailingZeroBitCount >> 3
                        #else
                            length = length &+ difference.leadingZeroBitCount >> 3
                        #endif
                        break
                    }
                    length = length &+ 8
                }
                if length &+ 8 > limit {
                    while length < limit, src[ip &+ length] == src[candidate &+ length] {
                        length = length &+ 1
                    }
                }
                guard flushLiterals(upTo: ip) else { return nil }
                let code = length &- 2
                let stored = distance &- 1
                if code < 7 {
                    if op &+ 2 > capacity { return nil }
                    dst[op] = UInt8(truncatingIfNeeded: code << 5 | stored >> 8)
                    dst[op &+ 1] = UInt8(truncatingIfNeeded: stored)
                    op = op &+ 2
                } else {
                    if op &+ 3 > capacity { return nil }
                    dst[op] = UInt8(truncatingIfNeeded: 7 << 5 | stored >> 8)
                    dst[op &+ 1] = UInt8(truncatingIfNeeded: code &- 7)
                    dst[op &+ 2] = UInt8(truncatingIfNeeded: stored)
                    op = op &+ 3
                }
                let end = ip &+ length
                // Remember the last two positions inside the match so that a following
                // repetition can refer to them.
                var position = max(ip &+ 1, end &- 2)
                while position < end, position &+ 2 < n {
                    slots[hash(load3(position))] = UInt32(truncatingIfNeeded: position)
                    position = position &+ 1
                }
                ip = end
                literalStart = end
            } else {
                ip = ip &+ 1
            }
        }
        guard flushLiterals(upTo: n) else { return nil }
        return op
    }

    /// Decompresses the LZF stream `input` into `output`.
    ///
    /// - Returns: the number of bytes produced.
    /// - Throws: ``Failure/outputTooSmall`` when `output` cannot hold the result,
    ///   ``Failure/corrupt(offset:reason:)`` when the stream is malformed (a run or reference
    ///   that reaches past the end of the input or before the start of the output).
    static func decompress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws(Failure) -> Int {
        let n = input.count
        guard n > 0 else { return 0 }
        guard let src = input.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        let capacity = output.count
        guard let dst = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw .outputTooSmall
        }
        var ip = 0
        var op = 0
        while ip < n {
            let itemStart = ip
            let control = Int(src[ip])
            ip = ip &+ 1
            if control < 32 {
                let run = control &+ 1
                guard run <= n &- ip else {
                    throw .corrupt(offset: itemStart, reason: "literal run of \(run) bytes reaches past the end of the input")
                }
                guard run <= capacity &- op else { throw .outputTooSmall }
                (dst + op).update(from: src + ip, count: run)
                ip = ip &+ run
                op = op &+ run
            } else {
                var length = control >> 5
                if length == 7 {
                    guard ip < n else {
                        throw .corrupt(offset: itemStart, reason: "back-reference length byte missing at the end of the input")
                    }
                    length = length &+ Int(src[ip])
                    ip = ip &+ 1
                }
                guard ip < n else {
                    throw .corrupt(offset: itemStart, reason: "back-reference distance byte missing at the end of the input")
                }
                let distance = ((control & 0x1f) << 8 | Int(src[ip])) &+ 1
                ip = ip &+ 1
                length = length &+ 2
                guard distance <= op else {
                    throw .corrupt(offset: itemStart, reason: "back-reference \(distance) bytes back but only \(op) bytes decoded")
                }
                guard length <= capacity &- op else { throw .outputTooSmall }
                let from = op &- distance
                if distance >= length {
                    (dst + op).update(from: UnsafePointer(dst + from), count: length)
                } else {
                    // Overlapping: each byte may depend on one written in this same copy.
                    var k = 0
                    while k < length {
                        dst[op &+ k] = dst[from &+ k]
                        k = k &+ 1
                    }
                }
                op = op &+ length
            }
        }
        return op
    }

    /// Compresses `bytes` (convenience for tests and small buffers); always succeeds because the
    /// output has room for the worst case.
    static func compress(_ bytes: [UInt8]) -> [UInt8] {
        var table = [UInt32](repeating: 0, count: hashTableCount)
        var output = [UInt8](repeating: 0, count: maxCompressedSize(bytes.count))
        let count = bytes.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                table.withUnsafeMutableBufferPointer { slots in
                    compress(source, into: destination, table: slots)
                }
            }
        }
        output.removeSubrange((count ?? 0)...)
        return output
    }

    /// Decompresses `bytes` into at most `capacity` bytes (convenience for tests).
    static func decompress(_ bytes: [UInt8], capacity: Int) throws(Failure) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: capacity)
        let result = bytes.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                Result { () throws(Failure) -> Int in try decompress(source, into: destination) }
            }
        }
        let produced = try result.get()
        output.removeSubrange(produced...)
        return output
    }
}
