/// Built-in synthetic images, for demos, tests and benchmarks.
///
/// Everything here is deterministic: the output depends only on the arguments, and is the same
/// on every run and platform (own ``SplitMix64`` generator; only `+ - * /` and `sqrt` on
/// `Double`, which IEEE 754 rounds identically everywhere; no `sin`/`cos`/`exp`).
public enum SyntheticSample {
    /// Smallest and largest semi-axis of a synthetic nucleus, in pixels.
    public static let nucleusRadii: ClosedRange<Double> = 6...14

    /// A fluorescence-like nuclear stain and its ground-truth label image.
    ///
    /// The image holds `count` non-overlapping elliptical nuclei (semi-axes drawn from
    /// ``nucleusRadii``, random orientation, random brightness) with a smooth intensity falloff
    /// toward the rim and a faint glow just outside it, on a dim, slightly sloped background,
    /// with seeded shot-like noise. The label image marks each nucleus' ellipse with its number
    /// (`1...n`, in placement order) and the background with `0`. Nuclei keep a gap of at least
    /// 3 pixels, so labels never touch.
    ///
    /// When `count` nuclei do not fit (too small an image), fewer are placed: placement gives up
    /// after a bounded number of attempts, so the call always terminates.
    ///
    /// ```swift
    /// let (image, labels) = SyntheticSample.nuclei(width: 512, height: 512, count: 40, seed: 7)
    /// ```
    ///
    /// - Parameters:
    ///   - width: Image width in pixels, at least 1.
    ///   - height: Image height in pixels, at least 1.
    ///   - count: Number of nuclei wanted, at least 0.
    ///   - seed: Seed of the generator; the same seed gives identical bytes.
    /// - Returns: The 1-channel `UInt16` image and the matching 1-channel `UInt32` labels.
    public static func nuclei(
        width: Int, height: Int, count: Int, seed: UInt64
    ) -> (image: Image<UInt16>, labels: Image<UInt32>) {
        precondition(width >= 1 && height >= 1, "image size must be at least 1x1, got \(width)x\(height)")
        precondition(count >= 0, "count must not be negative, got \(count)")

        var rng = SplitMix64(seed: seed)
        let nuclei = placeNuclei(width: width, height: height, count: count, rng: &rng)

        var labels = Image<UInt32>(width: width, height: height, repeating: 0)
        var signal = [Double](repeating: 0, count: width &* height)
        signal.withUnsafeMutableBufferPointer { sig in
            labels.withUnsafeMutableBufferPointer { lab in
                for (i, n) in nuclei.enumerated() {
                    render(
                        n, label: UInt32(truncatingIfNeeded: i &+ 1), width: width, height: height, signal: sig,
                        labels: lab)
                }
            }
        }

        var image = Image<UInt16>(width: width, height: height, repeating: 0)
        signal.withUnsafeBufferPointer { sig in
            image.withUnsafeMutableBufferPointer { out in
                addBackgroundAndNoise(width: width, height: height, signal: sig, into: out, rng: &rng)
            }
        }
        return (image, labels)
    }

    // MARK: - Placement

    struct Nucleus {
        var cx: Double, cy: Double
        var a: Double, b: Double  // semi-axes along the rotated u and v axes
        var cos: Double, sin: Double
        var peak: Double
        var bound: Double  // max(a, b): radius of the enclosing circle
    }

    /// Gap kept between the enclosing circles of two nuclei, in pixels.
    static let gap = 3.0

