import Foundation
import ImageKit
import MicroscopyIO
import Testing

/// Damaged, cut-off and hostile inputs: each must give the right code, an offset where one
/// applies, and a message that names the file. Nothing may be allocated from a size field
/// without checking it, so hostile sizes must fail fast instead of exhausting memory.
@Suite("Probe of damaged files")
struct CorruptInputTests {
    func expectError(
        _ path: String, _ code: MicroscopyIOError.Code, offset: UInt64?? = nil, mentioning text: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let error = probeError(path) else {
            Issue.record("\(path): probe succeeded, expected \(code)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(error.description.contains(path), "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.hasPrefix("\(code.rawValue): "), "\(error)", sourceLocation: sourceLocation)
        if let offset {
            #expect(error.offset == offset, "\(error)", sourceLocation: sourceLocation)
        }
        if let text {
            #expect(error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Any file

    @Test("missing file, directory, FIFO, zero bytes, garbage")
    func basics() throws {
        let dir = try TemporaryDirectory()
        let fifo = dir.path("pipe.nd2")
        #expect(mkfifo(fifo, 0o600) == 0)
        expectError(fifo, .unreadable, mentioning: "not a regular file")
        expectError(dir.path("missing.nd2"), .notFound)
        expectError(dir.url.path, .unreadable, mentioning: "directory")
        expectError(try dir.write("empty.nd2", []), .emptyFile)
        var rng = SplitMix64(seed: 99)
        var garbage = (0..<5_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        garbage[0] = 0x12
        garbage[1] = 0x34
        garbage[2] = 0x56
        garbage[3] = 0x78
        expectError(try dir.write("garbage.bin", garbage), .unknownFormat, offset: 0, mentioning: "12 34 56 78")
        expectError(try dir.write("text.tif", Array("hello, world\n".utf8)), .unknownFormat, mentioning: "68 65 6C 6C")
        // A file cut inside its signature.
        expectError(try dir.write("cut.tif", [0x49, 0x49, 0x2A]), .truncated)
        expectError(try dir.write("cut.nd2", [0xDA, 0xCE]), .truncated)
    }

    @Test("legacy JPEG 2000 ND2 is recognised without parsing")
    func legacy() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write(
            "old.nd2",
            [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A] + [UInt8](repeating: 0, count: 100)
        )
        #expect(try FormatProbe.probe(path: path) == FileProbe(format: .nd2Legacy))
    }

    @Test("the error description reads like a log line")
    func description() {
        let error = MicroscopyIOError(
            code: .corrupt, path: "/x/y.nd2", offset: 1234,
            message: #"chunk map signature missing (expected "ND2 CHUNK MAP SIGNATURE 0000001!")"#
        )
        #expect(
            error.description
                == #"corrupt: /x/y.nd2 at offset 1234: chunk map signature missing (expected "ND2 CHUNK MAP SIGNATURE 0000001!")"#
        )
        #expect(
            MicroscopyIOError(code: .emptyFile, path: "/a", message: "file has 0 bytes").description
                == "emptyFile: /a: file has 0 bytes")
    }

    // MARK: ND2 (synthetic, always available)

    @Test("a synthetic ND2 probes correctly")
    func miniND2() throws {
        let dir = try TemporaryDirectory()
        let (bytes, _) = MiniND2(width: 13, height: 7, components: 3, bitsInMemory: 8, frames: 5).build()
        let path = try dir.write("mini.nd2", bytes)
        #expect(
            try FormatProbe.probe(path: path)
                == FileProbe(
                    format: .nd2, version: "3.0", width: 13, height: 7, frames: 5, bitsPerSample: 8,
                    samplesPerPixel: 3, sampleFormat: "uint", compression: "none"
                ))
    }

    @Test(
        "a synthetic ND2 cut at any length is truncated",
        arguments: [1, 4, 50, 111, 112, 151, 152, 300, -41, -40, -39, -1])
    func miniND2Truncated(length: Int) throws {
        let dir = try TemporaryDirectory()
        let (bytes, _) = MiniND2().build()
        let cut = length > 0 ? length : bytes.count + length
        expectError(try dir.write("cut.nd2", Array(bytes.prefix(cut))), .truncated)
    }

