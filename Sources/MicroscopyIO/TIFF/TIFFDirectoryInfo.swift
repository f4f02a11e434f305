internal import CTIFF

/// What the reader needs of one image file directory (IFD), read once when the file is opened.
///
/// Every size is checked here, before anything is allocated from it: a directory whose plane or
/// whose strip/tile buffer would exceed the reader's limits is refused with the directory named.
struct TIFFDirectoryInfo: Sendable {
    /// Offset of the directory in the file (what `TIFFSetSubDirectory` takes).
    var offset: UInt64
    /// Human name for messages: `image directory 3` or `SubIFD 1 of image directory 3`.
    var label: String
    var width: Int
    var height: Int
    var bitsPerSample: Int
    var sampleFormat: Int
    var samplesPerPixel: Int
    var planarSeparate: Bool
    var compression: UInt16
    var photometric: UInt16?
    var subfileType: UInt32
    var tiled: Bool
    var tileWidth: Int
    var tileHeight: Int
    var rowsPerStrip: Int
    /// Number of strips or tiles (all samples).
    var chunkCount: Int
    /// Decoded bytes of one strip or tile (libtiff's `TIFFStripSize`/`TIFFTileSize`).
    var chunkBytes: Int
    var subIFDs: [UInt64]
    var xResolution: Float?
    var yResolution: Float?
    var resolutionUnit: UInt16
    /// The sample type, or nil when lmdflow has no ``PixelType`` for it.
    var pixelType: PixelType?

    /// Bytes of one decoded plane of one sample (`width * height * bytesPerSample`).
    var planeBytes: Int { width &* height &* (bitsPerSample / 8) }

    /// `8-bit uint`-style description for messages.
    var sampleDescription: String {
        let kind =
            switch Int32(sampleFormat) {
            case SAMPLEFORMAT_UINT: "unsigned integer"
            case SAMPLEFORMAT_INT: "signed integer"
            case SAMPLEFORMAT_IEEEFP: "float"
            default: "sample format \(sampleFormat)"
            }
        return "\(bitsPerSample)-bit \(kind)"
    }

