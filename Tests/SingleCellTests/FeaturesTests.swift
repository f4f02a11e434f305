import Foundation
import ImageKit
import Testing
@testable import SingleCell

/// Featurization on small synthetic masks with hand-computed values. The scikit-image values
/// quoted below were checked once with `skimage.measure.regionprops` (0.26) on the same arrays;
/// each is also derivable by hand as the comments show.
@Suite struct FeaturesTests {
    /// A label image from rectangles `(x0, y0, x1, y1, id)` (inclusive corners), painted in order.
    static func labels(_ width: Int, _ height: Int, _ boxes: [(Int, Int, Int, Int, UInt32)]) -> Image<UInt32> {
        var image = Image<UInt32>(width: width, height: height, repeating: 0)
        for (x0, y0, x1, y1, id) in boxes {
            for y in y0...y1 { for x in x0...x1 { image[x: x, y: y] = id } }
        }
        return image
    }

    /// `I(x, y) = x + 10·y + offset`.
    static func ramp(_ width: Int, _ height: Int, offset: Int = 0) -> Image<UInt16> {
        var image = Image<UInt16>(width: width, height: height, repeating: 0)
        for y in 0..<height { for x in 0..<width { image[x: x, y: y] = UInt16(x + 10 * y + offset) } }
        return image
    }

    static func value(_ table: FeatureTable, _ column: String, row: Int = 0) -> Double {
        guard let c = table.column(column) else {
            Issue.record("missing column \(column)")
            return .nan
        }
        return c.values[row]
    }

    static let noBackground = FeatureSettings(backgroundCorrection: false)

    @Test func rectangleMatchesRegionprops() throws {
        // 5 × 3 rectangle at x 2…6, y 1…3.
        let mask = Self.labels(10, 8, [(2, 1, 6, 3, 1)])
        let t = try Featurizer.compute(nucleus: mask, cytosol: nil, channels: [], cellIDs: [1], settings: Self.noBackground)
        #expect(Self.value(t, "area_nucleus") == 15)
        #expect(Self.value(t, "perimeter_nucleus") == 12)  // 2·(5−1) + 2·(3−1)
        #expect(Self.value(t, "centroid_x_nucleus") == 4)
        #expect(Self.value(t, "centroid_y_nucleus") == 2)
        #expect(Self.value(t, "bbox_x0_nucleus") == 2)
        #expect(Self.value(t, "bbox_y0_nucleus") == 1)
        #expect(Self.value(t, "bbox_x1_nucleus") == 7)  // exclusive, like skimage
        #expect(Self.value(t, "bbox_y1_nucleus") == 4)
        // var x = (5²−1)/12 = 2, var y = (3²−1)/12 = 2/3: axes 4√2, 4√(2/3); ecc √(1 − 1/3).
        #expect(abs(Self.value(t, "major_axis_nucleus") - 4 * 2.0.squareRoot()) < 1e-12)
        #expect(abs(Self.value(t, "minor_axis_nucleus") - 4 * (2.0 / 3).squareRoot()) < 1e-12)
        #expect(abs(Self.value(t, "eccentricity_nucleus") - (2.0 / 3).squareRoot()) < 1e-12)
        #expect(abs(Self.value(t, "orientation_nucleus") - Double.pi / 2) < 1e-12)  // major axis along x
        #expect(Self.value(t, "solidity_nucleus") == 1)
        #expect(abs(Self.value(t, "equivalent_diameter_nucleus") - (60 / Double.pi).squareRoot()) < 1e-12)
        // A tall 2 × 7 bar: orientation 0 (major axis along the rows), axes 4·2 and 4·½.
        let tall = try Featurizer.compute(
            nucleus: Self.labels(10, 10, [(3, 1, 4, 7, 6)]), cytosol: nil, channels: [], cellIDs: [6],
            settings: Self.noBackground)
        #expect(Self.value(tall, "orientation_nucleus") == 0)
        #expect(Self.value(tall, "major_axis_nucleus") == 8)
        #expect(Self.value(tall, "minor_axis_nucleus") == 2)
        #expect(Self.value(tall, "perimeter_nucleus") == 14)
    }

