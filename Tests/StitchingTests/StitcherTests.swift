import Foundation
import ImageKit
import LMDTestSupport
import MicroscopyIO
import Testing

@testable import Stitching

/// The whole stitch (inputs → orientation → registration → mosaic) on real and round-trip data.
@Suite struct StitcherTests {
    struct ScanTruth: Decodable {
        struct Tile: Decodable {
            let seqIndex: Int
            let gridRow: Int
            let gridCol: Int
            let trueOriginPxYx: [Double]
        }
        let tiles: [Tile]
    }

    /// The 4×3 scan written by Nikon's own writer (stage positions off by up to ±3 px on purpose)
    /// stitches to ≤ 0.5 px RMS against the true tile offsets, with the orientation detected as
    /// given and a stage → mosaic map close to 1 / 0.65 px per µm.
    @Test(.enabled(if: hasSharedTestData, "../shared/testdata is not beside the project"))
    func nikonScanStitches() throws {
        let folder = try #require(sharedTestData).appendingPathComponent("nd2-generated")
        let path = folder.appendingPathComponent("lim-multipos-4x3-2ch.nd2").path
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let truth = try decoder.decode(
            ScanTruth.self,
            from: Data(contentsOf: folder.appendingPathComponent("lim-multipos-4x3-2ch.nd2.stitching.json")))
        let set = try TileSet.nd2(path: path)
        #expect(set.tiles.count == 12)
        let directory = try TemporaryDirectory()
        let output = directory.file("mosaic.ome.tif")
        let report = try Stitcher.stitch(set, to: output)
        print(
            "lim-multipos-4x3: \(report.acceptedPairs)/\(report.pairs.count) pairs, orientation \(report.orientation), "
                + "checks \(report.orientationChecks.map { "\($0.orientation) \(String(format: "%.3f", $0.meanScore))" }), "
                + "seconds \(report.seconds)")
        #expect(report.orientation == .identity)
        let ordered = truth.tiles.sorted { $0.seqIndex < $1.seqIndex }
        let solved = report.placements.map { Registration.Position(y: $0.y, x: $0.x) }
        let error = positionError(solved, ordered.map { ($0.trueOriginPxYx[0], $0.trueOriginPxYx[1]) })
        let nominal = positionError(
            report.placements.map { Registration.Position(y: $0.nominalY, x: $0.nominalX) },
            ordered.map { ($0.trueOriginPxYx[0], $0.trueOriginPxYx[1]) })
        print("lim-multipos-4x3: RMS \(error.rms) px (max \(error.max)); stage positions alone \(nominal.rms) px")
        #expect(error.rms <= 0.5, "RMS \(error.rms) px")
        for (placement, tile) in zip(report.placements, ordered) {
            #expect(placement.row == tile.gridRow && placement.col == tile.gridCol, "\(placement.name)")
        }
        let mapping = try #require(report.stageToMosaic)
        #expect(abs(mapping.matrix[0][1] - 1 / 0.65) < 0.02 && abs(mapping.matrix[1][0] - 1 / 0.65) < 0.02)
        #expect(abs(mapping.matrix[0][0]) < 0.02 && abs(mapping.matrix[1][1]) < 0.02)
        #expect(mapping.rmsResidualPx < 4, "stage errors are at most ±3 px per axis")

        // The mosaic: 2 channels, tiles' interiors (covered by one tile only) are the tiles' own pixels.
        let reader = try AcquisitionFile.open(path: output)
        #expect(reader.info.channels.map(\.name) == ["DAPI", "Alexa488"])
        #expect(reader.info.width == report.mosaicWidth && reader.info.height == report.mosaicHeight)
        #expect(reader.info.levelCount >= 1)
        let mosaic = try reader.plane(PlaneIndex(frame: 0, channel: 1))
        let tile = try set.plane(tile: 4, channel: 1)
        let p = report.placements[4]
        var checked = 0
        for y in stride(from: 60, to: 220, by: 7) {
            for x in stride(from: 60, to: 320, by: 11) {
                let a = u16(tile, x: x, y: y)
                let b = u16(mosaic, x: x + p.originX, y: y + p.originY)
                #expect(a == b, "tile 4 (\(x), \(y))")
                checked += 1
                if a != b { return }
            }
        }
        #expect(checked > 100)
    }

