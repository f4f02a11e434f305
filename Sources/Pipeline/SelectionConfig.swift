import Foundation
import SingleCell

/// Cell-selection rules read from YAML: the `cell_sets:` list (and `max_per_well:`) of a profile's
/// `LMDSelection` section, or of a standalone sidecar `<stem>.select.yml` beside the input.
///
/// scPortrait's form is accepted unchanged, and extended (docs/SELECTION.md):
///
/// ```yaml
/// max_per_well: 500
/// cell_sets:
///   - {name: set_a, classes: [2, 6, 21], well: A1}          # scPortrait: ids, or `all`
///   - name: picked
///     well: B1
///     ids_csv: picked.csv                                   # relative to the YAML file's folder
///   - name: big_bright
///     well: C1
///     select: area_nucleus > 200 and mean_ch1_cytosol > quantile(mean_ch1_cytosol, 0.9)
///     top: {n: 100, by: area_nucleus}                       # or bottom: {n, by}
///     sample: {n: 50, seed: 7}
///     max_cells: 40
/// ```
///
/// Id lists are read while parsing, so the plan holds only values; every error names the YAML
/// file, line and column (and, for an expression, the spot in it with a caret).
public struct SelectionPlan: Sendable, Hashable {
    /// Where a rule was written, so that errors found while evaluating it point into the YAML.
    public struct Origin: Sendable, Hashable {
        /// One key of the rule: its key path and position.
        public struct Spot: Sendable, Hashable {
            /// The key path, e.g. `cell_sets[2].select`.
            public let keyPath: String
            /// `line:column` in the file, when known.
            public let location: String?

            /// Creates a spot.
            public init(keyPath: String, location: String?) {
                self.keyPath = keyPath
                self.location = location
            }

            /// The spot of a parsed node.
            init(_ node: ConfigNode) {
                self.init(keyPath: node.keyPath, location: node.line > 0 ? "\(node.line):\(node.column)" : nil)
            }
        }

        /// The YAML file.
        public let file: String
        /// The set's entry in `cell_sets`.
        public let set: Spot
        /// Its `select:` expression.
        public let filter: Spot?
        /// Its `top.by`/`bottom.by` key expression.
        public let ranking: Spot?
        /// Its `classes:` or `ids_csv:` value.
        public let ids: Spot?

        /// Creates an origin.
        public init(file: String, set: Spot, filter: Spot? = nil, ranking: Spot? = nil, ids: Spot? = nil) {
            self.file = file
            self.set = set
            self.filter = filter
            self.ranking = ranking
            self.ids = ids
        }
    }

    /// The sets, in file order.
    public let rules: [SelectionRule]
    /// The most cells a well may receive across its sets, or nil.
    public let maxPerWell: Int?
    /// Where each rule was written (parallel to ``rules``; empty for plans built in code).
    public let origins: [Origin]

    /// Creates a plan.
    public init(rules: [SelectionRule], maxPerWell: Int? = nil, origins: [Origin] = []) {
        self.rules = rules
        self.maxPerWell = maxPerWell
        self.origins = origins
    }

    /// Every cell into well `A1`: what the cut stage does without `cell_sets`.
    public static let everyCell: SelectionPlan = {
        // A fixed name and a valid well: this cannot throw.
        let rule = try? SelectionRule(name: "all", well: "A1")
        return SelectionPlan(rules: rule.map { [$0] } ?? [])
    }()

    /// The largest count accepted for `n`, `max_cells` and `max_per_well` (a typo guard).
    public static let largestCount = 100_000_000

    /// The keys a cell set may have.
    public static let setKeys = [
        "name", "well", "classes", "ids_csv", "select", "top", "bottom", "sample", "max_cells",
    ]

    /// `<directory>/<stem>.select.yml`, the sidecar that overrides a profile's selection for one input.
    public static func sidecarPath(directory: String, stem: String) -> String {
        "\(directory)/\(stem).select.yml"
    }

    /// Parses a mapping whose only keys are `cell_sets` (required) and `max_per_well`, such as a
    /// sidecar file's top level.
    ///
    /// - Parameters:
    ///   - node: the mapping.
    ///   - baseDirectory: the folder `ids_csv` paths are relative to (the YAML file's folder).
    /// - Throws: ``PipelineError`` `.config` at the offending key: unknown keys (with "did you
    ///   mean"), wrong types, bad wells, expressions that do not parse (with the caret message),
    ///   unreadable, escaping or malformed id lists.
    public static func parse(_ node: ConfigNode, baseDirectory: String) throws(PipelineError) -> SelectionPlan {
        let reader = try ConfigReader(node)
        guard reader.keys.contains("cell_sets") else {
            throw node.error("missing key 'cell_sets' (a list of cell sets)")
        }
        let plan = try read(from: reader, baseDirectory: baseDirectory) ?? everyCell
        try reader.finish()
        return plan
    }

