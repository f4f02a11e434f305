import CHDF5
import Foundation

/// The process-wide gate to libhdf5.
///
/// Debian's libhdf5 is the serial build: its global state (open-file list, metadata caches,
/// identifier tables, error stacks, registered filters) must never be touched by two threads at
/// once. Every `H5*` call in SingleCell therefore runs inside ``locked(_:)``, which holds one
/// process-wide lock, makes sure the library is initialised (LZF filter registered) and keeps
/// HDF5's automatic error printing to stderr switched off (HDF5 errors become
/// ``SingleCellError``s instead). Work that needs no HDF5 call (compressing and decompressing
/// chunks) happens outside the lock.
///
/// The lock is not re-entrant: code running inside `locked` must not call `locked` again. The
/// LZF filter callbacks run inside HDF5 calls (already under the lock) and touch only their
/// buffers.
enum H5Library {
    private static let lock = NSLock()

    /// Registers the LZF filter once (runs on first use, under the lock).
    nonisolated(unsafe) private static var initialised = false

    /// Runs `body` with exclusive access to libhdf5.
    static func locked<Result>(_ body: () throws(SingleCellError) -> Result) throws(SingleCellError) -> Result {
        lock.lock()
        defer { lock.unlock() }
        // Error printing is per thread in thread-safe builds of the library: switch it off
        // for whichever thread is calling now (cheap).
        lmd_h5_silence_errors()
        if !initialised {
            try H5LZFFilter.register()
            initialised = true
        }
        return try body()
    }

    /// ``locked(_:)`` with a fresh ``H5Handles`` whose identifiers are all closed (still under
    /// the lock) when `body` returns or throws.
    static func withHandles<Result>(_ body: (H5Handles) throws(SingleCellError) -> Result) throws(SingleCellError) -> Result {
        try locked { () throws(SingleCellError) -> Result in
            let handles = H5Handles()
            defer { handles.closeAll() }
            return try body(handles)
        }
    }

    /// Like ``locked(_:)`` for work that cannot fail (closing handles in `deinit`).
    static func lockedNoThrow(_ body: () -> Void) {
        lock.lock()
        defer { lock.unlock() }
        lmd_h5_silence_errors()
        body()
    }

    /// The HDF5 error stack of the calling thread as one short phrase (the failing API step and
    /// its innermost cause), cleared afterwards. Call under the lock, right after a failure.
    static func takeErrorText() -> String {
        var summary = lmd_h5_error_summary()
        lmd_h5_take_error(&summary)
        guard summary.count > 0 else { return "" }
        let first = withUnsafeBytes(of: &summary.first) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let last = withUnsafeBytes(of: &summary.last) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if first.isEmpty || first == last { return last }
        return "\(first) (\(last))"
    }
}

/// Error construction for one file: every HDF5 failure names the file, the HDF5 object and the
/// operation, plus libhdf5's own explanation. Use under the ``H5Library`` lock.
struct H5Site {
    /// The file concerned.
    let path: String

    /// An HDF5 failure of `operation` on `object`, with libhdf5's error text appended.
    func failure(_ object: String, _ operation: String) -> SingleCellError {
        let detail = H5Library.takeErrorText()
        let message = detail.isEmpty ? operation : "\(operation): \(detail)"
        return SingleCellError(code: .hdf5, message: message, context: .init(path: path, object: object))
    }

    /// A layout problem (object missing or not what an `.h5sc` file has).
    func layoutError(_ object: String, _ message: String) -> SingleCellError {
        _ = H5Library.takeErrorText()
        return SingleCellError(code: .hdf5, message: message, context: .init(path: path, object: object))
    }

    /// Returns `id` when it is a valid identifier, else throws ``failure(_:_:)``.
    @discardableResult
    func check(_ id: hid_t, _ object: String, _ operation: @autoclosure () -> String) throws(SingleCellError) -> hid_t {
        guard id >= 0 else { throw failure(object, operation()) }
        return id
    }

    /// Throws ``failure(_:_:)`` when `status` is negative.
    func check(_ status: herr_t, _ object: String, _ operation: @autoclosure () -> String) throws(SingleCellError) {
        guard status >= 0 else { throw failure(object, operation()) }
    }
}

/// Identifiers opened during one locked operation, closed together when it ends (in reverse
/// order, by the right `H5?close`). Use under the ``H5Library`` lock and call ``closeAll()``
/// before leaving it (``H5Library/withHandles(_:)`` does).
final class H5Handles {
    enum Kind { case file, group, dataset, attribute, datatype, dataspace, plist, object }
    private var open: [(hid_t, Kind)] = []

    /// Adds `id` to the handles closed by ``closeAll()`` and returns it.
    @discardableResult
    func keep(_ id: hid_t, _ kind: Kind) -> hid_t {
        if id >= 0 { open.append((id, kind)) }
        return id
    }

    /// Closes `id` now (and forgets it) — for handles that must close before the others.
    func close(_ id: hid_t) {
        guard let index = open.lastIndex(where: { $0.0 == id }) else { return }
        let (handle, kind) = open.remove(at: index)
        Self.close(handle, kind)
    }

    /// Closes everything still open, newest first.
    func closeAll() {
        while let (id, kind) = open.popLast() { Self.close(id, kind) }
    }

    /// Closes one identifier with the matching call; failures are ignored (nothing to recover).
    static func close(_ id: hid_t, _ kind: Kind) {
        switch kind {
        case .file: _ = H5Fclose(id)
        case .group: _ = H5Gclose(id)
        case .dataset: _ = H5Dclose(id)
        case .attribute: _ = H5Aclose(id)
        case .datatype: _ = H5Tclose(id)
        case .dataspace: _ = H5Sclose(id)
        case .plist: _ = H5Pclose(id)
        case .object: _ = H5Oclose(id)
        }
    }
}