    @Test("ND2 chunk map damage gives corrupt or truncated at the right offset")
    func miniND2Damage() throws {
        let dir = try TemporaryDirectory()
        let (good, layout) = MiniND2().build()
        let size = UInt64(good.count)

        // File signature chunk name.
        var bytes = good
        bytes[20] = 0x58
        expectError(
            try dir.write("name.nd2", bytes), .corrupt, offset: 16, mentioning: "ND2 FILE SIGNATURE CHUNK NAME01!")

        // Version string.
        bytes = good
        bytes[48] = 0x78
        expectError(try dir.write("version.nd2", bytes), .corrupt, offset: 48)

        // Map offset past the end.
        bytes = good
        bytes.put(le: UInt64(size + 10_000), at: good.count - 8)
        expectError(try dir.write("mapoffset.nd2", bytes), .corrupt, offset: size - 8, mentioning: "outside")

        // Map offset pointing at a place without a chunk header.
        bytes = good
        bytes.put(le: UInt64(layout.mapOffset - 3), at: good.count - 8)
        expectError(
            try dir.write("mapmagic.nd2", bytes), .corrupt, offset: UInt64(layout.mapOffset - 3), mentioning: "magic")

        // Map chunk with a hostile payload size.
        bytes = good
        bytes.put(le: UInt64.max - 5, at: layout.mapOffset + 8)
        expectError(try dir.write("maphuge.nd2", bytes), .corrupt, offset: UInt64(layout.mapOffset))

        // A frame entry whose size runs past the end.
        bytes = good
        let sizeField = layout.entryFieldOffsets["ImageDataSeq|1!"]! + 8
        bytes.put(le: UInt64(1) << 40, at: sizeField)
        expectError(
            try dir.write("entrysize.nd2", bytes), .truncated, offset: UInt64(layout.frameOffsets[1]),
            mentioning: "ImageDataSeq|1!")

        // A frame entry that starts past the end.
        bytes = good
        bytes.put(le: size + 4096, at: layout.entryFieldOffsets["ImageDataSeq|2!"]!)
        expectError(try dir.write("entryoffset.nd2", bytes), .truncated, offset: size + 4096)

        // The last chunk's header (checked in full) declares more than the file holds.
        bytes = good
        bytes.put(le: UInt64(1) << 50, at: layout.frameOffsets.last! + 8)
        expectError(try dir.write("lastchunk.nd2", bytes), .truncated, offset: UInt64(layout.frameOffsets.last!))

        // Hostile LV level length inside the attributes.
        bytes = good
        let levelLength = layout.attributesPayloadOffset + 2 + 2 * 19 + 4
        bytes.put(le: UInt64.max / 2, at: levelLength)
        expectError(try dir.write("lvlength.nd2", bytes), .corrupt, mentioning: "SLxImageAttributes")

        // Unknown LV entry type.
        bytes = good
        let firstChild = layout.attributesPayloadOffset + 2 + 2 * 19 + 12
        bytes[firstChild] = 42
        expectError(try dir.write("lvtype.nd2", bytes), .corrupt, offset: UInt64(firstChild), mentioning: "type 42")
    }

    // MARK: ND2 (real files from ../shared)

    @Test(
        "a real ND2 cut at several lengths is truncated",
        .enabled(if: hasSharedTestData, "../shared/testdata is absent: skipped"))
    func realND2Truncated() throws {
        let source = try #require(sharedFile(in: "nd2", suffix: ".nd2"))
        let bytes = try readBytes(source)
        let dir = try TemporaryDirectory()
        for length in [
            2, 64, 112, 4_096, bytes.count / 3, bytes.count / 2, bytes.count - 4_096, bytes.count - 40, bytes.count - 1,
        ] {
            expectError(try dir.write("cut-\(length).nd2", Array(bytes.prefix(length))), .truncated)
        }
    }

