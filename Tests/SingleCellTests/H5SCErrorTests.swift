import Foundation
import Testing

@testable import SingleCell

/// Misuse and bad files give clear ``SingleCellError``s.
@Suite("H5SC errors")
struct H5SCErrorTests {
    private let layout = CellStackLayout(maskNames: ["seg_all_nucleus"], imageChannelNames: ["nucleus"], imageSize: 8)

    /// The SingleCellError `body` throws (nil when it succeeds; another error is an issue).
    private func capture(_ body: () throws -> Void) -> SingleCellError? {
        do {
            try body()
            return nil
        } catch let error as SingleCellError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    private func stack(_ value: Float16 = 0.5) -> [Float16] {
        [Float16](repeating: value, count: layout.valuesPerCell)
    }

    @Test func finishNamesMissingRows() throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("missing.h5sc").path
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: 10)
        for row in 0..<10 where row != 3 && row != 7 {
            try writer.write(row: row, cellID: UInt64(row), stack: stack())
        }
        let error = try #require(capture { try writer.finish() })
        #expect(error.code == .invalidInput)
        #expect(error.message.contains("2 of 10 rows"))
        #expect(error.message.contains("first missing row: 3"))
        #expect(error.context.path == path)
        // The writer is still usable: write the missing rows, then finish.
        try writer.write(row: 7, cellID: 7, stack: stack())
        try writer.write(row: 3, cellID: 3, stack: stack())
        try writer.finish()
        #expect(try H5SCReader(path: path).cellIDs == (0..<10).map { UInt64($0) })
        // No more rows, no second finish.
        #expect(capture { try writer.write(row: 0, cellID: 0, stack: stack()) }?.code == .invalidParameter)
        #expect(capture { try writer.finish() }?.code == .invalidParameter)
    }

    @Test func rejectsDuplicateOutOfRangeAndWrongSizeRows() throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("rows.h5sc").path
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: 2)
        try writer.write(row: 0, cellID: 1, stack: stack(0.25))
        let duplicate = try #require(capture { try writer.write(row: 0, cellID: 1, stack: stack(0.75)) })
        #expect(duplicate.code == .invalidParameter)
        #expect(duplicate.message.contains("row 0 was already written"))
        for row in [-1, 2] {
            let outside = try #require(capture { try writer.write(row: row, cellID: 1, stack: stack()) })
            #expect(outside.code == .invalidParameter)
            #expect(outside.message.contains("out of range"))
        }
        let short = try #require(capture { try writer.write(row: 1, cellID: 1, stack: Array(stack().dropLast())) })
        #expect(short.code == .invalidInput)
        #expect(short.message.contains("expected \(layout.valuesPerCell)"))
        // The rejected attempts did not consume row 1 nor change row 0.
        try writer.write(row: 1, cellID: 2, stack: stack())
        try writer.finish()
        #expect(try H5SCReader(path: path).stack(row: 0).allSatisfy { $0 == 0.25 })
    }

    @Test func rejectsUnusableParameters() {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("never-\(UUID().uuidString).h5sc").path
        #expect(capture { _ = try H5SCWriter(path: path, layout: layout, cellCount: 0) }?.code == .invalidParameter)
        var bad = layout
        bad.compression = .gzip(level: 12)
        #expect(capture { _ = try H5SCWriter(path: path, layout: bad, cellCount: 1) }?.code == .invalidParameter)
        bad = layout
        bad.maskNames = []
        bad.imageChannelNames = []
        #expect(capture { _ = try H5SCWriter(path: path, layout: bad, cellCount: 1) }?.code == .invalidParameter)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func unwritablePathIsAnHDF5Error() throws {
        let path = "/nonexistent-\(UUID().uuidString)/cells.h5sc"
        let error = try #require(capture { _ = try H5SCWriter(path: path, layout: layout, cellCount: 1) })
        #expect(error.code == .hdf5)
        #expect(error.context.path == path)
        #expect(error.message.contains("cannot create the file"))
    }

    @Test func cannotTruncateAFileThatIsOpen() throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("open.h5sc").path
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: 1)
        try writer.write(row: 0, cellID: 1, stack: stack())
        try writer.finish()
        let reader = try H5SCReader(path: path)
        let error = try #require(capture { _ = try H5SCWriter(path: path, layout: layout, cellCount: 1) })
        #expect(error.code == .hdf5)
        #expect(error.message.contains("already open"), "libhdf5's reason is passed on: \(error.message)")
        // The failed writer left the open file alone.
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(reader.cellCount == 1)
        #expect(try reader.stack(row: 0).allSatisfy { $0 == 0.5 })
        #expect(try H5SCReader(path: path).cellIDs == [1])
    }

    @Test func readingNonHDF5FilesFails() throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let text = directory.appendingPathComponent("notes.h5sc")
        try Data("not an HDF5 file\n".utf8).write(to: text)
        let notHDF5 = try #require(capture { _ = try H5SCReader(path: text.path) })
        #expect(notHDF5.code == .hdf5)
        #expect(notHDF5.message.contains("not an HDF5 file"))
        #expect(notHDF5.context.path == text.path)
        let missing = try #require(capture { _ = try H5SCReader(path: directory.appendingPathComponent("absent.h5sc").path) })
        #expect(missing.code == .hdf5)
        #expect(missing.message.contains("does not exist"))
    }

    @Test(arguments: [
        (H5SCWriter.OmittableObject.rootEncoding, "/", "encoding-type"),
        (.cellIDs, "/obs/scportrait_cell_id", "missing"),
        (.channelNames, "/obsm/single_cell_images @channel_names", "missing"),
        (.images, "/obsm/single_cell_images", "missing"),
    ])
    func readingHDF5ThatIsNotH5SCNamesTheObject(omitted: H5SCWriter.OmittableObject, object: String, phrase: String) throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("partial.h5sc").path
        do {
            let writer = try H5SCWriter(path: path, layout: layout, cellCount: 2, omitting: [omitted])
            if omitted != .images {
                try writer.write(row: 0, cellID: 1, stack: stack())
                try writer.write(row: 1, cellID: 2, stack: stack())
            }
        }
        let error = try #require(capture { _ = try H5SCReader(path: path) })
        #expect(error.code == .hdf5)
        #expect(error.context.object == object)
        #expect(error.message.contains(phrase), "\(error)")
        #expect(error.context.path == path)
    }

    @Test func readerRejectsBadRowsAndBuffers() throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("reader.h5sc").path
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: 1)
        try writer.write(row: 0, cellID: 1, stack: stack())
        try writer.finish()
        let reader = try H5SCReader(path: path)
        #expect(capture { _ = try reader.stack(row: 1) }?.code == .invalidParameter)
        #expect(capture { _ = try reader.stack(row: -1) }?.code == .invalidParameter)
        var small = [Float16](repeating: 0, count: 3)
        let error = small.withUnsafeMutableBufferPointer { buffer in capture { try reader.readStack(row: 0, into: buffer) } }
        #expect(error?.code == .invalidInput)
    }
}

