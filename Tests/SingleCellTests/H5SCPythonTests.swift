import Foundation
import Testing

@testable import SingleCell

/// h5py and anndata read our files exactly as they read scPortrait's (needs the anchors venv).
@Suite("H5SC with h5py and anndata")
struct H5SCPythonTests {
    /// `Benchmarks/h5sc_check.py`, found from this file's location.
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Benchmarks/h5sc_check.py").path

    static func check(_ python: String, _ file: String, _ options: [String]) throws -> [String] {
        try check(python, [file], options)[0]
    }

    /// Runs the script once on several files (one anndata import); one dump per file.
    static func check(_ python: String, _ files: [String], _ options: [String]) throws -> [[String]] {
        let result = try H5SCFixtures.run(python, [script] + files + options)
        #expect(result.status == 0, "h5sc_check.py \(files) failed: \(result.err)")
        let lines = result.out.trimmingCharacters(in: .newlines).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard files.count > 1 else { return [lines] }
        var dumps: [[String]] = []
        for line in lines {
            if line.hasPrefix("### ") { dumps.append([]) } else if !dumps.isEmpty { dumps[dumps.count - 1].append(line) }
        }
        #expect(dumps.count == files.count, "one dump per file")
        return dumps + Array(repeating: [], count: max(0, files.count - dumps.count))
    }

    /// Replaces the numbers that depend on the number of cells, and drops the data lines.
    static func withoutCellCount(_ lines: [String], cells: Int) -> [String] {
        lines.compactMap { line -> String? in
            if line.hasPrefix("first 10 cell ids") || line.hasPrefix("cell 0 per-channel") || line.hasPrefix("IMAGES ") {
                return nil
            }
            var line = line
            line = line.replacingOccurrences(of: "shape=(\(cells),", with: "shape=(N,")
            line = line.replacingOccurrences(of: "@n_cells = np.int64(\(cells))", with: "@n_cells = np.int64(N)")
            line = line.replacingOccurrences(of: "ANNDATA n_obs=\(cells) ", with: "ANNDATA n_obs=N ")
            line = line.replacingOccurrences(of: "images=(\(cells),", with: "images=(N,")
            return line
        }
    }

    @Test func scriptReproducesTheReferenceDump() throws {
        guard let python = anchorsPython, let reference = H5SCFixtures.referenceFile, let outputs = H5SCFixtures.wgaOutputs else {
            print("skipped: anchors venv or shared test data not present")
            return
        }
        let dump = try Self.check(python, reference, [])
        let expected = try String(contentsOf: outputs.appendingPathComponent("h5sc_layout.txt"), encoding: .utf8)
        #expect(dump.joined(separator: "\n") == expected.trimmingCharacters(in: .newlines))
    }

    @Test func copyOfReferenceDumpsIdentically() throws {
        guard let python = anchorsPython, let reference = H5SCFixtures.referenceFile else {
            print("skipped: anchors venv or shared test data not present")
            return
        }
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("copy.h5sc").path
        try H5SCRoundTripTests.copyReference(reference, to: path)
        // Layout details, anndata's view and the SHA-256 of every image as h5py's LZF filter
        // decodes our chunks: all identical to scPortrait's file.
        let dumps = try Self.check(python, [reference, path], ["--details", "--data"])
        let (theirs, ours) = (dumps[0], dumps[1])
        #expect(ours.count == theirs.count)
        for (a, b) in zip(ours, theirs) where a != b {
            Issue.record("dump differs:\n ours   \(a)\n theirs \(b)")
        }
        #expect(theirs.contains { $0.hasPrefix("IMAGES sha256=") })
    }

