internal import CTIFF

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Decodes one sample plane of one directory, strip by strip or tile by tile, straight into
/// the plane's buffer. Memory: the plane plus one strip or tile when samples are interleaved
/// or tiles overhang the image (never the whole directory).
enum TIFFPlaneDecoder {
    /// Decodes sample `sample` of `directory` with `tiff` (moved to that directory if needed).
    static func decode(
        _ tiff: TIFFHandle, directory: TIFFDirectoryInfo, sample: Int
    ) throws(MicroscopyIOError) -> Plane {
        let pixelType = try checkedPixelType(directory, path: tiff.path)
        let planeBytes = directory.planeBytes
        var failure: MicroscopyIOError?
        let bytes = [UInt8](unsafeUninitializedCapacity: planeBytes) { buffer, initialized in
            do throws(MicroscopyIOError) {
                try decode(
                    tiff, directory: directory, sample: sample, into: UnsafeMutableRawPointer(buffer.baseAddress!))
            } catch {
                failure = error
            }
            initialized = planeBytes
        }
        if let failure { throw failure }
        return plane(directory, pixelType: pixelType, bytes: bytes)
    }

    /// The plane for decoded native-order bytes.
    static func plane(_ directory: TIFFDirectoryInfo, pixelType: PixelType, bytes: [UInt8]) -> Plane {
        #if _endian(big)
            return Plane(
                width: directory.width, height: directory.height, pixelType: pixelType,
                bytes: littleEndian(bytes, size: pixelType.byteCount))
        #else
            return Plane(width: directory.width, height: directory.height, pixelType: pixelType, bytes: bytes)
        #endif
    }

    static func checkedPixelType(_ directory: TIFFDirectoryInfo, path: String) throws(MicroscopyIOError) -> PixelType {
        guard let pixelType = directory.pixelType else {
            try directory.checkDecodable(path: path)
            preconditionFailure("checkDecodable accepted a directory without a pixel type")
        }
        return pixelType
    }

    /// Decodes into `out` (`directory.planeBytes` bytes): every row, or only the tile rows in
    /// `tileRows` of a tiled directory (so several handles can fill one plane in parallel).
    static func decode(
        _ tiff: TIFFHandle, directory: TIFFDirectoryInfo, sample: Int, into out: UnsafeMutableRawPointer,
        tileRows: Range<Int>? = nil
    ) throws(MicroscopyIOError) {
        let path = tiff.path
        let pixelType = try checkedPixelType(directory, path: path)
        if TIFFCurrentDirOffset(tiff.tif) != directory.offset {
            tiff.diagnostics.errors.removeAll()
            guard TIFFSetSubDirectory(tiff.tif, directory.offset) == 1 else {
                throw MicroscopyIOError(
                    code: .corrupt, path: path, offset: directory.offset,
                    message: "cannot read \(directory.label): \(tiff.diagnostics.errorText)")
            }
        }
        // The file may have been replaced since it was opened: check the geometry again.
        guard tiff.u32(TIFFTAG_IMAGEWIDTH).map(Int.init) == directory.width,
            tiff.u32(TIFFTAG_IMAGELENGTH).map(Int.init) == directory.height,
            (TIFFIsTiled(tiff.tif) != 0) == directory.tiled,
            Int(tiff.defaultedU16(TIFFTAG_SAMPLESPERPIXEL) ?? 1) == directory.samplesPerPixel
        else {
            throw MicroscopyIOError(
                code: .corrupt, path: path, offset: directory.offset,
                message: "\(directory.label) changed since the file was opened")
        }
        tiff.diagnostics.errors.removeAll()
        let size = pixelType.byteCount
        if directory.tiled {
            let tilesDown = (directory.height + directory.tileHeight - 1) / directory.tileHeight
            try decodeTiles(tiff, directory, sample: sample, size: size, into: out, tileRows: tileRows ?? 0..<tilesDown)
        } else {
            try decodeStrips(tiff, directory, sample: sample, size: size, into: out)
        }
    }

