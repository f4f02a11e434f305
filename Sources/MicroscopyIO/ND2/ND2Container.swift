/// The chunk layer of a modern ND2 file (nd2-format.md sections 1–3): header, chunk map and
/// chunk headers, all validated against the real file size before anything is allocated.
///
/// Internal for now; the full ND2 reader builds on it.
struct ND2Container {
    static let chunkMagic: UInt32 = 0x0ABE_CEDA
    static let fileSignatureName = Array("ND2 FILE SIGNATURE CHUNK NAME01!".utf8)
    static let mapSignature = Array("ND2 CHUNK MAP SIGNATURE 0000001!".utf8)
    static let mapChunkName = Array("ND2 FILEMAP SIGNATURE NAME 0001!".utf8)
    /// 16-byte chunk header + 32-byte name + 64-byte version payload.
    static let fileHeaderSize: UInt64 = 112
    /// Map signature (32 bytes) + u64 map offset at the very end of the file.
    static let tailSize: UInt64 = 40
    /// Chunk names longer than this are treated as corruption (observed maximum: 4072).
    static let maxNameLength: UInt32 = 1 << 20
    /// Chunk-map keys longer than this are treated as corruption.
    static let maxKeyLength = 4096

    /// One chunk-map entry: a key such as `ImageDataSeq|0!` and where its chunk is.
    struct Entry: Equatable {
        /// The key, including its trailing `!`.
        var key: String
        /// File offset of the chunk's header (its magic).
        var offset: UInt64
        /// The chunk's payload length (`dataLen`). Equal to `offset` means "unknown" in some files.
        var size: UInt64

        var sizeIsKnown: Bool { size != offset }
    }

    /// A validated chunk header.
    struct ChunkHeader {
        var offset: UInt64
        var nameLength: UInt32
        var dataLength: UInt64
        var payloadOffset: UInt64 { offset + 16 + UInt64(nameLength) }
        /// End of the payload; saturates instead of overflowing for hostile sizes.
        var end: UInt64 {
            let (sum, overflow) = payloadOffset.addingReportingOverflow(dataLength)
            return overflow ? .max : sum
        }
    }

    let file: BinaryFile
    /// Text after `Ver` in the header, e.g. `"3.0"`.
    let version: String
    /// Entries in file order.
    let entries: [Entry]

    var path: String { file.path }