    @Test func lShapeAndDiagonal() throws {
        // L: x = 0, y 0…3 and y = 3, x 1…3 (7 pixels, no interior pixel).
        let mask = Self.labels(8, 8, [(0, 0, 0, 3, 2), (1, 3, 3, 3, 2)])
        let t = try Featurizer.compute(nucleus: mask, cytosol: nil, channels: [], cellIDs: [2], settings: Self.noBackground)
        #expect(Self.value(t, "area_nucleus") == 7)
        // Border codes: the two line ends 1+2 = 3 (weight 0), the other five 5 or 15 (weight 1).
        #expect(Self.value(t, "perimeter_nucleus") == 5)
        // The hull of the pixels' edge midpoints is bounded by y = x − ½: pixel centres with
        // y ≥ x in the 4 × 4 box, 4+3+2+1 = 10.
        #expect(abs(Self.value(t, "solidity_nucleus") - 0.7) < 1e-15)
        #expect(abs(Self.value(t, "centroid_x_nucleus") - 6.0 / 7) < 1e-15)
        #expect(abs(Self.value(t, "centroid_y_nucleus") - 15.0 / 7) < 1e-15)
        // Σ(x−x̄)² = 14 − 36/7 = 62/7, Σ(y−ȳ)² = 41 − 225/7 = 62/7, Σ(x−x̄)(y−ȳ) = 18 − 90/7 = 36/7:
        // per pixel a = c = 62/49, |b| = 36/49 → l1 = 2, l2 = 26/49, ecc = √(1 − 13/49) = 6/7.
        let a = 62.0 / 49, b = 36.0 / 49
        #expect(abs(Self.value(t, "major_axis_nucleus") - 4 * (a + b).squareRoot()) < 1e-12)
        #expect(abs(Self.value(t, "minor_axis_nucleus") - 4 * (a - b).squareRoot()) < 1e-12)
        #expect(abs(Self.value(t, "eccentricity_nucleus") - 6.0 / 7) < 1e-12)
        #expect(abs(Self.value(t, "orientation_nucleus") - Double.pi / 4) < 1e-12)  // a == c, b > 0 in skimage's tensor

        // A diagonal run of 6 pixels: a line (minor axis 0, eccentricity 1), perimeter 4·√2
        // (ends weigh 0, the four inner pixels code 21 = √2).
        var diagonal = Image<UInt32>(width: 10, height: 10, repeating: 0)
        for i in 0..<6 { diagonal[x: i + 2, y: i + 1] = 7 }
        let d = try Featurizer.compute(nucleus: diagonal, cytosol: nil, channels: [], cellIDs: [7], settings: Self.noBackground)
        #expect(abs(Self.value(d, "perimeter_nucleus") - 4 * 2.0.squareRoot()) < 1e-12)
        #expect(Self.value(d, "minor_axis_nucleus") == 0)
        #expect(Self.value(d, "eccentricity_nucleus") == 1)
        #expect(Self.value(d, "solidity_nucleus") == 1)
        #expect(abs(Self.value(d, "orientation_nucleus") - Double.pi / 4) < 1e-12)
    }

    @Test func discMatchesRegionprops() throws {
        // x² + y² ≤ 25 around (7, 7): 81 lattice points (Gauss circle, r = 5); skimage: perimeter
        // 32.970562748…, area_convex 89 (solidity 81/89), axes 10.193195503…, orientation −π/4.
        var disc = Image<UInt32>(width: 15, height: 15, repeating: 0)
        for y in 0..<15 { for x in 0..<15 where (x - 7) * (x - 7) + (y - 7) * (y - 7) <= 25 { disc[x: x, y: y] = 5 } }
        let t = try Featurizer.compute(nucleus: disc, cytosol: nil, channels: [], cellIDs: [5], settings: Self.noBackground)
        #expect(Self.value(t, "area_nucleus") == 81)
        // 32 border pixels: 8 straight (code 5), 4 diagonal (21), 16 corner (13): 8 + 4√2 + 16·(1+√2)/2.
        let perimeter = 8 + 4 * 2.0.squareRoot() + 16 * (1 + 2.0.squareRoot()) / 2
        #expect(abs(Self.value(t, "perimeter_nucleus") - perimeter) < 1e-12)
        #expect(abs(Self.value(t, "perimeter_nucleus") - 32.97056274847714) < 1e-12)
        #expect(abs(Self.value(t, "solidity_nucleus") - 81.0 / 89) < 1e-15)
        #expect(Self.value(t, "eccentricity_nucleus") == 0)
        #expect(abs(Self.value(t, "major_axis_nucleus") - 10.193195503270857) < 1e-12)
        #expect(Self.value(t, "orientation_nucleus") == -Double.pi / 4)  // a == c, b = −0 in skimage
    }

