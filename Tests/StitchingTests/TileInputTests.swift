import Foundation
import ImageKit
import LMDTestSupport
import MicroscopyIO
import Testing

@testable import Stitching

/// Writes a single-channel `width`x`height` tile whose pixel (x, y) is `base + y * width + x`.
@discardableResult
private func writeTile(_ dir: TemporaryDirectory, _ name: String, width: Int = 16, height: Int = 12, base: UInt16 = 0) throws
    -> String
{
    let pixels = (0..<(width * height)).map { base &+ UInt16($0) }
    let path = dir.file(name)
    try TIFFWriter.write(try Image<UInt16>(width: width, height: height, pixels: pixels), to: path)
    return path
}

/// The error a throwing call throws, as a ``StitchingError`` (nil when it does not throw).
private func stitchingError<T>(_ body: () throws(StitchingError) -> T) -> StitchingError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// The value of the first pixel of a 16-bit plane.
private func firstSample(_ plane: Plane) -> UInt16 {
    UInt16(plane.bytes[0]) | UInt16(plane.bytes[1]) << 8
}

/// Tile inputs that need no shared test data: patterns, inference, TileConfiguration.txt, errors.
struct TileInputTests {
    // MARK: TilePattern

    @Test func patternMatchesAndRenders() throws {
        let pattern = try TilePattern("tile_{channel}_r{row:03}_c{col:03}.tif")
        #expect(pattern.hasChannel)
        let match = try #require(pattern.match("tile_Alexa_488_r001_c012.tif"))
        #expect(match.channel == "Alexa_488")
        #expect(match.row == 1)
        #expect(match.col == 12)
        #expect(pattern.match("tile_DAPI_r01_c002.tif") == nil)
        #expect(pattern.match("tile__r001_c002.tif") == nil)
        #expect(pattern.match("tile_DAPI_r001_c002.tiff") == nil)
        #expect(pattern.fileName(channel: "DAPI", row: 2, col: 7) == "tile_DAPI_r002_c007.tif")

        let free = try TilePattern("x{row}.{col}[1].tif")
        #expect(!free.hasChannel)
        #expect(free.match("x12.345[1].tif") == TilePattern.Match(channel: nil, row: 12, col: 345))
        #expect(free.match("x12.345(1).tif") == nil)
        #expect(try TilePattern("{{r{row}}}_{col}").match("{r4}_5") == TilePattern.Match(channel: nil, row: 4, col: 5))
    }

    @Test func badPatternsAreRefused() {
        for text in ["tile_r{row}.tif", "{row}_{col}_{z}", "{row}{col}{row}", "{row:abc}_{col}", "{row}_{col", "{row}}_{col}x}"] {
            let error = stitchingError { () throws(StitchingError) in try TilePattern(text) }
            #expect(error?.code == .invalidParameter, "\(text)")
        }
    }

