import Foundation

/// A fresh directory under the system temporary directory, removed when the value is released.
/// Its name is short (AF_UNIX socket paths inside it must stay under 108 bytes).
public final class TemporaryDirectory {
    /// Absolute path of the directory.
    public let path: String

    /// Creates the directory.
    public init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("lmdt-" + UUID().uuidString.prefix(13), isDirectory: true).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `text` to `name` (creating parent folders) and returns the path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        try write(name, Data(text.utf8))
    }

    /// Writes `data` to `name` (creating parent folders) and returns the path.
    @discardableResult
    public func write(_ name: String, _ data: Data) throws -> String {
        let path = file(name)
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The names in a folder of the directory, sorted (hidden files included).
    public func list(_ name: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: name.isEmpty ? path : file(name)).sorted()
    }
}