    /// Reads `cell_sets` and `max_per_well` from a mapping that has other keys too (a profile's
    /// `LMDSelection` section); the caller finishes the reader.
    ///
    /// - Returns: nil when the mapping has neither key.
    /// - Throws: as ``parse(_:baseDirectory:)``.
    public static func read(from reader: ConfigReader, baseDirectory: String) throws(PipelineError) -> SelectionPlan? {
        var maxPerWell: Int?
        if reader.child("max_per_well") != nil {
            maxPerWell = try reader.int("max_per_well", default: 1, range: 1...Self.largestCount)
        }
        guard let setsNode = reader.child("cell_sets") else {
            return maxPerWell.map { SelectionPlan(rules: everyCell.rules, maxPerWell: $0) }
        }
        guard case .sequence(let items) = setsNode.kind, !items.isEmpty else {
            throw setsNode.error("expected a list of cell sets")
        }
        var rules: [SelectionRule] = []
        var origins: [Origin] = []
        var names: [String: ConfigNode] = [:]
        for item in items {
            let (rule, origin, nameNode) = try parseSet(item, number: rules.count + 1, baseDirectory: baseDirectory)
            if let first = names[rule.name] {
                throw (nameNode ?? item).error("cell set name '\(rule.name)' is already used at line \(first.line)")
            }
            names[rule.name] = nameNode ?? item
            rules.append(rule)
            origins.append(origin)
        }
        return SelectionPlan(rules: rules, maxPerWell: maxPerWell, origins: origins)
    }

    /// Reads a sidecar selection file (`<stem>.select.yml`); `ids_csv` paths are relative to its folder.
    /// - Throws: ``PipelineError`` `.config` as ``parse(_:baseDirectory:)``, or when the file
    ///   cannot be read or is not YAML.
    public static func load(path: String) throws(PipelineError) -> SelectionPlan {
        let node = try ConfigNode.load(path: path)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(node, baseDirectory: directory)
    }

    /// Evaluates the plan on a feature table (``Selection/evaluate(_:on:maxPerWell:)``), turning
    /// a failure into a ``PipelineError`` located at the rule's key in the YAML.
    /// - Throws: ``PipelineError`` `.config` for unknown columns and ids, bad quantiles and other
    ///   rule errors (the message keeps the expression caret); `.stageFailed` for a malformed table.
    public func evaluate(on table: FeatureTable) throws(PipelineError) -> SelectionResult {
        do {
            return try Selection.evaluate(rules, on: table, maxPerWell: maxPerWell)
        } catch {
            throw pipelineError(error)
        }
    }

    /// A ``SingleCellError`` from evaluating this plan as a ``PipelineError`` at the rule's YAML key.
    public func pipelineError(_ error: SingleCellError) -> PipelineError {
        let index = error.context.set.flatMap { name in rules.firstIndex { $0.name == name } }
        let origin = index.flatMap { $0 < origins.count ? origins[$0] : nil }
        let dataProblem: Set<SingleCellError.Code> = [
            .unknownColumn, .unknownCell, .evaluation, .syntax, .invalidParameter,
        ]
        let code: PipelineError.Code = dataProblem.contains(error.code) ? .config : .stageFailed
        var spot = origin?.set
        switch (error.code, error.context.object) {
        case (.unknownCell, _): spot = origin?.ids ?? spot
        case (_, "filter"?): spot = origin?.filter ?? spot
        case (_, "ranking"?): spot = origin?.ranking ?? spot
        default: break
        }
        var message = error.message
        if let set = error.context.set { message = "cell set '\(set)': \(message)" }
        if let spot { message = "\(spot.keyPath): \(message)" }
        return PipelineError(code: code, path: origin?.file, location: spot?.location, message: message)
    }

