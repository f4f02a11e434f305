import CHDF5
import Foundation

/// Writes scPortrait's `single_cells.h5sc`: an AnnData-compatible HDF5 file whose
/// `obsm/single_cell_images` dataset holds one float16 stack `[channel][y][x]` per cell,
/// chunked `(1, 1, S, S)` and compressed like scPortrait's (LZF by default), plus the
/// `obs`/`var`/`uns` tables and attributes scPortrait and anndata expect.
///
/// Rows are streamed: ``write(row:cellID:stack:)`` compresses one cell's chunks in the calling
/// thread and stores them at once with a direct chunk write, so only the stacks being written
/// at this moment are in memory. Many threads may call it at the same time, for rows in any
/// order; ``finish()`` then checks that every row arrived, writes the cell ids and closes the
/// file.
///
/// ```swift
/// let writer = try H5SCWriter(path: "single_cells.h5sc", layout: layout, cellCount: ids.count)
/// DispatchQueue.concurrentPerform(iterations: ids.count) { row in
///     try? writer.write(row: row, cellID: ids[row], stack: stacks[row])
/// }
/// try writer.finish()
/// ```
///
/// A class, not a struct: it owns open HDF5 handles (file and datasets) that must be closed
/// exactly once (in ``finish()``, or in `deinit` when the writer is dropped unfinished — the
/// file is then incomplete). The writing calls block on file I/O; call them from worker
/// threads rather than the cooperative pool.
public final class H5SCWriter: @unchecked Sendable {
    // @unchecked Sendable: the HDF5 handles are only used under the process-wide HDF5 lock
    // (`H5Library.locked`), and the row bookkeeping (`state`) only under `stateLock`.

    /// The file being written.
    public let path: String
    /// The stack layout (channels, image size, normalization, compression).
    public let layout: CellStackLayout
    /// The number of rows (cells) the file holds.
    public let cellCount: Int

    private let site: H5Site
    private let codec: H5SCChunkCodec
    private let chunkBytes: Int

    private struct Handles {
        var file: hid_t = -1
        var images: hid_t = -1
        var cellIDs: hid_t = -1
    }
    /// Open identifiers; read and changed only under the HDF5 lock.
    private var handles = Handles()

    private enum RowState: UInt8 { case empty, writing, written }
    private struct State {
        var rows: [RowState]
        var cellIDs: [UInt64]
        var written = 0
        var finished = false
    }
    private let stateLock = NSLock()
    private var state: State

    /// Creates (or truncates) `path` with the complete `.h5sc` layout for `cellCount` cells.
    ///
    /// - Parameters:
    ///   - path: the file to create; an existing file is replaced.
    ///   - layout: channel names, image size, normalization and compression of the stacks.
    ///   - cellCount: the number of rows; at least 1 (HDF5 cannot chunk an empty dataset).
    /// - Throws: ``SingleCellError`` with code `invalidParameter` for an unusable layout or
    ///   count, `hdf5` when the file or an object cannot be created (a file this call created is
    ///   removed again; a file that could not be truncated, e.g. because it is open, is kept).
    public convenience init(path: String, layout: CellStackLayout, cellCount: Int) throws(SingleCellError) {
        try self.init(path: path, layout: layout, cellCount: cellCount, omitting: [])
    }

    /// Test seam: creates the layout without the objects named in `omitted` (any of
    /// ``OmittableObject``), to produce files that are HDF5 but not valid `.h5sc`.
    init(path: String, layout: CellStackLayout, cellCount: Int, omitting omitted: Set<OmittableObject>) throws(SingleCellError) {
        let site = H5Site(path: path)
        try Self.validate(layout: layout, cellCount: cellCount, path: path)
        self.path = path
        self.layout = layout
        self.cellCount = cellCount
        self.site = site
        chunkBytes = layout.imageSize * layout.imageSize * MemoryLayout<Float16>.size
        codec = H5SCChunkCodec(compression: layout.compression, chunkBytes: chunkBytes, chunksPerStack: layout.channelCount)
        state = State(rows: Array(repeating: .empty, count: cellCount), cellIDs: Array(repeating: 0, count: cellCount))
        handles = try H5Library.locked { () throws(SingleCellError) -> Handles in
            try Self.create(site: site, layout: layout, cellCount: cellCount, omitted: omitted)
        }
    }

