import Foundation

/// What a bearer token may do.
public enum APIAccess: String, Sendable, Hashable, Comparable {
    /// GET and HEAD requests: listings, details, downloads, the status page, metrics.
    case read
    /// Everything `read` may do, plus `POST` (re-select, retry).
    case write

    /// `read` < `write`.
    public static func < (lhs: APIAccess, rhs: APIAccess) -> Bool { lhs == .read && rhs == .write }
}

/// The bearer tokens of the API, read once from the configured token files.
///
/// A token file has one token per line; blank lines and lines starting with `#` are ignored, and
/// surrounding whitespace is trimmed. Files readable by everyone (mode `o+r`) are refused, so a
/// token cannot leak through a careless `chmod`.
public struct TokenStore: Sendable {
    /// The tokens with their access, in file order (read tokens first).
    private let tokens: [(token: [UInt8], access: APIAccess)]

    /// Whether any token is configured (then every request but `/healthz` needs one).
    public var isEmpty: Bool { tokens.isEmpty }

    /// The number of tokens of each kind.
    public var counts: (read: Int, write: Int) {
        (tokens.count { $0.access == .read }, tokens.count { $0.access == .write })
    }

    /// Creates a store from tokens given in code (tests).
    public init(read: [String] = [], write: [String] = []) {
        tokens = read.map { (Array($0.utf8), APIAccess.read) } + write.map { (Array($0.utf8), APIAccess.write) }
    }

    /// Reads the token files of `HTTPSettings`.
    /// - Parameters:
    ///   - readFile: the file of read-only tokens, if any.
    ///   - writeFile: the file of write tokens, if any.
    /// - Throws: ``APIServiceError`` with code `token_file_insecure` for a world-readable file,
    ///   `token_file_unreadable` for a missing or unreadable one and `token_file_empty` for a file
    ///   without tokens.
    public init(readFile: String?, writeFile: String?) throws(APIServiceError) {
        var read: [String] = []
        var write: [String] = []
        if let readFile { read = try Self.load(readFile) }
        if let writeFile { write = try Self.load(writeFile) }
        self.init(read: read, write: write)
    }

    /// The tokens of one file, after checking its permissions.
    static func load(_ path: String) throws(APIServiceError) -> [String] {
        // The file a symbolic link points to is the one whose permissions matter.
        guard let real = RunFiles.realPath(path),
            let attributes = try? FileManager.default.attributesOfItem(atPath: real)
        else {
            throw APIServiceError(
                code: .tokenFileUnreadable, path: path,
                message: "cannot read the token file: \(String(cString: strerror(errno)))")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            throw APIServiceError(
                code: .tokenFileUnreadable, path: path, message: "the token file is not a regular file")
        }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        if mode & 0o004 != 0 {
            throw APIServiceError(
                code: .tokenFileInsecure, path: path,
                message: String(
                    format: "the token file is readable by every user (mode %04o); run chmod o-r (0600 or 0640)", mode))
        }
        guard let data = FileManager.default.contents(atPath: real), let text = String(data: data, encoding: .utf8)
        else {
            throw APIServiceError(
                code: .tokenFileUnreadable, path: path, message: "cannot read the token file as UTF-8 text")
        }
        let tokens = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        if tokens.contains(where: { $0.contains(where: \.isWhitespace) }) {
            throw APIServiceError(
                code: .tokenFileUnreadable, path: path, message: "a token contains whitespace; write one token per line"
            )
        }
        guard !tokens.isEmpty else {
            throw APIServiceError(
                code: .tokenFileEmpty, path: path, message: "the token file has no tokens (one per line, # comments)")
        }
        return tokens
    }

    /// The access of `token`, or nil when it is not known. Every configured token is compared,
    /// each in time that depends only on the lengths, so the answer's timing does not reveal how
    /// much of a token was right.
    public func access(of token: String) -> APIAccess? {
        let candidate = Array(token.utf8)
        var found: APIAccess?
        for entry in tokens where Self.constantTimeEqual(entry.token, candidate) {
            found = max(found ?? entry.access, entry.access)
        }
        return found
    }

    /// Whether two byte strings are equal, looking at every byte of the longer one.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let count = max(a.count, b.count)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count) | (a.count == b.count ? 0 : 1)
        for index in 0..<count {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}