    static func placeNuclei(width: Int, height: Int, count: Int, rng: inout SplitMix64) -> [Nucleus] {
        guard count > 0 else { return [] }
        // Spatial hash with cells as large as the largest interaction distance, so only the
        // 3x3 neighbourhood of a candidate needs checking.
        let cell = 2 * nucleusRadii.upperBound + gap
        let gridW = Int((Double(width) / cell).rounded(.up)) + 1
        let gridH = Int((Double(height) / cell).rounded(.up)) + 1
        var grid = [[Int32]](repeating: [], count: gridW * gridH)
        var placed: [Nucleus] = []
        placed.reserveCapacity(count)

        let maxAttempts = max(1_000, count * 100)
        var attempts = 0
        while placed.count < count && attempts < maxAttempts {
            attempts += 1
            let a = rng.nextDouble(in: nucleusRadii.lowerBound, nucleusRadii.upperBound)
            let b = rng.nextDouble(in: nucleusRadii.lowerBound, nucleusRadii.upperBound)
            let bound = max(a, b)
            let margin = bound + 2
            let ux = rng.nextUnit()
            let uy = rng.nextUnit()
            // Orientation from the rational parametrisation of the half circle
            // (t = tan(theta/2), theta in [-pi/2, pi/2]): exact IEEE ops only.
            let t = 2 * rng.nextUnit() - 1
            let peak = rng.nextDouble(in: 1_200, 4_000)
            guard Double(width) > 2 * margin, Double(height) > 2 * margin else { continue }
            let cx = margin + ux * (Double(width) - 2 * margin)
            let cy = margin + uy * (Double(height) - 2 * margin)

            let gx = Int(cx / cell)
            let gy = Int(cy / cell)
            var free = true
            search: for ny in max(0, gy - 1)...min(gridH - 1, gy + 1) {
                for nx in max(0, gx - 1)...min(gridW - 1, gx + 1) {
                    for j in grid[ny * gridW + nx] {
                        let o = placed[Int(j)]
                        let dx = o.cx - cx
                        let dy = o.cy - cy
                        let minDist = o.bound + bound + gap
                        if dx * dx + dy * dy < minDist * minDist {
                            free = false
                            break search
                        }
                    }
                }
            }
            guard free else { continue }
            let t2 = t * t
            let n = Nucleus(
                cx: cx, cy: cy, a: a, b: b,
                cos: (1 - t2) / (1 + t2), sin: 2 * t / (1 + t2),
                peak: peak, bound: bound
            )
            grid[gy * gridW + gx].append(Int32(placed.count))
            placed.append(n)
        }
        return placed
    }

    // MARK: - Rendering

    /// Squared normalised radius where the glow outside a nucleus fades to zero.
    static let glowEnd = 1.6
    /// Intensity at the rim, as a fraction of the peak.
    static let rimFraction = 0.45

    static func render(
        _ n: Nucleus, label: UInt32, width: Int, height: Int,
        signal: UnsafeMutableBufferPointer<Double>, labels: UnsafeMutableBufferPointer<UInt32>
    ) {
        let reach = n.bound * glowEnd.squareRoot() + 1
        let x0 = max(0, Int((n.cx - reach).rounded(.down)))
        let x1 = min(width - 1, Int((n.cx + reach).rounded(.up)))
        let y0 = max(0, Int((n.cy - reach).rounded(.down)))
        let y1 = min(height - 1, Int((n.cy + reach).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        let invA2 = 1 / (n.a * n.a)
        let invB2 = 1 / (n.b * n.b)
        let falloff = 1 - rimFraction
        let glowScale = rimFraction / (glowEnd - 1)
        for y in y0...y1 {
            let dy = Double(y) - n.cy
            let row = y &* width
            for x in x0...x1 {
                let dx = Double(x) - n.cx
                let u = dx * n.cos + dy * n.sin
                let v = dy * n.cos - dx * n.sin
                let r2 = u * u * invA2 + v * v * invB2
                let i = row &+ x
                if r2 <= 1 {
                    labels[i] = label
                    signal[i] += n.peak * (1 - falloff * r2)
                } else if r2 < glowEnd {
                    signal[i] += n.peak * glowScale * (glowEnd - r2)
                }
            }
        }
    }

    /// Background level at the top-left corner; it rises by ``backgroundSlope`` toward the bottom right.
    static let backgroundLevel = 100.0
    /// Total rise of the background across the image.
    static let backgroundSlope = 40.0

    static func addBackgroundAndNoise(
        width: Int, height: Int, signal: UnsafeBufferPointer<Double>,
        into out: UnsafeMutableBufferPointer<UInt16>, rng: inout SplitMix64
    ) {
        let sx = backgroundSlope / 2 / Double(width)
        let sy = backgroundSlope / 2 / Double(height)
        let unitVarianceScale = 3.0.squareRoot() / 32_768  // Irwin–Hall(4) on 16-bit parts → variance 1
        for y in 0..<height {
            let rowLevel = backgroundLevel + sy * Double(y)
            let row = y &* width
            for x in 0..<width {
                let i = row &+ x
                let clean = rowLevel + sx * Double(x) + signal[i]
                let bits = rng.next()
                let sum =
                    Int(bits & 0xFFFF) &+ Int((bits >> 16) & 0xFFFF) &+ Int((bits >> 32) & 0xFFFF) &+ Int(bits >> 48)
                let gauss = Double(sum &- 131_070) * unitVarianceScale
                let sigma = 3 + 0.6 * clean.squareRoot()
                let value = (clean + sigma * gauss).rounded()
                out[i] = value <= 0 ? 0 : (value >= 65_535 ? 65_535 : UInt16(value))
            }
        }
    }
}
