internal import CTIFF

/// Writes single-directory TIFF files in layouts lmdflow's own writers never produce
/// (interleaved or planar samples, strips or tiles, big-endian, any codec), so the reader can
/// be tested against them. Package-internal: for tests only.
package enum TIFFTestPages {
    /// How the samples and rows are stored.
    package enum Layout: String, CaseIterable, Sendable {
        /// Strips, samples interleaved.
        case strips
        /// Tiles, samples interleaved.
        case tiles
        /// Strips, one plane per sample.
        case planarStrips
        /// Tiles, one plane per sample.
        case planarTiles

        /// Whether samples are stored as separate planes.
        package var planar: Bool { self == .planarStrips || self == .planarTiles }
        /// Whether the directory is tiled.
        package var tiled: Bool { self == .tiles || self == .planarTiles }
    }

    /// Writes one directory from `interleaved` little-endian samples (`width * height * samples`).
    ///
    /// - Parameters:
    ///   - samples: Samples per pixel; 3 is written as RGB, others as grey with extra samples.
    ///   - tileSize: Tile width and height (a multiple of 16) when tiled.
    ///   - rowsPerStrip: Rows per strip when striped.
    ///   - description: Optional `ImageDescription`.
    package static func write(
        path: String, width: Int, height: Int, samples: Int, pixelType: PixelType, interleaved: [UInt8],
        layout: Layout, compression: TIFFCompression, bigEndian: Bool, tileSize: Int = 16, rowsPerStrip: Int = 5,
        description: String? = nil
    ) throws(MicroscopyIOError) {
        let size = pixelType.byteCount
        precondition(interleaved.count == width * height * samples * size, "sample count does not match the size")
        let tiff = try TIFFHandle.open(path: path, mode: bigEndian ? "wb" : "wl", failure: .writeFailed)
        func fail(_ what: String) -> MicroscopyIOError {
            MicroscopyIOError(code: .writeFailed, path: path, message: "\(what): \(tiff.diagnostics.errorText)")
        }
        let format: Int32 =
            switch pixelType {
            case .float32, .float64: SAMPLEFORMAT_IEEEFP
            case .int16: SAMPLEFORMAT_INT
            default: SAMPLEFORMAT_UINT
            }
        var ok = tiff.set(TIFFTAG_IMAGEWIDTH, u32: UInt32(width))
        ok = tiff.set(TIFFTAG_IMAGELENGTH, u32: UInt32(height)) && ok
        ok = tiff.set(TIFFTAG_BITSPERSAMPLE, u16: UInt16(size * 8)) && ok
        ok = tiff.set(TIFFTAG_SAMPLESPERPIXEL, u16: UInt16(samples)) && ok
        ok = tiff.set(TIFFTAG_SAMPLEFORMAT, u16: UInt16(format)) && ok
        let rgb = samples == 3
        ok = tiff.set(TIFFTAG_PHOTOMETRIC, u16: UInt16(rgb ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK)) && ok
        if !rgb && samples > 1 {
            let kinds = [UInt16](repeating: UInt16(EXTRASAMPLE_UNSPECIFIED), count: samples - 1)
            ok =
                kinds.withUnsafeBufferPointer {
                    lmdflow_tiff_set_extrasamples(tiff.tif, UInt16(samples - 1), $0.baseAddress) == 1
                } && ok
        }
        ok =
            tiff.set(TIFFTAG_PLANARCONFIG, u16: UInt16(layout.planar ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG))
            && ok
        ok = OMETIFFEngine.setCompression(tiff, compression, level: nil, predictor: true, pixelType: pixelType) && ok
        if layout.tiled {
            ok = tiff.set(TIFFTAG_TILEWIDTH, u32: UInt32(tileSize)) && ok
            ok = tiff.set(TIFFTAG_TILELENGTH, u32: UInt32(tileSize)) && ok
        } else {
            ok = tiff.set(TIFFTAG_ROWSPERSTRIP, u32: UInt32(rowsPerStrip)) && ok
        }
        if let description { ok = tiff.set(TIFFTAG_IMAGEDESCRIPTION, string: description) && ok }
        guard ok else { throw fail("setting tags") }

        // Native-order samples of one stored plane: all samples (interleaved) or sample `s`.
        func planeValues(_ s: Int?) -> [UInt8] {
            guard let s else { return interleaved }
            var out = [UInt8](repeating: 0, count: width * height * size)
            for i in 0..<(width * height) {
                for b in 0..<size { out[i * size + b] = interleaved[(i * samples + s) * size + b] }
            }
            return out
        }
        let perPixel = layout.planar ? 1 : samples
        let planes: [(Int?, [UInt8])] =
            layout.planar ? (0..<samples).map { ($0, planeValues($0)) } : [(nil, interleaved)]
        for (s, values) in planes {
            let rowBytes = width * perPixel * size
            if layout.tiled {
                var tile = [UInt8](repeating: 0, count: tileSize * tileSize * perPixel * size)
                for y in stride(from: 0, to: height, by: tileSize) {
                    for x in stride(from: 0, to: width, by: tileSize) {
                        for i in tile.indices { tile[i] = 0 }
                        for r in 0..<min(tileSize, height - y) {
                            let count = min(tileSize, width - x) * perPixel * size
                            let from = (y + r) * rowBytes + x * perPixel * size
                            for b in 0..<count { tile[r * tileSize * perPixel * size + b] = values[from + b] }
                        }
                        let index = TIFFComputeTile(tiff.tif, UInt32(x), UInt32(y), 0, UInt16(s ?? 0))
                        let written = tile.withUnsafeMutableBytes {
                            TIFFWriteEncodedTile(tiff.tif, index, $0.baseAddress, tmsize_t($0.count))
                        }
                        guard written == tile.count else { throw fail("writing tile \(index)") }
                    }
                }
            } else {
                for y in stride(from: 0, to: height, by: rowsPerStrip) {
                    let rows = min(rowsPerStrip, height - y)
                    var strip = Array(values[(y * rowBytes)..<((y + rows) * rowBytes)])
                    let index = TIFFComputeStrip(tiff.tif, UInt32(y), UInt16(s ?? 0))
                    let written = strip.withUnsafeMutableBytes {
                        TIFFWriteEncodedStrip(tiff.tif, index, $0.baseAddress, tmsize_t($0.count))
                    }
                    guard written == strip.count else { throw fail("writing strip \(index)") }
                }
            }
        }
        guard TIFFWriteDirectory(tiff.tif) == 1 else { throw fail("writing the directory") }
        tiff.close()
        guard tiff.diagnostics.errors.isEmpty else { throw fail("closing") }
    }
}