    /// A scan written by our own ND2 writer from a known image stitches back to it: every tile at
    /// its true place and the mosaic equal to the image over the area the tiles cover.
    @Test(.enabled(if: hasSharedTestData, "../shared/testdata is not beside the project"))
    func ownWriterRoundTrip() throws {
        let source = try #require(sharedTestData).appendingPathComponent(
            "stitching/real_scportrait_3x3/Timepoint001_Row02_Well04_DAPI_zstack001_r001_c001.tif")
        let image = try loadTestImage(source.path)
        let rows = 3, columns = 3, height = 300, width = 360
        let stepY = 260, stepX = 320
        var rng = SplitMix64(seed: 7)
        var origins: [(Int, Int)] = []
        var stage: [[Double]] = []
        let pixelSize = 0.5
        for r in 0..<rows {
            for c in 0..<columns {
                let y = 20 + r * stepY + Int(rng.next(below: 9)) - 4
                let x = 20 + c * stepX + Int(rng.next(below: 9)) - 4
                origins.append((y, x))
                // Stage positions (tile centres) off by up to ±2.5 px from the truth.
                let ey = Double(Int(rng.next(below: 51)) - 25) / 10, ex = Double(Int(rng.next(below: 51)) - 25) / 10
                stage.append([
                    5000 + (Double(x) + ex + Double(width) / 2) * pixelSize,
                    -2000 + (Double(y) + ey + Double(height) / 2) * pixelSize, 100,
                ])
            }
        }
        #expect(origins.allSatisfy { $0.0 + height <= image.height && $0.1 + width <= image.width })
        func crop(_ y0: Int, _ x0: Int) -> Plane {
            var bytes = [UInt8](repeating: 0, count: width * height * 2)
            for y in 0..<height {
                for x in 0..<width {
                    let v = image[x: x0 + x, y: y0 + y]
                    bytes[(y * width + x) * 2] = UInt8(v & 0xff)
                    bytes[(y * width + x) * 2 + 1] = UInt8(v >> 8)
                }
            }
            return Plane(width: width, height: height, pixelType: .uint16, bytes: bytes)
        }
        let directory = try TemporaryDirectory()
        let path = directory.file("scan.nd2")
        try ND2Writer.write(
            path: path, frames: origins.map { [crop($0.0, $0.1)] }, channels: [ChannelInfo(name: "DAPI", index: 0)],
            loops: [ExperimentLoop(axis: "P", type: "XYPosLoop", count: origins.count, nestingLevel: 0)],
            pixelSizeUm: pixelSize, stageUm: stage)
        let set = try TileSet.nd2(path: path)
        let output = directory.file("mosaic.ome.tif")
        let report = try Stitcher.stitch(set, to: output, options: Stitcher.Options(blend: .linear))
        let solved = report.placements.map { Registration.Position(y: $0.y, x: $0.x) }
        let error = positionError(solved, origins.map { (Double($0.0), Double($0.1)) })
        print("own-writer round trip: RMS \(error.rms) px, \(report.acceptedPairs)/\(report.pairs.count) pairs")
        #expect(error.rms <= 0.25, "RMS \(error.rms) px")
        // Whole-pixel origins equal the truth up to one global shift, so the mosaic is the image.
        let dy = report.placements[0].originY - origins[0].0
        let dx = report.placements[0].originX - origins[0].1
        for (p, o) in zip(report.placements, origins) {
            #expect(p.originY - o.0 == dy && p.originX - o.1 == dx, "\(p.name)")
        }
        let mosaic = try AcquisitionFile.open(path: output).plane(PlaneIndex(frame: 0, channel: 0))
        var mismatches = 0
        for (t, o) in origins.enumerated() {
            let p = report.placements[t]
            for y in stride(from: 0, to: height, by: 3) {
                for x in stride(from: 0, to: width, by: 3) {
                    if u16(mosaic, x: p.originX + x, y: p.originY + y) != image[x: o.1 + x, y: o.0 + y] { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) mosaic pixels differ from the source image")
    }

    /// The real scPortrait grid's file row 0 is the bottom row: the orientation check finds the
    /// y flip by itself (ASHLAR needs `--flip-y`), and then every pair is accepted.
    @Test(.enabled(if: hasSharedTestData, "../shared/testdata is not beside the project"))
    func detectsFlippedRows() throws {
        let folder = try #require(sharedTestData).appendingPathComponent("stitching/real_scportrait_3x3")
        let set = try TileSet.folder(folder.path, pattern: nil, overlap: 0.1, pixelSizeUm: nil)
        var options = Stitcher.Options(channel: "DAPI")
        options.registration.maxShift = 30
        let report = try Stitcher.register(set, options: options)
        print(
            "scPortrait grid: orientation \(report.orientation); checks "
                + report.orientationChecks.map { "\($0.orientation) \(String(format: "%.3f", $0.meanScore)) (\($0.withinRange)/\($0.pairs))" }
                .joined(separator: ", "))
        #expect(report.orientation == Orientation(flipY: true))
        #expect(report.acceptedPairs == 12)
        #expect(report.warnings.contains { $0.contains("mirrored") })
    }

    /// gtcut through the pattern input and the whole stitcher: ≤ 0.5 px RMS against the truth.
    @Test(.enabled(if: hasSharedTestData, "../shared/testdata is not beside the project"))
    func gtcutThroughPattern() throws {
        let folder = try #require(sharedTestData).appendingPathComponent("stitching/gtcut_r002_c000")
        struct Truth: Decodable { let truthOriginYxPx: [String: [Double]] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let truth = try decoder.decode(Truth.self, from: Data(contentsOf: folder.appendingPathComponent("truth.json")))
        let set = try TileSet.pattern(folder: folder.path, pattern: "tile_{channel}_r{row:03}_c{col:03}.tif", overlap: 70.0 / 400.0)
        let report = try Stitcher.register(set, options: Stitcher.Options(channel: "DAPI"))
        #expect(report.orientation == .identity)
        let expected = try report.placements.map { p -> (Double, Double) in
            let t = try #require(truth.truthOriginYxPx["r\(p.row ?? -1)_c\(p.col ?? -1)"])
            return (t[0], t[1])
        }
        let error = positionError(report.placements.map { Registration.Position(y: $0.y, x: $0.x) }, expected)
        #expect(error.rms <= 0.5, "RMS \(error.rms) px")
        let json = try JSONSerialization.jsonObject(with: Stitcher.positionsJSON(report)) as? [String: Any]
        let tiles = try #require(json?["tiles"] as? [[String: Any]])
        #expect(tiles.count == 9)
        #expect(tiles.allSatisfy { $0["row"] is Int && $0["col"] is Int && $0["y"] is Double && $0["x"] is Double })
    }

    /// Flipping a layout mirrors it inside its own bounding box.
    @Test func flippedLayout() throws {
        let layout = try TileLayout.grid(rows: 2, columns: 3, tileHeight: 10, tileWidth: 10, stepY: 8, stepX: 9)
        let flipped = layout.flipped(Orientation(flipX: true, flipY: true))
        #expect(flipped.tiles[0].y == 8 && flipped.tiles[0].x == 18)
        #expect(flipped.tiles[5].y == 0 && flipped.tiles[5].x == 0)
        #expect(layout.flipped(.identity) == layout)
        #expect(Orientation.all.map(\.description) == ["none", "flip-y", "flip-x", "flip-x+flip-y"])
    }

    /// The stage map is exact on synthetic, consistent positions, including a flipped y axis.
    @Test func stageMappingFit() throws {
        var tiles: [TileSet.Tile] = []
        for r in 0..<2 {
            for c in 0..<3 {
                tiles.append(TileSet.Tile(row: r, col: c, name: "r\(r)c\(c)", nominalY: 0, nominalX: 0, stageUm: [100 + Double(c) * 40, 50 - Double(r) * 30]))
            }
        }
        let set = TileSet(
            tiles: tiles, tileWidth: 100, tileHeight: 80, channelNames: ["C0"], pixelType: .uint16, pixelSizeUm: 0.5,
            source: "synthetic") { _, _ throws(StitchingError) in Plane(width: 100, height: 80, pixelType: .uint16, bytes: [UInt8](repeating: 0, count: 16000)) }
        // Mosaic y grows as stage y falls (flipped); x = 2 px per µm.
        let placements = tiles.map { t in
            Stitcher.Placement(
                row: t.row, col: t.col, name: t.name, y: (50 - t.stageUm![1]) * 2, x: (t.stageUm![0] - 100) * 2,
                originY: 0, originX: 0, nominalY: 0, nominalX: 0, modelPlaced: false, stageUm: t.stageUm)
        }
        let mapping = try #require(Stitcher.stageMapping(placements, set: set, orientation: Orientation(flipY: true)))
        #expect(mapping.kind == "affine")
        #expect(abs(mapping.matrix[0][1] + 2) < 1e-9 && abs(mapping.matrix[1][0] - 2) < 1e-9)
        #expect(mapping.rmsResidualPx < 1e-9)
        let centre = mapping.mosaicPixel(stageX: 140, stageY: 20)
        #expect(abs(centre.y - (60 + 40)) < 1e-9 && abs(centre.x - (80 + 50)) < 1e-9)
    }

    func u16(_ plane: Plane, x: Int, y: Int) -> UInt16 {
        let i = (y * plane.width + x) * 2
        return UInt16(plane.bytes[i]) | UInt16(plane.bytes[i + 1]) << 8
    }
}
