import Foundation
import Testing

@testable import SingleCell

/// Writing `.h5sc` files and reading them back; layout compared with scPortrait's file.
@Suite("H5SC write and read")
struct H5SCRoundTripTests {
    /// Writes `stacks` from `threads` workers, each taking rows in a shuffled order.
    static func writeConcurrently(
        _ writer: H5SCWriter, stacks: [[Float16]], ids: [UInt64], threads: Int, seed: UInt64
    ) -> [String] {
        var random = H5SCFixtures.SeededGenerator(seed: seed)
        let order = Array(0..<stacks.count).shuffled(using: &random)
        let failures = H5SCLocked([String]())
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            for index in stride(from: worker, to: order.count, by: threads) {
                let row = order[index]
                do {
                    try writer.write(row: row, cellID: ids[row], stack: stacks[row])
                } catch {
                    failures.update { $0.append("row \(row): \(error)") }
                }
            }
        }
        return failures.value
    }

    @Test(arguments: [StackCompression.lzf, .gzip(level: 4), .none])
    func roundTripsFromSeveralThreads(compression: StackCompression) throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("cells.h5sc").path
        let layout = CellStackLayout(
            maskNames: ["seg_all_nucleus"], imageChannelNames: ["dapi", "marker", "wga"], imageSize: 40,
            normalization: false, normalizationLower: 0.01, normalizationUpper: 0.99, compression: compression)
        let count = 30
        let stacks = (0..<count).map { H5SCFixtures.syntheticStack(layout: layout, seed: UInt64($0) + 100) }
        let ids = (0..<count).map { UInt64($0 * 3 + 7) }
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: count)
        let failures = Self.writeConcurrently(writer, stacks: stacks, ids: ids, threads: 4, seed: 5)
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        try writer.finish()

        for direct in [true, false] {
            let reader = try H5SCReader(path: path, directChunkReads: direct)
            #expect(reader.layout == layout)
            #expect(reader.cellIDs == ids)
            for row in 0..<count {
                #expect(H5SCFixtures.sameBits(try reader.stack(row: row), stacks[row]), "row \(row), direct \(direct)")
            }
        }
        // Compressed chunks really are compressed (all stored with the filter applied).
        let chunks = try H5Inspector.chunks(inFile: path, dataset: "/obsm/single_cell_images")
        #expect(chunks.count == count * layout.channelCount)
        if case .none = compression {
            #expect(chunks.allSatisfy { $0.storedSize == 40 * 40 * 2 })
        } else {
            #expect(chunks.allSatisfy { $0.filterMask == 0 && $0.storedSize < 40 * 40 * 2 })
        }
    }

    @Test(arguments: [StackCompression.lzf, .gzip(level: 6)])
    func incompressibleChunksAreStoredRaw(compression: StackCompression) throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("noise.h5sc").path
        let layout = CellStackLayout(maskNames: ["m"], imageChannelNames: ["c"], imageSize: 64, compression: compression)
        var random = H5SCFixtures.SeededGenerator(seed: 11)
        // Row 0: noise in channel 0, zeros in channel 1; row 1: zeros, then noise.
        let noise = { (random: inout H5SCFixtures.SeededGenerator) in
            (0..<4096).map { _ in Float16(bitPattern: UInt16.random(in: 0...0xFFFF, using: &random)) }
        }
        let zeros = [Float16](repeating: 0, count: 4096)
        let stacks = [noise(&random) + zeros, zeros + noise(&random)]
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: 2)
        try writer.write(row: 1, cellID: 20, stack: stacks[1])
        try writer.write(row: 0, cellID: 10, stack: stacks[0])
        try writer.finish()

        let chunks = try H5Inspector.chunks(inFile: path, dataset: "/obsm/single_cell_images")
        let masks = Dictionary(uniqueKeysWithValues: chunks.map { ($0.offset, $0.filterMask) })
        #expect(masks[[0, 0, 0, 0]] == 1 && masks[[1, 1, 0, 0]] == 1, "noise is stored raw (filter skipped)")
        #expect(masks[[0, 1, 0, 0]] == 0 && masks[[1, 0, 0, 0]] == 0, "zeros are compressed")
        for direct in [true, false] {
            let reader = try H5SCReader(path: path, directChunkReads: direct)
            #expect(reader.cellIDs == [10, 20])
            #expect(H5SCFixtures.sameBits(try reader.stack(row: 0), stacks[0]))
            #expect(H5SCFixtures.sameBits(try reader.stack(row: 1), stacks[1]))
        }
    }

    /// The objects of a file with everything that depends on the number of cells (and on the
    /// cell data) replaced by placeholders.
    static func withoutCellCount(_ objects: [H5ObjectSummary]) -> [H5ObjectSummary] {
        objects.map { object in
            var object = object
            if var shape = object.shape, object.path.hasPrefix("/obs/") || object.path == "/obsm/single_cell_images" {
                shape[0] = -1
                object.shape = shape
            }
            if object.path == "/obs/_index" || object.path == "/obs/scportrait_cell_id" || object.path == "/uns/single_cell_images/n_cells" {
                object.values = .unsupported("depends on the cells")
            }
            object.attributes = object.attributes.map { attribute in
                var attribute = attribute
                if attribute.name == "n_cells" { attribute.value = .unsupported("depends on the cells") }
                return attribute
            }
            return object
        }
    }

    /// Copies the reference file row by row with our reader and writer (several threads).
    static func copyReference(_ reference: String, to path: String) throws {
        let reader = try H5SCReader(path: reference)
        let writer = try H5SCWriter(path: path, layout: reader.layout, cellCount: reader.cellCount)
        let failures = H5SCLocked([String]())
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            for row in stride(from: reader.cellCount - 1 - worker, through: 0, by: -3) {
                do {
                    try writer.write(row: row, cellID: reader.cellIDs[row], stack: try reader.stack(row: row))
                } catch {
                    failures.update { $0.append("row \(row): \(error)") }
                }
            }
        }
        #expect(failures.value.isEmpty, "\(failures.value.prefix(3))")
        try writer.finish()
    }

    @Test func copyOfReferenceHasIdenticalLayoutAndData() throws {
        guard let reference = H5SCFixtures.referenceFile else {
            print("skipped: shared test data (scportrait reference single_cells.h5sc) not present")
            return
        }
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("copy.h5sc").path
        try Self.copyReference(reference, to: path)

        // Every object, type, shape, chunking, filter (with client data), attribute and small
        // dataset value equals scPortrait's.
        let expected = try H5Inspector.objects(inFile: reference)
        let actual = try H5Inspector.objects(inFile: path)
        #expect(actual.map(\.path) == expected.map(\.path))
        for (a, e) in zip(actual, expected) where a != e {
            Issue.record("\(a.path) differs:\n ours \(a)\n theirs \(e)")
        }
        let original = try H5SCReader(path: reference)
        let copy = try H5SCReader(path: path)
        #expect(copy.cellIDs == original.cellIDs)
        for row in stride(from: 0, to: copy.cellCount, by: 13) {
            #expect(H5SCFixtures.sameBits(try copy.stack(row: row), try original.stack(row: row)))
        }
        // Our LZF is a different encoder from liblzf but of similar strength.
        let ours = try H5Inspector.chunks(inFile: path, dataset: "/obsm/single_cell_images").reduce(0) { $0 + $1.storedSize }
        let theirs = try H5Inspector.chunks(inFile: reference, dataset: "/obsm/single_cell_images").reduce(0) { $0 + $1.storedSize }
        #expect(Double(ours) < Double(theirs) * 1.15, "our chunks: \(ours) bytes, liblzf's: \(theirs)")
    }

    @Test func freshFileHasReferenceLayout() throws {
        guard let reference = H5SCFixtures.referenceFile else {
            print("skipped: shared test data (scportrait reference single_cells.h5sc) not present")
            return
        }
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let expected = Self.withoutCellCount(try H5Inspector.objects(inFile: reference))
        for compression in [StackCompression.lzf, .gzip(level: 4), .none] {
            let path = directory.appendingPathComponent("fresh-\(compression.name).h5sc").path
            let layout = H5SCFixtures.wgaLayout(compression: compression)
            let writer = try H5SCWriter(path: path, layout: layout, cellCount: 5)
            for row in 0..<5 {
                try writer.write(row: row, cellID: UInt64(100 + row), stack: H5SCFixtures.syntheticStack(layout: layout, seed: UInt64(row)))
            }
            try writer.finish()
            var actual = Self.withoutCellCount(try H5Inspector.objects(inFile: path))
            #expect(actual.map(\.path) == expected.map(\.path))
            // Only the compression may differ: its name and the filter pipeline.
            let images = try #require(actual.firstIndex { $0.path == "/obsm/single_cell_images" })
            let unsCompression = try #require(actual.firstIndex { $0.path == "/uns/single_cell_images/compression" })
            #expect(actual[unsCompression].values == .strings([compression.name]))
            #expect(actual[images].attribute("compression")?.value == .strings([compression.name]))
            switch compression {
            case .lzf: #expect(actual[images].filters == [H5FilterSummary(id: 32000, flags: 1, clientData: [4, 0x0105, 32768], name: "lzf")])
            case .gzip: #expect(actual[images].filters.map(\.id) == [1] && actual[images].filters.first?.clientData == [4])
            case .none: #expect(actual[images].filters.isEmpty)
            }
            actual[unsCompression].values = .strings(["lzf"])
            actual[images].filters = expected.first { $0.path == "/obsm/single_cell_images" }?.filters ?? []
            actual[images].attributes = actual[images].attributes.map { attribute in
                var attribute = attribute
                if attribute.name == "compression" { attribute.value = .strings(["lzf"]) }
                return attribute
            }
            for (a, e) in zip(actual, expected) where a != e {
                Issue.record("\(compression.name): \(a.path) differs:\n ours \(a)\n theirs \(e)")
            }
            let reader = try H5SCReader(path: path)
            #expect(reader.cellIDs == [100, 101, 102, 103, 104])
            #expect(reader.layout == layout)
        }
    }

    @Test func dapiLayoutHasOneMaskAndCategoricalCodes() throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("dapi.h5sc").path
        let layout = CellStackLayout(maskNames: ["seg_all_nucleus"], imageChannelNames: ["nucleus", "cytosol"], imageSize: 16)
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: 3)
        for row in [2, 0, 1] {
            try writer.write(row: row, cellID: UInt64(row + 1), stack: [Float16](repeating: Float16(Float(row) / 4), count: layout.valuesPerCell))
        }
        try writer.finish()
        let objects = Dictionary(uniqueKeysWithValues: try H5Inspector.objects(inFile: path).map { ($0.path, $0) })
        #expect(objects["/var/channel_mapping/categories"]?.values == .strings(["image_channel", "mask"]))
        #expect(objects["/var/channel_mapping/codes"]?.values == .integers([1, 0, 0]))
        #expect(objects["/var/channels"]?.values == .strings(["seg_all_nucleus", "nucleus", "cytosol"]))
        #expect(objects["/var/_index"]?.values == .strings(["0", "1", "2"]))
        #expect(objects["/obs/_index"]?.values == .strings(["0", "1", "2"]))
        #expect(objects["/obs/scportrait_cell_id"]?.values == .unsignedIntegers([1, 2, 3]))
        let images = try #require(objects["/obsm/single_cell_images"])
        #expect(images.shape == [3, 3, 16, 16])
        #expect(images.attribute("n_masks")?.value == .integers([1]))
        #expect(images.attribute("n_image_channels")?.value == .integers([2]))
        #expect(images.attribute("channel_names")?.type.stringPadding == "nullpad")
        #expect(images.attribute("channel_names")?.type.size == 15)
        #expect(images.attribute("channel_mapping")?.value == .strings(["mask", "image_channel", "image_channel"]))
        #expect(images.attribute("normalization")?.value == .enumNames(["TRUE"]))
        #expect(objects["/uns/single_cell_images/normalization_range_upper"]?.values == .floats([0.999]))
        let reader = try H5SCReader(path: path)
        #expect(try reader.stack(row: 2).allSatisfy { $0 == 0.5 })
    }

    @Test func writerDroppedWithoutFinishClosesTheFile() throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("unfinished.h5sc").path
        let layout = H5SCFixtures.wgaLayout(imageSize: 8)
        do {
            let writer = try H5SCWriter(path: path, layout: layout, cellCount: 4)
            try writer.write(row: 1, cellID: 9, stack: [Float16](repeating: 1, count: layout.valuesPerCell))
        }
        do {
            let reader = try H5SCReader(path: path)
            #expect(reader.cellCount == 4)
            #expect(try reader.stack(row: 1).allSatisfy { $0 == 1 })
            #expect(try reader.stack(row: 0).allSatisfy { $0 == 0 }, "unwritten rows read as the fill value")
        }
        // Both dropped objects closed their handles: libhdf5 refuses to truncate a file that is
        // still open, so a new writer on the same path proves it.
        let again = try H5SCWriter(path: path, layout: layout, cellCount: 1)
        try again.write(row: 0, cellID: 77, stack: [Float16](repeating: 0.25, count: layout.valuesPerCell))
        try again.finish()
        let reread = try H5SCReader(path: path)
        #expect(reread.cellIDs == [77])
        #expect(try reread.stack(row: 0).allSatisfy { $0 == 0.25 })
    }
}
