internal import CTIFF

/// The cheap look at a TIFF / BigTIFF file.
///
/// The header and the chain of image directories are walked by hand (two small reads per
/// directory, bounded, loop-safe), checking that every directory and every tag value stored
/// outside it lies inside the file, so a cut-off file is reported precisely as `.truncated`
/// with the offset. The first directory's fields come from libtiff, and every strip or tile of
/// the first and the last directory is checked to lie inside the file (libtiff opens truncated
/// files without complaint).
enum TIFFProbe {
    /// Byte order, offset width and first directory, from the file header.
    struct Header {
        var bigEndian: Bool
        var isBigTIFF: Bool
        var firstIFD: UInt64
    }

    static func probe(_ file: BinaryFile) throws(MicroscopyIOError) -> FileProbe {
        let header = try readHeader(file)
        let pages = try countDirectories(file, header: header)

        let tiff = try TIFFHandle.open(path: file.path, mode: "rm", failure: .corrupt)
        var probe = FileProbe(
            format: header.isBigTIFF ? .bigTIFF : .tiff,
            version: header.isBigTIFF ? "BigTIFF" : "classic",
            pages: pages
        )
        probe.width = tiff.u32(TIFFTAG_IMAGEWIDTH).map(Int.init)
        probe.height = tiff.u32(TIFFTAG_IMAGELENGTH).map(Int.init)
        probe.bitsPerSample = tiff.defaultedU16(TIFFTAG_BITSPERSAMPLE).map(Int.init)
        probe.samplesPerPixel = tiff.defaultedU16(TIFFTAG_SAMPLESPERPIXEL).map(Int.init)
        probe.sampleFormat = tiff.defaultedU16(TIFFTAG_SAMPLEFORMAT).flatMap(sampleFormatName)
        probe.compression = tiff.defaultedU16(TIFFTAG_COMPRESSION).map(compressionName)
        if let description = tiff.string(TIFFTAG_IMAGEDESCRIPTION) {
            let trimmed = description.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
            probe.isOME = trimmed.hasPrefix("<?xml") && description.contains("OME")
            probe.isImageJ = description.hasPrefix("ImageJ=")
        }
        try checkStriles(tiff, file: file, directory: 0)
        if pages > 1 {
            // A file cut short loses its last page first; check that one's data too.
            guard TIFFSetDirectory(tiff.tif, UInt32(pages - 1)) == 1 else {
                throw MicroscopyIOError(
                    code: .corrupt, path: file.path,
                    message: "cannot read image directory \(pages - 1): \(tiff.diagnostics.errorText)"
                )
            }
            try checkStriles(tiff, file: file, directory: pages - 1)
        }
        if !tiff.diagnostics.errors.isEmpty {
            throw MicroscopyIOError(code: .corrupt, path: file.path, message: tiff.diagnostics.errorText)
        }
        return probe
    }

