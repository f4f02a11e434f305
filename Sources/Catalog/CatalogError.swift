import Foundation

/// An error from the catalog: what failed, on which database file, and SQLite's own words.
public struct CatalogError: Error, Sendable, CustomStringConvertible {
    /// What kind of catalog failure this is.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable text of the code, as written to logs and `--json` output.
        public let rawValue: String
        /// Creates a code from its text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The database file could not be opened or created.
        public static let openFailed = Code(rawValue: "catalog_open_failed")
        /// A schema migration failed; the catalog is left at its previous version.
        public static let migrationFailed = Code(rawValue: "catalog_migration_failed")
        /// A query or a write failed (disk full, I/O error, locked for too long...).
        public static let queryFailed = Code(rawValue: "catalog_query_failed")
        /// The run, input or row asked for does not exist.
        public static let notFound = Code(rawValue: "not_found")
        /// The operation is not allowed in the row's current state (e.g. retrying a running run).
        public static let invalidState = Code(rawValue: "invalid_state")
        /// A record to store is inconsistent (e.g. a feature vector of the wrong length).
        public static let invalidRecord = Code(rawValue: "invalid_record")
        /// The text of the code.
        public var description: String { rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// The catalog file involved.
    public let path: String
    /// A readable explanation, including SQLite's message where there is one.
    public let message: String

    /// Creates a catalog error.
    public init(code: Code, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// `code: path: message`, one line.
    public var description: String { "\(code): \(path): \(message)" }
}
