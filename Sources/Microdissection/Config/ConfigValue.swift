import FoundationEssentials

/// A loosely typed configuration value, the common denominator of JSON and YAML.
///
/// ``LMDConfig`` is built from a `[String: ConfigValue]` dictionary so that any front end (the
/// JSON parser here, the pipeline's YAML reader) can feed it. Integers and floating-point
/// numbers are distinct cases; where a number is expected either is accepted.
public enum ConfigValue: Sendable, Hashable {
    /// `true` / `false`.
    case bool(Bool)
    /// An integral number.
    case int(Int)
    /// A non-integral (or very large) number.
    case double(Double)
    /// A string.
    case string(String)
    /// An ordered list.
    case array([ConfigValue])
    /// A mapping.
    case object([String: ConfigValue])
    /// JSON `null` / YAML `~`.
    case null

    /// Parses JSON text into a value.
    /// - Throws: ``MicrodissectionError`` `.invalidJSON` with the decoder's explanation.
    public static func parseJSON(_ bytes: some Sequence<UInt8>) throws(MicrodissectionError) -> ConfigValue {
        do {
            return try JSONDecoder().decode(ConfigValue.self, from: Data(bytes))
        } catch {
            throw MicrodissectionError(code: .invalidJSON, message: "not valid JSON: \(error)")
        }
    }

    /// The value as a `Double` if it is a number.
    var number: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }

    /// The value as an `Int` if it is an integral number.
    var integer: Int? {
        switch self {
        case .int(let v): return v
        case .double(let v):
            guard v.isFinite, v.rounded() == v, abs(v) < 9.0e15 else { return nil }
            return Int(v)
        default: return nil
        }
    }

    /// A short description of the value's kind, for messages.
    var kindName: String {
        switch self {
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "a mapping"
        case .null: "null"
        }
    }
}

extension ConfigValue: Decodable {
    /// Decodes any JSON value; booleans are never confused with numbers.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let v = try? c.decode(Bool.self) {
            self = .bool(v)
        } else if let v = try? c.decode(Int.self) {
            self = .int(v)
        } else if let v = try? c.decode(Double.self) {
            self = .double(v)
        } else if let v = try? c.decode(String.self) {
            self = .string(v)
        } else if let v = try? c.decode([ConfigValue].self) {
            self = .array(v)
        } else {
            self = .object(try c.decode([String: ConfigValue].self))
        }
    }
}
