import ImageKit
import Testing

@Suite("Image")
struct ImageTests {
    @Test("layout is channel-major, then row-major")
    func layout() throws {
        let image = try Image<UInt16>(width: 3, height: 2, channels: 2, pixels: Array(0..<12))
        #expect(image[x: 0, y: 0, channel: 0] == 0)
        #expect(image[x: 2, y: 0, channel: 0] == 2)
        #expect(image[x: 0, y: 1, channel: 0] == 3)
        #expect(image[x: 0, y: 0, channel: 1] == 6)
        #expect(image[x: 2, y: 1, channel: 1] == 11)
        #expect(image.planeCount == 6)
        #expect(image.plane(1).pixels == [6, 7, 8, 9, 10, 11])
        #expect(image.plane(1).channels == 1)
    }

    @Test("init rejects wrong sample counts and sizes")
    func validation() {
        #expect(throws: ImageError.self) { try Image<UInt8>(width: 2, height: 2, pixels: [1, 2, 3]) }
        do {
            _ = try Image<UInt8>(width: 0, height: 2, pixels: [])
            Issue.record("zero width accepted")
        } catch {
            #expect(error.code == .invalidDimensions)
        }
        do {
            _ = try Image<UInt8>(width: Int.max, height: 2, pixels: [])
            Issue.record("overflowing size accepted")
        } catch {
            #expect(error.code == .invalidDimensions)
        }
        do {
            _ = try Image<UInt8>(width: 2, height: 2, pixels: [1])
            Issue.record("short pixels accepted")
        } catch {
            #expect(error.code == .pixelCountMismatch)
            #expect(error.description.contains("expected 4"))
        }
    }

    @Test("subscript writes and buffer access see the same storage")
    func mutation() {
        var image = Image<Float>(width: 4, height: 3, channels: 1, repeating: 0)
        image[x: 1, y: 2] = 5
        let sum = image.withUnsafeBufferPointer { $0.reduce(0, +) }
        #expect(sum == 5)
        image.withUnsafeMutableBufferPointer { buffer in
            for i in buffer.indices { buffer[i] = Float(i) }
        }
        #expect(image[x: 3, y: 2] == 11)
        #expect(image.contains(x: 3, y: 2))
        #expect(!image.contains(x: 4, y: 2))
        #expect(!image.contains(x: 0, y: 0, channel: 1))
    }

    @Test("copies are values")
    func valueSemantics() {
        var a = Image<UInt32>(width: 2, height: 2, repeating: 1)
        let b = a
        a[x: 0, y: 0] = 9
        #expect(b[x: 0, y: 0] == 1)
        #expect(a != b)
    }
}

@Suite("SplitMix64")
struct SplitMix64Tests {
    @Test("matches the reference sequence")
    func referenceValues() {
        // Reference outputs of SplitMix64 seeded with 1234567 (from the published C code).
        var rng = SplitMix64(seed: 1_234_567)
        #expect(rng.next() == 6_457_827_717_110_365_317)
        #expect(rng.next() == 3_203_168_211_198_807_973)
        #expect(rng.next() == 9_817_491_932_198_370_423)
    }

    @Test("helpers stay in range")
    func ranges() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<10_000 {
            let u = rng.nextUnit()
            #expect(u >= 0 && u < 1)
            #expect(rng.next(below: 7) < 7)
        }
    }
}
