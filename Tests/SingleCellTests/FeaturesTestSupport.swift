import Foundation
import ImageKit

/// Runs `Benchmarks/features_ref.py` (anchors venv) and reads back what it wrote.
enum FeaturesReference {
    /// `Benchmarks/features_ref.py` of this checkout.
    static let script: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Benchmarks/features_ref.py")

    /// Why the reference tests cannot run here, or nil when they can.
    static var unavailable: String? {
        if anchorsPython == nil { return "anchors venv not installed (../shared/tools/setup-anchors.sh)" }
        if !FileManager.default.fileExists(atPath: script.path) { return "\(script.path) missing" }
        return nil
    }

    /// Runs `features_ref.py <mode> <fresh temporary directory> <arguments…>` and returns the directory.
    static func run(_ mode: String, _ arguments: [String]) throws -> URL {
        guard let python = anchorsPython else { throw ReferenceError(message: "no anchors python") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-features-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, mode, dir.path] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ReferenceError(message: "features_ref.py \(mode) failed: \(String(decoding: stderr, as: UTF8.self))")
        }
        return dir
    }

    /// A raw little-endian array written by numpy's `tofile`.
    static func raw<T: BitwiseCopyable>(_ url: URL, as: T.Type) throws -> [T] {
        let data = try Data(contentsOf: url)
        let count = data.count / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = data.copyBytes(to: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    static func json(_ url: URL) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        guard let dictionary = object as? [String: Any] else { throw ReferenceError(message: "\(url.path): not a JSON object") }
        return dictionary
    }

    struct ReferenceError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
