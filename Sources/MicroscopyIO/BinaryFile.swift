#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A read-only file read with `pread`, never memory-mapped (a file that shrinks while mapped
/// would crash the process with SIGBUS; drop folders do see files change under them).
///
/// Every read is checked against the size seen at open time, so callers can pass sizes read
/// from the file itself without allocating from a hostile value first.
///
/// Not `Sendable`: it owns a file descriptor; use one per task.
final class BinaryFile {
    /// The path as given by the caller.
    let path: String
    /// Size in bytes when the file was opened.
    let size: UInt64
    private let fd: Int32

    /// Largest single read; larger requests are refused as `.unsupported`.
    static let maxReadBytes = 1 << 30

    init(path: String) throws(MicroscopyIOError) {
        self.path = path
        // O_NONBLOCK: opening a FIFO dropped into a watched folder must not hang; it has no
        // effect on regular files, which are all this type accepts.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let err = errno
            let code: MicroscopyIOError.Code = (err == ENOENT || err == ENOTDIR) ? .notFound : .unreadable
            throw MicroscopyIOError(code: code, path: path, message: "cannot open: \(errorText(err))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let err = errno
            close(fd)
            throw MicroscopyIOError(code: .unreadable, path: path, message: "cannot stat: \(errorText(err))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
            throw MicroscopyIOError(code: .unreadable, path: path, message: "expected a regular file, found \(kind)")
        }
        self.fd = fd
        self.size = UInt64(info.st_size)
    }

    deinit {
        close(fd)
    }

    /// Whether `[offset, offset + count)` lies inside the file (overflow-safe).
    func contains(offset: UInt64, count: UInt64) -> Bool {
        offset <= size && count <= size - offset
    }

    /// Reads exactly `count` bytes at `offset`.
    ///
    /// - Throws: `.truncated` (at `offset`) when the range runs past the end of the file or the
    ///   file shrank; `.unsupported` for absurd sizes; `.unreadable` on an I/O error.
    func read(at offset: UInt64, count: Int, what: String = "data") throws(MicroscopyIOError) -> [UInt8] {
        precondition(count >= 0, "negative read size")
        guard count <= Self.maxReadBytes else {
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: offset,
                message: "\(what) of \(count) bytes is larger than the \(Self.maxReadBytes)-byte read limit"
            )
        }
        guard contains(offset: offset, count: UInt64(count)) else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: offset,
                message: "\(what) needs \(count) bytes at offset \(offset), but the file has only \(size) bytes"
            )
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        var failure: Int32 = 0
        bytes.withUnsafeMutableBytes { buffer in
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n > 0 {
                    done += n
                } else if n == 0 {
                    break
                } else if errno != EINTR {
                    failure = errno
                    break
                }
            }
        }
        if failure != 0 {
            throw MicroscopyIOError(
                code: .unreadable, path: path, offset: offset,
                message: "reading \(what) failed: \(errorText(failure))"
            )
        }
        guard done == count else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: offset + UInt64(done),
                message: "\(what): file ended after \(done) of \(count) bytes (it shrank while being read)"
            )
        }
        return bytes
    }
}

/// The C library's text for an `errno` value.
func errorText(_ err: Int32) -> String {
    if let text = strerror(err) {
        return String(cString: text) + " (errno \(err))"
    }
    return "errno \(err)"
}

/// Bounds-checked little/big-endian integer reads from a byte array.
struct ByteView {
    let bytes: [UInt8]
    var bigEndian = false

    var count: Int { bytes.count }

    func u8(_ at: Int) -> UInt8? {
        at >= 0 && at < bytes.count ? bytes[at] : nil
    }

    func u16(_ at: Int) -> UInt16? { load(at, as: UInt16.self) }
    func u32(_ at: Int) -> UInt32? { load(at, as: UInt32.self) }
    func u64(_ at: Int) -> UInt64? { load(at, as: UInt64.self) }
    func i32(_ at: Int) -> Int32? { load(at, as: Int32.self) }
    func i64(_ at: Int) -> Int64? { load(at, as: Int64.self) }
    func f64(_ at: Int) -> Double? { u64(at).map { Double(bitPattern: $0) } }

    private func load<T: FixedWidthInteger>(_ at: Int, as: T.Type) -> T? {
        let width = MemoryLayout<T>.size
        guard at >= 0, at <= bytes.count - width else { return nil }
        let raw = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: T.self) }
        return bigEndian ? T(bigEndian: raw) : T(littleEndian: raw)
    }
}
