import CHDF5
import Foundation

/// Reads scPortrait's `single_cells.h5sc` (files written by scPortrait or by ``H5SCWriter``):
/// the stack layout, the cell id of every row, and the float16 stack of any row.
///
/// Opening validates the layout and names the first object that is missing or not what an
/// `.h5sc` file has. Stacks are read chunk by chunk: the stored (compressed) chunks are fetched
/// under the HDF5 lock and decompressed outside it, so several threads can read at once.
///
/// ```swift
/// let reader = try H5SCReader(path: "single_cells.h5sc")
/// for row in 0..<reader.cellCount {
///     let stack = try reader.stack(row: row)   // [c][y][x], layout.valuesPerCell values
/// }
/// ```
///
/// A class because it owns the open file and dataset handles (closed in `deinit`).
public final class H5SCReader: @unchecked Sendable {
    // @unchecked Sendable: all stored properties are immutable after init; the HDF5 handles are
    // only used under the process-wide HDF5 lock (`H5Library.locked`).

    /// The file read.
    public let path: String
    /// The stack layout found in the file (channel names from `channel_names`/`channel_mapping`,
    /// compression from the dataset's filter pipeline).
    public let layout: CellStackLayout
    /// The cell id of each row (`obs/scportrait_cell_id`).
    public let cellIDs: [UInt64]
    /// The number of rows.
    public var cellCount: Int { cellIDs.count }

    private let site: H5Site
    private let file: hid_t
    private let images: hid_t
    private let chunkBytes: Int
    /// Whether chunks can be fetched raw and decoded here (`(1, 1, S, S)` chunks, little-endian
    /// float16, a pipeline of nothing, LZF or deflate); otherwise `H5Dread` does the work.
    private let directChunks: Bool

    /// Opens and validates an `.h5sc` file.
    ///
    /// - Throws: ``SingleCellError`` with code `hdf5` when the file is missing, not HDF5, or not
    ///   an `.h5sc` (the message names the missing or mismatched object).
    public convenience init(path: String) throws(SingleCellError) {
        try self.init(path: path, directChunkReads: true)
    }

    /// Opens a file; `directChunkReads: false` makes every read go through `H5Dread` and the
    /// registered filters (used by tests to exercise the LZF filter inside libhdf5).
    init(path: String, directChunkReads: Bool) throws(SingleCellError) {
        let site = H5Site(path: path)
        self.site = site
        self.path = path
        let opened = try H5Library.withHandles { handles throws(SingleCellError) -> Opened in
            try Self.open(site: site, handles: handles, allowDirect: directChunkReads)
        }
        file = opened.file
        images = opened.images
        layout = opened.layout
        cellIDs = opened.cellIDs
        chunkBytes = opened.layout.imageSize * opened.layout.imageSize * MemoryLayout<Float16>.size
        directChunks = opened.direct
    }

    private struct Opened {
        var file: hid_t
        var images: hid_t
        var layout: CellStackLayout
        var cellIDs: [UInt64]
        var direct: Bool
    }

    private static let imagesPath = "/obsm/single_cell_images"
    private static let cellIDsPath = "/obs/scportrait_cell_id"