    /// The plan as a value for configuration hashes: ids, expression texts, counts and seeds.
    public var configuration: ConfigValue {
        .object([
            "max_per_well": maxPerWell.map(ConfigValue.int) ?? .null,
            "cell_sets": .array(
                rules.map { rule in
                    var set: [String: ConfigValue] = [
                        "name": .string(rule.name),
                        "well": rule.well.map(ConfigValue.string) ?? .null,
                        "max_cells": rule.maxCells.map(ConfigValue.int) ?? .null,
                        "select": rule.filter.map { .string($0.text) } ?? .null,
                    ]
                    switch rule.cells {
                    case .all: set["classes"] = .string("all")
                    case .ids(let ids): set["classes"] = .array(ids.map(ConfigValue.int))
                    }
                    if let ranking = rule.ranking {
                        set[ranking.direction.rawValue] = .object([
                            "n": .int(ranking.count), "by": .string(ranking.key.text),
                        ])
                    }
                    if let sample = rule.sample {
                        set["sample"] = .object(["n": .int(sample.count), "seed": .string(String(sample.seed))])
                    }
                    return .object(set)
                }),
        ])
    }

    // MARK: - One set

    private static func parseSet(
        _ item: ConfigNode, number: Int,
        baseDirectory: String
    ) throws(PipelineError) -> (SelectionRule, Origin, ConfigNode?) {
        let set = try ConfigReader(item)
        let nameNode = set.child("name")
        let name = try set.string("name", default: "set\(number)")
        if name.allSatisfy(\.isWhitespace) || name.contains(where: \.isNewline) {
            throw (nameNode ?? item).error("a cell set name must be non-empty and on one line")
        }

        var well: String?
        if let wellNode = set.child("well") {
            if case .null = wellNode.value {} else { well = try set.optionalString("well") }
            if let well {
                do { try SelectionRule.validateWell(well) } catch { throw wellNode.error(error.message) }
            }
        }

        // Where the cells come from: classes (scPortrait) or ids_csv, else every cell.
        let classesNode = set.child("classes")
        let csvNode = set.child("ids_csv")
        if classesNode != nil, let csvNode {
            throw csvNode.keyError("give either 'classes' or 'ids_csv', not both", parentPath: item.keyPath)
        }
        var cells = SelectionRule.Cells.all
        if let classesNode { cells = try classes(classesNode) }
        if let csvNode { cells = .ids(try idList(csvNode, baseDirectory: baseDirectory)) }

        var filter: SelectionExpression?
        let selectNode = set.child("select")
        if let selectNode {
            guard case .scalar(let text, _) = selectNode.kind else {
                throw selectNode.error("expected an expression such as 'area_nucleus > 200'")
            }
            filter = try expression(text, as: .condition, at: selectNode)
        }

        let topNode = set.child("top")
        let bottomNode = set.child("bottom")
        if topNode != nil, let bottomNode {
            throw bottomNode.keyError("give either 'top' or 'bottom', not both", parentPath: item.keyPath)
        }
        var ranking: SelectionRule.Ranking?
        var rankingKey: ConfigNode?
        if let node = topNode ?? bottomNode {
            let direction: SelectionRule.Ranking.Direction = topNode != nil ? .top : .bottom
            let reader = try ConfigReader(node)
            reader.allow(["n", "by"])
            try reader.finish()
            let count = try requiredInt(reader, "n", range: 1...Self.largestCount, in: node)
            guard let byNode = reader.child("by") else {
                throw node.error("missing key 'by' (the column or number expression to rank by)")
            }
            guard case .scalar(let text, _) = byNode.kind else {
                throw byNode.error("expected a column or a number expression such as 'area_nucleus / area_cytosol'")
            }
            let key = try expression(text, as: .number, at: byNode)
            do { ranking = try SelectionRule.Ranking(direction, count, by: key) } catch {
                throw node.error(error.message)
            }
            rankingKey = byNode
        }

        var sample: SelectionRule.Sample?
        if let node = set.child("sample") {
            let reader = try ConfigReader(node)
            reader.allow(["n", "seed"])
            try reader.finish()
            let count = try requiredInt(reader, "n", range: 1...Self.largestCount, in: node)
            let seed = try requiredInt(reader, "seed", range: 0...Int.max, in: node)
            do { sample = try SelectionRule.Sample(count: count, seed: UInt64(seed)) } catch {
                throw node.error(error.message)
            }
        }

        var maxCells: Int?
        if set.child("max_cells") != nil {
            maxCells = try set.int("max_cells", default: 1, range: 1...Self.largestCount)
        }

        try set.finish()
        if classesNode == nil, csvNode == nil, filter == nil, ranking == nil, sample == nil {
            throw item.error("a cell set needs 'classes' (a list of ids, or all), 'ids_csv' or 'select'")
        }

        let rule: SelectionRule
        do {
            rule = try SelectionRule(
                name: name, well: well, cells: cells, filter: filter, ranking: ranking,
                sample: sample, maxCells: maxCells)
        } catch {
            throw item.error(error.message)
        }
        let origin = Origin(
            file: item.file, set: Origin.Spot(item), filter: selectNode.map(Origin.Spot.init),
            ranking: rankingKey.map(Origin.Spot.init), ids: (classesNode ?? csvNode).map(Origin.Spot.init))
        return (rule, origin, nameNode)
    }