    /// The error for a strip or tile libtiff could not decode.
    private static func chunkError(
        _ tiff: TIFFHandle, _ directory: TIFFDirectoryInfo, kind: String, index: UInt32, got: Int, expected: Int
    ) -> MicroscopyIOError {
        var failed: Int32 = 0
        let offset = TIFFGetStrileOffsetWithErr(tiff.tif, index, &failed)
        let text = tiff.diagnostics.errors.joined(separator: "; ")
        let short = text.contains("Read error") || text.contains("got ") || (got >= 0 && got < expected)
        let detail = got >= 0 ? "decoded \(got) of \(expected) bytes" : "could not be decoded"
        return MicroscopyIOError(
            code: short ? .truncated : .corrupt, path: tiff.path, offset: failed == 0 ? offset : directory.offset,
            message: "\(kind) \(index) of \(directory.label) \(detail)"
                + (text.isEmpty ? "" : " (libtiff: \(text))"))
    }

    private static func decodeStrips(
        _ tiff: TIFFHandle, _ directory: TIFFDirectoryInfo, sample: Int, size: Int, into out: UnsafeMutableRawPointer
    ) throws(MicroscopyIOError) {
        let width = directory.width
        let height = directory.height
        let rowsPerStrip = directory.rowsPerStrip
        let stripsPerPlane = (height + rowsPerStrip - 1) / rowsPerStrip
        let rowBytes = width &* size
        let samples = directory.samplesPerPixel
        let interleaved = samples > 1 && !directory.planarSeparate
        let needed = interleaved ? stripsPerPlane : stripsPerPlane * (directory.planarSeparate ? samples : 1)
        guard directory.chunkCount >= needed else {
            throw MicroscopyIOError(
                code: .corrupt, path: tiff.path, offset: directory.offset,
                message: "\(directory.label) has \(directory.chunkCount) strips, expected \(needed)")
        }
        let first = directory.planarSeparate ? sample * stripsPerPlane : 0
        var scratch: UnsafeMutableRawPointer?
        if interleaved { scratch = UnsafeMutableRawPointer.allocate(byteCount: directory.chunkBytes, alignment: 16) }
        defer { scratch?.deallocate() }

        for strip in 0..<stripsPerPlane {
            let row = strip &* rowsPerStrip
            let rows = min(rowsPerStrip, height &- row)
            let index = UInt32(first &+ strip)
            let destination = out + row &* rowBytes
            if let scratch {
                let expected = rows &* rowBytes &* samples
                let got = Int(TIFFReadEncodedStrip(tiff.tif, index, scratch, tmsize_t(directory.chunkBytes)))
                guard got >= expected else {
                    throw chunkError(tiff, directory, kind: "strip", index: index, got: got, expected: expected)
                }
                gather(
                    from: scratch, sourceStride: width &* samples &* size, samples: samples, sample: sample,
                    to: destination, destinationStride: rowBytes, columns: width, rows: rows, size: size)
            } else {
                let expected = rows &* rowBytes
                let got = Int(TIFFReadEncodedStrip(tiff.tif, index, destination, tmsize_t(expected)))
                guard got == expected else {
                    throw chunkError(tiff, directory, kind: "strip", index: index, got: got, expected: expected)
                }
            }
        }
    }