    private static func open(site: H5Site, handles: H5Handles, allowDirect: Bool) throws(SingleCellError) -> Opened {
        let reader = H5ObjectReader(site: site, handles: handles)
        let file = try reader.openFile()
        let root = try reader.openGroup(file, "/")
        guard let encoding = try reader.attribute(root, "encoding-type", path: "/"), encoding.value == .strings(["anndata"]) else {
            throw site.layoutError("/", "not an AnnData/.h5sc file: root attribute 'encoding-type' is not 'anndata'")
        }

        // The image dataset: rank 4, float16, square crops.
        let images = try reader.openDataset(file, imagesPath)
        let type = handles.keep(try site.check(H5Dget_type(images), imagesPath, "cannot get the datatype"), .datatype)
        let typeSummary = try reader.typeSummary(type, imagesPath)
        guard typeSummary.typeClass == .float, typeSummary.size == 2 else {
            throw site.layoutError(imagesPath, "expected float16 values, found \(typeSummary)")
        }
        let space = handles.keep(try site.check(H5Dget_space(images), imagesPath, "cannot get the dataspace"), .dataspace)
        let shape = try reader.shape(space, imagesPath)
        guard shape.count == 4, shape[2] == shape[3], shape[2] > 0, shape[1] > 0 else {
            throw site.layoutError(imagesPath, "expected shape (cells, channels, S, S), found \(shape)")
        }
        let (cellCount, channelCount, imageSize) = (shape[0], shape[1], shape[2])

        // Channel names and roles.
        let names = try stringsAttribute(reader, images, "channel_names", count: channelCount, site: site)
        let mapping = try stringsAttribute(reader, images, "channel_mapping", count: channelCount, site: site)
        let maskCount = mapping.prefix { $0 == "mask" }.count
        guard mapping.dropFirst(maskCount).allSatisfy({ $0 == "image_channel" }) else {
            throw site.layoutError(
                "\(imagesPath) @channel_mapping",
                "expected 'mask' entries followed by 'image_channel' entries, found \(mapping)")
        }
        guard let normalizationAttribute = try reader.attribute(images, "normalization", path: imagesPath) else {
            throw site.layoutError("\(imagesPath) @normalization", "attribute is missing")
        }
        let normalization: Bool
        switch normalizationAttribute.value {
        case .enumNames(let values) where values.count == 1: normalization = values[0] == "TRUE"
        case .integers(let values) where values.count == 1: normalization = values[0] != 0
        case .unsignedIntegers(let values) where values.count == 1: normalization = values[0] != 0
        default: throw site.layoutError("\(imagesPath) @normalization", "expected a boolean, found \(normalizationAttribute.type)")
        }
        guard let rangeAttribute = try reader.attribute(images, "normalization_range", path: imagesPath) else {
            throw site.layoutError("\(imagesPath) @normalization_range", "attribute is missing")
        }
        guard case .floats(let range) = rangeAttribute.value, range.count == 2 else {
            throw site.layoutError("\(imagesPath) @normalization_range", "expected two floats, found \(rangeAttribute.value)")
        }

        // Chunking and compression.
        let dcpl = handles.keep(try site.check(H5Dget_create_plist(images), imagesPath, "cannot get the creation properties"), .plist)
        var chunk = [hsize_t](repeating: 0, count: 4)
        let chunked = H5Pget_layout(dcpl) == H5D_CHUNKED
        if chunked, H5Pget_chunk(dcpl, 4, &chunk) != 4 {
            throw site.failure(imagesPath, "cannot read the chunk shape")
        }
        let filters = chunked ? try reader.filters(dcpl, imagesPath) : []
        let compression: StackCompression
        switch filters.map(\.id) {
        case []: compression = .none
        case [Int(H5LZFFilter.id)]: compression = .lzf
        case [Int(H5Z_FILTER_DEFLATE)]: compression = .gzip(level: Int(filters[0].clientData.first ?? 4))
        default:
            throw site.layoutError(
                imagesPath, "unsupported filter pipeline \(filters.map { "\($0.name) (\($0.id))" }); expected none, lzf or gzip")
        }
        let f16 = handles.keep(try site.check(lmd_h5t_ieee_f16le(), imagesPath, "cannot create the float16 type"), .datatype)
        let isLittleEndianF16 = H5Tequal(type, f16) > 0
        let direct = allowDirect && chunked && isLittleEndianF16
            && chunk == [1, 1, hsize_t(imageSize), hsize_t(imageSize)]

        // Cell ids.
        let ids = try reader.openDataset(file, cellIDsPath)
        let idSpace = handles.keep(try site.check(H5Dget_space(ids), cellIDsPath, "cannot get the dataspace"), .dataspace)
        let idShape = try reader.shape(idSpace, cellIDsPath)
        guard idShape == [cellCount] else {
            throw site.layoutError(cellIDsPath, "expected \(cellCount) cell ids (one per image row), found shape \(idShape)")
        }
        let idType = handles.keep(try site.check(H5Dget_type(ids), cellIDsPath, "cannot get the datatype"), .datatype)
        guard H5Tget_class(idType) == H5T_INTEGER else {
            throw site.layoutError(cellIDsPath, "expected integer cell ids, found \(try reader.typeSummary(idType, cellIDsPath))")
        }
        var cellIDs = [UInt64](repeating: 0, count: max(cellCount, 1))
        try site.check(
            H5Dread(ids, lmd_h5t_native_uint64(), lmd_h5s_all(), lmd_h5s_all(), lmd_h5p_default(), &cellIDs),
            cellIDsPath, "cannot read the cell ids")
        cellIDs.removeLast(cellIDs.count - cellCount)

        let layout = CellStackLayout(
            maskNames: Array(names.prefix(maskCount)), imageChannelNames: Array(names.dropFirst(maskCount)),
            imageSize: imageSize, normalization: normalization,
            normalizationLower: range[0], normalizationUpper: range[1], compression: compression)

        // Keep the file and the image dataset open past this scope (the scope's handles drop
        // one reference each when it ends).
        try site.check(H5Iinc_ref(file), "/", "cannot keep the file open")
        guard H5Iinc_ref(images) >= 0 else {
            let error = site.failure(imagesPath, "cannot keep the dataset open")
            _ = H5Fclose(file)
            throw error
        }
        let (keptFile, keptImages) = (file, images)
        return Opened(file: keptFile, images: keptImages, layout: layout, cellIDs: cellIDs, direct: direct)
    }