    private static func validate(layout: CellStackLayout, cellCount: Int, path: String) throws(SingleCellError) {
        func invalid(_ message: String) -> SingleCellError {
            SingleCellError(code: .invalidParameter, message: message, context: .init(path: path))
        }
        guard cellCount >= 1 else { throw invalid("cellCount must be at least 1, got \(cellCount)") }
        guard layout.channelCount >= 1 else { throw invalid("the layout has no channels") }
        guard layout.imageSize >= 1 else { throw invalid("imageSize must be at least 1, got \(layout.imageSize)") }
        // HDF5 chunks are limited to 4 GiB; keep well below.
        guard layout.imageSize <= 16384 else { throw invalid("imageSize \(layout.imageSize) is larger than 16384") }
        if case .gzip(let level) = layout.compression, !(0...9).contains(level) {
            throw invalid("gzip level must be 0…9, got \(level)")
        }
        guard layout.normalizationLower.isFinite, layout.normalizationUpper.isFinite else {
            throw invalid("normalization range must be finite")
        }
    }

    /// Objects the test seam can leave out.
    enum OmittableObject: Hashable {
        case rootEncoding, cellIDs, channelNames, images
    }

    /// Builds every object of the layout; returns the handles kept open for writing.
    private static func create(
        site: H5Site, layout: CellStackLayout, cellCount: Int, omitted: Set<OmittableObject>
    ) throws(SingleCellError) -> Handles {
        let scoped = H5Handles()
        defer { scoped.closeAll() }
        let build = H5Builder(site: site, handles: scoped)
        let file = try site.check(
            H5Fcreate(site.path, lmd_h5f_acc_trunc(), lmd_h5p_default(), lmd_h5p_default()), "/", "cannot create the file")
        var kept = Handles(file: file)
        do throws(SingleCellError) {
            if !omitted.contains(.rootEncoding) {
                try build.encodingAttributes(file, path: "/", type: "anndata", version: "0.1.0")
            }
            for name in ["layers", "obsp", "varm", "varp"] {
                _ = try build.group(file, name, path: "/" + name, encoding: "dict", version: "0.1.0")
            }

            // obs: index "0"…"n-1" and the cell ids (written by finish()).
            let obs = try build.group(file, "obs", path: "/obs", encoding: "dataframe", version: "0.2.0")
            try build.stringAttribute(obs, "_index", "_index", path: "/obs")
            try build.stringArrayAttribute(obs, "column-order", ["scportrait_cell_id"], path: "/obs")
            try build.stringArrayDataset(obs, "_index", (0..<cellCount).map { String($0) }, path: "/obs/_index")
            if !omitted.contains(.cellIDs) {
                kept.cellIDs = try site.check(
                    H5Dcreate2(obs, "scportrait_cell_id", lmd_h5t_std_u64le(), try build.simpleSpace([cellCount], "/obs/scportrait_cell_id"),
                               lmd_h5p_default(), lmd_h5p_default(), lmd_h5p_default()),
                    "/obs/scportrait_cell_id", "cannot create the dataset")
                try build.encodingAttributes(kept.cellIDs, path: "/obs/scportrait_cell_id", type: "array", version: "0.2.0")
            }

            // obsm/single_cell_images.
            let obsm = try build.group(file, "obsm", path: "/obsm", encoding: "dict", version: "0.1.0")
            if !omitted.contains(.images) {
                kept.images = try createImages(
                    obsm, build: build, layout: layout, cellCount: cellCount, withChannelNames: !omitted.contains(.channelNames))
            }

            // uns/single_cell_images.
            let uns = try build.group(file, "uns", path: "/uns", encoding: "dict", version: "0.1.0")
            let info = try build.group(uns, "single_cell_images", path: "/uns/single_cell_images", encoding: "dict", version: "0.1.0")
            try writeUnsScalars(info, build: build, layout: layout, cellCount: cellCount)

            // var: one row per channel.
            let vars = try build.group(file, "var", path: "/var", encoding: "dataframe", version: "0.2.0")
            try build.stringAttribute(vars, "_index", "_index", path: "/var")
            try build.stringArrayAttribute(vars, "column-order", ["channels", "channel_mapping"], path: "/var")
            try build.stringArrayDataset(vars, "_index", (0..<layout.channelCount).map { String($0) }, path: "/var/_index")
            try build.stringArrayDataset(vars, "channels", layout.channelNames, path: "/var/channels")
            // A pandas categorical: sorted unique categories, int8 codes, ordered = False.
            let categories = Array(Set(layout.channelMapping)).sorted()
            let mapping = try build.group(vars, "channel_mapping", path: "/var/channel_mapping", encoding: "categorical", version: "0.2.0")
            try build.boolAttribute(mapping, "ordered", false, path: "/var/channel_mapping")
            try build.stringArrayDataset(mapping, "categories", categories, path: "/var/channel_mapping/categories")
            let codes = layout.channelMapping.map { Int8(categories.firstIndex(of: $0) ?? 0) }
            try build.int8ArrayDataset(mapping, "codes", codes, path: "/var/channel_mapping/codes")
            return kept
        } catch {
            if kept.images >= 0 { _ = H5Dclose(kept.images) }
            if kept.cellIDs >= 0 { _ = H5Dclose(kept.cellIDs) }
            scoped.closeAll()
            _ = H5Fclose(file)
            // We created this file and nothing useful is in it: remove it. (When H5Fcreate
            // itself fails, above, an existing file is left alone.)
            unlink(site.path)
            throw error
        }
    }