    /// Validates the header and the chunk map of `file`.
    init(file: BinaryFile) throws(MicroscopyIOError) {
        self.file = file
        let path = file.path
        guard file.size >= Self.fileHeaderSize else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: file.size,
                message: "file has \(file.size) bytes; the ND2 file header chunk alone needs \(Self.fileHeaderSize)"
            )
        }

        // 1. The file header chunk at offset 0.
        let header = ByteView(bytes: try file.read(at: 0, count: Int(Self.fileHeaderSize), what: "file header chunk"))
        let nameLength = header.u32(4)!
        let dataLength = header.u64(8)!
        let name = Array(header.bytes[16..<48])
        guard nameLength == 32, name == Self.fileSignatureName else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: 16,
                message: "file signature chunk name is \(quoted(name)) with length \(nameLength) "
                    + "(expected \"ND2 FILE SIGNATURE CHUNK NAME01!\" with length 32)"
            )
        }
        guard dataLength >= 6 else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: 8,
                message: "file signature chunk payload is \(dataLength) bytes (expected 64 with a version string)"
            )
        }
        let versionBytes = header.bytes[48..<112].prefix { $0 != 0 }
        guard versionBytes.starts(with: Array("Ver".utf8)), versionBytes.count > 3,
            versionBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F })
        else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: 48,
                message:
                    "version string is \(quoted(versionBytes)) "
                    + "(expected \"Ver\" followed by a version such as \"Ver3.0\")"
            )
        }
        self.version = String(decoding: versionBytes.dropFirst(3), as: UTF8.self)

        // 2. The tail: map signature + map offset.
        let tailOffset = file.size >= Self.fileHeaderSize + Self.tailSize ? file.size - Self.tailSize : nil
        guard let tailOffset else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: file.size,
                message:
                    "file has \(file.size) bytes; a complete ND2 file ends with a 40-byte chunk map signature after "
                    + "its 112-byte header (the file was cut short or is still being written)"
            )
        }
        let tail = ByteView(
            bytes: try file.read(at: tailOffset, count: Int(Self.tailSize), what: "chunk map signature"))
        guard Array(tail.bytes[0..<32]) == Self.mapSignature else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: tailOffset,
                message:
                    "chunk map signature missing (expected \"ND2 CHUNK MAP SIGNATURE 0000001!\" in the last 40 bytes, "
                    + "found \(quoted(tail.bytes[0..<32]))); the file was cut short or is still being written"
            )
        }
        let mapOffset = tail.u64(32)!
        guard mapOffset >= Self.fileHeaderSize, file.contains(offset: mapOffset, count: 16),
            mapOffset + 16 <= tailOffset
        else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: tailOffset + 32,
                message: "chunk map offset \(mapOffset) lies outside the file's chunks "
                    + "(expected an offset from \(Self.fileHeaderSize) up to \(tailOffset - 16), "
                    + "file size \(file.size))"
            )
        }

        // 3. The map chunk: header, name, payload (which ends with the same 40 bytes as the file).
        let mapHeader = try Self.chunkHeader(
            file: file, at: mapOffset, expectedName: Self.mapChunkName, what: "chunk map")
        guard mapHeader.end <= file.size else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: mapOffset,
                message:
                    "chunk map declares \(mapHeader.dataLength) payload bytes from offset \(mapHeader.payloadOffset), "
                    + "past the end of the file (size \(file.size))"
            )
        }
        guard mapHeader.dataLength <= FormatProbe.maxMetadataBytes else {
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: mapOffset,
                message:
                    "chunk map of \(mapHeader.dataLength) bytes exceeds the \(FormatProbe.maxMetadataBytes)-byte limit"
            )
        }
        let payload = try file.read(at: mapHeader.payloadOffset, count: Int(mapHeader.dataLength), what: "chunk map")
        self.entries = try Self.parseEntries(payload, payloadOffset: mapHeader.payloadOffset, path: path)
    }

    /// Parses `key!` + u64 offset + u64 size records up to the terminator key.
    static func parseEntries(
        _ payload: [UInt8], payloadOffset: UInt64, path: String
    ) throws(MicroscopyIOError) -> [Entry] {
        let view = ByteView(bytes: payload)
        var entries: [Entry] = []
        var position = 0
        while true {
            guard position < payload.count else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: payloadOffset + UInt64(position),
                    message: "chunk map ends without its terminator entry \"ND2 CHUNK MAP SIGNATURE 0000001!\""
                )
            }
            let searchEnd = min(payload.count, position + maxKeyLength)
            guard let bang = payload[position..<searchEnd].firstIndex(of: 0x21) else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: payloadOffset + UInt64(position),
                    message: "chunk map entry key has no '!' within \(searchEnd - position) bytes "
                        + "(found \(quoted(payload[position..<min(searchEnd, position + 40)])))"
                )
            }
            let key = payload[position...bang]
            if key.elementsEqual(mapSignature) { break }
            guard key.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: payloadOffset + UInt64(position),
                    message:
                        "chunk map entry key \(quoted(key)) contains non-printable bytes "
                        + "(expected an ASCII name ending in '!')"
                )
            }
            guard let offset = view.u64(bang + 1), let size = view.u64(bang + 9) else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: payloadOffset + UInt64(bang + 1),
                    message:
                        "chunk map entry \(quoted(key)) is cut off (expected a u64 offset and a u64 size after the key)"
                )
            }
            entries.append(Entry(key: String(decoding: key, as: UTF8.self), offset: offset, size: size))
            position = bang + 17
        }
        return entries
    }

    /// Reads and validates the chunk header at `offset`; when given, checks the chunk's name.
    static func chunkHeader(
        file: BinaryFile, at offset: UInt64, expectedName: [UInt8]?, what: String
    ) throws(MicroscopyIOError) -> ChunkHeader {
        let raw = ByteView(bytes: try file.read(at: offset, count: 16, what: "\(what) chunk header"))
        let magic = raw.u32(0)!
        guard magic == chunkMagic else {
            throw MicroscopyIOError(
                code: .corrupt, path: file.path, offset: offset,
                message: "\(what) chunk header magic missing (expected DA CE BE 0A, found \(hex(raw.bytes[0..<4])))"
            )
        }
        let header = ChunkHeader(offset: offset, nameLength: raw.u32(4)!, dataLength: raw.u64(8)!)
        guard header.nameLength <= maxNameLength, file.contains(offset: offset + 16, count: UInt64(header.nameLength))
        else {
            throw MicroscopyIOError(
                code: .truncated, path: file.path, offset: offset,
                message:
                    "\(what) chunk name of \(header.nameLength) bytes runs past the end of the file (size \(file.size))"
            )
        }
        if let expectedName {
            guard expectedName.count <= Int(header.nameLength) else {
                throw MicroscopyIOError(
                    code: .corrupt, path: file.path, offset: offset + 4,
                    message:
                        "\(what) chunk name field is \(header.nameLength) bytes "
                        + "(expected at least \(expectedName.count) "
                        + "for \(quoted(expectedName)))"
                )
            }
            let name = try file.read(at: offset + 16, count: expectedName.count, what: "\(what) chunk name")
            guard name == expectedName else {
                throw MicroscopyIOError(
                    code: .corrupt, path: file.path, offset: offset + 16,
                    message: "\(what) chunk name is \(quoted(name)) (expected \(quoted(expectedName)))"
                )
            }
        }
        return header
    }

    /// Checks that every entry's chunk lies inside the file, then fully validates the header of
    /// the chunk that starts last (where a cut-off file shows first).
    func validateEntries() throws(MicroscopyIOError) {
        for entry in entries {
            // Header (16 bytes) + payload; the name field's length is only known after reading it.
            let payloadBytes = entry.sizeIsKnown ? entry.size : 0
            guard payloadBytes <= file.size, file.contains(offset: entry.offset, count: 16 + payloadBytes) else {
                throw MicroscopyIOError(
                    code: .truncated, path: path, offset: entry.offset,
                    message: "chunk \(entry.key) at offset \(entry.offset) with \(entry.size) payload bytes runs past "
                        + "the end of the file (size \(file.size))"
                )
            }
            guard entry.offset >= Self.fileHeaderSize else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: entry.offset,
                    message: "chunk \(entry.key) starts at offset \(entry.offset), inside the file header"
                )
            }
        }
        if let last = entries.max(by: { $0.offset < $1.offset }) {
            let header = try Self.chunkHeader(
                file: file, at: last.offset, expectedName: Array(last.key.utf8), what: "chunk \(last.key)")
            guard header.end <= file.size else {
                throw MicroscopyIOError(
                    code: .truncated, path: path, offset: last.offset,
                    message: "chunk \(last.key) ends at offset \(header.end), but the file has only \(file.size) bytes"
                )
            }
        }
    }

    /// The entry for `key`, if present.
    func entry(_ key: String) -> Entry? {
        entries.first { $0.key == key }
    }

    /// Number of `ImageDataSeq|n!` entries.
    var frameCount: Int {
        entries.reduce(0) { $0 + ($1.key.hasPrefix("ImageDataSeq|") ? 1 : 0) }
    }

    /// The payload of the chunk for `entry`, after validating its header and name.
    func payload(of entry: Entry, limit: UInt64) throws(MicroscopyIOError) -> (header: ChunkHeader, bytes: [UInt8])? {
        let header = try Self.chunkHeader(
            file: file, at: entry.offset, expectedName: Array(entry.key.utf8), what: "chunk \(entry.key)")
        guard header.end <= file.size else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: entry.offset,
                message: "chunk \(entry.key) ends at offset \(header.end), but the file has only \(file.size) bytes"
            )
        }
        guard header.dataLength <= limit else { return nil }
        return (
            header, try file.read(at: header.payloadOffset, count: Int(header.dataLength), what: "chunk \(entry.key)")
        )
    }
}
