internal import CTIFF
import Synchronization

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Messages libtiff reported for one open file.
///
/// libtiff calls back into C function pointers that cannot capture context, so the handle
/// passes this box as user data (`Unmanaged.passUnretained`); the handle keeps it alive for as
/// long as the `TIFF*` exists, including during `TIFFClose`.
final class TIFFDiagnostics {
    var errors: [String] = []
    var warnings: [String] = []

    /// Errors joined for a message, or a fallback when libtiff said nothing.
    var errorText: String {
        errors.isEmpty ? "libtiff reported no message" : "libtiff: " + errors.joined(separator: "; ")
    }
}

/// One open libtiff file. Owns the `TIFF*` and the diagnostics box.
///
/// Not `Sendable`: libtiff handles are not thread-safe; use one per task.
final class TIFFHandle {
    let path: String
    let diagnostics: TIFFDiagnostics
    private(set) var tif: OpaquePointer?
    /// The in-memory sink of an encoder handle (kept alive with the handle; see ``openEncoder``).
    private var sink: TIFFMemorySink?

    /// Largest single allocation libtiff may make for this file (hostile files declare huge
    /// tag arrays; libtiff checks this before allocating).
    static let maxSingleAllocation: tmsize_t = 512 << 20

    private init(path: String, tif: OpaquePointer, diagnostics: TIFFDiagnostics) {
        self.path = path
        self.tif = tif
        self.diagnostics = diagnostics
    }

    deinit {
        close()
    }

    /// Opens `path` with libtiff (`mode` as for `TIFFOpen`: `"rm"` to read without mmap,
    /// `"w"`/`"w8"` to write classic/BigTIFF). Nothing is printed; libtiff's messages end up in
    /// ``diagnostics`` and in the thrown error.
    static func open(
        path: String, mode: String, failure: MicroscopyIOError.Code
    ) throws(MicroscopyIOError) -> TIFFHandle {
        TIFFGlobalHandlers.installOnce()
        let diagnostics = TIFFDiagnostics()
        guard let options = TIFFOpenOptionsAlloc() else {
            throw MicroscopyIOError(code: failure, path: path, message: "libtiff could not allocate open options")
        }
        defer { TIFFOpenOptionsFree(options) }
        let box = Unmanaged.passUnretained(diagnostics).toOpaque()
        TIFFOpenOptionsSetErrorHandlerExtR(options, tiffErrorHandler, box)
        TIFFOpenOptionsSetWarningHandlerExtR(options, tiffWarningHandler, box)
        TIFFOpenOptionsSetMaxSingleMemAlloc(options, maxSingleAllocation)
        errno = 0
        guard let tif = TIFFOpenExt(path, mode, options) else {
            let err = errno
            var message = diagnostics.errorText
            if err != 0 { message += " (\(errorText(err)))" }
            throw MicroscopyIOError(code: failure, path: path, message: message)
        }
        return withExtendedLifetime(diagnostics) { TIFFHandle(path: path, tif: tif, diagnostics: diagnostics) }
    }

    /// Closes the file now (flushing pending writes); later calls do nothing. An encoder handle
    /// is discarded without writing its directory.
    func close() {
        if let tif {
            if sink != nil {
                TIFFCleanup(tif)
            } else {
                TIFFClose(tif)
            }
            self.tif = nil
        }
    }

    /// A write handle on an in-memory BigTIFF used only to run libtiff's encoders: bytes that
    /// libtiff writes while ``TIFFMemorySink/capturing`` is set are collected in `sink`, the rest
    /// (the header) are dropped. It is never closed with `TIFFClose`, so no directory is written.
    static func openEncoder(sink: TIFFMemorySink) throws(MicroscopyIOError) -> TIFFHandle {
        TIFFGlobalHandlers.installOnce()
        let diagnostics = TIFFDiagnostics()
        guard let options = TIFFOpenOptionsAlloc() else {
            throw MicroscopyIOError(
                code: .writeFailed, path: "<encoder>", message: "libtiff could not allocate options")
        }
        defer { TIFFOpenOptionsFree(options) }
        let box = Unmanaged.passUnretained(diagnostics).toOpaque()
        TIFFOpenOptionsSetErrorHandlerExtR(options, tiffErrorHandler, box)
        TIFFOpenOptionsSetWarningHandlerExtR(options, tiffWarningHandler, box)
        let client = Unmanaged.passUnretained(sink).toOpaque()
        guard
            let tif = TIFFClientOpenExt(
                "<encoder>", "w8", client, memoryRead, memoryWrite, memorySeek, memoryClose, memorySize, memoryMap,
                memoryUnmap, options)
        else {
            throw MicroscopyIOError(code: .writeFailed, path: "<encoder>", message: diagnostics.errorText)
        }
        let handle = TIFFHandle(path: "<encoder>", tif: tif, diagnostics: diagnostics)
        handle.sink = sink
        return handle
    }

