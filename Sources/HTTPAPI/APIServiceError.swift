/// An error starting or running the API service (not an HTTP response): a token file that is
/// refused, an address that cannot be bound, a port file that cannot be written.
public struct APIServiceError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code's text.
        public let rawValue: String
        /// Creates a code from its text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A token file can be read by every user of the machine.
        public static let tokenFileInsecure = Code(rawValue: "token_file_insecure")
        /// A token file is missing, unreadable, not a regular file or malformed.
        public static let tokenFileUnreadable = Code(rawValue: "token_file_unreadable")
        /// A token file has no tokens.
        public static let tokenFileEmpty = Code(rawValue: "token_file_empty")
        /// The settings are inconsistent (a non-loopback bind without tokens).
        public static let configInvalid = Code(rawValue: "config_invalid")
        /// The catalog could not be opened.
        public static let catalog = Code(rawValue: "catalog_error")
        /// The server could not start or failed while serving.
        public static let serverFailed = Code(rawValue: "http_server_failed")
        /// The text of the code.
        public var description: String { rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// The file involved (token file, catalog, port file), if any.
    public let path: String?
    /// What went wrong and what to do.
    public let message: String

    /// Creates a service error.
    public init(code: Code, path: String? = nil, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// `code: path: message`, one line.
    public var description: String {
        if let path { return "\(code): \(path): \(message)" }
        return "\(code): \(message)"
    }
}