    @Test func nucleusCytosolAndCytosolOnly() throws {
        // Cell 3: cytosol 7 × 7 at x,y 1…7, nucleus 3 × 3 at 3…5; I = x + 10y.
        let cytosol = Self.labels(9, 9, [(1, 1, 7, 7, 3)])
        let nucleus = Self.labels(9, 9, [(3, 3, 5, 5, 3)])
        let t = try Featurizer.compute(
            nucleus: nucleus, cytosol: cytosol, channels: [Self.ramp(9, 9)], cellIDs: [3],
            settings: FeatureSettings(channelNames: ["dna"], backgroundCorrection: false))
        #expect(Self.value(t, "area_nucleus") == 9)
        #expect(Self.value(t, "area_cytosol") == 49)
        #expect(Self.value(t, "area_cytosol_only") == 40)
        #expect(Self.value(t, "perimeter_cytosol") == 24)
        #expect(Self.value(t, "perimeter_nucleus") == 8)
        // The ring's outer boundary (24) plus its inner boundary: skimage gives 28 in total.
        #expect(Self.value(t, "perimeter_cytosol_only") == 28)
        #expect(abs(Self.value(t, "solidity_cytosol_only") - 40.0 / 49) < 1e-15)  // hull = the full square
        #expect(Self.value(t, "centroid_x_cytosol_only") == 4)
        // Nucleus values 33…55: mean 44, q25 = sorted[2] = 35, q75 = sorted[6] = 53,
        // population std √(var x + 100·var y) = √(2/3 + 200/3).
        #expect(Self.value(t, "mean_dna_nucleus") == 44)
        #expect(Self.value(t, "median_dna_nucleus") == 44)
        #expect(Self.value(t, "q25_dna_nucleus") == 35)
        #expect(Self.value(t, "q75_dna_nucleus") == 53)
        #expect(Self.value(t, "sum_dna_nucleus") == 396)
        #expect(Self.value(t, "min_dna_nucleus") == 33)
        #expect(Self.value(t, "max_dna_nucleus") == 55)
        #expect(abs(Self.value(t, "std_dna_nucleus") - (202.0 / 3).squareRoot()) < 1e-12)
        // Cytosol 1…7: std √(4 + 400); cytosol-only: 40 values, q25 at position 9.75 → 23.75.
        #expect(abs(Self.value(t, "std_dna_cytosol") - 404.0.squareRoot()) < 1e-12)
        #expect(Self.value(t, "sum_dna_cytosol_only") == 2156 - 396)
        #expect(Self.value(t, "q25_dna_cytosol_only") == 23.75)
        #expect(Self.value(t, "q75_dna_cytosol_only") == 64.25)
        // Cell level on the cytosol: median 44 / max 77; a square has aspect ratio 1.
        #expect(Self.value(t, "normalized_median_dna") == 44.0 / 77)
        #expect(Self.value(t, "aspect_ratio") == 1)
        #expect(Self.value(t, "length_px") == 6)  // isotropic: the x axis, 1…7
        #expect(t.column("length_um") == nil)
        #expect(t.column("total_intensity_bgcorr_dna") == nil)
    }

