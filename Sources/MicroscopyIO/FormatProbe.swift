/// Recognises microscopy files and reads their basic geometry without decoding pixels.
///
/// The probe is what the drop-folder service calls first on a new file: it is cheap (a few
/// small reads), bounded (sizes declared inside the file are checked against the file's real
/// size before anything is allocated), silent (libtiff's messages are captured, never printed)
/// and it tells a truncated file (``MicroscopyIOError/Code/truncated``, typically a copy that is
/// not finished) from a damaged one (``MicroscopyIOError/Code/corrupt``).
///
/// ```swift
/// let probe = try FormatProbe.probe(path: "/inbox/default/sample.nd2")
/// print(probe.format, probe.width ?? 0, probe.height ?? 0, probe.frames ?? 1)
/// ```
public enum FormatProbe {
    /// Directory counting in TIFF files stops here; ``FileProbe/pages`` is then this value.
    public static let maxCountedPages = 100_000

    /// Largest metadata block (ND2 chunk map, attributes) the probe will read into memory.
    static let maxMetadataBytes: UInt64 = 256 << 20

    /// Identifies the file at `path` by its first bytes and reads what the format tells cheaply.
    ///
    /// - Parameter path: The file to look at.
    /// - Returns: What the file is, with the first image's geometry where known.
    /// - Throws: ``MicroscopyIOError`` with code `.notFound`, `.unreadable`, `.emptyFile`,
    ///   `.unknownFormat` (naming the first bytes found), `.truncated` (with the offset of data
    ///   that lies past the end), `.corrupt` or `.unsupported`.
    public static func probe(path: String) throws(MicroscopyIOError) -> FileProbe {
        let file = try BinaryFile(path: path)
        guard file.size > 0 else {
            throw MicroscopyIOError(code: .emptyFile, path: path, message: "file has 0 bytes")
        }
        let head = try file.read(at: 0, count: Int(min(file.size, 16)))
        switch Signature.match(head) {
        case .nd2?:
            return try ND2Probe.probe(file)
        case .nd2Legacy?:
            return FileProbe(format: .nd2Legacy)
        case .tiff?, .bigTIFF?:
            return try TIFFProbe.probe(file)
        case nil:
            if let partial = Signature.partialMatch(head) {
                throw MicroscopyIOError(
                    code: .truncated, path: path, offset: file.size,
                    message: "file has only \(file.size) bytes, the start of a \(partial.rawValue) signature"
                )
            }
            throw MicroscopyIOError(
                code: .unknownFormat, path: path, offset: 0,
                message: "unrecognised signature: first bytes \(hex(head.prefix(8))) (expected ND2 "
                    + "DA CE BE 0A, legacy ND2 00 00 00 0C 6A 50 20 20, TIFF 49 49 2A 00 / 4D 4D 00 2A, "
                    + "BigTIFF 49 49 2B 00 / 4D 4D 00 2B)"
            )
        }
    }
}

/// Magic numbers at offset 0.
enum Signature {
    static let nd2: [UInt8] = [0xDA, 0xCE, 0xBE, 0x0A]
    static let nd2Legacy: [UInt8] = [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]
    static let tiffLE: [UInt8] = [0x49, 0x49, 0x2A, 0x00]
    static let tiffBE: [UInt8] = [0x4D, 0x4D, 0x00, 0x2A]
    static let bigTIFFLE: [UInt8] = [0x49, 0x49, 0x2B, 0x00]
    static let bigTIFFBE: [UInt8] = [0x4D, 0x4D, 0x00, 0x2B]

    static let all: [(FileFormat, [UInt8])] = [
        (.nd2, nd2), (.nd2Legacy, nd2Legacy), (.tiff, tiffLE), (.tiff, tiffBE),
        (.bigTIFF, bigTIFFLE), (.bigTIFF, bigTIFFBE),
    ]

    /// The format whose full magic starts `head`.
    static func match(_ head: [UInt8]) -> FileFormat? {
        all.first { head.starts(with: $0.1) }?.0
    }

    /// The format whose magic `head` is a proper prefix of (a file cut inside its signature).
    static func partialMatch(_ head: [UInt8]) -> FileFormat? {
        all.first { head.count < $0.1.count && $0.1.starts(with: head) }?.0
    }
}

/// `"DA CE BE 0A"`.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { byte in
        let digits = String(byte, radix: 16, uppercase: true)
        return digits.count == 1 ? "0" + digits : digits
    }.joined(separator: " ")
}

/// Printable ASCII rendering of raw bytes for messages (`.` for anything else), quoted.
func quoted(_ bytes: some Sequence<UInt8>) -> String {
    "\"" + String(decoding: bytes.map { $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 ? $0 : 0x2E }, as: UTF8.self) + "\""
}
