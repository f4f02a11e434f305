import Foundation
import ImageKit
import Testing

@testable import Stitching

@Suite struct PhaseCorrelationTests {
    /// A 193x201 (odd: Bluestein path) texture, shifted exactly, windows cut from the same place.
    func pair(dy: Double, dx: Double, noise: Double = 0, window: (h: Int, w: Int) = (120, 90)) throws -> (
        Image<Float>, Image<Float>
    ) {
        let base = try Synthetic.texture(width: 201, height: 193, seed: 42)
        let moved = try Synthetic.fourierShift(base, dy: dy, dx: dx)
        var a = try Synthetic.crop(base, y: 30, x: 40, height: window.h, width: window.w)
        var b = try Synthetic.crop(moved, y: 30, x: 40, height: window.h, width: window.w)
        if noise > 0 {
            a = Synthetic.addNoise(a, sigma: noise, seed: 1)
            b = Synthetic.addNoise(b, sigma: noise, seed: 2)
        }
        return (a, b)
    }

    @Test(arguments: [(0.0, 0.0), (3.0, -7.0), (-12.0, 5.0), (0.3, -0.7), (4.25, 2.6), (-9.55, -13.4), (0.5, 0.5)])
    func recoversShiftWithinATenthOfAPixel(shift: (Double, Double)) throws {
        let (a, b) = try pair(dy: shift.0, dx: shift.1)
        let r = try PhaseCorrelation.register(a: a, b: b)
        #expect(abs(r.dy - shift.0) <= 0.1 && abs(r.dx - shift.1) <= 0.1, "expected \(shift), found (\(r.dy), \(r.dx))")
        #expect(r.score > 0.9, "score \(r.score)")
        print(
            "shift \(shift): found (\(r.dy), \(r.dx)) error (\(r.dy - shift.0), \(r.dx - shift.1)) score \(r.score) peak \(r.peak)"
        )
    }

    @Test func thinStripWithNoiseStaysAccurate() throws {
        // A 70 px wide strip like the gtcut overlaps, with noise at 10 % of the texture's spread.
        let (a, b) = try pair(dy: -5.4, dx: 8.2, noise: 100, window: (160, 50))
        let r = try PhaseCorrelation.register(a: a, b: b)
        #expect(abs(r.dy + 5.4) <= 0.2 && abs(r.dx - 8.2) <= 0.2, "found (\(r.dy), \(r.dx))")
        #expect(r.score > 0.5, "score \(r.score)")
    }

    @Test func unrelatedWindowsScoreLow() throws {
        let a = try Synthetic.crop(
            try Synthetic.texture(width: 120, height: 120, seed: 5), y: 0, x: 0, height: 100, width: 60)
        let b = try Synthetic.crop(
            try Synthetic.texture(width: 120, height: 120, seed: 6), y: 0, x: 0, height: 100, width: 60)
        let r = try PhaseCorrelation.register(a: a, b: b)
        #expect(r.score < 0.4, "unrelated content scored \(r.score)")
    }

    @Test func rejectsMismatchedSizes() throws {
        let a = Image<Float>(width: 10, height: 10, repeating: 0)
        let b = Image<Float>(width: 11, height: 10, repeating: 0)
        #expect(throws: StitchingError.self) { try PhaseCorrelation.register(a: a, b: b) }
        let tiny = Image<Float>(width: 3, height: 10, repeating: 0)
        do {
            _ = try PhaseCorrelation.register(a: tiny, b: tiny)
            Issue.record("3 px wide windows were accepted")
        } catch {
            #expect(error.code == .tooSmall)
        }
        var bad = PhaseCorrelation.Options()
        bad.normalizationExponent = 2
        let window = Image<Float>(width: 16, height: 16, repeating: 1)
        do {
            _ = try PhaseCorrelation.register(a: window, b: window, options: bad)
            Issue.record("normalizationExponent 2 was accepted")
        } catch {
            #expect(error.code == .invalidParameter)
        }

    }
}
