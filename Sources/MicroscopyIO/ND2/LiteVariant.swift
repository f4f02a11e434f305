/// A decoded value of Nikon's binary "lite variant" (LV) metadata encoding (ND2 v3 files).
///
/// See nd2-format.md section 5.1. Kept internal for now; the full ND2 reader builds its
/// metadata model on top of it.
enum LVValue: Equatable {
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    /// A byte array: its absolute range inside the decoded payload.
    case bytes(Range<Int>)
    /// A nested level: its children in file order (names may repeat; unnamed = list items).
    case level([(name: String, value: LVValue)])
    /// A zlib-compressed LV blob (type 76) that this decoder does not expand.
    case compressed

    static func == (lhs: LVValue, rhs: LVValue) -> Bool {
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.uint(let a), .uint(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.bytes(let a), .bytes(let b)): a == b
        case (.level(let a), .level(let b)): a.map(\.name) == b.map(\.name) && a.map(\.value) == b.map(\.value)
        case (.compressed, .compressed): true
        default: false
        }
    }

    /// The value as an unsigned integer, if it is a non-negative integer or a bool.
    var unsignedValue: UInt64? {
        switch self {
        case .uint(let v): v
        case .int(let v): v >= 0 ? UInt64(v) : nil
        case .bool(let v): v ? 1 : 0
        default: nil
        }
    }

    /// Children of a level (empty for scalars).
    var children: [(name: String, value: LVValue)] {
        if case .level(let items) = self { return items }
        return []
    }

    /// The last child named `name` (names may repeat; the last one wins, as in the nd2 reader).
    subscript(name: String) -> LVValue? {
        children.last { $0.name == name }?.value
    }
}

/// Where and why an LV payload could not be decoded.
struct LVDecodingError: Error {
    /// Offset inside the payload.
    var offset: Int
    var message: String
}

/// Decodes an LV payload into its top-level entries.
///
/// Every read is bounds-checked against the payload; nesting is limited to ``maxDepth``.
struct LVDecoder {
    static let maxDepth = 64

    let view: ByteView

    init(_ bytes: [UInt8]) {
        self.view = ByteView(bytes: bytes)
    }

    /// Top-level entries. Decoding stops cleanly at the end or at zero padding.
    func decode() throws(LVDecodingError) -> [(name: String, value: LVValue)] {
        var entries: [(name: String, value: LVValue)] = []
        var position = 0
        while position < view.count {
            if view.u8(position) == 0 { break }  // zero padding after the last entry
            let (name, value, next) = try entry(at: position, end: view.count, depth: 0)
            entries.append((name, value))
            position = next
        }
        return entries
    }

    /// Decodes one entry that starts at `start` and must end by `end`; returns the next position.
    private func entry(at start: Int, end: Int, depth: Int) throws(LVDecodingError) -> (String, LVValue, Int) {
        guard depth < Self.maxDepth else {
            throw LVDecodingError(offset: start, message: "nesting deeper than \(Self.maxDepth) levels")
        }
        guard let type = view.u8(start), let nameUnits = view.u8(start + 1), start + 2 <= end else {
            throw LVDecodingError(offset: start, message: "entry header runs past the end")
        }
        let nameEnd = start + 2 + Int(nameUnits) * 2
        guard nameEnd <= end else { throw LVDecodingError(offset: start, message: "entry name runs past the end") }
        let name = utf16String(from: start + 2, units: Int(nameUnits))
        var p = nameEnd

        func need(_ n: Int) throws(LVDecodingError) {
            guard p + n <= end else {
                throw LVDecodingError(
                    offset: p, message: "value of \"\(name)\" (type \(type)) needs \(n) bytes, \(end - p) left")
            }
        }

        let value: LVValue
        switch type {
        case 1:
            try need(1)
            value = .bool(view.u8(p)! != 0)
            p += 1
        case 2:
            try need(4)
            value = .int(Int64(view.i32(p)!))
            p += 4
        case 3:
            try need(4)
            value = .uint(UInt64(view.u32(p)!))
            p += 4
        case 4:
            try need(8)
            value = .int(view.i64(p)!)
            p += 8
        case 5, 7:
            try need(8)
            value = .uint(view.u64(p)!)
            p += 8
        case 6:
            try need(8)
            value = .double(view.f64(p)!)
            p += 8
        case 8:
            var q = p
            while true {
                guard q + 2 <= end else {
                    throw LVDecodingError(offset: p, message: "string \"\(name)\" has no terminating NUL")
                }
                if view.u16(q)! == 0 { break }
                q += 2
            }
            value = .string(utf16String(from: p, units: (q - p) / 2))
            p = q + 2
        case 9:
            try need(8)
            let count = view.u64(p)!
            p += 8
            guard count <= UInt64(end - p) else {
                throw LVDecodingError(
                    offset: p - 8, message: "byte array \"\(name)\" declares \(count) bytes, \(end - p) left")
            }
            value = .bytes(p..<(p + Int(count)))
            p += Int(count)
        case 11:
            try need(12)
            let itemCount = Int(view.u32(p)!)
            let length = view.u64(p + 4)!
            let childrenStart = p + 12
            guard length <= UInt64(end - start), start + Int(length) >= childrenStart else {
                throw LVDecodingError(
                    offset: p + 4, message: "level \"\(name)\" declares length \(length), \(end - start) bytes left")
            }
            let childrenEnd = start + Int(length)
            var children: [(name: String, value: LVValue)] = []
            var q = childrenStart
            for _ in 0..<itemCount {
                guard q < childrenEnd else {
                    throw LVDecodingError(
                        offset: q, message: "level \"\(name)\" declares \(itemCount) items, its bytes end sooner")
                }
                let (childName, childValue, next) = try entry(at: q, end: childrenEnd, depth: depth + 1)
                children.append((childName, childValue))
                q = next
            }
            // After the children: an offset table of itemCount u64 values (skipped).
            let tableBytes = UInt64(itemCount) * 8
            guard tableBytes <= UInt64(end - childrenEnd) else {
                throw LVDecodingError(
                    offset: childrenEnd, message: "offset table of level \"\(name)\" runs past the end")
            }
            value = .level(children)
            p = childrenEnd + Int(tableBytes)
        case 76:
            value = .compressed
            p = end
        default:
            throw LVDecodingError(offset: start, message: "unknown entry type \(type) for \"\(name)\"")
        }
        return (name, value, p)
    }

    private func utf16String(from offset: Int, units: Int) -> String {
        var codeUnits: [UInt16] = []
        codeUnits.reserveCapacity(units)
        for i in 0..<units {
            guard let unit = view.u16(offset + 2 * i), unit != 0 else { break }
            codeUnits.append(unit)
        }
        return String(decoding: codeUnits, as: UTF16.self)
    }
}
