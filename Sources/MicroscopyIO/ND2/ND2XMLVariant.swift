/// The XML ("CLxVariant") metadata of v2 ND2 files (nd2-format.md §5.3, read-only knowledge:
/// no v2 file was available to test against), decoded into the same ``LVValue`` tree as the
/// binary LV encoding so the field lookups are shared.
///
/// Each element is a field named as in LV (`uiWidth`, `dCalibration`, …) with a `runtype`
/// attribute (`lx_uint32`, `double`, `bool`, `CLxStringW`, …) and a `value` attribute; elements
/// with child elements are levels. The `<variant>` root and a single `no_name` wrapper are
/// unwrapped so the fields sit at the top, as in an LV payload.
enum ND2XMLVariant {
    static func decode(_ bytes: [UInt8]) throws(LVDecodingError) -> LVValue {
        var parser = Parser(bytes: bytes)
        guard let root = try parser.document() else {
            throw LVDecodingError(offset: 0, message: "no XML element found")
        }
        var value = root.value
        // <variant version="1.0"><no_name runtype="CLxListVariant">…fields…</no_name></variant>
        for _ in 0..<2 {
            if value.children.count == 1, case .level = value.children[0].value { value = value.children[0].value }
        }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var p = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        /// The root element (after the prolog, comments and processing instructions).
        mutating func document() throws(LVDecodingError) -> (name: String, value: LVValue)? {
            skipMisc()
            guard p < bytes.count, bytes[p] == UInt8(ascii: "<") else { return nil }
            return try element(depth: 0)
        }

        private mutating func skipMisc() {
            while true {
                skipSpace()
                if starts("<?") {
                    skip(past: "?>")
                } else if starts("<!--") {
                    skip(past: "-->")
                } else if starts("<!") {
                    skip(past: ">")
                } else {
                    return
                }
            }
        }

        private mutating func element(depth: Int) throws(LVDecodingError) -> (name: String, value: LVValue) {
            guard depth < LVDecoder.maxDepth else {
                throw LVDecodingError(offset: p, message: "XML nested deeper than \(LVDecoder.maxDepth) levels")
            }
            let start = p
            p += 1  // '<'
            let name = token()
            guard !name.isEmpty else { throw LVDecodingError(offset: start, message: "XML element without a name") }
            var attributes: [String: String] = [:]
            while true {
                skipSpace()
                guard p < bytes.count else {
                    throw LVDecodingError(offset: start, message: "XML element <\(name)> is cut off")
                }
                if bytes[p] == UInt8(ascii: "/") {
                    guard starts("/>") else { throw LVDecodingError(offset: p, message: "expected '/>'") }
                    p += 2
                    return (name, scalar(attributes))
                }
                if bytes[p] == UInt8(ascii: ">") {
                    p += 1
                    break
                }
                let key = token()
                skipSpace()
                guard !key.isEmpty, p < bytes.count, bytes[p] == UInt8(ascii: "=") else {
                    throw LVDecodingError(offset: p, message: "malformed attribute in <\(name)>")
                }
                p += 1
                skipSpace()
                guard p < bytes.count, bytes[p] == UInt8(ascii: "\"") || bytes[p] == UInt8(ascii: "'") else {
                    throw LVDecodingError(offset: p, message: "attribute \(key) of <\(name)> is not quoted")
                }
                let quote = bytes[p]
                p += 1
                let valueStart = p
                while p < bytes.count, bytes[p] != quote { p += 1 }
                guard p < bytes.count else {
                    throw LVDecodingError(offset: valueStart, message: "attribute \(key) of <\(name)> is cut off")
                }
                attributes[key] = unescape(bytes[valueStart..<p])
                p += 1
            }
            // Content: child elements and text, until </name>.
            var children: [(name: String, value: LVValue)] = []
            var text: [UInt8] = []
            while true {
                guard p < bytes.count else {
                    throw LVDecodingError(offset: start, message: "XML element <\(name)> has no closing tag")
                }
                if starts("</") {
                    p += 2
                    let closing = token()
                    guard closing == name else {
                        throw LVDecodingError(offset: p, message: "</\(closing)> closes <\(name)>")
                    }
                    skip(past: ">")
                    break
                }
                if starts("<!--") || starts("<?") || starts("<!") {
                    skipMisc()
                    continue
                }
                if bytes[p] == UInt8(ascii: "<") {
                    children.append(try element(depth: depth + 1))
                } else {
                    text.append(bytes[p])
                    p += 1
                }
            }
            if children.isEmpty {
                var scalarAttributes = attributes
                if scalarAttributes["value"] == nil {
                    scalarAttributes["value"] = unescape(text[...])
                }
                return (name, scalar(scalarAttributes))
            }
            return (name, .level(children))
        }

        /// A field's value from its `runtype` and `value` attributes.
        private func scalar(_ attributes: [String: String]) -> LVValue {
            let value = attributes["value"] ?? ""
            let type = (attributes["runtype"] ?? "").lowercased()
            switch type {
            case "bool":
                return .bool(value == "true" || value == "1" || (Int(value) ?? 0) != 0)
            case "lx_int32", "lx_int64", "lx_int16", "lx_int8", "int":
                return Int64(value).map { LVValue.int($0) } ?? .string(value)
            case "lx_uint32", "lx_uint64", "lx_uint16", "lx_uint8", "uint":
                return UInt64(value).map { LVValue.uint($0) } ?? .string(value)
            case "double", "float", "lx_double":
                return Double(value).map { LVValue.double($0) } ?? .string(value)
            case "clxbytearray":
                return .bytes([])
            case "clxlistvariant":
                return .level([])
            default:
                return .string(value)
            }
        }

        private mutating func token() -> String {
            let start = p
            while p < bytes.count {
                let c = bytes[p]
                if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\n")
                    || c == UInt8(ascii: "\r") || c == UInt8(ascii: "/") || c == UInt8(ascii: ">")
                    || c == UInt8(ascii: "=")
                {
                    break
                }
                p += 1
            }
            return String(decoding: bytes[start..<p], as: UTF8.self)
        }

        private mutating func skipSpace() {
            while p < bytes.count,
                bytes[p] == UInt8(ascii: " ") || bytes[p] == UInt8(ascii: "\t") || bytes[p] == UInt8(ascii: "\n")
                    || bytes[p] == UInt8(ascii: "\r") || bytes[p] == 0
            {
                p += 1
            }
        }

        private func starts(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard p + count <= bytes.count else { return false }
            return text.withUTF8Buffer { pattern in
                for i in 0..<count where bytes[p + i] != pattern[i] { return false }
                return true
            }
        }

        private mutating func skip(past text: StaticString) {
            while p < bytes.count, !starts(text) { p += 1 }
            p = min(bytes.count, p + text.utf8CodeUnitCount)
        }

        /// Replaces the five predefined entities and numeric character references.
        private func unescape(_ raw: ArraySlice<UInt8>) -> String {
            let text = String(decoding: raw, as: UTF8.self)
            guard text.contains("&") else { return text }
            var result = ""
            var rest = Substring(text)
            while let amp = rest.firstIndex(of: "&") {
                result += rest[..<amp]
                guard let semi = rest[amp...].firstIndex(of: ";"), rest.distance(from: amp, to: semi) <= 10 else {
                    result += rest[amp...]
                    return result
                }
                let entity = rest[rest.index(after: amp)..<semi]
                switch entity {
                case "lt": result += "<"
                case "gt": result += ">"
                case "amp": result += "&"
                case "quot": result += "\""
                case "apos": result += "'"
                default:
                    var scalar: Unicode.Scalar?
                    if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                        scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                    } else if entity.hasPrefix("#") {
                        scalar = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init)
                    }
                    if let scalar { result.unicodeScalars.append(scalar) } else { result += rest[amp...semi] }
                }
                rest = rest[rest.index(after: semi)...]
            }
            return result + rest
        }
    }
}
