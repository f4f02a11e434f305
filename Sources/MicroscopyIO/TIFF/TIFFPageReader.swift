internal import CTIFF
package import ImageKit

/// Reads back what ``TIFFWriter`` writes: grey strip-based pages of one sample type, stacked as
/// the channels of one image.
///
/// Package-internal on purpose: it exists so tests can check written pixels. The full TIFF /
/// OME-TIFF reader (tiles, pyramids, lazy planes) will replace it.
package enum TIFFPageReader {
    /// Largest image (all pages) this reader will allocate.
    static let maxTotalBytes: UInt64 = 4 << 30

    /// Reads every page of `path` as one channel of the returned image.
    ///
    /// - Throws: `.unsupported` for tiled, multi-sample or differently typed pages, or pages of
    ///   different sizes; `.corrupt`/`.truncated` when libtiff cannot decode a strip.
    package static func read<Pixel: TIFFSample>(
        path: String, as: Pixel.Type = Pixel.self
    ) throws(MicroscopyIOError) -> Image<Pixel> {
        let file = try BinaryFile(path: path)
        let header = try TIFFProbe.readHeader(file)
        let pages = try TIFFProbe.countDirectories(file, header: header)
        let tiff = try TIFFHandle.open(path: path, mode: "rm", failure: .corrupt)

        func unsupported(_ message: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .unsupported, path: path, message: message)
        }

        guard let width = tiff.u32(TIFFTAG_IMAGEWIDTH).map(Int.init),
            let height = tiff.u32(TIFFTAG_IMAGELENGTH).map(Int.init),
            width > 0, height > 0
        else {
            throw MicroscopyIOError(code: .corrupt, path: path, message: "first page has no image size")
        }
        let bytesPerSample = MemoryLayout<Pixel>.size
        let planeBytes = UInt64(width) * UInt64(height) * UInt64(bytesPerSample)
        guard planeBytes * UInt64(pages) <= maxTotalBytes else {
            throw unsupported("\(pages) pages of \(width)x\(height) exceed the \(maxTotalBytes)-byte limit")
        }
        var image = Image<Pixel>(width: width, height: height, channels: pages, repeating: zeroBits(Pixel.self))
        try image.withUnsafeMutableBufferPointer { (pixels) throws(MicroscopyIOError) in
            let raw = UnsafeMutableRawBufferPointer(pixels)
            for page in 0..<pages {
                if page > 0 {
                    guard TIFFReadDirectory(tiff.tif) == 1 else {
                        throw MicroscopyIOError(
                            code: .corrupt, path: path, message: "page \(page): \(tiff.diagnostics.errorText)")
                    }
                }
                guard tiff.u32(TIFFTAG_IMAGEWIDTH).map(Int.init) == width,
                    tiff.u32(TIFFTAG_IMAGELENGTH).map(Int.init) == height
                else {
                    throw unsupported("page \(page) differs in size from page 0 (\(width)x\(height))")
                }
                guard tiff.defaultedU16(TIFFTAG_BITSPERSAMPLE) == Pixel.tiffBitsPerSample,
                    tiff.defaultedU16(TIFFTAG_SAMPLEFORMAT) == Pixel.tiffSampleFormat,
                    tiff.defaultedU16(TIFFTAG_SAMPLESPERPIXEL) == 1, TIFFIsTiled(tiff.tif) == 0
                else {
                    throw unsupported(
                        "page \(page) is not a grey, strip-based \(Pixel.tiffBitsPerSample)-bit page "
                            + "of the requested type"
                    )
                }
                let planeStart = page * width * height * bytesPerSample
                let planeEnd = planeStart + width * height * bytesPerSample
                var position = planeStart
                for strip in 0..<TIFFNumberOfStrips(tiff.tif) where position < planeEnd {
                    let read = TIFFReadEncodedStrip(
                        tiff.tif, strip, raw.baseAddress! + position, tmsize_t(planeEnd - position))
                    guard read > 0 else {
                        throw MicroscopyIOError(
                            code: .corrupt, path: path,
                            message: "page \(page) strip \(strip): \(tiff.diagnostics.errorText)")
                    }
                    position += Int(read)
                }
                guard position == planeEnd else {
                    throw MicroscopyIOError(
                        code: .truncated, path: path,
                        message: "page \(page): strips hold \(position - planeStart) of \(planeEnd - planeStart) bytes"
                    )
                }
            }
        }
        return image
    }

    private static func zeroBits<T>(_: T.Type) -> T where T: BitwiseCopyable {
        withUnsafeTemporaryAllocation(of: T.self, capacity: 1) { buffer in
            UnsafeMutableRawBufferPointer(buffer).initializeMemory(as: UInt8.self, repeating: 0)
            return buffer[0]
        }
    }
}