    private static func createImages(
        _ obsm: hid_t, build: H5Builder, layout: CellStackLayout, cellCount: Int, withChannelNames: Bool
    ) throws(SingleCellError) -> hid_t {
        let site = build.site
        let object = "/obsm/single_cell_images"
        let size = layout.imageSize
        let dcpl = build.handles.keep(try site.check(H5Pcreate(lmd_h5p_dataset_create()), object, "cannot create dataset properties"), .plist)
        var chunk: [hsize_t] = [1, 1, hsize_t(size), hsize_t(size)]
        try site.check(H5Pset_chunk(dcpl, 4, &chunk), object, "cannot set the chunk shape")
        switch layout.compression {
        case .lzf: try site.check(H5LZFFilter.add(to: dcpl), object, "cannot add the LZF filter")
        case .gzip(let level): try site.check(H5Pset_deflate(dcpl, UInt32(level)), object, "cannot add the deflate filter")
        case .none: break
        }
        let type = try build.float16(object)
        let space = try build.simpleSpace([cellCount, layout.channelCount, size, size], object)
        let images = try site.check(
            H5Dcreate2(obsm, "single_cell_images", type, space, lmd_h5p_default(), dcpl, lmd_h5p_default()),
            object, "cannot create the dataset")
        do throws(SingleCellError) {
            try build.byteStringArrayAttribute(images, "channel_mapping", layout.channelMapping, path: object)
            if withChannelNames {
                try build.byteStringArrayAttribute(images, "channel_names", layout.channelNames, path: object)
            }
            try build.stringAttribute(images, "compression", layout.compression.name, path: object)
            try build.encodingAttributes(images, path: object, type: "array", version: "0.2.0")
            try build.int64Attribute(images, "image_size", Int64(size), path: object)
            try build.int64Attribute(images, "n_cells", Int64(cellCount), path: object)
            try build.int64Attribute(images, "n_channels", Int64(layout.channelCount), path: object)
            try build.int64Attribute(images, "n_image_channels", Int64(layout.imageChannelNames.count), path: object)
            try build.int64Attribute(images, "n_masks", Int64(layout.maskNames.count), path: object)
            try build.boolAttribute(images, "normalization", layout.normalization, path: object)
            try build.float64ArrayAttribute(
                images, "normalization_range", [layout.normalizationLower, layout.normalizationUpper], path: object)
        } catch {
            _ = H5Dclose(images)
            throw error
        }
        return images
    }

