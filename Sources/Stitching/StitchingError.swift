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