    // MARK: Typed field access (libtiff's getters are C variadics; see CTIFF/shim.h)

    func u32(_ tag: Int32) -> UInt32? {
        var value: UInt32 = 0
        return lmdflow_tiff_get_u32(tif, UInt32(tag), &value) == 1 ? value : nil
    }

    func defaultedU16(_ tag: Int32) -> UInt16? {
        var value: UInt16 = 0
        return lmdflow_tiff_get_defaulted_u16(tif, UInt32(tag), &value) == 1 ? value : nil
    }

    func string(_ tag: Int32) -> String? {
        var value: UnsafePointer<CChar>?
        guard lmdflow_tiff_get_string(tif, UInt32(tag), &value) == 1, let value else { return nil }
        return String(cString: value)
    }

    func u16(_ tag: Int32) -> UInt16? {
        var value: UInt16 = 0
        return lmdflow_tiff_get_u16(tif, UInt32(tag), &value) == 1 ? value : nil
    }

    func defaultedU32(_ tag: Int32) -> UInt32? {
        var value: UInt32 = 0
        return lmdflow_tiff_get_defaulted_u32(tif, UInt32(tag), &value) == 1 ? value : nil
    }

    func float(_ tag: Int32) -> Float? {
        var value: Float = 0
        return lmdflow_tiff_get_float(tif, UInt32(tag), &value) == 1 ? value : nil
    }

    /// The current directory's SubIFD offsets (empty when it has none).
    func subIFDOffsets() -> [UInt64] {
        var count: UInt16 = 0
        var offsets: UnsafePointer<UInt64>?
        guard lmdflow_tiff_get_subifds(tif, &count, &offsets) == 1, let offsets, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: offsets, count: Int(count)))
    }

    /// The current directory's ExtraSamples kinds (empty when it has none).
    func extraSamples() -> [UInt16] {
        var count: UInt16 = 0
        var kinds: UnsafePointer<UInt16>?
        guard lmdflow_tiff_get_extrasamples(tif, &count, &kinds) == 1, let kinds, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: kinds, count: Int(count)))
    }

    @discardableResult
    func set(_ tag: Int32, int value: Int32) -> Bool { lmdflow_tiff_set_int(tif, UInt32(tag), value) == 1 }
    @discardableResult
    func set(_ tag: Int32, double value: Double) -> Bool { lmdflow_tiff_set_double(tif, UInt32(tag), value) == 1 }
    /// Declares `count` SubIFDs for the directory being written; the next `count` directories
    /// written become them (libtiff patches the offsets).
    @discardableResult
    func setSubIFDCount(_ count: Int) -> Bool {
        let placeholders = [UInt64](repeating: 0, count: count)
        return placeholders.withUnsafeBufferPointer {
            lmdflow_tiff_set_subifds(tif, UInt16(count), $0.baseAddress) == 1
        }
    }

    @discardableResult
    func set(_ tag: Int32, u16 value: UInt16) -> Bool { lmdflow_tiff_set_u16(tif, UInt32(tag), value) == 1 }
    @discardableResult
    func set(_ tag: Int32, u32 value: UInt32) -> Bool { lmdflow_tiff_set_u32(tif, UInt32(tag), value) == 1 }
    @discardableResult
    func set(_ tag: Int32, string value: String) -> Bool { lmdflow_tiff_set_string(tif, UInt32(tag), value) == 1 }
}

