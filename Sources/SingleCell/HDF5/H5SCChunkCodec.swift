import CDeflate
import Foundation

/// Compresses and decompresses single `(1, 1, S, S)` float16 chunks of an `.h5sc` image
/// dataset outside the HDF5 lock: LZF (h5py's filter format) or zlib-format deflate (HDF5's
/// `deflate` filter, via libdeflate). Scratch memory (the output buffer, LZF's hash table,
/// libdeflate's compressor) is pooled and reused; each call borrows one scratch set, so memory
/// stays bounded by the number of threads writing at once.
final class H5SCChunkCodec: @unchecked Sendable {
    // @unchecked: `pool` is only touched under `poolLock`; a Scratch is used by one thread at
    // a time (taken from the pool, used, returned).

    /// Scratch memory for one thread's compression of one stack.
    final class Scratch {
        /// Compressed output, room for a whole stack (C chunks of `chunkBytes - 1`).
        let output: UnsafeMutableRawBufferPointer
        /// LZF hash table.
        let table: UnsafeMutableBufferPointer<UInt32>
        /// libdeflate compressor (gzip only).
        let deflater: OpaquePointer?

        init(outputBytes: Int, deflateLevel: Int?) {
            output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(outputBytes, 1), alignment: 16)
            table = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: LZF.hashTableCount)
            deflater = deflateLevel.flatMap { libdeflate_alloc_compressor(Int32($0)) }
        }

        deinit {
            output.deallocate()
            table.deallocate()
            if let deflater { libdeflate_free_compressor(deflater) }
        }
    }

    /// The compression in use.
    let compression: StackCompression
    /// Bytes of one raw chunk (S × S × 2).
    let chunkBytes: Int
    /// Chunks per stack (channels).
    let chunksPerStack: Int

    private let poolLock = NSLock()
    private var pool: [Scratch] = []
    private static let maxPooled = 16

    init(compression: StackCompression, chunkBytes: Int, chunksPerStack: Int) {
        self.compression = compression
        self.chunkBytes = chunkBytes
        self.chunksPerStack = chunksPerStack
    }

    /// Borrows a scratch set (creating one when the pool is empty).
    func takeScratch() throws(SingleCellError) -> Scratch {
        poolLock.lock()
        let pooled = pool.popLast()
        poolLock.unlock()
        if let pooled { return pooled }
        var level: Int?
        if case .gzip(let value) = compression { level = value }
        let scratch = Scratch(outputBytes: chunksPerStack * chunkBytes, deflateLevel: level)
        if level != nil, scratch.deflater == nil {
            throw SingleCellError(code: .invalidParameter, message: "libdeflate cannot create a compressor for level \(level ?? -1)")
        }
        return scratch
    }

    /// Returns a scratch set to the pool.
    func returnScratch(_ scratch: Scratch) {
        poolLock.lock()
        if pool.count < Self.maxPooled { pool.append(scratch) }
        poolLock.unlock()
    }

    /// One encoded chunk: where its bytes are and whether the filter was applied.
    struct Encoded {
        /// The bytes to store (compressed, or the raw input when compression did not shrink it).
        var bytes: UnsafeRawBufferPointer
        /// `H5Dwrite_chunk` filter mask: 0 = filtered, 1 = the (optional) filter was skipped.
        var filterMask: UInt32
    }

    /// Encodes chunk `index` of a stack: `raw` (one chunk's bytes) into the scratch's region for
    /// that chunk. The result points into `raw` (stored raw) or into `scratch`.
    func encode(_ raw: UnsafeRawBufferPointer, index: Int, scratch: Scratch) -> Encoded {
        let room = chunkBytes - 1
        let region = UnsafeMutableRawBufferPointer(rebasing: scratch.output[(index * chunkBytes)..<(index * chunkBytes + room)])
        switch compression {
        case .none:
            return Encoded(bytes: raw, filterMask: 0)
        case .lzf:
            if let count = LZF.compress(raw, into: region, table: scratch.table), count > 0 {
                return Encoded(bytes: UnsafeRawBufferPointer(rebasing: region[0..<count]), filterMask: 0)
            }
            return Encoded(bytes: raw, filterMask: 1)
        case .gzip:
            guard let deflater = scratch.deflater, let source = raw.baseAddress, let destination = region.baseAddress else {
                return Encoded(bytes: raw, filterMask: 1)
            }
            let count = libdeflate_zlib_compress(deflater, source, raw.count, destination, region.count)
            if count > 0 {
                return Encoded(bytes: UnsafeRawBufferPointer(rebasing: region[0..<count]), filterMask: 0)
            }
            return Encoded(bytes: raw, filterMask: 1)
        }
    }

    /// Why a stored chunk could not be decoded.
    struct DecodeFailure: Error {
        var message: String
    }

    /// Decodes one stored chunk into exactly `output.count` (= chunk) bytes.
    static func decode(
        _ stored: UnsafeRawBufferPointer, filterMask: UInt32, compression: StackCompression,
        into output: UnsafeMutableRawBufferPointer
    ) throws(DecodeFailure) {
        var filtered = filterMask & 1 == 0
        if case .none = compression { filtered = false }
        if !filtered {
            guard stored.count == output.count else {
                throw DecodeFailure(message: "raw chunk holds \(stored.count) bytes, expected \(output.count)")
            }
            output.copyMemory(from: stored)
            return
        }
        switch compression {
        case .lzf:
            let produced: Int
            do throws(LZF.Failure) {
                produced = try LZF.decompress(stored, into: output)
            } catch {
                switch error {
                case .outputTooSmall:
                    throw DecodeFailure(message: "LZF chunk decompresses to more than \(output.count) bytes")
                case .corrupt(let offset, let reason):
                    throw DecodeFailure(message: "corrupt LZF chunk at byte \(offset): \(reason)")
                }
            }
            guard produced == output.count else {
                throw DecodeFailure(message: "LZF chunk decompresses to \(produced) bytes, expected \(output.count)")
            }
        case .gzip:
            guard let source = stored.baseAddress, let destination = output.baseAddress else {
                throw DecodeFailure(message: "empty deflate chunk")
            }
            guard let inflater = libdeflate_alloc_decompressor() else {
                throw DecodeFailure(message: "libdeflate cannot allocate a decompressor")
            }
            defer { libdeflate_free_decompressor(inflater) }
            var produced = 0
            let result = libdeflate_zlib_decompress(inflater, source, stored.count, destination, output.count, &produced)
            guard result == LIBDEFLATE_SUCCESS else {
                throw DecodeFailure(message: "corrupt deflate chunk (libdeflate result \(result.rawValue))")
            }
            guard produced == output.count else {
                throw DecodeFailure(message: "deflate chunk inflates to \(produced) bytes, expected \(output.count)")
            }
        case .none:
            break
        }
    }
}