    private static func stringsAttribute(
        _ reader: H5ObjectReader, _ object: hid_t, _ name: String, count: Int, site: H5Site
    ) throws(SingleCellError) -> [String] {
        let where_ = "\(imagesPath) @\(name)"
        guard let attribute = try reader.attribute(object, name, path: imagesPath) else {
            throw site.layoutError(where_, "attribute is missing")
        }
        guard case .strings(let values) = attribute.value else {
            throw site.layoutError(where_, "expected strings, found \(attribute.type)")
        }
        guard values.count == count else {
            throw site.layoutError(where_, "expected \(count) entries (one per channel), found \(values.count)")
        }
        return values
    }

    // MARK: Reading stacks

    /// The stack of row `row`: `layout.valuesPerCell` float16 values, `[channel][y][x]`.
    ///
    /// - Throws: ``SingleCellError`` with code `invalidParameter` for a row out of range,
    ///   `hdf5` when a chunk cannot be read or decoded (the message names row and channel).
    public func stack(row: Int) throws(SingleCellError) -> [Float16] {
        var values = [Float16](repeating: 0, count: layout.valuesPerCell)
        try values.withUnsafeMutableBufferPointer { buffer throws(SingleCellError) in
            try readStack(row: row, into: buffer)
        }
        return values
    }

    /// Reads the stack of row `row` into `buffer` (exactly `layout.valuesPerCell` values).
    ///
    /// - Throws: as ``stack(row:)``; `invalidInput` when `buffer` has the wrong size.
    public func readStack(row: Int, into buffer: UnsafeMutableBufferPointer<Float16>) throws(SingleCellError) {
        guard row >= 0, row < cellCount else {
            throw SingleCellError(
                code: .invalidParameter, message: "row \(row) is out of range 0..<\(cellCount)",
                context: .init(path: path, object: Self.imagesPath))
        }
        guard buffer.count == layout.valuesPerCell else {
            throw SingleCellError(
                code: .invalidInput, message: "buffer holds \(buffer.count) values, a stack has \(layout.valuesPerCell)",
                context: .init(path: path, object: Self.imagesPath))
        }
        if directChunks {
            try readChunks(row: row, into: buffer)
        } else {
            try readThroughLibrary(row: row, into: buffer)
        }
    }