    // MARK: TIFF

    @Test("a written TIFF cut in half is truncated")
    func writtenTIFFTruncated() throws {
        let dir = try TemporaryDirectory()
        let image = SyntheticSample.nuclei(width: 256, height: 256, count: 20, seed: 4).image
        let path = dir.path("whole.tif")
        try TIFFWriter.write(image, to: path)
        let bytes = try readBytes(path)
        for length in [8, bytes.count / 2, bytes.count - 1] {
            expectError(try dir.write("cut-\(length).tif", Array(bytes.prefix(length))), .truncated)
        }
    }

    @Test(
        "a real TIFF cut in half is truncated", .enabled(if: hasSharedTestData, "../shared/testdata is absent: skipped")
    )
    func realTIFFTruncated() throws {
        let dir = try TemporaryDirectory()
        let files = sharedFiles(in: "tiff", suffixes: [".tif", ".tiff"])
        #expect(!files.isEmpty)
        for source in files {
            let bytes = try readBytes(source)
            let name = URL(fileURLWithPath: source).lastPathComponent
            expectError(try dir.write("half-" + name, Array(bytes.prefix(bytes.count / 2))), .truncated)
        }
    }

    @Test("a TIFF whose first directory offset points past the end is truncated at that offset")
    func firstIFDPastEnd() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("good.tif")
        try TIFFWriter.write(Image<UInt16>(width: 16, height: 16, repeating: 3), to: path)
        var bytes = try readBytes(path)
        let target = UInt32(bytes.count + 1_000)
        if bytes[0] == 0x49 { bytes.put(le: target, at: 4) } else { bytes.put(be: target, at: 4) }
        expectError(
            try dir.write("ifd.tif", bytes), .truncated, offset: UInt64(target), mentioning: "first image directory")

        bytes.put(le: UInt32(0), at: 4)
        expectError(try dir.write("ifd0.tif", bytes), .corrupt)
    }

    @Test("a TIFF whose strip offset points past the end is truncated at that offset")
    func stripPastEnd() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("good.tif")
        // Uncompressible noise so the single strip is large.
        var rng = SplitMix64(seed: 1)
        let image = try Image<UInt16>(
            width: 64, height: 64, pixels: (0..<4096).map { _ in UInt16(truncatingIfNeeded: rng.next()) })
        try TIFFWriter.write(image, to: path)
        var bytes = try readBytes(path)
        #expect(bytes[0] == 0x49)
        // Find the StripOffsets entry (tag 273, type LONG, count 1) in the first IFD.
        let ifd = Int(bytes.le(UInt32.self, at: 4))
        let entries = Int(bytes.le(UInt16.self, at: ifd))
        var patched: UInt32?
        for i in 0..<entries {
            let entry = ifd + 2 + i * 12
            if bytes.le(UInt16.self, at: entry) == 273 && bytes.le(UInt32.self, at: entry + 4) == 1 {
                let target = UInt32(bytes.count + 77)
                bytes.put(le: target, at: entry + 8)
                patched = target
            }
        }
        let target = try #require(patched)
        expectError(try dir.write("strip.tif", bytes), .truncated, offset: UInt64(target), mentioning: "strip 0")
    }

    @Test("a TIFF whose directory chain loops is corrupt")
    func ifdLoop() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("good.tif")
        try TIFFWriter.write(Image<UInt8>(width: 4, height: 4, repeating: 3), to: path)
        var bytes = try readBytes(path)
        let ifd = Int(bytes.le(UInt32.self, at: 4))
        let entries = Int(bytes.le(UInt16.self, at: ifd))
        bytes.put(le: UInt32(ifd), at: ifd + 2 + entries * 12)
        expectError(try dir.write("loop.tif", bytes), .corrupt, offset: UInt64(ifd), mentioning: "loops")
    }

    @Test("a TIFF with a damaged directory reports libtiff's message instead of printing it")
    func libtiffMessageInError() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("good.tif")
        try TIFFWriter.write(Image<UInt8>(width: 4, height: 4, repeating: 3), to: path)
        var bytes = try readBytes(path)
        let ifd = Int(bytes.le(UInt32.self, at: 4))
        let entries = Int(bytes.le(UInt16.self, at: ifd))
        // Give every entry an invalid field type (0): libtiff rejects the image size tags.
        for i in 0..<entries {
            bytes.put(le: UInt16(0), at: ifd + 2 + i * 12 + 2)
        }
        let damaged = try dir.write("types.tif", bytes)
        let error = try #require(probeError(damaged))
        #expect(error.code == .corrupt)
        #expect(error.message.hasPrefix("libtiff: "), "\(error)")
        #expect(!error.message.contains("no message"), "\(error)")
    }
}

