import Foundation
import ImageKit

@testable import Stitching

/// Deterministic synthetic test content: smoothed noise (a texture that phase correlation can lock
/// onto) and exact sub-pixel shifts by the Fourier shift theorem.
enum Synthetic {
    /// Uniform values in [0, 1) from a seeded LCG.
    static func uniform(_ n: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 12345
        return (0..<n).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Double(state >> 11) / Double(1 << 53))
        }
    }

    /// Gaussian-smoothed uniform noise, scaled to roughly [0, 1000], plus sparse bright blobs.
    static func texture(width: Int, height: Int, seed: UInt64, sigma: Double = 2.0) throws -> Image<Float> {
        var noise = try Image(width: width, height: height, pixels: uniform(width * height, seed: seed))
        noise = Filters.gaussian(noise, sigma: sigma)
        let spots = uniform(60, seed: seed &+ 1)
        var out = noise
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count { p[i] = (p[i] - 0.5) * 4000 + 500 }
            for k in 0..<20 {
                let cy = Double(spots[3 * k]) * Double(height)
                let cx = Double(spots[3 * k + 1]) * Double(width)
                let r = 2 + 4 * Double(spots[3 * k + 2])
                for y in max(0, Int(cy - 3 * r))..<min(height, Int(cy + 3 * r) + 1) {
                    for x in max(0, Int(cx - 3 * r))..<min(width, Int(cx + 3 * r) + 1) {
                        let d2 = (Double(y) - cy) * (Double(y) - cy) + (Double(x) - cx) * (Double(x) - cx)
                        p[y * width + x] += Float(800 * exp(-d2 / (2 * r * r)))
                    }
                }
            }
        }
        return out
    }

    /// `image` moved by (dy, dx) cyclically: result(y, x) = image(y - dy, x - dx).
    static func fourierShift(_ image: Image<Float>, dy: Double, dx: Double) throws -> Image<Float> {
        let h = image.height
        let w = image.width
        var plane = ComplexPlane(width: w, height: h)
        plane.re = image.pixels.map { Double($0) }
        let fft = FFT2D(width: w, height: h)
        fft.forward(&plane)
        for ky in 0..<h {
            let fy = Double(ky <= (h - 1) / 2 ? ky : ky - h) / Double(h)
            for kx in 0..<w {
                let fx = Double(kx <= (w - 1) / 2 ? kx : kx - w) / Double(w)
                let angle = -2 * Double.pi * (fy * dy + fx * dx)
                let i = ky * w + kx
                let r = plane.re[i]
                let m = plane.im[i]
                plane.re[i] = r * cos(angle) - m * sin(angle)
                plane.im[i] = r * sin(angle) + m * cos(angle)
            }
        }
        fft.inverse(&plane)
        return try Image(width: w, height: h, pixels: plane.re.map { Float($0) })
    }

    /// The `height` x `width` window of `image` with top-left (y, x).
    static func crop(_ image: Image<Float>, y: Int, x: Int, height: Int, width: Int) throws -> Image<Float> {
        var out = [Float](repeating: 0, count: width * height)
        for r in 0..<height {
            for c in 0..<width { out[r * width + c] = image[x: x + c, y: y + r] }
        }
        return try Image(width: width, height: height, pixels: out)
    }

    /// Adds zero-mean Gaussian noise of standard deviation `sigma` (Box–Muller on the LCG).
    static func addNoise(_ image: Image<Float>, sigma: Double, seed: UInt64) -> Image<Float> {
        let u = uniform(2 * image.pixels.count, seed: seed)
        var out = image
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                let u1 = max(Double(u[2 * i]), 1e-12)
                let u2 = Double(u[2 * i + 1])
                p[i] += Float(sigma * (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
            }
        }
        return out
    }
}