/// Formats a libtiff message (`module: text`) from its printf format and `va_list`.
private func formatTIFFMessage(
    _ module: UnsafePointer<CChar>?, _ format: UnsafePointer<CChar>?, _ arguments: CVaListPointer?
) -> String {
    var text = ""
    if let format {
        if let arguments {
            var buffer = [CChar](repeating: 0, count: 1024)
            _ = buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
            text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            text = String(cString: format)
        }
    }
    if let module {
        return String(cString: module) + ": " + text
    }
    return text
}

/// Per-file error handler: records the message in the file's ``TIFFDiagnostics``. Returning 1
/// tells libtiff not to call its global handler (which would print to stderr).
private let tiffErrorHandler: TIFFErrorHandlerExtR = { _, userData, module, format, arguments in
    let message = formatTIFFMessage(module, format, arguments)
    if let userData {
        Unmanaged<TIFFDiagnostics>.fromOpaque(userData).takeUnretainedValue().errors.append(message)
    } else {
        TIFFGlobalHandlers.record(message)
    }
    return 1
}

/// Per-file warning handler: records the message; never printed.
private let tiffWarningHandler: TIFFErrorHandlerExtR = { _, userData, module, format, arguments in
    let message = formatTIFFMessage(module, format, arguments)
    if let userData {
        Unmanaged<TIFFDiagnostics>.fromOpaque(userData).takeUnretainedValue().warnings.append(message)
    } else {
        TIFFGlobalHandlers.record(message)
    }
    return 1
}

/// libtiff's process-wide handlers, replaced once so that no message can ever reach stderr
/// even from a code path that bypasses the per-file handlers. MicroscopyIO is the only module
/// that uses libtiff (house rule), so owning this global state is safe. Messages that arrive
/// here are counted, which the tests check stays zero.
package enum TIFFGlobalHandlers {
    private static let installed: Bool = {
        TIFFSetErrorHandler { module, format, arguments in
            TIFFGlobalHandlers.record(formatTIFFMessage(module, format, arguments))
        }
        TIFFSetWarningHandler { module, format, arguments in
            TIFFGlobalHandlers.record(formatTIFFMessage(module, format, arguments))
        }
        return true
    }()

    private static let leaked = Mutex<[String]>([])

    static func installOnce() {
        _ = installed
    }

    static func record(_ message: String) {
        leaked.withLock { $0.append(message) }
    }

    /// Messages libtiff sent to its global handlers instead of the per-file ones (should be none).
    package static var leakedMessages: [String] {
        leaked.withLock { $0 }
    }
}

// MARK: - In-memory sink for encoder handles

/// Where an encoder handle's writes go: a virtual file that only remembers its size and, while
/// `capturing`, the bytes written.
final class TIFFMemorySink {
    var captured: [UInt8] = []
    var capturing = false
    var position: UInt64 = 0
    var size: UInt64 = 0
}

private func sink(_ handle: thandle_t?) -> TIFFMemorySink {
    Unmanaged<TIFFMemorySink>.fromOpaque(handle!).takeUnretainedValue()
}

private let memoryRead: TIFFReadWriteProc = { _, _, _ in 0 }

private let memoryWrite: TIFFReadWriteProc = { handle, data, count in
    let target = sink(handle)
    if target.capturing, let data, count > 0 {
        target.captured.append(contentsOf: UnsafeRawBufferPointer(start: data, count: Int(count)))
    }
    target.position += UInt64(count)
    target.size = max(target.size, target.position)
    return count
}

private let memorySeek: TIFFSeekProc = { handle, offset, whence in
    let target = sink(handle)
    switch whence {
    case SEEK_SET: target.position = offset
    case SEEK_CUR: target.position = target.position &+ offset
    default: target.position = target.size &+ offset
    }
    return target.position
}

private let memoryClose: TIFFCloseProc = { _ in 0 }
private let memorySize: TIFFSizeProc = { handle in sink(handle).size }
private let memoryMap: TIFFMapFileProc = { _, _, _ in 0 }
private let memoryUnmap: TIFFUnmapFileProc = { _, _, _ in }