/// Checks that probing damaged TIFFs prints nothing: libtiff's messages must all go through the
/// per-file handlers into errors. Descriptor 2 is process-wide, so output of tests running in
/// parallel may land in the capture file; it is written back to the real stderr afterwards, and
/// the checks only look for libtiff's words and this test's own temporary paths.
@Suite("libtiff stays silent")
struct LibTIFFSilenceTests {
    @Test("probing damaged TIFFs writes nothing to stderr and nothing reaches libtiff's global handlers")
    func silent() throws {
        let dir = try TemporaryDirectory()
        let good = dir.path("good.tif")
        try TIFFWriter.write(SyntheticSample.nuclei(width: 128, height: 128, count: 5, seed: 2).image, to: good)
        let bytes = try readBytes(good)
        var damaged: [String] = []
        damaged.append(try dir.write("half.tif", Array(bytes.prefix(bytes.count / 2))))
        var types = bytes
        let ifd = Int(types.le(UInt32.self, at: 4))
        for i in 0..<Int(types.le(UInt16.self, at: ifd)) { types.put(le: UInt16(0), at: ifd + 2 + i * 12 + 2) }
        damaged.append(try dir.write("types.tif", types))
        var unknownTag = bytes
        unknownTag.put(le: UInt16(65_000), at: ifd + 2 + 12 * 3)  // an unknown tag → libtiff warning
        damaged.append(try dir.write("unknown-tag.tif", unknownTag))
        if let real = sharedFile(in: "tiff", suffix: ".tif") {
            damaged.append(real)  // ImageJ files make libtiff warn about unknown tags
        }

        let captured = try captureStandardError {
            for path in damaged {
                _ = try? FormatProbe.probe(path: path)
            }
            try? TIFFWriter.write(Image<UInt8>(width: 1, height: 1, repeating: 0), to: dir.path("missing/x.tif"))
        }
        #expect(!captured.contains(TemporaryDirectory.marker), "libtiff printed: \(captured)")
        for word in ["TIFFRead", "TIFFFetch", "TIFFOpen", "TIFFClientOpen", "TIFFAdvance", "Unknown field"] {
            #expect(!captured.contains(word), "libtiff printed: \(captured)")
        }
        #expect(TIFFGlobalHandlers.leakedMessages.isEmpty, "\(TIFFGlobalHandlers.leakedMessages)")
    }

    /// Redirects file descriptor 2 to a temporary file while `body` runs; returns what was written
    /// and writes it back to the real stderr (other suites may have printed in the meantime).
    func captureStandardError(_ body: () throws -> Void) throws -> String {
        let dir = try TemporaryDirectory()
        let capturePath = dir.path("stderr.txt")
        // stderr is unbuffered in C, so whatever libtiff's default handler would print goes
        // straight to descriptor 2; no flushing needed.
        let capture = open(capturePath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(capture >= 0)
        let saved = dup(2)
        dup2(capture, 2)
        defer {
            dup2(saved, 2)
            close(saved)
            close(capture)
        }
        try body()
        let text = (try? String(contentsOfFile: capturePath, encoding: .utf8)) ?? ""
        if !text.isEmpty {
            FileHandle.standardError.write(Data(text.utf8))
        }
        return text
    }
}