    @Test func missingCellsGetNaN() throws {
        // Cell 4 only in the cytosol mask, cell 5 only in the nucleus mask, cell 9 nowhere.
        let cytosol = Self.labels(20, 10, [(1, 1, 5, 5, 4), (10, 1, 14, 5, 6)])
        let nucleus = Self.labels(20, 10, [(16, 6, 18, 8, 5), (11, 2, 12, 3, 6)])
        let t = try Featurizer.compute(
            nucleus: nucleus, cytosol: cytosol, channels: [Self.ramp(20, 10)], cellIDs: [4, 5, 9, 6],
            settings: Self.noBackground)
        #expect(t.cellIDs == [4, 5, 9, 6])
        #expect(Self.value(t, "area_nucleus", row: 0).isNaN)
        #expect(Self.value(t, "mean_ch0_nucleus", row: 0).isNaN)
        #expect(Self.value(t, "area_cytosol", row: 0) == 25)
        #expect(Self.value(t, "area_cytosol_only", row: 0) == 25)  // no nucleus: everything is cytosol-only
        #expect(Self.value(t, "length_px", row: 0) == 4)
        #expect(Self.value(t, "area_nucleus", row: 1) == 9)
        #expect(Self.value(t, "area_cytosol", row: 1).isNaN)
        #expect(Self.value(t, "length_px", row: 1).isNaN)  // whole cell = cytosol, absent
        #expect(Self.value(t, "normalized_median_ch0", row: 1).isNaN)
        for column in t.columns { #expect(column.values[2].isNaN, "\(column.name) of an absent cell") }
        #expect(Self.value(t, "area_cytosol_only", row: 3) == 21)
        #expect(Self.value(t, "area_nucleus", row: 3) == 4)
    }

    @Test func cytosolCoveredByNucleusHasZeroArea() throws {
        let mask = Self.labels(6, 6, [(1, 1, 3, 3, 1)])
        let t = try Featurizer.compute(
            nucleus: mask, cytosol: mask, channels: [Self.ramp(6, 6)], cellIDs: [1], settings: Self.noBackground)
        #expect(Self.value(t, "area_cytosol_only") == 0)
        #expect(Self.value(t, "perimeter_cytosol_only").isNaN)
        #expect(Self.value(t, "mean_ch0_cytosol_only").isNaN)
        #expect(Self.value(t, "area_cytosol") == 9)
    }

    @Test func columnNamesFollowThePattern() throws {
        let names = try Featurizer.columnNames(
            hasNucleus: true, hasCytosol: true, channelCount: 2,
            settings: FeatureSettings(channelNames: ["dapi", "gfp"], pixelSizeMicrons: 0.1, centrelinePositions: true))
        #expect(names.prefix(3) == ["area_nucleus", "perimeter_nucleus", "centroid_x_nucleus"])
        #expect(names.contains("equivalent_diameter_cytosol_only"))
        #expect(names.contains("q75_gfp_cytosol_only"))
        #expect(names.contains("length_um") && names.contains("length_px") && names.contains("aspect_ratio"))
        #expect(names.contains("centreline_dapi_00") && names.contains("centreline_dapi_35"))
        #expect(!names.contains("centreline_dapi_36"))
        #expect(names.contains("centreline_pos_gfp_35"))
        #expect(names.contains("total_intensity_bgcorr_gfp"))
        #expect(Set(names).count == names.count)
        #expect(names.count == 3 * 14 + 3 * 2 * 8 + 3 + 2 * (1 + 1 + 2 * 36))
        for name in names { #expect(FeatureSettings.isIdentifier(name), "\(name)") }
        let nucleusOnly = try Featurizer.columnNames(hasNucleus: true, hasCytosol: false, channelCount: 1)
        #expect(!nucleusOnly.contains { $0.hasSuffix("_cytosol") || $0.hasSuffix("_cytosol_only") })
        #expect(nucleusOnly.contains("mean_ch0_nucleus"))
        #expect(!nucleusOnly.contains("length_um"))
    }

    @Test func rejectsInvalidInput() {
        let a = Self.labels(10, 10, [(1, 1, 2, 2, 1)])
        let b = Self.labels(11, 10, [(1, 1, 2, 2, 1)])
        #expect(throws: SingleCellError.self) {
            _ = try Featurizer.compute(nucleus: nil, cytosol: nil, channels: [], cellIDs: [1])
        }
        do {
            _ = try Featurizer.compute(nucleus: a, cytosol: b, channels: [], cellIDs: [1])
            Issue.record("size mismatch accepted")
        } catch {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("11x10") && error.message.contains("10x10"))
        }
        do {
            _ = try Featurizer.compute(nucleus: a, cytosol: nil, channels: [Self.ramp(9, 10)], cellIDs: [1])
            Issue.record("channel size mismatch accepted")
        } catch {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("'ch0'"))
        }
        for (ids, settings) in [
            ([1, 1], FeatureSettings()), ([0], FeatureSettings()),
            ([1], FeatureSettings(channelNames: ["DAPI"])), ([1], FeatureSettings(channelNames: ["a", "b"])),
            ([1], FeatureSettings(centrelineDegree: 0)), ([1], FeatureSettings(backgroundTileSize: 2)),
            ([1], FeatureSettings(pixelSizeMicrons: -1)), ([1], FeatureSettings(threads: -1)),
        ] {
            #expect(throws: SingleCellError.self, "\(ids) \(settings)") {
                _ = try Featurizer.compute(nucleus: a, cytosol: nil, channels: [Self.ramp(10, 10)], cellIDs: ids, settings: settings)
            }
        }
    }

    @Test func multiPlaneImagesAreChannels() throws {
        let mask = Self.labels(6, 6, [(1, 1, 3, 2, 1)])
        var pixels = [UInt16](repeating: 0, count: 72)
        for i in 0..<36 { pixels[i] = 5; pixels[36 + i] = UInt16(i) }
        let twoPlanes = try Image(width: 6, height: 6, channels: 2, pixels: pixels)
        let t = try Featurizer.compute(
            nucleus: mask, cytosol: nil, channels: [twoPlanes, Self.ramp(6, 6)], cellIDs: [1],
            settings: FeatureSettings(channelNames: ["a", "b", "c"], backgroundCorrection: false))
        #expect(Self.value(t, "mean_a_nucleus") == 5)
        #expect(Self.value(t, "std_a_nucleus") == 0)
        #expect(Self.value(t, "min_b_nucleus") == 7)  // plane 2 holds the linear index y·6 + x
        #expect(Self.value(t, "max_b_nucleus") == 15)
        #expect(Self.value(t, "max_c_nucleus") == 23)  // x + 10y at (3, 2)
    }

    @Test func rodLengthNormalisedMedianAndCentreline() throws {
        // A horizontal 40 × 7 rod (x 10…49, y 20…26) with I = x + 0: PhenoPixel's frame is the
        // x axis, the centreline is the rod's mid-line, foot points are x − 10.
        var mask = Image<UInt32>(width: 64, height: 48, repeating: 0)
        var image = Image<UInt16>(width: 64, height: 48, repeating: 0)
        for y in 20...26 { for x in 10...49 { mask[x: x, y: y] = 8; image[x: x, y: y] = UInt16(x) } }
        let t = try Featurizer.compute(
            nucleus: nil, cytosol: mask, channels: [image], cellIDs: [8],
            settings: FeatureSettings(channelNames: ["gfp"], pixelSizeMicrons: 0.065, centrelinePositions: true,
                                      backgroundCorrection: false))
        #expect(abs(Self.value(t, "length_px") - 39) < 1e-12)
        #expect(abs(Self.value(t, "length_um") - 39 * 0.065) < 1e-12)
        #expect(Self.value(t, "normalized_median_gfp") == 29.5 / 49)  // median of 10…49 (each 7×) / max
        #expect(abs(Self.value(t, "aspect_ratio") - (1599.0 / 48).squareRoot()) < 1e-12)  // √((40²−1)/(7²−1))
        // Path: the first pixel (x = 10), then per bin 1…34 the brightest = rightmost column of the
        // bin (bin of x is ⌊(x−10)·35/39⌋ clipped to 34, so x = 49 is in bin 34), then the last
        // pixel (x = 49 again).
        var expected: [Double] = [10]
        for b in 1..<35 {
            let xs = (10...49).filter { min(($0 - 10) * 35 / 39, 34) == b }
            if let x = xs.max() { expected.append(Double(x)) }
        }
        expected.append(49)
        let g = (0..<36).map { Self.value(t, "centreline_gfp_\(String(format: "%02d", $0))") }
        let p = (0..<36).map { Self.value(t, "centreline_pos_gfp_\(String(format: "%02d", $0))") }
        #expect(Array(g.prefix(expected.count)) == expected)
        #expect(g.dropFirst(expected.count).allSatisfy { $0.isNaN })
        for (k, x) in expected.enumerated() { #expect(abs(p[k] - (x - 10)) < 1e-9, "position \(k)") }
    }

    @Test func bentRodFootPointsLieOnTheCurve() throws {
        // A parabolic banana y = 30 + (x − 40)²/40, 5 px thick, x 10…70. Every path position must
        // lie in [0, length] and increase along the path; the brightest-per-bin values must be
        // the bin maxima of I = x.
        var mask = Image<UInt32>(width: 80, height: 64, repeating: 0)
        var image = Image<UInt16>(width: 80, height: 64, repeating: 0)
        for x in 10...70 {
            let centre = 30 + Double((x - 40) * (x - 40)) / 40
            for y in 0..<64 where abs(Double(y) - centre) <= 2.5 {
                mask[x: x, y: y] = 1
                image[x: x, y: y] = UInt16(100 + x)
            }
        }
        let t = try Featurizer.compute(
            nucleus: mask, cytosol: nil, channels: [image], cellIDs: [1],
            settings: FeatureSettings(centrelinePositions: true, backgroundCorrection: false))
        let length = Self.value(t, "length_px")
        #expect(length > 55 && length < 62)
        let g = (0..<36).map { Self.value(t, "centreline_ch0_\(String(format: "%02d", $0))") }.filter { !$0.isNaN }
        let p = (0..<36).map { Self.value(t, "centreline_pos_ch0_\(String(format: "%02d", $0))") }.filter { !$0.isNaN }
        #expect(g.count == p.count && g.count >= 30)
        #expect(p.first == 0)
        for k in 1..<p.count { #expect(p[k] >= p[k - 1] - 1e-9 && p[k] <= length + 1e-9) }
        // Intensity grows with x, which the cell axis follows: the path must be (weakly) increasing.
        for k in 1..<g.count { #expect(g[k] >= g[k - 1]) }
        #expect(g.last == 170)
    }
}
