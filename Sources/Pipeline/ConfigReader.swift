import Foundation
import Yams

/// A YAML node with the file, line and column it came from and its key path
/// (`drop_folders[1].profile`), so every configuration error can say exactly where it is.
public struct ConfigNode: Sendable {
    /// The shapes a node can have.
    public indirect enum Kind: Sendable {
        /// A scalar; `quoted` scalars are always strings.
        case scalar(String, quoted: Bool)
        /// A sequence of nodes.
        case sequence([ConfigNode])
        /// A mapping, in file order.
        case mapping([(key: String, value: ConfigNode)])
    }

    /// The node's content.
    public let kind: Kind
    /// The file it was read from.
    public let file: String
    /// 1-based line (0 when unknown).
    public let line: Int
    /// 1-based column (0 when unknown).
    public let column: Int
    /// The key path from the document root, e.g. `drop_folders[0].path`.
    public let keyPath: String
    /// Line of this node's key in its parent mapping (its own line when it has no key).
    public let keyLine: Int
    /// Column of this node's key in its parent mapping.
    public let keyColumn: Int

    /// Creates a node (the key position defaults to the node's own).
    public init(kind: Kind, file: String, line: Int, column: Int, keyPath: String, keyLine: Int? = nil, keyColumn: Int? = nil) {
        self.kind = kind
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.keyLine = keyLine ?? line
        self.keyColumn = keyColumn ?? column
    }

    /// `file:line:column`.
    public var location: String { line > 0 ? "\(line):\(column)" : keyPath }

    /// Parses a YAML document. An empty document is an empty mapping.
    /// - Throws: `PipelineError` (`.config`) with the line of a YAML syntax error.
    public static func parse(yaml: String, file: String) throws(PipelineError) -> ConfigNode {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw PipelineError(code: .config, path: file, message: "not valid YAML: \(error)")
        }
        guard let node else { return ConfigNode(kind: .mapping([]), file: file, line: 0, column: 0, keyPath: "") }
        return try convert(node, file: file, keyPath: "")
    }

    /// Reads and parses a YAML file.
    public static func load(path: String) throws(PipelineError) -> ConfigNode {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PipelineError(code: .config, path: path, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: path)
    }

    private static func convert(_ node: Node, file: String, keyPath: String, keyMark: Mark? = nil) throws(PipelineError) -> ConfigNode {
        let line = (node.mark?.line ?? 0)
        let column = (node.mark?.column ?? 0)
        let keyLine = keyMark?.line
        let keyColumn = keyMark?.column
        switch node {
        case .scalar(let scalar):
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
                || scalar.style == .literal || scalar.style == .folded
            return ConfigNode(kind: .scalar(scalar.string, quoted: quoted), file: file, line: line, column: column,
                              keyPath: keyPath, keyLine: keyLine, keyColumn: keyColumn)
        case .sequence(let sequence):
            var items: [ConfigNode] = []
            for (index, item) in sequence.enumerated() {
                items.append(try convert(item, file: file, keyPath: "\(keyPath)[\(index)]"))
            }
            return ConfigNode(kind: .sequence(items), file: file, line: line, column: column, keyPath: keyPath,
                              keyLine: keyLine, keyColumn: keyColumn)
        case .mapping(let mapping):
            var pairs: [(key: String, value: ConfigNode)] = []
            var seen: Set<String> = []
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let key) = keyNode else {
                    throw PipelineError(code: .config, path: file, location: "\(keyNode.mark?.line ?? 0)",
                                        message: "\(keyPath.isEmpty ? "top level" : keyPath): keys must be plain names")
                }
                let path = keyPath.isEmpty ? key.string : "\(keyPath).\(key.string)"
                guard seen.insert(key.string).inserted else {
                    throw PipelineError(code: .config, path: file, location: "\(keyNode.mark?.line ?? 0):\(keyNode.mark?.column ?? 0)",
                                        message: "\(path): key appears twice")
                }
                pairs.append((key.string, try convert(valueNode, file: file, keyPath: path, keyMark: keyNode.mark)))
            }
            return ConfigNode(kind: .mapping(pairs), file: file, line: line, column: column, keyPath: keyPath,
                              keyLine: keyLine, keyColumn: keyColumn)
        case .alias:
            // Yams.compose resolves `*anchor` to the anchored node, so this is not reached with
            // today's Yams; aliases are simply accepted (their value is the anchored value).
            throw PipelineError(code: .config, path: file, location: "\(line):\(column)",
                                message: "\(keyPath): unresolved YAML alias")
        }
    }

    /// An error located at this node's key (for "unknown key" errors), prefixed with the
    /// parent's key path.
    public func keyError(_ message: String, parentPath: String) -> PipelineError {
        PipelineError(code: .config, path: file, location: keyLine > 0 ? "\(keyLine):\(keyColumn)" : nil,
                      message: parentPath.isEmpty ? message : "\(parentPath): \(message)")
    }

    /// An error located at this node.
    public func error(_ message: String) -> PipelineError {
        PipelineError(code: .config, path: file, location: line > 0 ? "\(line):\(column)" : nil,
                      message: keyPath.isEmpty ? message : "\(keyPath): \(message)")
    }

    /// The node as a plain value (plain scalars resolved as YAML 1.2 core: null, bool, int, float, string).
    public var value: ConfigValue {
        switch kind {
        case .scalar(let text, let quoted):
            if quoted { return .string(text) }
            switch text {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: break
            }
            if let int = Int(text) { return .int(int) }
            if let double = Double(text), text.rangeOfCharacter(from: .decimalDigits) != nil { return .double(double) }
            return .string(text)
        case .sequence(let items): return .array(items.map(\.value))
        case .mapping(let pairs):
            return .object(Dictionary(pairs.map { ($0.key, $0.value.value) }, uniquingKeysWith: { $1 }))
        }
    }
}