    private static func writeUnsScalars(_ group: hid_t, build: H5Builder, layout: CellStackLayout, cellCount: Int) throws(SingleCellError) {
        let base = "/uns/single_cell_images/"
        try build.stringArrayDataset(group, "channel_mapping", layout.channelMapping, path: base + "channel_mapping")
        try build.stringArrayDataset(group, "channel_names", layout.channelNames, path: base + "channel_names")
        try build.stringScalarDataset(group, "compression", layout.compression.name, path: base + "compression")
        let integers: [(String, Int64)] = [
            ("image_size", Int64(layout.imageSize)), ("n_cells", Int64(cellCount)), ("n_channels", Int64(layout.channelCount)),
            ("n_image_channels", Int64(layout.imageChannelNames.count)), ("n_masks", Int64(layout.maskNames.count)),
        ]
        for (name, value) in integers {
            var value = value
            try build.numericScalarDataset(
                group, name, fileType: lmd_h5t_std_i64le(), memoryType: lmd_h5t_native_int64(), value: &value, path: base + name)
        }
        let boolType = try build.boolType(base + "normalization")
        var flag: Int8 = layout.normalization ? 1 : 0
        try build.numericScalarDataset(group, "normalization", fileType: boolType, memoryType: boolType, value: &flag, path: base + "normalization")
        for (name, value) in [("normalization_range_lower", layout.normalizationLower), ("normalization_range_upper", layout.normalizationUpper)] {
            var value = value
            try build.numericScalarDataset(
                group, name, fileType: lmd_h5t_ieee_f64le(), memoryType: lmd_h5t_native_double(), value: &value, path: base + name)
        }
    }

    // MARK: Writing rows

    /// Writes one cell's stack into row `row`.
    ///
    /// The stack's `C` chunks are compressed in the calling thread (without holding any lock),
    /// then stored with direct chunk writes under the HDF5 lock. Safe to call from many threads
    /// at once; rows may come in any order, each exactly once.
    ///
    /// - Parameters:
    ///   - row: the row, `0 ..< cellCount`.
    ///   - cellID: the cell's id (mask label), stored in `obs/scportrait_cell_id[row]`.
    ///   - stack: `layout.valuesPerCell` values, channel-major then row-major (`[c][y][x]`).
    /// - Throws: ``SingleCellError`` with code `invalidParameter` for a row out of range, a row
    ///   already written (or being written), or a writer already finished; `invalidInput` for a
    ///   stack of the wrong size; `hdf5` when the chunk write fails (the row may be retried).
    public func write(row: Int, cellID: UInt64, stack: UnsafeBufferPointer<Float16>) throws(SingleCellError) {
        guard stack.count == layout.valuesPerCell else {
            throw SingleCellError(
                code: .invalidInput,
                message: "stack for row \(row) has \(stack.count) values, expected \(layout.valuesPerCell) (\(layout.channelCount) × \(layout.imageSize) × \(layout.imageSize))",
                context: .init(path: path, object: "/obsm/single_cell_images"))
        }
        try claim(row: row)
        do throws(SingleCellError) {
            try store(row: row, stack: stack)
        } catch {
            release(row: row, cellID: nil)
            throw error
        }
        release(row: row, cellID: cellID)
    }

    /// ``write(row:cellID:stack:)`` for an array.
    public func write(row: Int, cellID: UInt64, stack: [Float16]) throws(SingleCellError) {
        try stack.withUnsafeBufferPointer { buffer throws(SingleCellError) in
            try write(row: row, cellID: cellID, stack: buffer)
        }
    }

    private func claim(row: Int) throws(SingleCellError) {
        stateLock.lock()
        defer { stateLock.unlock() }
        let context = SingleCellError.Context(path: path, object: "/obsm/single_cell_images")
        guard !state.finished else {
            throw SingleCellError(code: .invalidParameter, message: "the writer is finished; row \(row) cannot be written", context: context)
        }
        guard row >= 0, row < cellCount else {
            throw SingleCellError(code: .invalidParameter, message: "row \(row) is out of range 0..<\(cellCount)", context: context)
        }
        guard state.rows[row] == .empty else {
            throw SingleCellError(code: .invalidParameter, message: "row \(row) was already written", context: context)
        }
        state.rows[row] = .writing
    }

    /// Marks `row` written (with its id) or, when `cellID` is nil, free again after a failure.
    private func release(row: Int, cellID: UInt64?) {
        stateLock.lock()
        defer { stateLock.unlock() }
        if let cellID {
            state.rows[row] = .written
            state.cellIDs[row] = cellID
            state.written += 1
        } else {
            state.rows[row] = .empty
        }
    }

