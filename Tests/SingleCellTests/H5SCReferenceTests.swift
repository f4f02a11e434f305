import Foundation
import Testing

@testable import SingleCell

/// Reading scPortrait's own `single_cells.h5sc` (written by h5py with liblzf).
@Suite("H5SC reference file")
struct H5SCReferenceTests {
    @Test func readsLayoutAndCellIDs() throws {
        guard let path = H5SCFixtures.referenceFile else {
            print("skipped: shared test data (scportrait reference single_cells.h5sc) not present")
            return
        }
        let reader = try H5SCReader(path: path)
        #expect(reader.cellCount == 429)
        #expect(reader.layout == H5SCFixtures.wgaLayout())
        #expect(reader.layout.channelNames == ["seg_all_nucleus", "seg_all_cytosol", "nucleus", "cytosol"])
        #expect(reader.layout.channelMapping == ["mask", "mask", "image_channel", "image_channel"])
        #expect(reader.layout.normalizationLower == 0.001 && reader.layout.normalizationUpper == 0.999)
        #expect(Array(reader.cellIDs.prefix(10)) == [1, 2, 3, 5, 6, 9, 10, 11, 12, 13])
        #expect(Set(reader.cellIDs).count == 429, "cell ids are unique")
    }

    @Test func firstStackMatchesNumpy() throws {
        guard let path = H5SCFixtures.referenceFile, let outputs = H5SCFixtures.wgaOutputs else {
            print("skipped: shared test data (scportrait reference single_cells.h5sc) not present")
            return
        }
        let npy = try H5SCFixtures.readNPYFloat16(outputs.appendingPathComponent("h5sc_first_cell_stack.npy"))
        #expect(npy.shape == [4, 128, 128])
        // Direct chunk reads decoded by our LZF …
        let direct = try H5SCReader(path: path).stack(row: 0)
        #expect(H5SCFixtures.sameBits(direct, npy.values))
        // … and H5Dread through the LZF filter registered with libhdf5.
        let filtered = try H5SCReader(path: path, directChunkReads: false).stack(row: 0)
        #expect(H5SCFixtures.sameBits(filtered, npy.values))
        // The numbers of the reference dump: channel 1 (cytosol mask) mean 0.246.
        let plane = 128 * 128
        let mean = direct[plane..<2 * plane].reduce(0.0) { $0 + Double($1) } / Double(plane)
        #expect(abs(mean - 0.246) < 0.0005)
    }

    @Test func everyRowDecodesAlikeThroughBothPaths() throws {
        guard let path = H5SCFixtures.referenceFile else {
            print("skipped: shared test data (scportrait reference single_cells.h5sc) not present")
            return
        }
        let direct = try H5SCReader(path: path)
        let library = try H5SCReader(path: path, directChunkReads: false)
        // Several threads at once, to exercise the lock and the decode-outside-the-lock path.
        let mismatches = H5SCLocked(0)
        let failures = H5SCLocked([String]())
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for row in stride(from: worker, to: direct.cellCount, by: 4) {
                do {
                    let a = try direct.stack(row: row)
                    let b = try library.stack(row: row)
                    if !H5SCFixtures.sameBits(a, b) { mismatches.update { $0 += 1 } }
                } catch {
                    failures.update { $0.append("row \(row): \(error)") }
                }
            }
        }
        #expect(failures.value.isEmpty, "\(failures.value.prefix(3))")
        #expect(mismatches.value == 0)
    }

    @Test func referencePipelineIsH5pyLZF() throws {
        guard let path = H5SCFixtures.referenceFile else {
            print("skipped: shared test data (scportrait reference single_cells.h5sc) not present")
            return
        }
        let objects = try H5Inspector.objects(inFile: path)
        let images = try #require(objects.first { $0.path == "/obsm/single_cell_images" })
        #expect(images.filters == [H5FilterSummary(id: 32000, flags: 1, clientData: [4, 0x0105, 32768], name: "lzf")])
        #expect(images.chunkShape == [1, 1, 128, 128])
        #expect(images.type?.floatFields == [15, 10, 5, 0, 10, 15, 16])
        let chunks = try H5Inspector.chunks(inFile: path, dataset: "/obsm/single_cell_images")
        #expect(chunks.count == 429 * 4)
        #expect(chunks.allSatisfy { $0.filterMask == 0 })
    }
}

/// A value behind a lock, for collecting results from concurrent test workers.
final class H5SCLocked<Value>: @unchecked Sendable {
    // @unchecked: `stored` is only touched under `lock`.
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    /// Mutates the value under the lock.
    func update(_ body: (inout Value) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body(&stored)
    }
    /// The current value.
    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
