import CZlib

#if canImport(CDeflate)
    // libdeflate (a dependency of libtiff-dev, so present wherever CTIFF builds) inflates 1.7–3x
    // faster than zlib; used for whole-frame inflation when the package provides the module.
    import CDeflate
#endif

/// zlib (RFC 1950) helpers for ND2: compressed frames, compressed LV metadata blocks and the
/// writer. All sizes are checked by the caller before anything is allocated; these functions
/// never grow a buffer past the limit they are given.
enum ND2Zlib {
    /// Why inflating failed: zlib's return code and message.
    struct Failure: Error {
        var message: String
    }

    /// Largest expansion a deflate stream can reach (RFC 1951: at most 258 bytes per 2-bit code,
    /// i.e. about 1032:1), plus slack for headers. A declared inflated size above this bound for
    /// the compressed bytes at hand cannot be right.
    static func maxInflatedSize(compressedCount: Int) -> Int {
        let (product, overflow) = compressedCount.multipliedReportingOverflow(by: 1032)
        return overflow ? Int.max : product &+ 1024
    }

    /// Whether whole-frame inflation uses libdeflate (else zlib).
    static var usesLibdeflate: Bool {
        #if canImport(CDeflate)
            true
        #else
            false
        #endif
    }

    /// Inflates `source` into exactly `destination.count` bytes.
    ///
    /// Fails when the stream is damaged, ends early, or would produce more bytes than the
    /// destination holds. One call (libdeflate when available, else zlib's `uncompress`): no
    /// intermediate buffers.
    static func inflate(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) throws(Failure) {
        guard let src = source.baseAddress, source.count > 0 else {
            throw Failure(message: "compressed data is empty")
        }
        guard let dst = destination.baseAddress, destination.count > 0 else {
            throw Failure(message: "nothing to inflate into")
        }
        #if canImport(CDeflate)
            guard let decompressor = libdeflate_alloc_decompressor() else {
                throw Failure(message: "libdeflate could not allocate a decompressor")
            }
            defer { libdeflate_free_decompressor(decompressor) }
            var produced = 0
            let result = libdeflate_zlib_decompress(
                decompressor, src, source.count, dst, destination.count, &produced)
            switch result {
            case LIBDEFLATE_SUCCESS:
                guard produced == destination.count else {
                    throw Failure(message: "zlib stream inflates to \(produced) bytes, expected \(destination.count)")
                }
                return
            case LIBDEFLATE_INSUFFICIENT_SPACE:
                throw Failure(message: "zlib stream inflates to more than \(destination.count) bytes")
            default:
                throw Failure(message: "zlib stream is damaged or cut off (libdeflate result \(result.rawValue))")
            }
        #else
            try zlibInflate(src, source.count, dst, destination.count)
        #endif
    }

    private static func zlibInflate(
        _ src: UnsafeRawPointer, _ sourceCount: Int, _ dst: UnsafeMutableRawPointer, _ destinationCount: Int
    ) throws(Failure) {
        let source = UnsafeRawBufferPointer(start: src, count: sourceCount)
        let destination = UnsafeMutableRawBufferPointer(start: dst, count: destinationCount)
        // uncompress() takes uLong (64-bit on Linux/macOS x86_64/arm64) sizes.
        var produced = uLong(destination.count)
        let status = uncompress(
            dst.assumingMemoryBound(to: Bytef.self), &produced,
            src.assumingMemoryBound(to: Bytef.self), uLong(source.count))
        switch status {
        case Z_OK:
            guard produced == uLong(destination.count) else {
                throw Failure(
                    message: "zlib stream inflates to \(produced) bytes, expected \(destination.count)")
            }
        case Z_BUF_ERROR:
            // Either the output is too small or the input ends before the stream does.
            throw Failure(
                message: "zlib stream does not inflate to exactly \(destination.count) bytes "
                    + "(it is longer, or it is cut off)")
        case Z_DATA_ERROR:
            throw Failure(message: "zlib stream is damaged (Z_DATA_ERROR)")
        case Z_MEM_ERROR:
            throw Failure(message: "zlib ran out of memory (Z_MEM_ERROR)")
        default:
            throw Failure(message: "zlib uncompress failed with status \(status)")
        }
    }

    /// ``inflate(_:into:)`` for non-throwing closures: the failure, or nil on success.
    static func inflateResult(
        _ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer
    ) -> Failure? {
        do {
            try inflate(source, into: destination)
            return nil
        } catch {
            return error
        }
    }