/// Reads a YAML mapping field by field with typed accessors, then `finish()` reports any key
/// that was not read as unknown (with the closest known key as a suggestion).
///
/// ```swift
/// let reader = try ConfigReader(node)
/// let threads = try reader.int("concurrency", default: 1, range: 1...64)
/// try reader.finish()
/// ```
public final class ConfigReader {
    /// The mapping being read.
    public let node: ConfigNode
    private let pairs: [(key: String, value: ConfigNode)]
    private var known: [String] = []

    /// Starts reading a mapping node.
    /// - Throws: `PipelineError` when the node is not a mapping.
    public init(_ node: ConfigNode) throws(PipelineError) {
        guard case .mapping(let pairs) = node.kind else {
            throw node.error("expected a mapping of keys to values")
        }
        self.node = node
        self.pairs = pairs
    }

    /// The raw node under `key`, marking the key as known.
    public func child(_ key: String) -> ConfigNode? {
        known.append(key)
        return pairs.first { $0.key == key }?.value
    }

    /// Marks keys as known without reading them (for sections another reader validates).
    public func allow(_ keys: [String]) { known.append(contentsOf: keys) }

    /// The keys present in the mapping, in file order.
    public var keys: [String] { pairs.map(\.key) }

    /// A string value.
    public func string(_ key: String, default value: String) throws(PipelineError) -> String {
        try optionalString(key) ?? value
    }

    /// A string value, or nil when absent.
    public func optionalString(_ key: String) throws(PipelineError) -> String? {
        guard let node = child(key) else { return nil }
        guard case .scalar(let text, _) = node.kind else { throw node.error("expected a string") }
        return text
    }

    /// A string that must be one of `choices`.
    public func choice(_ key: String, default value: String, in choices: [String]) throws(PipelineError) -> String {
        guard let node = child(key) else { return value }
        guard case .scalar(let text, _) = node.kind, choices.contains(text) else {
            throw node.error("expected one of \(choices.joined(separator: ", ")), got \(Self.show(node))")
        }
        return text
    }

