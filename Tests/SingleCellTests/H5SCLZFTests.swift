import Foundation
import Testing

@testable import SingleCell

@Suite("LZF codec")
struct H5SCLZFTests {
    private func roundTrip(_ input: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        let compressed = LZF.compress(input)
        #expect(compressed.count <= LZF.maxCompressedSize(input.count), sourceLocation: sourceLocation)
        let restored = try LZF.decompress(compressed, capacity: input.count)
        #expect(restored == input, "round trip of \(input.count) bytes", sourceLocation: sourceLocation)
        return compressed
    }

    @Test func decodesHandBuiltStreams() throws {
        // literal "abc", then a 3-byte back-reference 3 back: "abcabc".
        #expect(try LZF.decompress([0x02, 0x61, 0x62, 0x63, 0x20, 0x02], capacity: 16) == Array("abcabc".utf8))
        // literal "x", then an overlapping reference 1 back, long form: 7 + 2 (extra byte) + 2 = 11.
        #expect(try LZF.decompress([0x00, 0x78, 0xE0, 0x02, 0x00], capacity: 32) == Array(repeating: 0x78, count: 12))
        // Long form: length byte 255 → 7 + 255 + 2 = 264 bytes copied.
        #expect(try LZF.decompress([0x00, 0x00, 0xE0, 0xFF, 0x00], capacity: 300) == Array(repeating: 0, count: 265))
        // A reference 8192 back (largest distance).
        var expected = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }
        var stream: [UInt8] = []
        for start in stride(from: 0, to: 8192, by: 32) {
            stream.append(31)
            stream += expected[start..<start + 32]
        }
        stream += [0x3F, 0xFF]  // len 1 (+2 = 3), distance 0x1fff + 1 = 8192
        expected += expected[0..<3]
        #expect(try LZF.decompress(stream, capacity: 9000) == expected)
    }

    @Test func encodesWhatTheFormatPrescribes() throws {
        // A run of one byte: a literal then back-references of at most 264 bytes each.
        let run = [UInt8](repeating: 9, count: 1000)
        let compressed = try roundTrip(run)
        #expect(compressed[0] == 0x00 && compressed[1] == 9)
        #expect(compressed.count <= 2 + 3 * ((999 + 263) / 264) + 8)
        // Every item must be well-formed and every reference within 8192 bytes.
        var ip = 0
        var produced = 0
        while ip < compressed.count {
            let control = Int(compressed[ip])
            if control < 32 {
                ip += 1 + control + 1
                produced += control + 1
            } else {
                var length = control >> 5
                ip += 1
                if length == 7 { length += Int(compressed[ip]); ip += 1 }
                let distance = ((control & 0x1f) << 8 | Int(compressed[ip])) + 1
                ip += 1
                #expect(distance <= produced && distance <= 8192)
                #expect(length + 2 <= 264)
                produced += length + 2
            }
        }
        #expect(produced == run.count)
    }

    @Test func roundTripsRandomConstantAndIncompressibleData() throws {
        var random = H5SCFixtures.SeededGenerator(seed: 42)
        // Every small size, including the empty input.
        for count in 0..<80 {
            _ = try roundTrip((0..<count).map { _ in UInt8.random(in: 0...3, using: &random) })
        }
        // Constant data shrinks to a few percent.
        let constant = try roundTrip([UInt8](repeating: 0, count: 32768))
        #expect(constant.count < 32768 / 50)
        // Incompressible data: the bound holds and the data survives.
        let noise = (0..<32768).map { _ in UInt8.random(in: 0...255, using: &random) }
        let noisy = try roundTrip(noise)
        #expect(noisy.count > 32768)
        // Low-entropy random bytes, repeated blocks farther apart than 8192 bytes, float16 images.
        _ = try roundTrip((0..<50_000).map { _ in UInt8.random(in: 0...7, using: &random) })
        let block = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &random) }
        _ = try roundTrip(block + [UInt8](repeating: 1, count: 9000) + block + block)
        let stack = H5SCFixtures.syntheticStack(layout: H5SCFixtures.wgaLayout(), seed: 7)
        let bytes = stack.withUnsafeBytes { Array($0) }
        let image = try roundTrip(bytes)
        #expect(image.count < bytes.count / 2, "smooth images with empty surroundings must compress")
    }

    @Test func compressReportsWhenOutputDoesNotFit() {
        var random = H5SCFixtures.SeededGenerator(seed: 3)
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }
        var table = [UInt32](repeating: 0, count: LZF.hashTableCount)
        var output = [UInt8](repeating: 0, count: noise.count - 1)
        let count = noise.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                table.withUnsafeMutableBufferPointer { LZF.compress(source, into: destination, table: $0) }
            }
        }
        #expect(count == nil)
        // The same call with room for the worst case succeeds.
        output = [UInt8](repeating: 0, count: LZF.maxCompressedSize(noise.count))
        let fits = noise.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                table.withUnsafeMutableBufferPointer { LZF.compress(source, into: destination, table: $0) }
            }
        }
        #expect(fits != nil)
    }

    /// Runs the HDF5 filter callback on a malloc'ed copy of `input`, as libhdf5 does; returns
    /// the filter's result and the bytes it left in the buffer.
    private func runFilter(_ input: [UInt8], reverse: Bool, clientData: [UInt32]) -> (Int, [UInt8]) {
        var buffer: UnsafeMutableRawPointer? = malloc(max(input.count, 1))
        input.withUnsafeBytes { source in
            if let base = source.baseAddress { buffer?.copyMemory(from: base, byteCount: input.count) }
        }
        var size = input.count
        // H5Z_FLAG_REVERSE (0x0100): decompress.
        let result = clientData.withUnsafeBufferPointer { values in
            H5LZFFilter.filter(reverse ? 0x0100 : 0, values.count, values.baseAddress, input.count, &size, &buffer)
        }
        defer { free(buffer) }
        guard result > 0, let buffer else { return (result, []) }
        return (result, Array(UnsafeRawBufferPointer(start: buffer, count: result)))
    }

    @Test func hdf5FilterCallbackFollowsH5pySemantics() {
        let stack = H5SCFixtures.syntheticStack(layout: H5SCFixtures.wgaLayout(imageSize: 32), seed: 4)
        let raw = stack.withUnsafeBytes { Array($0) }
        // Compress, then decompress with the chunk size as the buffer hint.
        let (compressedCount, compressed) = runFilter(raw, reverse: false, clientData: [4, 0x0105, UInt32(raw.count)])
        #expect(compressedCount > 0 && compressedCount < raw.count)
        let (restoredCount, restored) = runFilter(compressed, reverse: true, clientData: [4, 0x0105, UInt32(raw.count)])
        #expect(restoredCount == raw.count && restored == raw)
        // Without (or with a too small) size hint the output buffer grows until the data fits.
        let (grownCount, grown) = runFilter(compressed, reverse: true, clientData: [4, 0x0105, 100])
        #expect(grownCount == raw.count && grown == raw)
        let (noHintCount, noHint) = runFilter(compressed, reverse: true, clientData: [])
        #expect(noHintCount == raw.count && noHint == raw)
        // Incompressible input: 0, so that libhdf5 stores the chunk raw (the filter is optional).
        var random = H5SCFixtures.SeededGenerator(seed: 17)
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }
        #expect(runFilter(noise, reverse: false, clientData: [4, 0x0105, 4096]).0 == 0)
        // Corrupt input: 0, a read error.
        #expect(runFilter([0x00, 0x41, 0x20, 0x05], reverse: true, clientData: [4, 0x0105, 64]).0 == 0)
    }

    @Test func rejectsCorruptInput() {
        // Literal run longer than the rest of the input.
        #expect(throws: LZF.Failure.self) { try LZF.decompress([0x05, 0x01, 0x02], capacity: 64) }
        // Back-reference before the start of the output.
        #expect(throws: LZF.Failure.self) { try LZF.decompress([0x00, 0x41, 0x20, 0x05], capacity: 64) }
        // Back-reference with its distance byte missing, and long form with its length byte missing.
        #expect(throws: LZF.Failure.self) { try LZF.decompress([0x00, 0x41, 0x20], capacity: 64) }
        #expect(throws: LZF.Failure.self) { try LZF.decompress([0x00, 0x41, 0xE0], capacity: 64) }
        // Output too small is its own failure.
        do {
            _ = try LZF.decompress([0x03, 1, 2, 3, 4], capacity: 3)
            Issue.record("expected outputTooSmall")
        } catch {
            #expect(error == .outputTooSmall)
        }
        do {
            _ = try LZF.decompress([0x00, 0x41, 0x20, 0x05], capacity: 64)
            Issue.record("expected corrupt")
        } catch {
            guard case .corrupt(let offset, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(offset == 2)
        }
    }

    @Test func survivesGarbageAndTruncation() {
        // Random garbage and truncated/bit-flipped valid streams: an error or some output,
        // never a crash or an access outside the buffers (the buffers are exact-size arrays).
        var random = H5SCFixtures.SeededGenerator(seed: 99)
        let stack = H5SCFixtures.syntheticStack(layout: H5SCFixtures.wgaLayout(imageSize: 32), seed: 1)
        let valid = LZF.compress(stack.withUnsafeBytes { Array($0) })
        var failures = 0
        for trial in 0..<400 {
            var input: [UInt8]
            switch trial % 3 {
            case 0: input = (0..<Int.random(in: 1...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            case 1: input = Array(valid.prefix(Int.random(in: 1..<valid.count, using: &random)))
            default:
                input = valid
                for _ in 0..<4 { input[Int.random(in: 0..<input.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random) }
            }
            do {
                let output = try LZF.decompress(input, capacity: Int.random(in: 0...9000, using: &random))
                #expect(output.count <= 9000)
            } catch {
                failures += 1
            }
        }
        #expect(failures > 100, "garbage must mostly be rejected")
    }
}
