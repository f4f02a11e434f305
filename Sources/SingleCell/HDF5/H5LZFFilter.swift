import CHDF5
import Foundation

/// h5py's LZF filter for libhdf5, implemented with ``LZF``: filter id 32000, name `"lzf"`,
/// client data `[4, 0x0105, chunk bytes]` (filter revision, liblzf version, decompressed chunk
/// size as a buffer hint), added with the OPTIONAL flag so that a chunk that LZF cannot shrink
/// is stored raw with its filter-mask bit set. With it registered, `H5Dread`/`H5Dwrite` handle
/// LZF datasets (scPortrait's files and ours) like any built-in filter.
enum H5LZFFilter {
    /// The filter id h5py registered with The HDF Group.
    static let id: H5Z_filter_t = 32000
    /// h5py's LZF filter revision, stored in `cd_values[0]`.
    static let filterRevision: UInt32 = 4
    /// The liblzf format version, stored in `cd_values[1]`.
    static let lzfVersion: UInt32 = 0x0105

    /// The filter's name as HDF5 keeps it (a C string that lives for the whole process).
    nonisolated(unsafe) private static let name: UnsafeMutablePointer<CChar>? = strdup("lzf")

    /// Registers the filter with libhdf5 (once per process, under the ``H5Library`` lock).
    static func register() throws(SingleCellError) {
        var filterClass = H5Z_class2_t(
            version: Int32(H5Z_CLASS_T_VERS),
            id: id,
            encoder_present: 1,
            decoder_present: 1,
            name: UnsafePointer(name),
            can_apply: nil,
            set_local: setLocal,
            filter: filter
        )
        let status = withUnsafePointer(to: &filterClass) { H5Zregister(UnsafeRawPointer($0)) }
        if status < 0 {
            let detail = H5Library.takeErrorText()
            throw SingleCellError(
                code: .hdf5, message: "cannot register the LZF filter (id 32000) with libhdf5: \(detail)")
        }
    }

    /// Adds the filter to a dataset-creation property list, as h5py's `compression="lzf"` does.
    static func add(to dcpl: hid_t) -> herr_t {
        H5Pset_filter(dcpl, id, UInt32(H5Z_FLAG_OPTIONAL), 0, nil)
    }

    /// `set_local`: fills in the client data for the dataset being created (h5py's layout:
    /// revision, liblzf version, chunk size in bytes).
    static let setLocal: H5Z_set_local_func_t = { dcpl, type, _ in
        var flags: UInt32 = 0
        var count = 8
        var values = [UInt32](repeating: 0, count: 8)
        guard H5Pget_filter_by_id2(dcpl, H5LZFFilter.id, &flags, &count, &values, 0, nil, nil) >= 0 else { return -1 }
        count = max(count, 3)
        let typeSize = H5Tget_size(type)
        guard typeSize > 0 else { return -1 }
        var dims = [hsize_t](repeating: 0, count: 32)
        let rank = H5Pget_chunk(dcpl, 32, &dims)
        guard rank > 0 else { return -1 }
        var bytes = UInt64(typeSize)
        for axis in 0..<Int(rank) {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: dims[axis])
            bytes = overflow ? 0 : product
        }
        values[0] = H5LZFFilter.filterRevision
        values[1] = H5LZFFilter.lzfVersion
        // 0 means "unknown": the decoder then guesses and grows its buffer.
        values[2] = bytes <= UInt64(UInt32.max) ? UInt32(bytes) : 0
        return H5Pmodify_filter(dcpl, H5LZFFilter.id, flags, min(count, 8), values)
    }

    /// The filter itself. Compressing: returns 0 (HDF5 then stores the chunk raw, the filter
    /// being optional) when LZF does not shrink the chunk. Decompressing: sizes the output from
    /// the client data and grows it while the stream does not fit; returns 0 (a read error) on
    /// corrupt data. Buffers are `malloc`/`free`d, as libhdf5 expects of filters.
    static let filter: H5Z_func_t = { flags, count, values, byteCount, bufferSize, buffer in
        guard let bufferSize, let buffer, let input = buffer.pointee else { return 0 }
        let source = UnsafeRawBufferPointer(start: input, count: byteCount)
        if flags & UInt32(H5Z_FLAG_REVERSE) == 0 {
            guard byteCount > 1, let output = malloc(byteCount - 1) else { return 0 }
            let table = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: LZF.hashTableCount)
            defer { table.deallocate() }
            guard let produced = LZF.compress(
                source, into: UnsafeMutableRawBufferPointer(start: output, count: byteCount - 1), table: table),
                produced > 0
            else {
                free(output)
                return 0
            }
            free(input)
            buffer.pointee = output
            bufferSize.pointee = byteCount - 1
            return produced
        }
        var capacity = bufferSize.pointee
        if count >= 3, let values, values[2] != 0 { capacity = Int(values[2]) }
        capacity = max(capacity, 1)
        while true {
            guard let output = malloc(capacity) else { return 0 }
            do throws(LZF.Failure) {
                let produced = try LZF.decompress(source, into: UnsafeMutableRawBufferPointer(start: output, count: capacity))
                free(input)
                buffer.pointee = output
                bufferSize.pointee = capacity
                return produced
            } catch {
                free(output)
                guard error == .outputTooSmall else { return 0 }
                // Grow as h5py does, with a ceiling: LZF expands at most 264/2 = 132-fold.
                let (next, overflow) = capacity.addingReportingOverflow(max(bufferSize.pointee, 1))
                guard !overflow, next <= byteCount &* 132 &+ 64 else { return 0 }
                capacity = next
            }
        }
    }
}