    private func store(row: Int, stack: UnsafeBufferPointer<Float16>) throws(SingleCellError) {
        let scratch = try codec.takeScratch()
        defer { codec.returnScratch(scratch) }
        let channels = layout.channelCount
        let chunkBytes = chunkBytes
        var encoded: [H5SCChunkCodec.Encoded] = []
        encoded.reserveCapacity(channels)
        func encodeAll(_ source: UnsafeRawBufferPointer) {
            for channel in 0..<channels {
                let raw = UnsafeRawBufferPointer(rebasing: source[(channel * chunkBytes)..<((channel + 1) * chunkBytes)])
                encoded.append(codec.encode(raw, index: channel, scratch: scratch))
            }
        }
        #if _endian(big)
            // The dataset is little-endian on disk and direct chunk writes bypass conversion.
            let swapped = stack.map { Float16(bitPattern: $0.bitPattern.byteSwapped) }
            try swapped.withUnsafeBytes { source throws(SingleCellError) in
                encodeAll(source)
                try storeEncoded(row: row, encoded)
            }
        #else
            encodeAll(UnsafeRawBufferPointer(stack))
            try storeEncoded(row: row, encoded)
        #endif
    }

    /// Writes the encoded chunks of `row` (their bytes must stay valid during the call).
    private func storeEncoded(row: Int, _ encoded: [H5SCChunkCodec.Encoded]) throws(SingleCellError) {
        let channels = encoded.count
        try H5Library.locked { () throws(SingleCellError) in
            let images = handles.images
            guard images >= 0 else {
                throw SingleCellError(code: .hdf5, message: "the file is closed", context: .init(path: path, object: "/obsm/single_cell_images"))
            }
            var offset: [hsize_t] = [hsize_t(row), 0, 0, 0]
            for channel in 0..<channels {
                offset[1] = hsize_t(channel)
                let chunk = encoded[channel]
                try site.check(
                    H5Dwrite_chunk(images, lmd_h5p_default(), chunk.filterMask, offset, chunk.bytes.count, chunk.bytes.baseAddress),
                    "/obsm/single_cell_images", "cannot write the chunk of row \(row), channel \(channel)")
            }
        }
    }

    // MARK: Finishing

    /// Checks that every row was written, writes `obs/scportrait_cell_id`, flushes and closes
    /// the file. After it returns the writer accepts no more rows.
    ///
    /// - Throws: ``SingleCellError`` with code `invalidInput` naming how many rows are missing
    ///   and the first of them (the writer stays open, so the missing rows can still be
    ///   written); `invalidParameter` when already finished; `hdf5` when writing or closing fails.
    public func finish() throws(SingleCellError) {
        let ids: [UInt64]
        stateLock.lock()
        if state.finished {
            stateLock.unlock()
            throw SingleCellError(code: .invalidParameter, message: "the writer is already finished", context: .init(path: path))
        }
        if state.written != cellCount {
            let missing = cellCount - state.written
            let first = state.rows.firstIndex { $0 != .written } ?? 0
            stateLock.unlock()
            throw SingleCellError(
                code: .invalidInput,
                message: "\(missing) of \(cellCount) rows were never written (first missing row: \(first))",
                context: .init(path: path, object: "/obsm/single_cell_images"))
        }
        state.finished = true
        ids = state.cellIDs
        stateLock.unlock()

        try H5Library.locked { () throws(SingleCellError) in
            defer { closeHandles() }
            let object = "/obs/scportrait_cell_id"
            if handles.cellIDs >= 0 {
                try site.check(
                    H5Dwrite(handles.cellIDs, lmd_h5t_native_uint64(), lmd_h5s_all(), lmd_h5s_all(), lmd_h5p_default(), ids),
                    object, "cannot write the cell ids")
            }
            try site.check(H5Fflush(handles.file, H5F_SCOPE_LOCAL), "/", "cannot flush the file")
            if handles.images >= 0 {
                try site.check(H5Dclose(handles.images), "/obsm/single_cell_images", "cannot close the dataset")
                handles.images = -1
            }
            if handles.cellIDs >= 0 {
                try site.check(H5Dclose(handles.cellIDs), object, "cannot close the dataset")
                handles.cellIDs = -1
            }
            try site.check(H5Fclose(handles.file), "/", "cannot close the file")
            handles.file = -1
        }
    }

    /// Closes whatever is still open (under the HDF5 lock).
    private func closeHandles() {
        if handles.images >= 0 { _ = H5Dclose(handles.images) }
        if handles.cellIDs >= 0 { _ = H5Dclose(handles.cellIDs) }
        if handles.file >= 0 { _ = H5Fclose(handles.file) }
        handles = Handles()
    }

    deinit {
        H5Library.lockedNoThrow { closeHandles() }
    }
}