    private static func decodeTiles(
        _ tiff: TIFFHandle, _ directory: TIFFDirectoryInfo, sample: Int, size: Int, into out: UnsafeMutableRawPointer,
        tileRows: Range<Int>
    ) throws(MicroscopyIOError) {
        let width = directory.width
        let height = directory.height
        let tileWidth = directory.tileWidth
        let tileHeight = directory.tileHeight
        let samples = directory.samplesPerPixel
        let interleaved = samples > 1 && !directory.planarSeparate
        let perTile = interleaved ? samples : 1
        let rowBytes = width &* size
        let tilesAcross = (width + tileWidth - 1) / tileWidth
        let tilesDown = (height + tileHeight - 1) / tileHeight
        let needed = tilesAcross * tilesDown * (directory.planarSeparate ? samples : 1)
        guard directory.chunkCount >= needed else {
            throw MicroscopyIOError(
                code: .corrupt, path: tiff.path, offset: directory.offset,
                message: "\(directory.label) has \(directory.chunkCount) tiles, expected \(needed)")
        }
        let tileBytes = tileWidth &* tileHeight &* perTile &* size
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(tileBytes, directory.chunkBytes), alignment: 16)
        defer { scratch.deallocate() }
        let planeSample = directory.planarSeparate ? UInt16(sample) : 0

        for tileRow in tileRows.clamped(to: 0..<tilesDown) {
            let y = tileRow &* tileHeight
            let rows = min(tileHeight, height &- y)
            for tileColumn in 0..<tilesAcross {
                let x = tileColumn &* tileWidth
                let columns = min(tileWidth, width &- x)
                let index = TIFFComputeTile(tiff.tif, UInt32(x), UInt32(y), 0, planeSample)
                let got = Int(TIFFReadEncodedTile(tiff.tif, index, scratch, tmsize_t(tileBytes)))
                guard got == tileBytes else {
                    throw chunkError(tiff, directory, kind: "tile", index: index, got: got, expected: tileBytes)
                }
                let destination = out + (y &* rowBytes &+ x &* size)
                if interleaved {
                    gather(
                        from: scratch, sourceStride: tileWidth &* samples &* size, samples: samples, sample: sample,
                        to: destination, destinationStride: rowBytes, columns: columns, rows: rows, size: size)
                } else {
                    let sourceStride = tileWidth &* size
                    let count = columns &* size
                    for r in 0..<rows {
                        memcpy(destination + r &* rowBytes, scratch + r &* sourceStride, count)
                    }
                }
            }
        }
    }

    /// Copies sample `sample` of interleaved rows into a plane's rows.
    static func gather(
        from source: UnsafeRawPointer, sourceStride: Int, samples: Int, sample: Int,
        to destination: UnsafeMutableRawPointer, destinationStride: Int, columns: Int, rows: Int, size: Int
    ) {
        func run<T>(_: T.Type) {
            for r in 0..<rows {
                let from = (source + r &* sourceStride).assumingMemoryBound(to: T.self) + sample
                let to = (destination + r &* destinationStride).assumingMemoryBound(to: T.self)
                var i = 0
                var j = 0
                while i < columns {
                    to[i] = from[j]
                    i &+= 1
                    j &+= samples
                }
            }
        }
        switch size {
        case 1: run(UInt8.self)
        case 2: run(UInt16.self)
        case 4: run(UInt32.self)
        default: run(UInt64.self)
        }
    }

    /// Byte-swaps samples of `size` bytes in place (big-endian data to little-endian).
    static func swapBytes(_ bytes: inout [UInt8], size: Int) {
        guard size > 1 else { return }
        bytes.withUnsafeMutableBytes { raw in
            func run<T: FixedWidthInteger>(_: T.Type) {
                let count = raw.count / MemoryLayout<T>.size
                var i = 0
                while i < count {
                    let offset = i &* MemoryLayout<T>.size
                    raw.storeBytes(
                        of: raw.loadUnaligned(fromByteOffset: offset, as: T.self).byteSwapped, toByteOffset: offset,
                        as: T.self)
                    i &+= 1
                }
            }
            switch size {
            case 2: run(UInt16.self)
            case 4: run(UInt32.self)
            default: run(UInt64.self)
            }
        }
    }

    #if _endian(big)
        static func littleEndian(_ bytes: [UInt8], size: Int) -> [UInt8] {
            var copy = bytes
            swapBytes(&copy, size: size)
            return copy
        }
    #endif
}
