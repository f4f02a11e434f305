import Foundation
import ImageKit
import MicroscopyIO
import Testing

@Suite("PNG writer")
struct PNGWriterTests {
    /// A test picture with smooth gradients (sub/up filters win) and noise (none wins).
    static func picture(width: Int, height: Int, channels: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        var out: [UInt8] = []
        out.reserveCapacity(width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<channels {
                    if y < height / 2 {
                        out.append(UInt8(truncatingIfNeeded: x * (c + 1) + y))
                    } else {
                        out.append(UInt8(truncatingIfNeeded: rng.next()))
                    }
                }
            }
        }
        return out
    }

    @Test(
        "grey, RGB and RGBA decode to the same bytes, CRCs and filters valid", arguments: PNGWriter.ColorType.allCases)
    func roundTrip(colorType: PNGWriter.ColorType) throws {
        for (width, height) in [(1, 1), (7, 3), (300, 211)] {
            let pixels = Self.picture(width: width, height: height, channels: colorType.channels, seed: 5)
            for level in [0, 1, 6, 9] {
                let png = try PNGWriter.encode(
                    width: width, height: height, colorType: colorType, pixels: pixels, compressionLevel: level)
                let decoded = try PNGDecoder.decode(png)
                #expect(decoded.width == width && decoded.height == height)
                #expect(decoded.colorType == colorType)
                #expect(decoded.pixels == pixels, "\(colorType) \(width)x\(height) level \(level)")
                #expect(decoded.chunks.first == "IHDR" && decoded.chunks.last == "IEND")
                #expect(decoded.filters.allSatisfy { $0 <= 2 })
            }
        }
    }

    @Test("filters are chosen per row: gradients use sub or up, the first row never up")
    func filterChoice() throws {
        let width = 256
        let height = 64
        let gradient = (0..<(width * height)).map { UInt8(truncatingIfNeeded: $0 % width) }
        let decoded = try PNGDecoder.decode(
            try PNGWriter.encode(width: width, height: height, colorType: .gray, pixels: gradient))
        #expect(decoded.filters[0] != 2)
        #expect(decoded.filters.dropFirst().allSatisfy { $0 == 1 || $0 == 2 })
        #expect(decoded.pixels == gradient)
    }

    @Test("large images are split into several IDAT chunks")
    func chunks() throws {
        let pixels = Self.picture(width: 1_024, height: 1_024, channels: 3, seed: 9)
        let png = try PNGWriter.encode(
            width: 1_024, height: 1_024, colorType: .rgb, pixels: pixels, compressionLevel: 1)
        let decoded = try PNGDecoder.decode(png)
        #expect(decoded.chunks.filter { $0 == "IDAT" }.count > 1)
        #expect(decoded.pixels == pixels)
    }

    @Test("an Image writes as a file that file(1) and Python's zlib agree on")
    func file() throws {
        let dir = try TemporaryDirectory()
        let planes = (0..<3).flatMap { c in (0..<(40 * 30)).map { UInt8(truncatingIfNeeded: $0 * (c + 1)) } }
        let image = try Image<UInt8>(width: 40, height: 30, channels: 3, pixels: planes)
        let path = dir.path("preview.png")
        try PNGWriter.write(image, to: path)
        let decoded = try PNGDecoder.decode(try readBytes(path))
        #expect(decoded.colorType == .rgb)
        for i in 0..<(40 * 30) {
            for c in 0..<3 where decoded.pixels[i * 3 + c] != planes[c * 40 * 30 + i] {
                Issue.record("pixel \(i) channel \(c)")
                return
            }
        }
        if let description = try? TIFFTestTools.runTool("/usr/bin/file", [path]) {
            #expect(description.contains("PNG image data, 40 x 30, 8-bit/color RGB"), "\(description)")
        }
        // Python's own zlib and CRC check, when python3 is there.
        let script = """
            import sys, struct, zlib
            data = open(sys.argv[1], 'rb').read()
            assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            pos, idat, names = 8, b'', []
            while pos < len(data):
                n, = struct.unpack('>I', data[pos:pos+4]); kind = data[pos+4:pos+8]
                body = data[pos+8:pos+8+n]; crc, = struct.unpack('>I', data[pos+8+n:pos+12+n])
                assert zlib.crc32(kind + body) & 0xffffffff == crc, kind
                names.append(kind.decode()); idat += body if kind == b'IDAT' else b''
                pos += 12 + n
            w, h = struct.unpack('>II', data[16:24])
            raw = zlib.decompress(idat)
            assert len(raw) == h * (w * 3 + 1), len(raw)
            print(','.join(names), w, h)
            """
        if let output = try? TIFFTestTools.runPython(script, arguments: [path]) {
            #expect(output.hasPrefix("IHDR,IDAT"), "\(output)")
            #expect(output.contains("40 30"))
        }
        // PIL, when installed, decodes the same pixels.
        let pil =
            "import sys; from PIL import Image; im = Image.open(sys.argv[1]); print(im.mode, im.size, list(im.getpixel((5, 7))))"
        if let output = try? TIFFTestTools.runPython(pil, arguments: [path]) {
            let i = 7 * 40 + 5
            #expect(
                output.contains("RGB (40, 30) [\(planes[i]), \(planes[1200 + i]), \(planes[2400 + i])]"), "\(output)")
        }
    }

    @Test("invalid sizes and channel counts give writeFailed")
    func invalid() throws {
        #expect(throws: MicroscopyIOError.self) {
            try PNGWriter.encode(width: 2, height: 2, colorType: .rgb, pixels: [1, 2, 3])
        }
        #expect(throws: MicroscopyIOError.self) {
            try PNGWriter.encode(width: 0, height: 2, colorType: .gray, pixels: [])
        }
        #expect(throws: MicroscopyIOError.self) {
            try PNGWriter.encode(width: 1, height: 1, colorType: .gray, pixels: [1], compressionLevel: 11)
        }
        let dir = try TemporaryDirectory()
        do {
            try PNGWriter.write(Image<UInt8>(width: 2, height: 2, channels: 2, repeating: 0), to: dir.path("x.png"))
            Issue.record("two channels were accepted")
        } catch {
            #expect(error.code == .writeFailed)
            #expect(error.path == dir.path("x.png"))
        }
        do {
            try PNGWriter.write(Image<UInt8>(width: 2, height: 2, repeating: 0), to: dir.path("no/dir/x.png"))
            Issue.record("a missing directory was accepted")
        } catch {
            #expect(error.code == .writeFailed)
        }
    }
}

extension TIFFTestTools {
    /// Runs a program and returns its standard output; throws when it cannot run or fails.
    static func runTool(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = Pipe()
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
        return String(decoding: data, as: UTF8.self)
    }
}
