/// An error of the daemon itself (watcher, start-up, lock), with a stable code.
public struct DaemonError: Error, Sendable, CustomStringConvertible {
    /// A stable error code.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code's text.
        public let rawValue: String
        /// Creates a code.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The file watcher could not start or was refused.
        public static let watcher = Code(rawValue: "watcher_failed")
        /// Another daemon holds the state directory's lock.
        public static let alreadyRunning = Code(rawValue: "already_running")
        /// Start-up failed (state directory, catalog...).
        public static let startup = Code(rawValue: "startup_failed")
        /// The code's text.
        public var description: String { rawValue }
    }

    /// The code.
    public let code: Code
    /// The path involved, if any.
    public let path: String?
    /// What happened.
    public let message: String

    /// Creates a daemon error.
    public init(code: Code, path: String? = nil, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// One line.
    public var description: String { path.map { "\($0): \(message)" } ?? message }
}