/// Damaged chunk data is reported, not crashed on.
@Suite("H5SC damaged chunks")
struct H5SCDamageTests {
    @Test(arguments: [StackCompression.lzf, .gzip(level: 1)])
    func corruptChunkIsAnErrorOnBothReadPaths(compression: StackCompression) throws {
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("damaged.h5sc").path
        let layout = CellStackLayout(maskNames: ["m"], imageChannelNames: ["c"], imageSize: 32, compression: compression)
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: 2)
        for row in 0..<2 {
            try writer.write(row: row, cellID: UInt64(row), stack: H5SCFixtures.syntheticStack(layout: layout, seed: UInt64(row)))
        }
        try writer.finish()
        // Overwrite the middle of row 1's second chunk with a pattern that is not valid data:
        // for LZF, back-references far before the start of the output.
        let chunk = try #require(try H5Inspector.chunks(inFile: path, dataset: "/obsm/single_cell_images").first { $0.offset == [1, 1, 0, 0] })
        #expect(chunk.filterMask == 0 && chunk.storedSize > 16)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: chunk.fileOffset)
        try handle.write(contentsOf: Data([UInt8](repeating: 0xFF, count: chunk.storedSize)))
        try handle.close()

        for direct in [true, false] {
            let reader = try H5SCReader(path: path, directChunkReads: direct)
            #expect(try reader.stack(row: 0).count == layout.valuesPerCell, "undamaged rows still read")
            do {
                _ = try reader.stack(row: 1)
                Issue.record("damaged row read without error (direct \(direct))")
            } catch {
                #expect(error.code == .hdf5)
                #expect(error.context.object == "/obsm/single_cell_images")
                if direct { #expect(error.message.contains("row 1, channel 1")) }
            }
        }
    }
}