    @Test func inferPatterns() {
        #expect(
            TilePattern.infer(fileNames: ["s_Alexa488_r00_c01.tif", "s_Alexa594_r00_c01.tif", "notes.txt"])
                == "s_{channel}_r{row:02}_c{col:02}.tif")
        #expect(
            TilePattern.infer(fileNames: ["s_Cy488_r0_c0.tif", "s_AF488_r0_c1.tif"]) == "s_{channel}_r{row:01}_c{col:01}.tif")
        #expect(TilePattern.infer(fileNames: ["scan_R1_C2.tif", "scan_R1_C3.tif", ".DS_Store"]) == "scan_R{row:01}_C{col:01}.tif")
        #expect(TilePattern.infer(fileNames: ["t_r9_c0.tif", "t_r10_c0.tif"]) == "t_r{row}_c{col:01}.tif")
        #expect(TilePattern.infer(fileNames: ["r000_c000_DAPI.tif", "r000_c001_GFP.tif"]) == "r{row:03}_c{col:03}_{channel}.tif")
        #expect(TilePattern.infer(fileNames: ["a.tif", "b.tif"]) == nil)
        #expect(TilePattern.infer(fileNames: []) == nil)
    }

    // MARK: Pattern folders

    @Test func patternFolderWithOneBasedNumbering() throws {
        let dir = try TemporaryDirectory()
        for row in 1...2 {
            for col in 1...3 {
                try writeTile(dir, "t_r\(row)_c\(col).tif", base: UInt16(row * 10 + col))
            }
        }
        try dir.write(".hidden_r1_c1.tif", "not a tiff")
        try dir.write("readme.txt", "hello")
        let set = try TileSet.pattern(folder: dir.path, pattern: "t_r{row}_c{col}.tif", overlap: 0.25, pixelSizeUm: 0.4)
        #expect(set.tiles.count == 6)
        #expect(set.channelNames == ["C0"])
        #expect(set.tileWidth == 16 && set.tileHeight == 12)
        #expect(set.pixelType == .uint16)
        #expect(set.pixelSizeUm == 0.4)
        let last = set.tiles[5]
        #expect(last.row == 1 && last.col == 2)
        #expect(last.name == "t_r2_c3.tif")
        #expect(last.nominalY == 12 * 0.75)
        #expect(last.nominalX == 2 * 16 * 0.75)
        #expect(firstSample(try set.plane(tile: 5, channel: 0)) == 23)
    }

    @Test func patternFolderMultiChannelFilesWithoutChannelField() throws {
        let dir = try TemporaryDirectory()
        for col in 0..<2 {
            let image = try Image<UInt16>(width: 8, height: 6, channels: 2, pixels: (0..<96).map { UInt16($0 + col * 1000) })
            try TIFFWriter.writeOME(image, to: dir.file("w_r0_c\(col).ome.tif"), pixelSizeUm: [0.5, 0.5, nil], channelNames: ["DAPI", "GFP"])
        }
        let set = try TileSet.pattern(folder: dir.path, pattern: "w_r{row}_c{col}.ome.tif", overlap: 0)
        #expect(set.channelNames == ["DAPI", "GFP"])
        #expect(set.pixelSizeUm == 0.5)
        #expect(set.tiles.map(\.nominalX) == [0, 8])
        #expect(firstSample(try set.plane(tile: 1, channel: 1)) == 1048)

        // With {channel} every file must hold one channel.
        let error = stitchingError { () throws(StitchingError) in
            try TileSet.pattern(folder: dir.path, pattern: "{channel}_r{row}_c{col}.ome.tif", overlap: 0)
        }
        #expect(error?.code == .inputInvalid)
    }

    @Test func missingGridCell() throws {
        let dir = try TemporaryDirectory()
        for (channel, cells) in [("A", [(0, 0), (0, 1), (1, 0), (1, 1)]), ("B", [(0, 0), (0, 1), (1, 0)])] {
            for (row, col) in cells { try writeTile(dir, "t_\(channel)_r\(row)_c\(col).tif") }
        }
        let error = try #require(stitchingError { () throws(StitchingError) in
            try TileSet.pattern(folder: dir.path, pattern: "t_{channel}_r{row}_c{col}.tif", overlap: 0.1)
        })
        #expect(error.code == .inputInvalid)
        #expect(error.message.contains("t_B_r1_c1.tif"))
        #expect(error.message.contains(dir.path))
    }

    @Test func sizeMismatch() throws {
        let dir = try TemporaryDirectory()
        try writeTile(dir, "t_r0_c0.tif")
        try writeTile(dir, "t_r0_c1.tif", width: 20)
        let error = try #require(stitchingError { () throws(StitchingError) in
            try TileSet.pattern(folder: dir.path, pattern: "t_r{row}_c{col}.tif", overlap: 0.1)
        })
        #expect(error.code == .sizeMismatch)
        #expect(error.message.contains("t_r0_c0.tif") && error.message.contains("t_r0_c1.tif"))
    }

    @Test func noFileMatchesAndOverlapRange() throws {
        let dir = try TemporaryDirectory()
        try writeTile(dir, "t_r0_c0.tif")
        let none = stitchingError { () throws(StitchingError) in
            try TileSet.pattern(folder: dir.path, pattern: "tile_r{row:03}_c{col:03}.tif", overlap: 0.1)
        }
        #expect(none?.code == .inputInvalid)
        #expect(none?.message.contains("no file matches") == true)
        for overlap in [-0.1, 1.0, Double.nan] {
            let error = stitchingError { () throws(StitchingError) in
                try TileSet.pattern(folder: dir.path, pattern: "t_r{row}_c{col}.tif", overlap: overlap)
            }
            #expect(error?.code == .invalidParameter)
        }
        let noOverlap = stitchingError { () throws(StitchingError) in
            try TileSet.folder(dir.path, pattern: "t_r{row}_c{col}.tif", overlap: nil, pixelSizeUm: nil)
        }
        #expect(noOverlap?.code == .invalidParameter)
        #expect(noOverlap?.message.contains("--overlap") == true)
        let missing = stitchingError { () throws(StitchingError) in
            try TileSet.pattern(folder: dir.file("nope"), pattern: "t_r{row}_c{col}.tif", overlap: 0.1)
        }
        #expect(missing?.code == .inputUnreadable)
    }

    @Test func patternRefusesSymlinkOutsideFolder() throws {
        let dir = try TemporaryDirectory()
        try writeTile(dir, "t_r0_c0.tif")
        try FileManager.default.createSymbolicLink(atPath: dir.file("t_r0_c1.tif"), withDestinationPath: "/etc/passwd")
        let error = stitchingError { () throws(StitchingError) in
            try TileSet.pattern(folder: dir.path, pattern: "t_r{row}_c{col}.tif", overlap: 0.1)
        }
        #expect(error?.code == .inputInvalid)
        #expect(error?.message.contains("/etc/passwd") == true)
    }

    // MARK: TileConfiguration.txt

    /// Four 2-channel 100x70 OME-TIFF tiles `a`…`d` in a fresh folder.
    private func configurationFolder() throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory()
        for (i, name) in ["a", "b", "c", "d"].enumerated() {
            let pixels = (0..<(2 * 100 * 70)).map { UInt16(i * 100 + $0 / (100 * 70)) }
            try TIFFWriter.writeOME(
                try Image<UInt16>(width: 100, height: 70, channels: 2, pixels: pixels), to: dir.file("\(name).tif"),
                pixelSizeUm: [0.5, 0.5, nil], channelNames: ["DAPI", "GFP"])
        }
        return dir
    }

    @Test func tileConfiguration() throws {
        let dir = try configurationFolder()
        let path = try dir.write(
            "TileConfiguration.txt",
            """
            # Define the number of dimensions we are working on
            dim = 2

            # Define the image coordinates
            a.tif; ; (-10.5, -3.0)
            b.tif; ; (79.5, -2)\r
            c.tif; 0; (-9, 57)
            d.tif;;(80.5,58)
            """)
        let set = try TileSet.tileConfiguration(path: path)
        #expect(set.tiles.map(\.name) == ["a.tif", "b.tif", "c.tif", "d.tif"])
        #expect(set.tiles.map(\.nominalX) == [0, 90, 1.5, 91])
        #expect(set.tiles.map(\.nominalY) == [0, 1, 60, 61])
        #expect(set.tiles.map(\.row) == [0, 0, 1, 1])
        #expect(set.tiles.map(\.col) == [0, 1, 0, 1])
        #expect(set.channelNames == ["DAPI", "GFP"])
        #expect(set.pixelSizeUm == 0.5)
        #expect(set.tileWidth == 100 && set.tileHeight == 70)
        #expect(firstSample(try set.plane(tile: 3, channel: 1)) == 301)

        // A folder with a TileConfiguration.txt and no pattern reads it.
        let viaFolder = try TileSet.folder(dir.path, pattern: nil, overlap: nil, pixelSizeUm: 0.25)
        #expect(viaFolder.tiles.count == 4)
        #expect(viaFolder.pixelSizeUm == 0.25)
    }

    @Test func tileConfigurationErrors() throws {
        let dir = try configurationFolder()
        try FileManager.default.createSymbolicLink(atPath: dir.file("link.tif"), withDestinationPath: "/etc/passwd")
        let cases: [(text: String, expect: String)] = [
            ("dim = 2\na.tif; ; (0, 0)\n\nb.tif; ; (1, x)\n", "line 4"),
            ("dim = 2\na.tif; (0, 0)\n", "line 2"),
            ("dim = 2\na.tif; ; 0, 0\n", "line 2"),
            ("dim = 3\na.tif; ; (0, 0, 0)\n", "3-D tile configurations are not supported"),
            ("dim = 2\nmultiseries = true\n", "line 2"),
            ("dim = 2\n../a.tif; ; (0, 0)\n", ".."),
            ("dim = 2\n/etc/passwd; ; (0, 0)\n", "absolute"),
            ("dim = 2\nlink.tif; ; (0, 0)\n", "/etc/passwd"),
            ("# nothing\ndim = 2\n", "no tiles"),
        ]
        for (text, expected) in cases {
            let path = try dir.write("TileConfiguration.txt", text)
            let error = try #require(stitchingError { () throws(StitchingError) in try TileSet.tileConfiguration(path: path) })
            #expect(error.code == .inputInvalid, "\(text)")
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(error.message.contains(path), "\(error.message)")
        }
        let missing = try dir.write("TileConfiguration.txt", "dim = 2\na.tif; ; (0, 0)\nmissing.tif; ; (90, 0)\n")
        let error = stitchingError { () throws(StitchingError) in try TileSet.tileConfiguration(path: missing) }
        #expect(error?.code == .inputUnreadable)
        #expect(error?.message.contains("line 3") == true)
    }
}