    /// Reads the current directory of `tiff` (which must be the one at `offset`).
    ///
    /// - Throws: `.corrupt` when a required field is missing or zero, `.unsupported` when the
    ///   plane or a strip/tile would exceed `maxPlaneBytes`, or libtiff cannot decode the
    ///   compression.
    static func read(
        _ tiff: TIFFHandle, offset: UInt64, label: String, maxPlaneBytes: Int
    ) throws(MicroscopyIOError) -> TIFFDirectoryInfo {
        let path = tiff.path
        func corrupt(_ message: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .corrupt, path: path, offset: offset, message: "\(label): \(message)")
        }
        func unsupported(_ message: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .unsupported, path: path, offset: offset, message: "\(label): \(message)")
        }
        guard let width = tiff.u32(TIFFTAG_IMAGEWIDTH), let height = tiff.u32(TIFFTAG_IMAGELENGTH) else {
            throw corrupt("ImageWidth or ImageLength is missing")
        }
        guard width > 0, height > 0 else {
            throw corrupt("declares an empty image of \(width) x \(height) pixels")
        }
        let bits = Int(tiff.defaultedU16(TIFFTAG_BITSPERSAMPLE) ?? 1)
        let format = Int(tiff.defaultedU16(TIFFTAG_SAMPLEFORMAT) ?? 1)
        let samples = Int(tiff.defaultedU16(TIFFTAG_SAMPLESPERPIXEL) ?? 1)
        guard samples >= 1 else { throw corrupt("declares 0 samples per pixel") }
        let planar = tiff.defaultedU16(TIFFTAG_PLANARCONFIG) ?? UInt16(PLANARCONFIG_CONTIG)
        let compression = tiff.defaultedU16(TIFFTAG_COMPRESSION) ?? UInt16(COMPRESSION_NONE)
        let tiled = TIFFIsTiled(tiff.tif) != 0

        var info = TIFFDirectoryInfo(
            offset: offset, label: label, width: Int(width), height: Int(height), bitsPerSample: bits,
            sampleFormat: format, samplesPerPixel: samples,
            planarSeparate: samples > 1 && Int32(planar) == PLANARCONFIG_SEPARATE,
            compression: compression, photometric: tiff.u16(TIFFTAG_PHOTOMETRIC),
            subfileType: tiff.u32(TIFFTAG_SUBFILETYPE) ?? 0, tiled: tiled, tileWidth: 0, tileHeight: 0,
            rowsPerStrip: 0, chunkCount: 0, chunkBytes: 0, subIFDs: tiff.subIFDOffsets(),
            xResolution: tiff.float(TIFFTAG_XRESOLUTION), yResolution: tiff.float(TIFFTAG_YRESOLUTION),
            resolutionUnit: tiff.defaultedU16(TIFFTAG_RESOLUTIONUNIT) ?? UInt16(RESUNIT_INCH),
            pixelType: pixelType(bits: bits, format: format)
        )

        // The plane size first: a hostile 2^31 x 2^31 declaration must stop here.
        let bytesPerSample = max(1, bits / 8)
        let (pixels, overflow1) = Int(width).multipliedReportingOverflow(by: Int(height))
        let (bytes, overflow2) = pixels.multipliedReportingOverflow(by: bytesPerSample)
        guard !overflow1, !overflow2, bytes <= maxPlaneBytes else {
            throw unsupported(
                "declares \(width) x \(height) pixels of \(info.sampleDescription), more than the "
                    + "\(maxPlaneBytes)-byte plane limit")
        }
        guard samples <= 256 else {
            throw unsupported("declares \(samples) samples per pixel (at most 256 are read)")
        }

        if tiled {
            guard let tileWidth = tiff.u32(TIFFTAG_TILEWIDTH), let tileHeight = tiff.u32(TIFFTAG_TILELENGTH),
                tileWidth > 0, tileHeight > 0
            else {
                throw corrupt("is tiled but has no tile size")
            }
            info.tileWidth = Int(tileWidth)
            info.tileHeight = Int(tileHeight)
            info.chunkCount = Int(TIFFNumberOfTiles(tiff.tif))
            info.chunkBytes = Int(TIFFTileSize64(tiff.tif))
        } else {
            let rows = tiff.defaultedU32(TIFFTAG_ROWSPERSTRIP) ?? height
            info.rowsPerStrip = Int(min(max(rows, 1), height))
            info.chunkCount = Int(TIFFNumberOfStrips(tiff.tif))
            info.chunkBytes = Int(TIFFStripSize64(tiff.tif))
        }
        // TIFFStripSize64/TIFFTileSize64 return 0 on overflow.
        let chunkLimit = max(maxPlaneBytes, 1 << 20)
        guard info.chunkBytes > 0, info.chunkBytes / max(1, samples) <= chunkLimit else {
            throw unsupported(
                "one \(tiled ? "tile" : "strip") (\(tiled ? "\(info.tileWidth) x \(info.tileHeight)" : "\(info.rowsPerStrip) rows"), "
                    + "\(samples) samples) would exceed the \(chunkLimit)-byte buffer limit")
        }
        return info
    }

    /// The lmdflow sample type for a TIFF `BitsPerSample`/`SampleFormat` pair.
    static func pixelType(bits: Int, format: Int) -> PixelType? {
        switch (Int32(format), bits) {
        case (SAMPLEFORMAT_UINT, 8): .uint8
        case (SAMPLEFORMAT_UINT, 16): .uint16
        case (SAMPLEFORMAT_UINT, 32): .uint32
        case (SAMPLEFORMAT_INT, 16): .int16
        case (SAMPLEFORMAT_IEEEFP, 32): .float32
        case (SAMPLEFORMAT_IEEEFP, 64): .float64
        default: nil
        }
    }

    /// Whether two directories hold planes of one series (same geometry and sample layout).
    func hasSameLayout(as other: TIFFDirectoryInfo) -> Bool {
        width == other.width && height == other.height && bitsPerSample == other.bitsPerSample
            && sampleFormat == other.sampleFormat && samplesPerPixel == other.samplesPerPixel
            && planarSeparate == other.planarSeparate
    }

    /// Checks that lmdflow can decode this directory: a known sample type and a codec libtiff has.
    func checkDecodable(path: String) throws(MicroscopyIOError) {
        guard pixelType != nil else {
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: offset,
                message: "\(label): \(sampleDescription) samples are not supported "
                    + "(expected 8/16/32-bit unsigned, 16-bit signed, or 32/64-bit float)")
        }
        guard TIFFIsCODECConfigured(compression) != 0 else {
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: offset,
                message: "\(label): compression \(TIFFProbe.compressionName(compression)) (\(compression)) "
                    + "is not available in this libtiff")
        }
        if Int32(compression) == COMPRESSION_OJPEG || Int32(compression) == COMPRESSION_JPEG,
            photometric == UInt16(PHOTOMETRIC_YCBCR)
        {
            throw MicroscopyIOError(
                code: .unsupported, path: path, offset: offset,
                message: "\(label): JPEG-compressed YCbCr data is not supported")
        }
    }
}
