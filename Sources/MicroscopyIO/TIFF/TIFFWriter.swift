internal import CTIFF
public import ImageKit

/// A pixel type that ``TIFFWriter`` can store.
///
/// Conformances: `UInt8`, `UInt16`, `UInt32` (label images) and `Float`.
public protocol TIFFSample: BitwiseCopyable, Sendable {
    /// The TIFF `BitsPerSample` value.
    static var tiffBitsPerSample: UInt16 { get }
    /// The TIFF `SampleFormat` value (1 unsigned integer, 3 IEEE float).
    static var tiffSampleFormat: UInt16 { get }
}

extension UInt8: TIFFSample {
    /// 8 bits.
    public static var tiffBitsPerSample: UInt16 { 8 }
    /// Unsigned integer.
    public static var tiffSampleFormat: UInt16 { 1 }
}

extension UInt16: TIFFSample {
    /// 16 bits.
    public static var tiffBitsPerSample: UInt16 { 16 }
    /// Unsigned integer.
    public static var tiffSampleFormat: UInt16 { 1 }
}

extension UInt32: TIFFSample {
    /// 32 bits.
    public static var tiffBitsPerSample: UInt16 { 32 }
    /// Unsigned integer.
    public static var tiffSampleFormat: UInt16 { 1 }
}

extension Float: TIFFSample {
    /// 32 bits.
    public static var tiffBitsPerSample: UInt16 { 32 }
    /// IEEE floating point.
    public static var tiffSampleFormat: UInt16 { 3 }
}

/// Writes images as TIFF files: plain multi-page strips here, tiled pyramidal OME-TIFF with
/// ``writeOME(_:to:pixelSizeUm:channelNames:options:)`` and its streaming variants
/// ``writeOME(_:to:options:plane:)`` and ``writeOMETiles(_:to:options:tile:)``.
///
/// With ``write(_:to:description:)`` each channel becomes one directory (page): grey, min-is-black, deflate-compressed strips
/// with a horizontal predictor, in the machine's byte order. Files whose raw size would not fit
/// 32-bit offsets are written as BigTIFF. The file is written at `path` directly; placing it
/// atomically (write to a temporary name, then rename) is the caller's job.
///
/// ```swift
/// let (image, _) = SyntheticSample.nuclei(width: 512, height: 512, count: 40, seed: 1)
/// try TIFFWriter.write(image, to: "/tmp/nuclei.tif", description: "synthetic nuclei")
/// ```
public enum TIFFWriter {
    /// Target size of one compressed strip's raw data.
    static let stripBytes = 256 << 10
    /// Raw sizes above this are written as BigTIFF (classic TIFF offsets end at 4 GiB).
    static let bigTIFFThreshold: UInt64 = 3 << 30

    /// Writes `image` to `path`, one page per channel.
    ///
    /// - Parameters:
    ///   - image: The image; every channel becomes a page.
    ///   - path: The output file; an existing file is replaced.
    ///   - description: Stored as the first page's `ImageDescription` tag (e.g. OME-XML).
    /// - Throws: ``MicroscopyIOError`` with code `.writeFailed`, carrying libtiff's message.
    public static func write<Pixel: TIFFSample>(
        _ image: Image<Pixel>, to path: String, description: String? = nil
    ) throws(MicroscopyIOError) {
        try write(image, to: path, description: description, bigTIFF: nil)
    }

    /// ``write(_:to:description:)`` with the container chosen by the caller (`nil`: by size).
    package static func write<Pixel: TIFFSample>(
        _ image: Image<Pixel>, to path: String, description: String?, bigTIFF: Bool?
    ) throws(MicroscopyIOError) {
        let bytesPerSample = MemoryLayout<Pixel>.size
        let rowBytes = image.width * bytesPerSample
        let rawBytes = UInt64(image.pixels.count) * UInt64(bytesPerSample)
        let mode = (bigTIFF ?? (rawBytes > bigTIFFThreshold)) ? "w8" : "w"
        let tiff = try TIFFHandle.open(path: path, mode: mode, failure: .writeFailed)

        func fail(_ what: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .writeFailed, path: path, message: "\(what): \(tiff.diagnostics.errorText)")
        }

        let rowsPerStrip = max(1, min(image.height, stripBytes / max(1, rowBytes)))
        let stripCount = (image.height + rowsPerStrip - 1) / rowsPerStrip
        // libtiff may modify the buffer it is given (byte swapping), so each strip is copied.
        var scratch = [UInt8](repeating: 0, count: rowsPerStrip * rowBytes)

        try image.withUnsafeBufferPointer { (pixels) throws(MicroscopyIOError) in
            let raw = UnsafeRawBufferPointer(pixels)
            for channel in 0..<image.channels {
                var ok = true
                ok = tiff.set(TIFFTAG_IMAGEWIDTH, u32: UInt32(image.width)) && ok
                ok = tiff.set(TIFFTAG_IMAGELENGTH, u32: UInt32(image.height)) && ok
                ok = tiff.set(TIFFTAG_BITSPERSAMPLE, u16: Pixel.tiffBitsPerSample) && ok
                ok = tiff.set(TIFFTAG_SAMPLESPERPIXEL, u16: 1) && ok
                ok = tiff.set(TIFFTAG_SAMPLEFORMAT, u16: Pixel.tiffSampleFormat) && ok
                ok = tiff.set(TIFFTAG_PHOTOMETRIC, u16: UInt16(PHOTOMETRIC_MINISBLACK)) && ok
                ok = tiff.set(TIFFTAG_PLANARCONFIG, u16: UInt16(PLANARCONFIG_CONTIG)) && ok
                ok = tiff.set(TIFFTAG_COMPRESSION, u16: UInt16(COMPRESSION_ADOBE_DEFLATE)) && ok
                let predictor = Pixel.tiffSampleFormat == 3 ? PREDICTOR_FLOATINGPOINT : PREDICTOR_HORIZONTAL
                ok = tiff.set(TIFFTAG_PREDICTOR, u16: UInt16(predictor)) && ok
                ok = tiff.set(TIFFTAG_ROWSPERSTRIP, u32: UInt32(rowsPerStrip)) && ok
                if image.channels > 1 {
                    ok = tiff.set(TIFFTAG_SUBFILETYPE, u32: UInt32(FILETYPE_PAGE)) && ok
                }
                if channel == 0, let description {
                    ok = tiff.set(TIFFTAG_IMAGEDESCRIPTION, string: description) && ok
                }
                guard ok else { throw fail("setting the tags of page \(channel)") }

                let planeStart = channel * image.planeCount * bytesPerSample
                for strip in 0..<stripCount {
                    let firstRow = strip * rowsPerStrip
                    let rows = min(rowsPerStrip, image.height - firstRow)
                    let count = rows * rowBytes
                    let source = UnsafeRawBufferPointer(
                        rebasing: raw[(planeStart + firstRow * rowBytes)...].prefix(count))
                    let written = scratch.withUnsafeMutableBytes { buffer -> Int in
                        buffer.copyMemory(from: source)
                        return Int(TIFFWriteEncodedStrip(tiff.tif, UInt32(strip), buffer.baseAddress, tmsize_t(count)))
                    }
                    guard written == count else { throw fail("writing strip \(strip) of page \(channel)") }
                }
                guard TIFFWriteDirectory(tiff.tif) == 1 else { throw fail("writing the directory of page \(channel)") }
            }
        }
        tiff.close()
        guard tiff.diagnostics.errors.isEmpty else { throw fail("closing the file") }
    }
}
