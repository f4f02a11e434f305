import ImageKit
import MicroscopyIO
import Testing

@Suite("TIFFWriter")
struct TIFFWriterTests {
    @Test("UInt16 multi-channel image round-trips through the writer and the probe")
    func roundTripUInt16() throws {
        let dir = try TemporaryDirectory()
        let (nuclei, _) = SyntheticSample.nuclei(width: 97, height: 61, count: 6, seed: 5)
        var pixels = nuclei.pixels
        pixels += nuclei.pixels.map { 65_535 - $0 }
        pixels += nuclei.pixels.map { $0 / 2 }
        let image = try Image<UInt16>(width: 97, height: 61, channels: 3, pixels: pixels)
        let path = dir.path("three-channels.tif")

        try TIFFWriter.write(image, to: path, description: "lmdflow test")

        let probe = try FormatProbe.probe(path: path)
        #expect(
            probe
                == FileProbe(
                    format: .tiff, version: "classic", width: 97, height: 61, pages: 3,
                    bitsPerSample: 16, samplesPerPixel: 1, sampleFormat: "uint", compression: "deflate",
                    isOME: false, isImageJ: false
                ))
        let back = try TIFFTestTools.readAllPlanes(path, as: UInt16.self)
        #expect(back == image)
    }

    @Test("UInt8, UInt32 and Float images round-trip")
    func otherSampleTypes() throws {
        let dir = try TemporaryDirectory()
        let (_, labels) = SyntheticSample.nuclei(width: 300, height: 700, count: 40, seed: 9)
        let labelPath = dir.path("labels.tif")
        try TIFFWriter.write(labels, to: labelPath)
        #expect(try FormatProbe.probe(path: labelPath).bitsPerSample == 32)
        #expect(try TIFFTestTools.readAllPlanes(labelPath, as: UInt32.self) == labels)

        let bytes = try Image<UInt8>(width: 5, height: 3, pixels: (0..<15).map { UInt8($0 * 17) })
        let bytePath = dir.path("bytes.tif")
        try TIFFWriter.write(bytes, to: bytePath)
        #expect(try FormatProbe.probe(path: bytePath).bitsPerSample == 8)
        #expect(try TIFFTestTools.readAllPlanes(bytePath, as: UInt8.self) == bytes)

        let floats = try Image<Float>(width: 4, height: 4, channels: 2, pixels: (0..<32).map { Float($0) * 0.25 - 3 })
        let floatPath = dir.path("floats.tif")
        try TIFFWriter.write(floats, to: floatPath)
        let probe = try FormatProbe.probe(path: floatPath)
        #expect(probe.sampleFormat == "float")
        #expect(probe.pages == 2)
        #expect(try TIFFTestTools.readAllPlanes(floatPath, as: Float.self) == floats)
    }

    @Test("an OME-XML description marks the file as OME")
    func omeDescription() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("ome.tif")
        let xml =
            #"<?xml version="1.0" encoding="UTF-8"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"/>"#
        try TIFFWriter.write(Image<UInt16>(width: 2, height: 2, repeating: 7), to: path, description: xml)
        let probe = try FormatProbe.probe(path: path)
        #expect(probe.isOME)
        #expect(!probe.isImageJ)
    }

    @Test("BigTIFF output is recognised as BigTIFF")
    func bigTIFF() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("big.tif")
        let image = SyntheticSample.nuclei(width: 64, height: 48, count: 3, seed: 1).image
        try TIFFWriter.write(image, to: path, description: nil, bigTIFF: true)
        let head = try readBytes(path).prefix(4)
        #expect(Array(head) == [0x49, 0x49, 0x2B, 0x00])
        let probe = try FormatProbe.probe(path: path)
        #expect(probe.format == .bigTIFF)
        #expect(probe.version == "BigTIFF")
        #expect(probe.width == 64 && probe.height == 48 && probe.pages == 1)
        #expect(try TIFFTestTools.readAllPlanes(path, as: UInt16.self) == image)
    }

    @Test("writing into a missing directory fails with writeFailed and libtiff's reason")
    func writeFailure() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("no/such/dir/x.tif")
        do {
            try TIFFWriter.write(Image<UInt16>(width: 2, height: 2, repeating: 1), to: path)
            Issue.record("write into a missing directory succeeded")
        } catch {
            #expect(error.code == .writeFailed)
            #expect(error.path == path)
            #expect(error.description.contains(path))
        }
    }
}
