import Foundation
import ImageKit
import MicroscopyIO

/// `../shared/testdata` beside the project, located from this file:
/// `<project>/Tests/MicroscopyIOTests/TestSupport.swift` → `<project>/../shared/testdata`.
/// It holds real microscope files with truth JSON; CI and engineers have it, a bare checkout may
/// not, so the tests that need it are skipped (never failed) when it is absent.
let sharedTestData: URL? = {
    let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // MicroscopyIOTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // project
        .deletingLastPathComponent()  // parent of the project
        .appendingPathComponent("shared/testdata", isDirectory: true)
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        ? url : nil
}()

/// Whether ``sharedTestData`` exists (used with `.enabled(if:)`).
let hasSharedTestData = sharedTestData != nil

/// Files in `testdata/<folder>` whose names end in one of `suffixes` and that have a `.json`
/// truth file beside them; empty when the shared folder is absent.
func sharedFiles(in folder: String, suffixes: [String]) -> [String] {
    guard let root = sharedTestData else { return [] }
    let dir = root.appendingPathComponent(folder, isDirectory: true)
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
    return
        names
        .filter { name in suffixes.contains { name.hasSuffix($0) } }
        .map { dir.appendingPathComponent($0).path }
        .filter { FileManager.default.fileExists(atPath: $0 + ".json") }
        .sorted()
}

/// The first file in `testdata/<folder>` ending in `suffix`, if the shared folder is present.
func sharedFile(in folder: String, suffix: String) -> String? {
    sharedFiles(in: folder, suffixes: [suffix]).first
}