    /// scPortrait's `classes`: a list of ids, or `all`.
    private static func classes(_ node: ConfigNode) throws(PipelineError) -> SelectionRule.Cells {
        switch node.value {
        case .string("all"):
            return .all
        case .array(let values):
            var ids: [Int] = []
            for (index, value) in values.enumerated() {
                guard case .int(let id) = value, id >= 0 else {
                    if case .sequence(let items) = node.kind, index < items.count {
                        throw items[index].error("expected a cell id (a whole number ≥ 0)")
                    }
                    throw node.error("expected cell ids (whole numbers ≥ 0)")
                }
                ids.append(id)
            }
            return .ids(ids)
        case .string(let text) where text.lowercased().hasSuffix(".csv"):
            throw node.error("expected a list of cell ids, or all; for a CSV file of ids use 'ids_csv: \(text)'")
        default:
            throw node.error("expected a list of cell ids, or all")
        }
    }

    /// Parses an expression, turning its error into one at the YAML node that keeps the caret.
    private static func expression(
        _ text: String, as kind: SelectionExpression.ResultKind,
        at node: ConfigNode
    ) throws(PipelineError) -> SelectionExpression {
        do {
            return try SelectionExpression(text, as: kind)
        } catch {
            throw node.error(error.message)
        }
    }

    private static func requiredInt(
        _ reader: ConfigReader, _ key: String, range: ClosedRange<Int>,
        in node: ConfigNode
    ) throws(PipelineError) -> Int {
        guard reader.keys.contains(key) else { throw node.error("missing key '\(key)'") }
        return try reader.int(key, default: range.lowerBound, range: range)
    }

    // MARK: - ids_csv

    /// Reads the id list an `ids_csv` node names. The path must be relative and stay inside
    /// `baseDirectory` once `..` and symbolic links are resolved.
    private static func idList(_ node: ConfigNode, baseDirectory: String) throws(PipelineError) -> [Int] {
        guard case .scalar(let relative, _) = node.kind, !relative.isEmpty else {
            throw node.error("expected the path of a CSV file, relative to \(baseDirectory)")
        }
        let path = try resolveInside(relative, baseDirectory: baseDirectory, node: node)
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw node.error("cannot read '\(relative)': \(error.localizedDescription)")
        }
        do {
            return try IDList.parse(csv: text, path: relative)
        } catch {
            throw node.error(error.description)
        }
    }

    /// The real path of `relative` under `baseDirectory`, refusing absolute paths and any path
    /// that leaves the folder through `..` or a symbolic link.
    static func resolveInside(_ relative: String, baseDirectory: String, node: ConfigNode) throws(PipelineError)
        -> String
    {
        if relative.hasPrefix("/") || relative.hasPrefix("~") {
            throw node.error(
                "'\(relative)' must be a path relative to the folder of \(node.file) (absolute paths are refused)")
        }
        var depth = 0
        for component in relative.split(separator: "/") {
            if component == ".." { depth -= 1 } else if component != "." { depth += 1 }
            if depth < 0 {
                throw node.error("'\(relative)' leaves the folder of \(node.file) ('..' is refused there)")
            }
        }
        guard let base = realPath(baseDirectory) else {
            throw node.error("the folder \(baseDirectory) for '\(relative)' does not exist")
        }
        guard let resolved = realPath("\(base)/\(relative)") else {
            throw node.error("cannot read '\(relative)': no such file in \(base)")
        }
        guard resolved.hasPrefix(base.hasSuffix("/") ? base : base + "/") else {
            throw node.error(
                "'\(relative)' resolves to \(resolved), outside the folder \(base) (symbolic links out are refused)")
        }
        let type = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.type] as? FileAttributeType
        guard type == .typeRegular else {
            throw node.error("'\(relative)' is not a regular file")
        }
        return resolved
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
