import Foundation
import MicroscopyIO
import Testing

/// Compares the probe with the truth JSON that independent readers (tifffile, the `nd2` Python
/// package) wrote beside each shared test file. Skipped when ../shared/testdata is absent.
@Suite(
    "Probe vs truth files in ../shared/testdata",
    .enabled(if: hasSharedTestData, "../shared/testdata is absent: skipped"))
struct TruthFileTests {
    static let tiffFiles = sharedFiles(in: "tiff", suffixes: [".tif", ".tiff"])
    static let nd2Files =
        sharedFiles(in: "nd2", suffixes: [".nd2"]) + sharedFiles(in: "nd2-generated", suffixes: [".nd2"])

    static func truth(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path + ".json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("the shared folder has files to compare against")
    func corpusPresent() {
        #expect(!Self.tiffFiles.isEmpty)
        #expect(!Self.nd2Files.isEmpty)
    }

    @Test("TIFF probe matches tifffile", arguments: tiffFiles)
    func tiff(path: String) throws {
        let truth = try Self.truth(path)
        let probe = try FormatProbe.probe(path: path)
        let page0 = try #require(truth["page0"] as? [String: Any])

        let isBig = truth["is_bigtiff"] as? Bool ?? false
        #expect(probe.format == (isBig ? .bigTIFF : .tiff))
        #expect(probe.version == (isBig ? "BigTIFF" : "classic"))
        if let pages = truth["n_pages_top_level"] as? Int {
            #expect(probe.pages == pages)
        }
        let shape = try #require(page0["shape"] as? [Int])
        let samples = page0["samplesperpixel"] as? Int ?? 1
        let separate = (page0["planarconfig"] as? Int == 2) || (page0["planarconfig"] as? String == "SEPARATE")
        let (height, width) = samples > 1 && separate ? (shape[1], shape[2]) : (shape[0], shape[1])
        #expect(probe.width == width)
        #expect(probe.height == height)
        #expect(probe.samplesPerPixel == samples)
        if let bits = page0["bitspersample"] as? Int {
            #expect(probe.bitsPerSample == bits)
        }
        if let dtype = page0["dtype"] as? String {
            let expected =
                dtype.hasPrefix("uint")
                ? "uint" : dtype.hasPrefix("int") ? "int" : dtype.hasPrefix("float") ? "float" : nil
            #expect(probe.sampleFormat == expected)
        }
        if let compression = page0["compression"] as? String {
            let names = [
                "none": "none", "adobe_deflate": "deflate", "deflate": "deflate", "lzw": "lzw",
                "packbits": "packbits", "jpeg": "jpeg", "zstd": "zstd",
            ]
            #expect(probe.compression == names[compression.lowercased()] ?? compression.lowercased())
        }
        #expect(probe.isOME == (truth["is_ome"] as? Bool ?? false))
        #expect(probe.isImageJ == (truth["is_imagej"] as? Bool ?? false))
    }

    @Test("ND2 probe matches the nd2 package", arguments: nd2Files)
    func nd2(path: String) throws {
        let truth = try Self.truth(path)
        let probe = try FormatProbe.probe(path: path)
        #expect(probe.format == ((truth["is_legacy"] as? Bool ?? false) ? .nd2Legacy : .nd2))
        if let version = truth["version"] as? [Int] {
            #expect(probe.version == version.map(String.init).joined(separator: "."))
        }
        if let frames = truth["num_frames"] as? Int {
            #expect(probe.frames == frames)
        }
        let attributes = try #require(truth["attributes"] as? [String: Any])
        #expect(probe.width == attributes["widthPx"] as? Int)
        #expect(probe.height == attributes["heightPx"] as? Int)
        #expect(probe.bitsPerSample == attributes["bitsPerComponentInMemory"] as? Int)
        #expect(probe.samplesPerPixel == attributes["componentCount"] as? Int)
        if let sequenceCount = attributes["sequenceCount"] as? Int {
            #expect(probe.frames == sequenceCount)
        }
        let compression = attributes["compressionType"] as? String
        #expect(probe.compression == (compression == "lossless" ? "zlib" : compression == "lossy" ? "lossy" : "none"))
        if (attributes["pixelDataType"] as? String) == "unsigned" {
            #expect(probe.sampleFormat == "uint")
        }
        #expect(probe.pages == nil)
        #expect(!probe.isOME && !probe.isImageJ)
    }
}