/// Tile inputs read from `../shared/testdata` (skipped when it is absent).
@Suite(.enabled(if: hasSharedTestData, "../shared/testdata is not beside the project (set LMD_SHARED_TESTDATA)"))
struct TileInputSharedDataTests {
    @Test func gtcutPattern() throws {
        let folder = try #require(sharedTestData).appendingPathComponent("stitching/gtcut_r002_c000").path
        let set = try TileSet.pattern(folder: folder, pattern: "tile_{channel}_r{row:03}_c{col:03}.tif", overlap: 0.175)
        #expect(set.channelNames == ["Alexa488", "DAPI", "mCherry"])
        #expect(set.tiles.count == 9)
        #expect(set.tileWidth == 400 && set.tileHeight == 400)
        for (t, tile) in set.tiles.enumerated() {
            #expect(tile.row == t / 3 && tile.col == t % 3)
            #expect(abs(tile.nominalY - Double(330 * (t / 3))) < 1e-9)
            #expect(abs(tile.nominalX - Double(330 * (t % 3))) < 1e-9)
        }
        #expect(set.tiles[5].name == "tile_Alexa488_r001_c002.tif")
        let direct = try AcquisitionFile.open(path: folder + "/tile_DAPI_r001_c002.tif").plane(PlaneIndex(frame: 0, channel: 0))
        #expect(try set.plane(tile: 5, channel: 1) == direct)
        #expect(TilePattern.infer(fileNames: try FileManager.default.contentsOfDirectory(atPath: folder))
            == "tile_{channel}_r{row:03}_c{col:03}.tif")
    }

    @Test func scportraitFolderWithInferredPattern() throws {
        let folder = try #require(sharedTestData).appendingPathComponent("stitching/real_scportrait_3x3").path
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
        #expect(TilePattern.infer(fileNames: names) == "Timepoint001_Row02_Well04_{channel}_zstack001_r{row:03}_c{col:03}.tif")
        let set = try TileSet.folder(folder, pattern: nil, overlap: 0.1, pixelSizeUm: nil)
        #expect(set.channelNames == ["Alexa488", "DAPI"])
        #expect(set.tiles.count == 9)
        #expect(set.tileWidth == 1080 && set.tileHeight == 1080)
        #expect(abs(set.tiles[4].nominalX - 972) < 1e-9 && abs(set.tiles[4].nominalY - 972) < 1e-9)
        let needsOverlap = stitchingError { () throws(StitchingError) in
            try TileSet.folder(folder, pattern: nil, overlap: nil, pixelSizeUm: nil)
        }
        #expect(needsOverlap?.code == .invalidParameter)
    }

    struct ND2Truth: Decodable {
        struct Tile: Decodable {
            let seqIndex: Int
            let name: String
            let gridRow: Int
            let gridCol: Int
            let metadataOriginPxYx: [Double]
        }
        let pixelSizeUm: Double
        let tiles: [Tile]
    }

    @Test func multiPositionND2() throws {
        let base = try #require(sharedTestData).appendingPathComponent("nd2-generated")
        let path = base.appendingPathComponent("lim-multipos-4x3-2ch.nd2").path
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let truth = try decoder.decode(ND2Truth.self, from: Data(contentsOf: URL(fileURLWithPath: path + ".stitching.json")))

        let set = try TileSet.nd2(path: path)
        #expect(set.tiles.count == 12)
        #expect(set.channelNames == ["DAPI", "Alexa488"])
        #expect(set.tileWidth == 384 && set.tileHeight == 288)
        #expect(set.pixelSizeUm == truth.pixelSizeUm)
        let minY = truth.tiles.map { $0.metadataOriginPxYx[0] }.min()!
        let minX = truth.tiles.map { $0.metadataOriginPxYx[1] }.min()!
        for expected in truth.tiles {
            let tile = set.tiles[expected.seqIndex]
            #expect(abs(tile.nominalY - (expected.metadataOriginPxYx[0] - minY)) < 0.01, "\(expected.name)")
            #expect(abs(tile.nominalX - (expected.metadataOriginPxYx[1] - minX)) < 0.01, "\(expected.name)")
            #expect(tile.row == expected.gridRow && tile.col == expected.gridCol, "\(expected.name)")
            #expect(tile.name == expected.name)
            #expect(tile.stageUm?.count == 2)
        }
        let direct = try ND2Reader(path: path).plane(PlaneIndex(frame: 7, channel: 1))
        #expect(try set.plane(tile: 7, channel: 1) == direct)

        let single = stitchingError { () throws(StitchingError) in
            try TileSet.nd2(path: base.appendingPathComponent("lim-zlib-3ch-t4-512.nd2").path)
        }
        #expect(single?.code == .inputInvalid)
        #expect(single?.message.contains("not a multi-position scan") == true)
        let missing = stitchingError { () throws(StitchingError) in try TileSet.nd2(path: base.path + "/missing.nd2") }
        #expect(missing?.code == .inputUnreadable)
    }
}