    /// An integer in `range`.
    public func int(_ key: String, default value: Int, range: ClosedRange<Int>) throws(PipelineError) -> Int {
        guard let node = child(key) else { return value }
        guard case .int(let number) = node.value else {
            throw node.error("expected an integer in \(range.lowerBound)...\(range.upperBound), got \(Self.show(node))")
        }
        guard range.contains(number) else {
            throw node.error("expected an integer in \(range.lowerBound)...\(range.upperBound), got \(number)")
        }
        return number
    }

    /// A number in `range` (integers are accepted).
    public func double(_ key: String, default value: Double, range: ClosedRange<Double>) throws(PipelineError) -> Double {
        guard let node = child(key) else { return value }
        let number: Double
        switch node.value {
        case .int(let int): number = Double(int)
        case .double(let double): number = double
        default: throw node.error("expected a number in \(range.lowerBound)...\(range.upperBound), got \(Self.show(node))")
        }
        guard range.contains(number), number.isFinite else {
            throw node.error("expected a number in \(range.lowerBound)...\(range.upperBound), got \(number)")
        }
        return number
    }

    /// A boolean.
    public func bool(_ key: String, default value: Bool) throws(PipelineError) -> Bool {
        guard let node = child(key) else { return value }
        guard case .bool(let flag) = node.value else { throw node.error("expected true or false, got \(Self.show(node))") }
        return flag
    }

    /// A list of strings (a single string is accepted as a list of one).
    public func strings(_ key: String, default value: [String]) throws(PipelineError) -> [String] {
        guard let node = child(key) else { return value }
        switch node.kind {
        case .scalar(let text, _): return [text]
        case .sequence(let items):
            var result: [String] = []
            for item in items {
                guard case .scalar(let text, _) = item.kind else { throw item.error("expected a string") }
                result.append(text)
            }
            return result
        case .mapping: throw node.error("expected a list of strings")
        }
    }

    /// A list of mappings, each returned as a reader.
    public func list(_ key: String) throws(PipelineError) -> [ConfigReader] {
        guard let node = child(key) else { return [] }
        guard case .sequence(let items) = node.kind else { throw node.error("expected a list") }
        var readers: [ConfigReader] = []
        for item in items { readers.append(try ConfigReader(item)) }
        return readers
    }

    /// A nested mapping as a reader, or nil when absent.
    public func section(_ key: String) throws(PipelineError) -> ConfigReader? {
        guard let node = child(key) else { return nil }
        if case .scalar(let text, _) = node.kind, text.isEmpty || text == "~" || text == "null" {
            return try ConfigReader(ConfigNode(kind: .mapping([]), file: node.file, line: node.line,
                                               column: node.column, keyPath: node.keyPath))
        }
        return try ConfigReader(node)
    }

    /// Fails on the first key that no accessor asked for, suggesting the closest known key.
    public func finish() throws(PipelineError) {
        for (key, value) in pairs where !known.contains(key) {
            var message = "unknown key '\(key)'"
            if let suggestion = Self.closest(to: key, in: known) { message += " (did you mean '\(suggestion)'?)" }
            throw value.keyError(message, parentPath: node.keyPath)
        }
    }

    static func show(_ node: ConfigNode) -> String {
        switch node.kind {
        case .scalar(let text, _): return "'\(text)'"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }

    /// The known key nearest to `key` by edit distance, if any is reasonably close.
    static func closest(to key: String, in candidates: [String]) -> String? {
        let lower = key.lowercased()
        let scored = candidates.map { ($0, editDistance(lower, $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        if best.1 <= max(2, key.count / 3) { return best.0 }
        // A truncated or extended name (`verify` for `verify_hash`).
        if lower.count >= 3, let prefixed = candidates.first(where: {
            $0.lowercased().hasPrefix(lower) || lower.hasPrefix($0.lowercased())
        }) {
            return prefixed
        }
        return nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = Array(repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