    /// Inflates one zlib stream piece by piece into caller buffers (zlib's streaming API), so a
    /// frame can be decoded in bands without a whole-frame buffer. The source must stay valid
    /// while the inflater is used. Not `Sendable`: one per call.
    final class Stream {
        private let stream: UnsafeMutablePointer<z_stream>
        private var ended = false

        init(_ source: UnsafeRawBufferPointer) throws(Failure) {
            // Heap-allocated: zlib keeps a pointer back to the z_stream and checks it.
            stream = .allocate(capacity: 1)
            stream.initialize(to: z_stream())
            let status = inflateInit_(stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
            guard status == Z_OK else {
                stream.deallocate()
                throw Failure(message: "inflateInit failed with status \(status)")
            }
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(source.count)
        }

        deinit {
            inflateEnd(stream)
            stream.deallocate()
        }

        /// Fills `buffer` completely; fails if the stream is damaged or ends first.
        func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(Failure) {
            guard buffer.count > 0 else { return }
            stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(buffer.count)
            while stream.pointee.avail_out > 0 {
                guard !ended else {
                    throw Failure(message: "zlib stream ends \(stream.pointee.avail_out) bytes before the frame does")
                }
                let status = CZlib.inflate(stream, Z_NO_FLUSH)
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    ended = true
                case Z_BUF_ERROR:
                    throw Failure(message: "zlib stream is cut off before the frame ends")
                default:
                    let text = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                    throw Failure(message: "zlib stream is damaged (\(text))")
                }
            }
        }

        /// Checks that the stream ended exactly where the frame did.
        func finish() throws(Failure) {
            if !ended {
                var extra: UInt8 = 0
                try withUnsafeMutableBytes(of: &extra) { (probe) throws(Failure) in
                    stream.pointee.next_out = probe.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = 1
                    let status = CZlib.inflate(stream, Z_NO_FLUSH)
                    guard status == Z_STREAM_END, stream.pointee.avail_out == 1 else {
                        throw Failure(message: "zlib stream holds more data than the frame")
                    }
                }
                ended = true
            }
        }
    }

    /// Inflates a zlib stream of unknown output size, refusing to produce more than `limit` bytes.
    static func inflate(_ source: ArraySlice<UInt8>, limit: Int) throws(Failure) -> [UInt8] {
        guard !source.isEmpty else { throw Failure(message: "compressed data is empty") }
        var stream = z_stream()
        var output: [UInt8] = []
        var status = inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw Failure(message: "inflateInit failed with status \(status)") }
        defer { inflateEnd(&stream) }

        let chunk = 64 << 10
        var failure: Failure?
        source.withUnsafeBytes { input in
            stream.next_in = UnsafeMutablePointer(
                mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            var buffer = [UInt8](repeating: 0, count: chunk)
            while true {
                buffer.withUnsafeMutableBytes { out in
                    stream.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(out.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk - Int(stream.avail_out)
                if output.count + produced > limit {
                    failure = Failure(message: "inflated metadata exceeds the \(limit)-byte limit")
                    return
                }
                output.append(contentsOf: buffer[0..<produced])
                if status == Z_STREAM_END { return }
                if status == Z_BUF_ERROR {
                    failure = Failure(message: "zlib stream is cut off before its end")
                    return
                }
                if status != Z_OK {
                    let text = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                    failure = Failure(message: "zlib stream is damaged (\(text))")
                    return
                }
                if stream.avail_in == 0 && produced == 0 {
                    failure = Failure(message: "zlib stream is cut off before its end")
                    return
                }
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Compresses `source` as one zlib stream at `level` (0–9).
    static func deflate(_ source: UnsafeRawBufferPointer, level: Int32) -> [UInt8] {
        let bound = Int(compressBound(uLong(source.count)))
        return [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
            var produced = uLong(bound)
            let status = compress2(
                buffer.baseAddress!, &produced,
                source.baseAddress?.assumingMemoryBound(to: Bytef.self) ?? UnsafePointer(buffer.baseAddress!),
                uLong(source.count), level)
            // compress2 only fails for a bad level or a too-small buffer; compressBound rules out
            // the latter and the writer validates the level.
            precondition(status == Z_OK, "compress2 failed with status \(status)")
            initialized = Int(produced)
        }
    }
}