    /// Parses the 8-byte (classic) or 16-byte (BigTIFF) header and checks the first directory offset.
    static func readHeader(_ file: BinaryFile) throws(MicroscopyIOError) -> Header {
        let path = file.path
        let start = try file.read(at: 0, count: Int(min(file.size, 16)), what: "TIFF header")
        var view = ByteView(bytes: start)
        view.bigEndian = start.first == 0x4D
        let isBigTIFF = view.u16(2) == 43
        let headerSize = isBigTIFF ? 16 : 8
        guard start.count >= headerSize else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: file.size,
                message: "file has \(file.size) bytes; a \(isBigTIFF ? "BigTIFF" : "TIFF") header needs \(headerSize)"
            )
        }
        let firstIFD: UInt64
        if isBigTIFF {
            guard view.u16(4) == 8, view.u16(6) == 0 else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: 4,
                    message:
                        "BigTIFF header declares offset size \(view.u16(4)!) and reserved \(view.u16(6)!) "
                        + "(expected 8 and 0)"
                )
            }
            firstIFD = view.u64(8)!
        } else {
            firstIFD = UInt64(view.u32(4)!)
        }
        guard firstIFD != 0 else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: isBigTIFF ? 8 : 4,
                message: "first image directory offset is 0 (expected the offset of at least one image directory)"
            )
        }
        guard firstIFD >= UInt64(headerSize) else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: isBigTIFF ? 8 : 4,
                message: "first image directory offset \(firstIFD) points into the \(headerSize)-byte header"
            )
        }
        guard firstIFD < file.size else {
            throw MicroscopyIOError(
                code: .truncated, path: path, offset: firstIFD,
                message: "first image directory at offset \(firstIFD) lies past the end of the file (size \(file.size))"
            )
        }
        return Header(bigEndian: view.bigEndian, isBigTIFF: isBigTIFF, firstIFD: firstIFD)
    }

    /// Follows the chain of top-level directories and checks that each directory, and every tag
    /// value stored outside it, lies inside the file. Stops at ``FormatProbe/maxCountedPages``.
    static func countDirectories(_ file: BinaryFile, header: Header) throws(MicroscopyIOError) -> Int {
        let countSize = header.isBigTIFF ? 8 : 2
        let entrySize = header.isBigTIFF ? 20 : 12
        let nextSize = header.isBigTIFF ? 8 : 4
        var seen = Set<UInt64>()
        var offset = header.firstIFD
        var pages = 0
        while offset != 0 && pages < FormatProbe.maxCountedPages {
            let what = "image directory \(pages)"
            guard seen.insert(offset).inserted else {
                throw MicroscopyIOError(
                    code: .corrupt, path: file.path, offset: offset,
                    message: "\(what) at offset \(offset) was already visited (the directory chain loops)"
                )
            }
            guard file.contains(offset: offset, count: UInt64(countSize)) else {
                throw MicroscopyIOError(
                    code: .truncated, path: file.path, offset: offset,
                    message: "\(what) at offset \(offset) lies past the end of the file (size \(file.size))"
                )
            }
            var countView = ByteView(bytes: try file.read(at: offset, count: countSize, what: what))
            countView.bigEndian = header.bigEndian
            let entries = header.isBigTIFF ? countView.u64(0)! : UInt64(countView.u16(0)!)
            guard entries <= 4_096 else {
                throw MicroscopyIOError(
                    code: .corrupt, path: file.path, offset: offset,
                    message: "\(what) declares \(entries) entries (expected at most a few hundred)"
                )
            }
            let bodyOffset = offset + UInt64(countSize)
            let bodySize = Int(entries) * entrySize + nextSize
            guard file.contains(offset: bodyOffset, count: UInt64(bodySize)) else {
                throw MicroscopyIOError(
                    code: .truncated, path: file.path, offset: offset,
                    message: "\(what) at offset \(offset) with \(entries) entries needs bytes up to "
                        + "\(bodyOffset + UInt64(bodySize)), but the file has only \(file.size)"
                )
            }
            var body = ByteView(bytes: try file.read(at: bodyOffset, count: bodySize, what: what))
            body.bigEndian = header.bigEndian
            for index in 0..<Int(entries) {
                try checkTagValue(body, at: index * entrySize, header: header, directory: pages, file: file)
            }
            let nextAt = Int(entries) * entrySize
            offset = header.isBigTIFF ? body.u64(nextAt)! : UInt64(body.u32(nextAt)!)
            pages += 1
            if offset != 0 && offset >= file.size {
                throw MicroscopyIOError(
                    code: .truncated, path: file.path, offset: offset,
                    message:
                        "image directory \(pages) at offset \(offset) lies past the end of the file (size \(file.size))"
                )
            }
        }
        return pages
    }

    /// Bytes per value of each TIFF field type (0 for unknown types, which are not checked).
    static func typeSize(_ type: UInt16) -> UInt64 {
        switch type {
        case 1, 2, 6, 7: 1
        case 3, 8: 2
        case 4, 9, 11, 13: 4
        case 5, 10, 12, 16, 17, 18: 8
        default: 0
        }
    }

    /// Checks that a directory entry's value, when stored outside the entry, lies inside the file.
    static func checkTagValue(
        _ body: ByteView, at entry: Int, header: Header, directory: Int, file: BinaryFile
    ) throws(MicroscopyIOError) {
        let tag = body.u16(entry)!
        let size = typeSize(body.u16(entry + 2)!)
        guard size > 0 else { return }
        let count = header.isBigTIFF ? body.u64(entry + 4)! : UInt64(body.u32(entry + 4)!)
        let inline: UInt64 = header.isBigTIFF ? 8 : 4
        let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
        guard overflow || bytes > inline else { return }
        let valueOffset = header.isBigTIFF ? body.u64(entry + 12)! : UInt64(body.u32(entry + 8)!)
        guard !overflow, file.contains(offset: valueOffset, count: bytes) else {
            throw MicroscopyIOError(
                code: .truncated, path: file.path, offset: valueOffset,
                message: "tag \(tag) of image directory \(directory) needs \(count) values of \(size) bytes at offset "
                    + "\(valueOffset), but the file has only \(file.size) bytes"
            )
        }
    }

    /// Checks that every strip or tile of the current directory lies inside the file.
    static func checkStriles(_ tiff: TIFFHandle, file: BinaryFile, directory: Int) throws(MicroscopyIOError) {
        let tiled = TIFFIsTiled(tiff.tif) != 0
        let kind = tiled ? "tile" : "strip"
        let count = tiled ? TIFFNumberOfTiles(tiff.tif) : TIFFNumberOfStrips(tiff.tif)
        for index in 0..<count {
            var failed: Int32 = 0
            let offset = TIFFGetStrileOffsetWithErr(tiff.tif, index, &failed)
            let bytes = TIFFGetStrileByteCountWithErr(tiff.tif, index, &failed)
            guard failed == 0 else {
                throw MicroscopyIOError(
                    code: .corrupt, path: file.path,
                    message: "cannot read the offset of \(kind) \(index) of \(count) in image directory \(directory): "
                        + tiff.diagnostics.errorText
                )
            }
            guard bytes == 0 || file.contains(offset: offset, count: bytes) else {
                throw MicroscopyIOError(
                    code: .truncated, path: file.path, offset: offset,
                    message:
                        "\(kind) \(index) of \(count) in image directory \(directory) needs \(bytes) bytes at offset "
                        + "\(offset), but the file has only \(file.size)"
                )
            }
        }
    }

    static func sampleFormatName(_ value: UInt16) -> String? {
        switch Int32(value) {
        case SAMPLEFORMAT_UINT: "uint"
        case SAMPLEFORMAT_INT: "int"
        case SAMPLEFORMAT_IEEEFP: "float"
        default: nil
        }
    }

    static func compressionName(_ value: UInt16) -> String {
        switch Int32(value) {
        case COMPRESSION_NONE: "none"
        case COMPRESSION_CCITTRLE: "ccittrle"
        case COMPRESSION_CCITTFAX3: "ccittfax3"
        case COMPRESSION_CCITTFAX4: "ccittfax4"
        case COMPRESSION_LZW: "lzw"
        case COMPRESSION_OJPEG: "ojpeg"
        case COMPRESSION_JPEG: "jpeg"
        case COMPRESSION_ADOBE_DEFLATE, COMPRESSION_DEFLATE: "deflate"
        case COMPRESSION_PACKBITS: "packbits"
        case COMPRESSION_LZMA: "lzma"
        case COMPRESSION_ZSTD: "zstd"
        case COMPRESSION_WEBP: "webp"
        case COMPRESSION_JXL: "jpegxl"
        case COMPRESSION_JP2000, 33003, 33004, 33005: "jpeg2000"
        default: "unknown(\(value))"
        }
    }
}
