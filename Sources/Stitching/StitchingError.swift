/// An error from registering or stitching tiles.
///
/// Match on ``code``; codes are an open set (a struct, not an enum), so new ones can be added
/// without breaking anyone's `switch`. The ``message`` says what was expected and what was found.
public struct StitchingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure. Compare with the static values; new values may appear.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable name of the code, e.g. `"sizeMismatch"`.
        public let rawValue: String
        /// Creates a code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// Two inputs that must have equal sizes do not (windows, tiles vs layout entries).
        public static let sizeMismatch = Code(rawValue: "sizeMismatch")
        /// An input is too small or empty (a window below the minimum size, no tiles).
        public static let tooSmall = Code(rawValue: "tooSmall")
        /// An option or layout value is out of its valid range.
        public static let invalidParameter = Code(rawValue: "invalidParameter")
        /// An input file or folder cannot be read (missing, damaged, a format error from
        /// MicroscopyIO); the message names the file and, where known, the offset.
        public static let inputUnreadable = Code(rawValue: "inputUnreadable")
        /// An input is readable but not a usable tile set (no tiles matched a pattern, a missing
        /// grid cell, a malformed `TileConfiguration.txt` line, a scan without positions).
        public static let inputInvalid = Code(rawValue: "inputInvalid")
        /// The mosaic or positions could not be written.
        public static let writeFailed = Code(rawValue: "writeFailed")
        /// The work was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// The code's name.
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// What was expected and what was found.
    public var message: String

    /// Creates an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// `"<code>: <message>"`.
    public var description: String { "\(code): \(message)" }
}
