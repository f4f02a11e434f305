import Foundation
import Testing

@testable import Stitching

@Suite struct FFTTests {
    /// Deterministic pseudo-random values in [-1, 1).
    func values(_ n: Int, seed: UInt64) -> [Double] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        return (0..<n).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
    }

    func naiveDFT(_ re: [Double], _ im: [Double]) -> ([Double], [Double]) {
        let n = re.count
        var outR = [Double](repeating: 0, count: n)
        var outI = outR
        for k in 0..<n {
            for j in 0..<n {
                let a = -2 * Double.pi * Double(j * k % n) / Double(n)
                outR[k] += re[j] * cos(a) - im[j] * sin(a)
                outI[k] += re[j] * sin(a) + im[j] * cos(a)
            }
        }
        return (outR, outI)
    }

    @Test(arguments: [1, 2, 3, 5, 7, 8, 12, 16, 30, 64, 100])
    func oneDimensionalMatchesNaiveDFT(n: Int) {
        var re = values(n, seed: UInt64(n))
        var im = values(n, seed: UInt64(n) + 99)
        let (expR, expI) = naiveDFT(re, im)
        let original = (re, im)
        let plan = FFTPlan(count: n)
        plan.forward(&re, &im)
        var maxErr = 0.0
        for k in 0..<n { maxErr = max(maxErr, abs(re[k] - expR[k]), abs(im[k] - expI[k])) }
        #expect(maxErr < 1e-9 * Double(n), "n=\(n) max error \(maxErr)")
        plan.inverse(&re, &im)
        var back = 0.0
        for k in 0..<n { back = max(back, abs(re[k] - original.0[k]), abs(im[k] - original.1[k])) }
        #expect(back < 1e-12 * Double(n + 10), "n=\(n) round trip error \(back)")
    }

    @Test(arguments: [(4, 8), (6, 5), (3, 7)])
    func twoDimensionalMatchesNaiveDFT(size: (Int, Int)) {
        let (h, w) = size
        var plane = ComplexPlane(width: w, height: h)
        plane.re = values(w * h, seed: 7)
        plane.im = values(w * h, seed: 8)
        let input = plane
        FFT2D(width: w, height: h).forward(&plane)
        var maxErr = 0.0
        for ky in 0..<h {
            for kx in 0..<w {
                var sr = 0.0
                var si = 0.0
                for y in 0..<h {
                    for x in 0..<w {
                        let a = -2 * Double.pi * (Double(ky * y) / Double(h) + Double(kx * x) / Double(w))
                        let vr = input.re[y * w + x]
                        let vi = input.im[y * w + x]
                        sr += vr * cos(a) - vi * sin(a)
                        si += vr * sin(a) + vi * cos(a)
                    }
                }
                maxErr = max(maxErr, abs(sr - plane.re[ky * w + kx]), abs(si - plane.im[ky * w + kx]))
            }
        }
        #expect(maxErr < 1e-9, "\(h)x\(w) max error \(maxErr)")
        FFT2D(width: w, height: h).inverse(&plane)
        #expect(zip(plane.re, input.re).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    @Test func fastSizeIsNextPowerOfTwo() {
        #expect(FFTPlan.fastSize(1) == 1)
        #expect(FFTPlan.fastSize(70) == 128)
        #expect(FFTPlan.fastSize(128) == 128)
        #expect(FFTPlan.fastSize(415) == 512)
    }

    /// The pruned transforms (zero rows skipped forward, only some rows finished inverse) give
    /// the same values as the full ones, on a block-crossing width (columns go in blocks of 16).
    @Test func prunedTransformsMatchFullOnes() {
        let (h, w, filled) = (16, 37, 5)
        var plane = ComplexPlane(width: w, height: h)
        let re = values(w * filled, seed: 3)
        let im = values(w * filled, seed: 4)
        for i in 0..<(w * filled) {
            plane.re[i] = re[i]
            plane.im[i] = im[i]
        }
        let fft = FFT2D(width: w, height: h)
        var full = plane
        fft.forward(&full)
        var pruned = plane
        fft.forward(&pruned, nonZeroRows: filled)
        #expect(zip(full.re, pruned.re).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(zip(full.im, pruned.im).allSatisfy { abs($0 - $1) < 1e-12 })
        var back = full
        fft.inverse(&back)
        var some = full
        fft.inverse(&some, onlyRows: [0..<3, 14..<16])
        for y in [0, 1, 2, 14, 15] {
            for x in 0..<w {
                #expect(abs(back.re[y * w + x] - some.re[y * w + x]) < 1e-12)
                #expect(abs(back.im[y * w + x] - some.im[y * w + x]) < 1e-12)
            }
        }
        #expect(zip(back.re, plane.re).allSatisfy { abs($0 - $1) < 1e-12 })
    }
}
