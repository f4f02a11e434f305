import Foundation
import LMDTestSupport
import SingleCell
import Testing

@testable import Pipeline

/// scPortrait's `project.select` request from the shared test data, when present.
let selectionRequestURL: URL? = {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/testdata/scportrait/outputs/wga/selection_request.json")
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}()

@Suite("SelectionConfig: cell_sets in YAML")
struct SelectionConfigTests {
    /// Parses `yaml` as the sidecar `file` (ids_csv relative to `base`).
    private func plan(
        _ yaml: String, file: String = "/data/sample.select.yml",
        base: String = "/data"
    ) throws(PipelineError) -> SelectionPlan {
        try SelectionPlan.parse(ConfigNode.parse(yaml: yaml, file: file), baseDirectory: base)
    }

    private func failure(_ yaml: String, base: String = "/data") -> PipelineError? {
        pipelineError { () throws(PipelineError) in try plan(yaml, base: base) }
    }

    private func line(_ error: PipelineError?) -> Int? { line(error?.location) }

    private func line(_ location: String?) -> Int? {
        location?.split(separator: ":").first.flatMap { Int($0) }
    }

    @Test("scPortrait's {name, classes, well} form is accepted unchanged")
    func scPortraitForm() throws {
        let result = try plan(
            """
            cell_sets:
              - name: set_a
                classes: [2, 6, 21]
                well: A1
              - {name: set_b, classes: all, well: B1}
              - classes: [7]
            """)
        #expect(result.rules.map(\.name) == ["set_a", "set_b", "set3"])
        #expect(result.rules.map(\.well) == ["A1", "B1", nil])
        #expect(result.rules.map(\.cells) == [.ids([2, 6, 21]), .all, .ids([7])])
        #expect(
            result.rules.allSatisfy { $0.filter == nil && $0.ranking == nil && $0.sample == nil && $0.maxCells == nil })
        #expect(result.maxPerWell == nil)
        #expect(result.origins.map(\.set.keyPath) == ["cell_sets[0]", "cell_sets[1]", "cell_sets[2]"])
        #expect(line(result.origins[1].set.location) == 5)
    }

    @Test(
        "scPortrait's selection request (JSON is YAML) reads with its extra key allowed",
        .enabled(if: selectionRequestURL != nil, "needs ../shared/testdata"))
    func scPortraitRequest() throws {
        let url = try #require(selectionRequestURL)
        let text = try String(contentsOf: url, encoding: .utf8)
        let reader = try ConfigReader(ConfigNode.parse(yaml: text, file: url.path))
        reader.allow(["calibration_marker"])
        let result = try #require(try SelectionPlan.read(from: reader, baseDirectory: "/data"))
        try reader.finish()
        #expect(result.rules.map(\.name) == ["set_a", "set_b"])
        #expect(result.rules.map(\.well) == ["A1", "B1"])
        guard case .ids(let ids) = result.rules[0].cells else {
            Issue.record("set_a has no ids")
            return
        }
        #expect(ids.count == 50)
        #expect(ids.prefix(5) == [2, 6, 21, 25, 26])
    }

    @Test("the extended form: select, top/bottom, sample, max_cells, ids_csv, max_per_well")
    func extendedForm() throws {
        let folder = try TemporaryDirectory()
        try folder.write("lists/picked.csv", "cell_id,score\n12,0.5\n40,0.7\n")
        let result = try plan(
            """
            max_per_well: 500
            cell_sets:
              - name: big_bright
                well: C1
                select: area_nucleus > 200 and mean_ch1_cytosol > quantile(mean_ch1_cytosol, 0.9)
                top: {n: 100, by: area_nucleus / area_cytosol}
                sample: {n: 50, seed: 7}
                max_cells: 40
              - name: picked
                well: B1
                ids_csv: lists/picked.csv
                bottom:
                  n: 1
                  by: area_nucleus
              - name: sampled
                well: D1
                sample: {n: 10, seed: 18446744073}
            """, file: folder.file("s.select.yml"), base: folder.path)
        #expect(result.maxPerWell == 500)
        let big = result.rules[0]
        #expect(big.cells == .all)
        #expect(
            big.filter?.canonical == "((area_nucleus > 200) and (mean_ch1_cytosol > quantile(mean_ch1_cytosol, 0.9)))")
        #expect(big.ranking?.direction == .top)
        #expect(big.ranking?.count == 100)
        #expect(big.ranking?.key.canonical == "(area_nucleus / area_cytosol)")
        #expect(big.sample?.count == 50 && big.sample?.seed == 7)
        #expect(big.maxCells == 40)
        #expect(result.rules[1].cells == .ids([12, 40]))
        #expect(result.rules[1].ranking?.direction == .bottom)
        #expect(result.rules[2].sample?.seed == 18_446_744_073)
        #expect(result.rules[2].cells == .all)
        #expect(result.origins[0].filter != nil && result.origins[0].ranking != nil && result.origins[1].ids != nil)
    }

    @Test("an expression syntax error names the YAML line and keeps the caret under the spot")
    func expressionError() throws {
        let error = try #require(
            failure(
                """
                cell_sets:
                  - name: x
                    well: A1
                    select: area_nucleus > 200 and
                """))
        #expect(error.code == .config)
        #expect(error.path == "/data/sample.select.yml")
        #expect(line(error) == 4)
        #expect(
            error.message.hasPrefix(
                "cell_sets[0].select: expected a number, a column, a function call or '(' after 'and'"))
        #expect(error.message.contains("(at character 23)"))
        #expect(error.message.hasSuffix("\n    area_nucleus > 200 and\n" + String(repeating: " ", count: 26) + "^"))
        #expect(error.description.hasPrefix("/data/sample.select.yml:4:"))

        let key = try #require(
            failure(
                """
                cell_sets:
                  - name: x
                    top: {n: 3, by: area >}
                """))
        #expect(line(key) == 3)
        #expect(key.message.contains("cell_sets[0].top.by: expected a number"))
        let typed = try #require(failure("cell_sets:\n  - select: area_nucleus\n"))
        #expect(typed.message.contains("must be a condition"))
    }

    @Test("unknown keys get did-you-mean with their line")
    func unknownKeys() throws {
        let set = try #require(
            failure(
                """
                cell_sets:
                  - name: x
                    selct: a > 1
                """))
        #expect(set.message.contains("unknown key 'selct' (did you mean 'select'?)"))
        #expect(line(set) == 3)
        let nested = try #require(failure("cell_sets:\n  - top: {n: 3, bye: a}\n"))
        #expect(nested.message.contains("cell_sets[0].top: unknown key 'bye' (did you mean 'by'?)"))
        let sample = try #require(failure("cell_sets:\n  - sample: {n: 3, sed: 1}\n"))
        #expect(sample.message.contains("unknown key 'sed' (did you mean 'seed'?)"))
        let noSeed = try #require(failure("cell_sets:\n  - sample: {n: 3}\n"))
        #expect(noSeed.message.contains("cell_sets[0].sample: missing key 'seed'"))
        let top = try #require(failure("max_per_wel: 3\ncell_sets:\n  - classes: all\n"))
        #expect(top.message.contains("unknown key 'max_per_wel' (did you mean 'max_per_well'?)"))
        #expect(line(top) == 1)
    }

    @Test(
        "bad values are refused at their line",
        arguments: [
            ("cell_sets:\n  - classes: all\n    well: a1\n", 3, "did you mean 'A1'?"),
            ("cell_sets:\n  - classes: all\n    well: Tube 1\n", 3, "is not a well name"),
            ("cell_sets:\n  - classes: [1, x, 3]\n", 2, "expected a cell id"),
            ("cell_sets:\n  - classes: [1, -2]\n", 2, "expected a cell id"),
            ("cell_sets:\n  - classes: ids.csv\n", 2, "use 'ids_csv: ids.csv'"),
            ("cell_sets:\n  - classes: [1]\n    ids_csv: a.csv\n", 3, "either 'classes' or 'ids_csv'"),
            ("cell_sets:\n  - top: {n: 1, by: a}\n    bottom: {n: 1, by: a}\n", 3, "either 'top' or 'bottom'"),
            ("cell_sets:\n  - name: x\n    well: A1\n", 2, "needs 'classes'"),
            ("cell_sets:\n  - {name: x, classes: all}\n  - {name: x, classes: [1]}\n", 3, "already used at line 2"),
            ("cell_sets:\n  - top: {n: 0, by: a}\n", 2, "expected an integer in 1...100000000, got 0"),
            ("cell_sets:\n  - sample: {n: 2, seed: -1}\n", 2, "got -1"),
            ("cell_sets:\n  - classes: all\n    max_cells: 0\n", 3, "got 0"),
            ("max_per_well: 0\ncell_sets:\n  - classes: all\n", 1, "got 0"),
            ("cell_sets: []\n", 1, "expected a list of cell sets"),
            ("cell_sets:\n  - name: ' '\n    classes: all\n", 2, "non-empty"),
            ("max_per_well: 3\n", 1, "missing key 'cell_sets'"),
        ])
    func badValues(yaml: String, expectedLine: Int, fragment: String) throws {
        let error = try #require(failure(yaml))
        #expect(error.code == .config)
        #expect(error.message.contains(fragment), "\(error.message)")
        #expect(line(error) == expectedLine, "\(error.description)")
    }

    @Test(
        "ids_csv may not leave the YAML file's folder",
        arguments: ["../outside.csv", "lists/../../outside.csv", "/etc/passwd", "~/ids.csv"])
    func escapeRefused(path: String) throws {
        let root = try TemporaryDirectory()
        try root.write("outside.csv", "cell_id\n1\n")
        try root.write("base/lists/ok.csv", "cell_id\n1\n")
        let error = try #require(failure("cell_sets:\n  - ids_csv: \(path)\n", base: root.file("base")))
        #expect(error.code == .config)
        #expect(line(error) == 2)
        #expect(error.message.contains("refused"), "\(error.message)")
    }

    @Test("ids_csv through a symbolic link that points outside is refused; links inside are fine")
    func symlinks() throws {
        let root = try TemporaryDirectory()
        try root.write("secret.csv", "cell_id\n1\n")
        try root.write("base/real/ids.csv", "cell_id\n5\n6\n")
        try FileManager.default.createSymbolicLink(
            atPath: root.file("base/out.csv"), withDestinationPath: root.file("secret.csv"))
        try FileManager.default.createSymbolicLink(atPath: root.file("base/outdir"), withDestinationPath: root.path)
        try FileManager.default.createSymbolicLink(
            atPath: root.file("base/in.csv"), withDestinationPath: "real/ids.csv")
        let base = root.file("base")
        for path in ["out.csv", "outdir/secret.csv"] {
            let error = try #require(failure("cell_sets:\n  - ids_csv: \(path)\n", base: base))
            #expect(error.message.contains("symbolic links out are refused"), "\(error.message)")
        }
        let inside = try plan("cell_sets:\n  - ids_csv: in.csv\n  - ids_csv: real/../real/./ids.csv\n", base: base)
        #expect(inside.rules.map(\.cells) == [.ids([5, 6]), .ids([5, 6])])
    }

    @Test("a missing, unreadable or malformed id list names the CSV line and the YAML line")
    func badCSV() throws {
        let root = try TemporaryDirectory()
        try root.write("bad.csv", "cell_id\n12\nabc\n")
        try FileManager.default.createDirectory(atPath: root.file("folder.csv"), withIntermediateDirectories: true)
        let malformed = try #require(failure("cell_sets:\n  - name: picked\n    ids_csv: bad.csv\n", base: root.path))
        #expect(line(malformed) == 3)
        #expect(
            malformed.message.contains(
                "cell_sets[0].ids_csv: bad.csv: line 3, field 1 (cell_id): 'abc' is not a cell id"))
        let missing = try #require(failure("cell_sets:\n  - ids_csv: nope.csv\n", base: root.path))
        #expect(missing.message.contains("no such file"))
        let directory = try #require(failure("cell_sets:\n  - ids_csv: folder.csv\n", base: root.path))
        #expect(directory.message.contains("not a regular file"))
    }

    @Test("a sidecar file loads with ids_csv relative to its own folder")
    func sidecar() throws {
        let folder = try TemporaryDirectory()
        try folder.write("ids.csv", "7\n3\n")
        let path = try folder.write(
            "well_A.select.yml",
            """
            max_per_well: 2
            cell_sets:
              - {name: listed, well: A1, ids_csv: ids.csv}
            """)
        #expect(SelectionPlan.sidecarPath(directory: folder.path, stem: "well_A") == path)
        let loaded = try SelectionPlan.load(path: path)
        #expect(loaded.rules.map(\.cells) == [.ids([7, 3])])
        #expect(loaded.maxPerWell == 2)
        #expect(loaded.origins.first?.file == path)
        let unreadable = pipelineError { () throws(PipelineError) in
            try SelectionPlan.load(path: folder.file("none.select.yml"))
        }
        #expect(unreadable?.code == .config)
    }

    @Test("read(from:) takes cell_sets out of a section with other keys and leaves them to the caller")
    func sectionReading() throws {
        let node = try ConfigNode.parse(
            yaml: """
                shape_dilation: 2
                max_per_well: 10
                cell_sets:
                  - {name: a, classes: all, well: A1}
                """, file: "/profiles/p.yml")
        let reader = try ConfigReader(node)
        let result = try #require(try SelectionPlan.read(from: reader, baseDirectory: "/profiles"))
        #expect(result.maxPerWell == 10)
        #expect(
            pipelineError { () throws(PipelineError) in try reader.finish() }?.message.contains("shape_dilation")
                == true)
        let none = try ConfigReader(ConfigNode.parse(yaml: "shape_dilation: 2", file: "/profiles/p.yml"))
        #expect(try SelectionPlan.read(from: none, baseDirectory: "/profiles") == nil)
        let capOnly = try ConfigReader(ConfigNode.parse(yaml: "max_per_well: 3", file: "/profiles/p.yml"))
        let everyCell = try #require(try SelectionPlan.read(from: capOnly, baseDirectory: "/profiles"))
        #expect(everyCell.rules == SelectionPlan.everyCell.rules)
        #expect(everyCell.maxPerWell == 3)
    }

    @Test("evaluation errors point at the rule's select, ranking or ids in the YAML")
    func evaluationErrors() throws {
        let table = try FeatureTable(
            cellIDs: [1, 2, 3],
            columns: [
                .init(name: "area_nucleus", values: [10, 20, 30]),
                .init(name: "area_cytosol", values: [15, 25, 35]),
            ])
        let yaml = """
            cell_sets:
              - name: ok
                classes: all
                well: A1
              - name: filtered
                well: B1
                select: area_nucleos > 15
              - name: ranked
                top: {n: 1, by: area_cytosl}
              - name: listed
                classes: [1, 99]
            """
        func evaluate(_ sets: [Int]) throws -> PipelineError? {
            let full = try plan(yaml)
            let chosen = SelectionPlan(rules: sets.map { full.rules[$0] }, origins: sets.map { full.origins[$0] })
            return pipelineError { () throws(PipelineError) in try chosen.evaluate(on: table) }
        }
        let filter = try #require(try evaluate([0, 1]))
        #expect(filter.code == .config)
        #expect(filter.path == "/data/sample.select.yml")
        #expect(line(filter) == 7)
        #expect(
            filter.message.hasPrefix(
                "cell_sets[1].select: cell set 'filtered': unknown column 'area_nucleos' (closest: area_nucleus)"))
        #expect(filter.message.hasSuffix("\n    area_nucleos > 15\n    ^"))
        let ranking = try #require(try evaluate([2]))
        #expect(line(ranking) == 9)
        #expect(ranking.message.contains("closest: area_cytosol"))
        #expect(ranking.message.hasPrefix("cell_sets[2].top.by: "))
        let ids = try #require(try evaluate([3]))
        #expect(line(ids) == 11)
        #expect(ids.message.contains("1 cell id is not in the feature table (3 cells): 99"))
        #expect(ids.message.hasPrefix("cell_sets[3].classes: "))

        let good = try plan(
            "max_per_well: 2\ncell_sets:\n  - {name: a, classes: all, well: A1}\n  - {name: b, select: area_nucleus > 15, well: A1}\n"
        )
        let result = try good.evaluate(on: table)
        #expect(result.sets.map(\.ids) == [[1, 2], []])
        #expect(result.emptySets == ["b"])
    }

    @Test("the configuration value changes with ids, expressions, seeds and caps")
    func configuration() throws {
        let base = try plan("cell_sets:\n  - {name: a, classes: [1, 2], well: A1, sample: {n: 1, seed: 3}}\n")
        #expect(
            base.configuration
                == (try plan("cell_sets:\n  - {name: a, classes: [1, 2], well: A1, sample: {n: 1, seed: 3}}\n"))
                .configuration)
        for variant in [
            "cell_sets:\n  - {name: a, classes: [1, 3], well: A1, sample: {n: 1, seed: 3}}\n",
            "cell_sets:\n  - {name: a, classes: [1, 2], well: A1, sample: {n: 1, seed: 4}}\n",
            "cell_sets:\n  - {name: a, classes: [1, 2], well: B1, sample: {n: 1, seed: 3}}\n",
            "cell_sets:\n  - {name: a, classes: [1, 2], well: A1, sample: {n: 1, seed: 3}, select: x > 1}\n",
            "max_per_well: 5\ncell_sets:\n  - {name: a, classes: [1, 2], well: A1, sample: {n: 1, seed: 3}}\n",
        ] {
            #expect(try plan(variant).configuration != base.configuration, "\(variant)")
        }
    }
}