/// A temporary directory, removed on deinit. Its name carries a marker the stderr test looks for.
final class TemporaryDirectory {
    static let marker = "lmdflow-io-test-"
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent(Self.marker + UUID().uuidString, isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    func path(_ name: String) -> String {
        url.appendingPathComponent(name).path
    }

    /// Writes `bytes` to a new file and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

func readBytes(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Runs `body` and returns the error it threw as a `MicroscopyIOError`, or nil if it did not throw.
func probeError(_ path: String) -> MicroscopyIOError? {
    do {
        _ = try FormatProbe.probe(path: path)
        return nil
    } catch {
        return error
    }
}

// MARK: - Little-endian byte building

extension Array where Element == UInt8 {
    mutating func append<T: FixedWidthInteger>(le value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func put<T: FixedWidthInteger>(le value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { bytes in
            for (i, byte) in bytes.enumerated() { self[offset + i] = byte }
        }
    }

    mutating func put<T: FixedWidthInteger>(be value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.bigEndian) { bytes in
            for (i, byte) in bytes.enumerated() { self[offset + i] = byte }
        }
    }

    func le<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value = T.zero
        Swift.withUnsafeMutableBytes(of: &value) { dst in
            for i in 0..<MemoryLayout<T>.size { dst[i] = self[offset + i] }
        }
        return T(littleEndian: value)
    }
}

/// Builds small, valid ND2 v3 files byte by byte (nd2-format.md sections 1–5), so the ND2
/// probe's error paths can be tested at exact offsets without the shared files.
struct MiniND2 {
    var width = 8
    var height = 4
    var components = 1
    var bitsInMemory = 16
    var frames = 3
    var compression = 2  // none
    /// Extra bytes of zero padding after every chunk name (real files pad names a lot).
    var namePadding = 5

    /// Where things ended up in the last built file.
    struct Layout {
        var attributesOffset = 0
        var attributesPayloadOffset = 0
        var frameOffsets: [Int] = []
        var mapOffset = 0
        var mapPayloadOffset = 0
        /// Offset in the file of each map entry's u64 offset field, by key.
        var entryFieldOffsets: [String: Int] = [:]
    }

    func build() -> (bytes: [UInt8], layout: Layout) {
        var file: [UInt8] = []
        var layout = Layout()
        var entries: [(String, Int, Int)] = []

        func chunk(_ name: String, _ payload: [UInt8], nameLength: Int? = nil) -> Int {
            let offset = file.count
            let nameBytes = Array(name.utf8)
            let length = nameLength ?? (nameBytes.count + namePadding)
            file.append(le: UInt32(0x0ABE_CEDA))
            file.append(le: UInt32(length))
            file.append(le: UInt64(payload.count))
            file += nameBytes + [UInt8](repeating: 0, count: length - nameBytes.count)
            file += payload
            return offset
        }

        var version = Array("Ver3.0".utf8)
        version += [UInt8](repeating: 0, count: 64 - version.count)
        _ = chunk("ND2 FILE SIGNATURE CHUNK NAME01!", version, nameLength: 32)

        let rowBytes = width * components * bitsInMemory / 8
        let attributes = LV.level(
            "SLxImageAttributes",
            [
                LV.u32("uiWidth", UInt32(width)),
                LV.u32("uiWidthBytes", UInt32(rowBytes)),
                LV.u32("uiHeight", UInt32(height)),
                LV.u32("uiComp", UInt32(components)),
                LV.u32("uiBpcInMemory", UInt32(bitsInMemory)),
                LV.u32("uiBpcSignificant", UInt32(bitsInMemory)),
                LV.u32("uiSequenceCount", UInt32(frames)),
                LV.u32("eCompression", UInt32(compression)),
                LV.double("dCompressionParam", 0),
                LV.u32("ePixelType", 1),
            ])
        layout.attributesOffset = chunk("ImageAttributesLV!", attributes)
        layout.attributesPayloadOffset = file.count - attributes.count
        entries.append(("ImageAttributesLV!", layout.attributesOffset, attributes.count))

        for n in 0..<frames {
            var payload: [UInt8] = []
            payload.append(le: (Double(n) * 100).bitPattern)
            for i in 0..<(height * rowBytes) { payload.append(UInt8(truncatingIfNeeded: i &+ n)) }
            let key = "ImageDataSeq|\(n)!"
            let offset = chunk(key, payload)
            layout.frameOffsets.append(offset)
            entries.append((key, offset, payload.count))
        }

        // The map: key + u64 offset + u64 size per entry, then the terminator key + u64 map
        // offset; the map ends the file, so its last 40 bytes are also the file's tail.
        layout.mapOffset = file.count
        let mapName = "ND2 FILEMAP SIGNATURE NAME 0001!"
        var mapPayload: [UInt8] = []
        var fieldOffsets: [String: Int] = [:]
        for (key, offset, size) in entries {
            mapPayload += Array(key.utf8)
            fieldOffsets[key] = mapPayload.count
            mapPayload.append(le: UInt64(offset))
            mapPayload.append(le: UInt64(size))
        }
        mapPayload += Array("ND2 CHUNK MAP SIGNATURE 0000001!".utf8)
        mapPayload.append(le: UInt64(layout.mapOffset))
        _ = chunk(mapName, mapPayload, nameLength: 32)
        layout.mapPayloadOffset = layout.mapOffset + 16 + 32
        layout.entryFieldOffsets = fieldOffsets.mapValues { $0 + layout.mapPayloadOffset }
        return (file, layout)
    }
}

/// LV ("lite variant") encoder for test payloads.
enum LV {
    static func header(_ type: UInt8, _ name: String) -> [UInt8] {
        let units = Array(name.utf16) + [0]
        var bytes: [UInt8] = [type, UInt8(units.count)]
        for unit in units { bytes.append(le: unit) }
        return bytes
    }

    static func u32(_ name: String, _ value: UInt32) -> [UInt8] {
        var bytes = header(3, name)
        bytes.append(le: value)
        return bytes
    }

    static func double(_ name: String, _ value: Double) -> [UInt8] {
        var bytes = header(6, name)
        bytes.append(le: value.bitPattern)
        return bytes
    }

    static func level(_ name: String, _ children: [[UInt8]]) -> [UInt8] {
        var bytes = header(11, name)
        let body = children.flatMap { $0 }
        bytes.append(le: UInt32(children.count))
        bytes.append(le: UInt64(bytes.count + 8 + body.count))
        bytes += body
        var position = 0
        for child in children {
            bytes.append(le: UInt64(position))
            position += child.count
        }
        return bytes
    }
}
