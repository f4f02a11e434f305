import ImageKit
import Testing

@Suite("SyntheticSample.nuclei")
struct SyntheticSampleTests {
    @Test("same seed gives the same bytes, another seed does not")
    func determinism() {
        let a = SyntheticSample.nuclei(width: 200, height: 150, count: 20, seed: 11)
        let b = SyntheticSample.nuclei(width: 200, height: 150, count: 20, seed: 11)
        let c = SyntheticSample.nuclei(width: 200, height: 150, count: 20, seed: 12)
        #expect(a.image == b.image)
        #expect(a.labels == b.labels)
        #expect(a.image != c.image)
        #expect(a.labels != c.labels)
    }

    @Test("output is pinned across platforms and releases")
    func pinnedChecksum() {
        // FNV-1a over the little-endian bytes. If this changes, the built-in demo sample changed:
        // update the constant only on purpose.
        let (image, labels) = SyntheticSample.nuclei(width: 128, height: 96, count: 8, seed: 2024)
        #expect(fnv1a(image.pixels) == Self.pinnedImageHash)
        #expect(fnv1a(labels.pixels) == Self.pinnedLabelHash)
    }

    static let pinnedImageHash: UInt64 = 16_309_584_663_189_314_651
    static let pinnedLabelHash: UInt64 = 3_631_331_797_931_763_486

    @Test(
        "label count equals count when the nuclei fit",
        arguments: [(256, 256, 30, UInt64(1)), (512, 384, 120, 99), (64, 64, 1, 5)])
    func labelCount(width: Int, height: Int, count: Int, seed: UInt64) {
        let (image, labels) = SyntheticSample.nuclei(width: width, height: height, count: count, seed: seed)
        #expect(image.width == width && image.height == height && image.channels == 1)
        #expect(labels.width == width && labels.height == height && labels.channels == 1)
        let present = Set(labels.pixels).subtracting([0])
        #expect(present == Set((1...count).map(UInt32.init)))
    }

    @Test("too many nuclei for the image places fewer, and terminates")
    func overfull() {
        let (_, labels) = SyntheticSample.nuclei(width: 40, height: 40, count: 50, seed: 3)
        let present = Set(labels.pixels).subtracting([0])
        #expect(present.count >= 1 && present.count < 50)
        #expect(present == Set((1...present.count).map(UInt32.init)))
        let (_, none) = SyntheticSample.nuclei(width: 10, height: 10, count: 3, seed: 3)
        #expect(none.pixels.allSatisfy { $0 == 0 })
    }

    @Test("every nucleus is brighter on average than the background, and sizes are plausible")
    func contrast() {
        let count = 40
        let (image, labels) = SyntheticSample.nuclei(width: 400, height: 300, count: count, seed: 77)
        var sums = [Double](repeating: 0, count: count + 1)
        var areas = [Int](repeating: 0, count: count + 1)
        for (value, label) in zip(image.pixels, labels.pixels) {
            sums[Int(label)] += Double(value)
            areas[Int(label)] += 1
        }
        let background = sums[0] / Double(areas[0])
        #expect(background > 50 && background < 250)
        for label in 1...count {
            let mean = sums[label] / Double(areas[label])
            #expect(mean > background * 3, "label \(label): mean \(mean) vs background \(background)")
            // Semi-axes 6...14 px: area between pi*36 and pi*196 (give or take the pixel grid).
            #expect(areas[label] >= 100 && areas[label] <= 640, "label \(label): area \(areas[label])")
        }
    }

    @Test("labels never touch each other (4-neighbourhood)")
    func separated() {
        let (_, labels) = SyntheticSample.nuclei(width: 300, height: 300, count: 60, seed: 8)
        let w = labels.width
        labels.withUnsafeBufferPointer { l in
            var touching = 0
            for y in 0..<(labels.height - 1) {
                for x in 0..<(w - 1) {
                    let a = l[y * w + x]
                    let r = l[y * w + x + 1]
                    let d = l[(y + 1) * w + x]
                    if a != 0 && r != 0 && a != r { touching += 1 }
                    if a != 0 && d != 0 && a != d { touching += 1 }
                }
            }
            #expect(touching == 0)
        }
    }
}

func fnv1a<T: FixedWidthInteger>(_ values: [T]) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for value in values {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { bytes in
            for byte in bytes {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
        }
    }
    return hash
}