    /// Fetches the stored chunks of `row` under the lock, decodes them outside it. Rows with an
    /// unallocated chunk (never written) fall back to `H5Dread`, which applies the fill value.
    private func readChunks(row: Int, into buffer: UnsafeMutableBufferPointer<Float16>) throws(SingleCellError) {
        let channels = layout.channelCount
        typealias Stored = (bytes: [UInt8], mask: UInt32)
        let stored: [Stored]? = try H5Library.locked { () throws(SingleCellError) -> [Stored]? in
            var result: [Stored] = []
            result.reserveCapacity(channels)
            var offset: [hsize_t] = [hsize_t(row), 0, 0, 0]
            for channel in 0..<channels {
                offset[1] = hsize_t(channel)
                // H5Dget_chunk_storage_size looks the chunk up in the index; libhdf5 1.10's
                // H5Dget_chunk_info_by_coord walks every chunk of the dataset, which made reading
                // a 10k-cell file quadratic (70 s instead of seconds).
                // It fails for a chunk that was never written (not allocated); then H5Dread
                // supplies the fill value, or reports what is really wrong.
                var size: hsize_t = 0
                if H5Dget_chunk_storage_size(images, offset, &size) < 0 || size == 0 { return nil }
                // A stored chunk can be at most a little larger than the raw data (LZF's worst
                // case); anything beyond is a damaged index.
                guard size <= hsize_t(LZF.maxCompressedSize(chunkBytes) + 1024) else {
                    throw SingleCellError(
                        code: .hdf5, message: "chunk of row \(row), channel \(channel) claims \(size) stored bytes",
                        context: .init(path: path, object: Self.imagesPath))
                }
                var bytes = [UInt8](repeating: 0, count: Int(size))
                var mask: UInt32 = 0
                try site.check(
                    H5Dread_chunk(images, lmd_h5p_default(), offset, &mask, &bytes), Self.imagesPath,
                    "cannot read the chunk of row \(row), channel \(channel)")
                result.append((bytes, mask))
            }
            return result
        }
        guard let stored else {
            try readThroughLibrary(row: row, into: buffer)
            return
        }
        let raw = UnsafeMutableRawBufferPointer(buffer)
        for (channel, chunk) in stored.enumerated() {
            let destination = UnsafeMutableRawBufferPointer(rebasing: raw[(channel * chunkBytes)..<((channel + 1) * chunkBytes)])
            let compression = layout.compression
            let decoded = chunk.bytes.withUnsafeBytes { source in
                Result { () throws(H5SCChunkCodec.DecodeFailure) in
                    try H5SCChunkCodec.decode(source, filterMask: chunk.mask, compression: compression, into: destination)
                }
            }
            if case .failure(let error) = decoded {
                throw SingleCellError(
                    code: .hdf5, message: "row \(row), channel \(channel): \(error.message)",
                    context: .init(path: path, object: Self.imagesPath))
            }
        }
        #if _endian(big)
            for index in buffer.indices { buffer[index] = Float16(bitPattern: buffer[index].bitPattern.byteSwapped) }
        #endif
    }

    /// Reads `row` with `H5Dread` (hyperslab selection, libhdf5 runs the filters and converts
    /// to native float16).
    private func readThroughLibrary(row: Int, into buffer: UnsafeMutableBufferPointer<Float16>) throws(SingleCellError) {
        let size = layout.imageSize
        try H5Library.withHandles { handles throws(SingleCellError) in
            let object = Self.imagesPath
            let fileSpace = handles.keep(try site.check(H5Dget_space(images), object, "cannot get the dataspace"), .dataspace)
            var start: [hsize_t] = [hsize_t(row), 0, 0, 0]
            var count: [hsize_t] = [1, hsize_t(layout.channelCount), hsize_t(size), hsize_t(size)]
            try site.check(
                H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &count, nil), object, "cannot select row \(row)")
            var memoryDims: [hsize_t] = [hsize_t(buffer.count)]
            let memorySpace = handles.keep(
                try site.check(H5Screate_simple(1, &memoryDims, nil), object, "cannot create the memory dataspace"), .dataspace)
            let memoryType = handles.keep(try site.check(lmd_h5t_ieee_f16le(), object, "cannot create the float16 type"), .datatype)
            #if _endian(big)
                try site.check(H5Tset_order(memoryType, H5T_ORDER_BE), object, "cannot make the float16 type big-endian")
            #endif
            try site.check(
                H5Dread(images, memoryType, memorySpace, fileSpace, lmd_h5p_default(), buffer.baseAddress), object,
                "cannot read row \(row)")
        }
    }

    deinit {
        let images = images
        let file = file
        H5Library.lockedNoThrow {
            _ = H5Dclose(images)
            _ = H5Fclose(file)
        }
    }
}
