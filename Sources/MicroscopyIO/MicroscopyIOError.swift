/// An error from reading, probing or writing a microscopy file.
///
/// It names the file, the byte offset where the problem was seen (when there is one), and a
/// message that says what was expected and what was found, so a log line is enough to debug:
///
/// ```
/// corrupt: /data/x.nd2 at offset 1234: chunk map signature missing (expected "ND2 CHUNK MAP SIGNATURE 0000001!")
/// ```
///
/// Match on ``code``; codes are an open set (a struct, not an enum), so new ones can be added
/// without breaking anyone's `switch`.
public struct MicroscopyIOError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. Compare with the static values; new values may appear.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable name of the code, as printed in ``MicroscopyIOError/description``.
        public let rawValue: String

        /// Creates a code from its name.
        public init(rawValue: String) {
            self.rawValue = rawValue
        }

        /// The file does not exist (or a directory on its path does not).
        public static let notFound = Code(rawValue: "notFound")
        /// The file exists but cannot be opened or read (permissions, a directory, an I/O error).
        public static let unreadable = Code(rawValue: "unreadable")
        /// The file has zero bytes (often: a copy that has only just started).
        public static let emptyFile = Code(rawValue: "emptyFile")
        /// The first bytes match no supported format.
        public static let unknownFormat = Code(rawValue: "unknownFormat")
        /// The file ends before data it declares (cut short, or still being written).
        public static let truncated = Code(rawValue: "truncated")
        /// The file's structure is inconsistent (bad signature, bad offsets, bad encoding).
        public static let corrupt = Code(rawValue: "corrupt")
        /// The file is valid but uses a feature this reader does not handle.
        public static let unsupported = Code(rawValue: "unsupported")
        /// Writing the output file failed.
        public static let writeFailed = Code(rawValue: "writeFailed")

        /// The code's name.
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// The file the failure is about, as given by the caller.
    public var path: String
    /// Byte offset in the file where the problem was found, when it is about one place.
    public var offset: UInt64?
    /// What was expected and what was found (including a C library's own message, if any).
    public var message: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - path: The file concerned.
    ///   - offset: The byte offset of the problem, if it is about one place.
    ///   - message: What was expected and what was found.
    public init(code: Code, path: String, offset: UInt64? = nil, message: String) {
        self.code = code
        self.path = path
        self.offset = offset
        self.message = message
    }

    /// `"<code>: <path>[ at offset <n>]: <message>"`.
    public var description: String {
        if let offset {
            return "\(code): \(path) at offset \(offset): \(message)"
        }
        return "\(code): \(path): \(message)"
    }
}
