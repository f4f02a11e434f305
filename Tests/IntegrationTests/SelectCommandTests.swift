import Catalog
import Foundation
import Testing

/// `lmdflow select RUN --sets FILE` on a finished demo run: new cut-file versions beside the old
/// ones, and clear errors that leave nothing behind.
@Suite(.serialized, .enabled(if: DaemonHarness.binaryExists, "lmdflow binary not built (run `make test`)"))
struct SelectCommandTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A finished demo run (all stages) in a fresh directory.
    static func demoRun() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-select-\(UUID().uuidString.prefix(8))").path
        let (status, _, stderr) = try DaemonHarness.cli([
            "demo", "--dir", dir, "--profile-dir", "\(packageRoot)/share/lmdflow/profiles", "--log-level", "warning",
        ])
        #expect(status == 0, "demo failed: \(stderr)")
        return dir
    }

    static func sha(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    @Test func reselectionWritesNewVersionsAndKeepsTheOldOnes() throws {
        let dir = try Self.demoRun()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outbox = "\(dir)/state/outbox/demo-nuclei"
        let original = try #require(Self.sha("\(outbox)/demo-nuclei_large_bright.xml"))
        let originalPreview = try #require(Self.sha("\(outbox)/preview.png"))
        try """
            max_per_well: 25
            cell_sets:
              - name: small
                well: C1
                bottom: {n: 30, by: area_nucleus}
              - name: round
                well: C1
                select: eccentricity_nucleus < 0.5 and area_nucleus > quantile(area_nucleus, 0.25)
              - {name: chosen, well: D2, classes: [3, 5, 8]}
            """.write(toFile: "\(dir)/sets.yml", atomically: true, encoding: .utf8)
        let (status, stdout, stderr) = try DaemonHarness.cli(["select", "1", "--sets", "\(dir)/sets.yml", "--config", "\(dir)/lmdflow.yml"])
        #expect(status == 0, "stderr: \(stderr)")
        #expect(stdout.contains("selection v2"))
        // The empty set `round` is left out of the file.
        let v2 = "\(outbox)/demo-nuclei_small_chosen.v2.xml"
        let xml = try String(contentsOfFile: v2, encoding: .utf8)
        #expect(xml.contains("<CapID>C1</CapID>") && xml.contains("<CapID>D2</CapID>"))
        #expect(FileManager.default.fileExists(atPath: "\(outbox)/preview.v2.png"))
        // The run's own cut file and preview are untouched.
        #expect(Self.sha("\(outbox)/demo-nuclei_large_bright.xml") == original)
        #expect(Self.sha("\(outbox)/preview.png") == originalPreview)
        let catalog = try Catalog(path: "\(dir)/state/catalog.sqlite")
        let sets = try catalog.cellSets(runID: 1)
        #expect(sets.filter { $0.version == 1 }.count == 2)
        let v2Sets = sets.filter { $0.version == 2 }
        #expect(v2Sets.map(\.name) == ["small", "round", "chosen"])
        // max_per_well 25 across the two C1 sets: `small` fills the well first.
        #expect(v2Sets[0].cellIDs.count == 25 && v2Sets[1].cellIDs.isEmpty)
        #expect(v2Sets[2].cellIDs == [3, 5, 8])
        #expect(v2Sets.allSatisfy { $0.source.hasPrefix("cli:") })
        let outputs = try catalog.details(runID: 1).outputs
        #expect(outputs.contains { $0.path == v2 && $0.kind == "outbox_cut_xml" })
        // Again: version 3, nothing overwritten.
        let (again, _, againErr) = try DaemonHarness.cli(["select", "1", "--sets", "\(dir)/sets.yml", "--config", "\(dir)/lmdflow.yml", "--json"])
        #expect(again == 0, "stderr: \(againErr)")
        #expect(FileManager.default.fileExists(atPath: "\(outbox)/demo-nuclei_small_chosen.v3.xml"))
        #expect(try catalog.latestSelectionVersion(runID: 1) == 3)
        #expect(try catalog.integrityCheck() == ["ok"])
    }

    @Test func badRulesFailClearlyAndWriteNothing() throws {
        let dir = try Self.demoRun()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outbox = "\(dir)/state/outbox/demo-nuclei"
        let before = try FileManager.default.contentsOfDirectory(atPath: outbox).sorted()
        let runFiles = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/state/runs/1").sorted()
        func select(_ yaml: String) throws -> (Int32, String) {
            try yaml.write(toFile: "\(dir)/bad.yml", atomically: true, encoding: .utf8)
            let (status, _, stderr) = try DaemonHarness.cli(["select", "1", "--sets", "\(dir)/bad.yml", "--config", "\(dir)/lmdflow.yml"])
            return (status, stderr)
        }
        // A syntax error points at the spot: the file, the line and a caret under the expression.
        let (syntaxStatus, syntax) = try select("cell_sets:\n  - name: x\n    well: A1\n    select: area_nucleus > > 3\n")
        #expect(syntaxStatus != 0)
        #expect(syntax.contains("bad.yml") && syntax.contains("4:"), "\(syntax)")
        #expect(syntax.contains("^"), "\(syntax)")
        // An unknown column names the closest ones.
        let (columnStatus, column) = try select("cell_sets:\n  - name: x\n    well: A1\n    select: area_nucleas > 3\n")
        #expect(columnStatus != 0)
        #expect(column.contains("area_nucleus"), "\(column)")
        // Unknown cell ids are named.
        let (idStatus, ids) = try select("cell_sets:\n  - {name: x, well: A1, classes: [1, 999999]}\n")
        #expect(idStatus != 0)
        #expect(ids.contains("999999"), "\(ids)")
        // A run that does not exist.
        let (missing, _, missingErr) = try DaemonHarness.cli(["select", "42", "--sets", "\(dir)/bad.yml", "--config", "\(dir)/lmdflow.yml"])
        #expect(missing != 0)
        #expect(missingErr.contains("42"), "\(missingErr)")
        // Nothing was written, no version claimed.
        #expect(try FileManager.default.contentsOfDirectory(atPath: outbox).sorted() == before)
        var after = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/state/runs/1").sorted()
        if after.contains("selections") { after.removeAll { $0 == "selections" } }
        #expect(after == runFiles)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/state/runs/1/selections")) ?? [] == [])
        let catalog = try Catalog(path: "\(dir)/state/catalog.sqlite")
        #expect(try catalog.latestSelectionVersion(runID: 1) == 1)
    }
}
