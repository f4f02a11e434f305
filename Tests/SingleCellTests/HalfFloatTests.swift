import Testing
@testable import SingleCell

@Suite struct HalfFloatTests {
    /// Every half value, the midpoints between neighbours (ties) and points just beside them,
    /// both signs, and the special values: our bits equal the standard library's.
    @Test func conversionEqualsTheStandardLibrary() {
        var mismatches: [Double] = []
        func check(_ value: Double) {
            let expected = Float16(value).bitPattern
            let got = HalfFloat.bits(value)
            let bothNaN = Float16(bitPattern: got).isNaN && Float16(bitPattern: expected).isNaN
            if got != expected && !bothNaN && mismatches.count < 10 { mismatches.append(value) }
        }
        for bits in UInt16(0)...UInt16(0x7BFF) {
            let a = Double(Float16(bitPattern: bits)), b = Double(Float16(bitPattern: bits &+ 1))
            for v in [a, (a + b) / 2, (a + b) / 2 * (1 + 1e-12), (a + b) / 2 * (1 - 1e-12), a.nextUp, a.nextDown] {
                check(v)
                check(-v)
            }
        }
        for v in [0.0, -0.0, .infinity, -.infinity, .nan, 65504, 65519.99, 65520, 1e300, 1e-300, 5.960464477539063e-08,
                  2.9802322387695312e-08, 2.98023223876953e-08, 2.9802322387695316e-08, Double.leastNonzeroMagnitude] {
            check(v)
            check(-v)
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches)")
    }

    @Test func floatTableMatches() {
        for bits in stride(from: 0, through: 0xFFFF, by: 7) {
            let h = Float16(bitPattern: UInt16(bits))
            let f = HalfFloat.floats[bits]
            #expect(f == Float(h) || (f.isNaN && h.isNaN))
        }
    }
}