    @Test func freshFileDumpsLikeTheReference() throws {
        guard let python = anchorsPython, let reference = H5SCFixtures.referenceFile else {
            print("skipped: anchors venv or shared test data not present")
            return
        }
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("fresh.h5sc").path
        let layout = H5SCFixtures.wgaLayout()
        let count = 37
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: count)
        let stacks = (0..<count).map { H5SCFixtures.syntheticStack(layout: layout, seed: UInt64($0)) }
        let failures = H5SCRoundTripTests.writeConcurrently(
            writer, stacks: stacks, ids: (0..<count).map { UInt64($0 * 2 + 1) }, threads: 3, seed: 8)
        #expect(failures.isEmpty)
        try writer.finish()
        let dumps = try Self.check(python, [reference, path], ["--details"])
        let theirs = Self.withoutCellCount(dumps[0], cells: 429)
        let ours = Self.withoutCellCount(dumps[1], cells: count)
        #expect(ours.count == theirs.count)
        for (a, b) in zip(ours, theirs) where a != b {
            Issue.record("dump differs:\n ours   \(a)\n theirs \(b)")
        }
        #expect(dumps[1].contains("first 10 cell ids in obs/scportrait_cell_id: [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]"))
        // h5py's LZF filter decoded row 0 (the statistics line) to what we wrote.
        let plane = 128 * 128
        let statistics = (0..<4).map { channel -> String in
            let values = stacks[0][channel * plane..<(channel + 1) * plane].map { Double($0) }
            let mean = values.reduce(0, +) / Double(plane)
            return "\(channel):" + [values.min() ?? 0, values.max() ?? 0, mean].map { String(format: "%.3f", $0) }.joined(separator: "/")
        }
        #expect(dumps[1].contains("cell 0 per-channel min/max/mean: " + statistics.joined(separator: "; ")))
    }

    @Test func otherCompressionsLoadInH5pyAndAnndata() throws {
        guard let python = anchorsPython else {
            print("skipped: anchors venv not present")
            return
        }
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        var paths: [String] = []
        var hashes: [String] = []
        for compression in [StackCompression.gzip(level: 4), .none, .lzf] {
            let path = directory.appendingPathComponent("\(compression.name).h5sc").path
            let layout = H5SCFixtures.wgaLayout(compression: compression, imageSize: 64)
            let writer = try H5SCWriter(path: path, layout: layout, cellCount: 3)
            for row in 0..<3 {
                try writer.write(row: row, cellID: UInt64(row + 1), stack: H5SCFixtures.syntheticStack(layout: layout, seed: UInt64(row)))
            }
            try writer.finish()
            paths.append(path)
        }
        let dumps = try Self.check(python, paths, ["--details", "--data"])
        for (dump, name) in zip(dumps, ["gzip", "None", "lzf"]) {
            #expect(dump.contains("DATASET /obsm/single_cell_images shape=(3, 4, 64, 64) dtype=float16 chunks=(1, 1, 64, 64) compression=\(name)"))
            #expect(dump.contains { $0.hasPrefix("ANNDATA n_obs=3 n_vars=4") })
            hashes.append(dump.first { $0.hasPrefix("IMAGES sha256=") } ?? "missing")
        }
        // The same stacks, decoded by h5py from three differently compressed files.
        #expect(Set(hashes).count == 1 && hashes[0] != "missing", "\(hashes)")
    }

    @Test func h5pyReadsChunksStoredRaw() throws {
        guard let python = anchorsPython else {
            print("skipped: anchors venv not present")
            return
        }
        let directory = try H5SCFixtures.temporaryDirectory()
        defer { H5SCFixtures.remove(directory) }
        let path = directory.appendingPathComponent("noise.h5sc").path
        // Values in [0, 1) with random bits: LZF cannot shrink them, so the chunks are stored raw
        // (filter mask 1) and h5py must skip its LZF filter for them.
        let layout = CellStackLayout(maskNames: ["m"], imageChannelNames: ["c"], imageSize: 32)
        var random = H5SCFixtures.SeededGenerator(seed: 23)
        let stack = (0..<layout.valuesPerCell).map { _ in Float16(bitPattern: UInt16.random(in: 0...0x3BFF, using: &random)) }
        let writer = try H5SCWriter(path: path, layout: layout, cellCount: 1)
        try writer.write(row: 0, cellID: 5, stack: stack)
        try writer.finish()
        #expect(try H5Inspector.chunks(inFile: path, dataset: "/obsm/single_cell_images").map(\.filterMask) == [1, 1])
        let plane = 32 * 32
        let statistics = (0..<2).map { channel -> String in
            let values = stack[channel * plane..<(channel + 1) * plane].map { Double($0) }
            let mean = values.reduce(0, +) / Double(plane)
            return "\(channel):" + [values.min() ?? 0, values.max() ?? 0, mean].map { String(format: "%.3f", $0) }.joined(separator: "/")
        }
        let dump = try Self.check(python, path, [])
        #expect(dump.last == "cell 0 per-channel min/max/mean: " + statistics.joined(separator: "; "))
    }
}
