/// A decoded value of Nikon's binary "lite variant" (LV) metadata encoding (ND2 v3 files).
///
/// See nd2-format.md section 5.1. Internal: the ND2 reader turns it into ``AcquisitionInfo``
/// and ``ND2Metadata``. The XML variant of v2 files decodes to the same values
/// (`ND2XMLVariant`), so field lookups are shared.
enum LVValue: Equatable, Sendable {
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    /// A byte array (type 9), e.g. `pItemValid` flags or a camera matrix.
    case bytes([UInt8])
    /// A nested level: its children in file order (names may repeat; unnamed = list items).
    /// A compressed block (type 76) is expanded in place: its entries become children.
    case level([(name: String, value: LVValue)])

    static func == (lhs: LVValue, rhs: LVValue) -> Bool {
        switch (lhs, rhs) {
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.uint(let a), .uint(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.bytes(let a), .bytes(let b)): a == b
        case (.level(let a), .level(let b)): a.map(\.name) == b.map(\.name) && a.map(\.value) == b.map(\.value)
        default: false
        }
    }

    /// The value as an unsigned integer, if it is a non-negative integer or a bool.
    var unsignedValue: UInt64? {
        switch self {
        case .uint(let v): v
        case .int(let v): v >= 0 ? UInt64(v) : nil
        case .bool(let v): v ? 1 : 0
        case .double(let v): v >= 0 && v <= 0x1p53 && v == v.rounded() ? UInt64(v) : nil
        default: nil
        }
    }

    /// The value as a signed integer that fits `Int`, if it is an integer or a bool.
    var intValue: Int? {
        switch self {
        case .int(let v): Int(exactly: v)
        case .uint(let v): Int(exactly: v)
        case .bool(let v): v ? 1 : 0
        case .double(let v): v.isFinite && abs(v) <= 0x1p53 && v == v.rounded() ? Int(v) : nil
        default: nil
        }
    }

    /// The value as a double, if it is a number.
    var doubleValue: Double? {
        switch self {
        case .double(let v): v
        case .int(let v): Double(v)
        case .uint(let v): Double(v)
        default: nil
        }
    }

    /// The value as a bool: a bool, or a non-zero integer (nd2 notes that values other than 0/1
    /// occur in bool fields).
    var boolValue: Bool? {
        switch self {
        case .bool(let v): v
        case .int(let v): v != 0
        case .uint(let v): v != 0
        default: nil
        }
    }

    /// The value as a string.
    var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// Children of a level (empty for scalars).
    var children: [(name: String, value: LVValue)] {
        if case .level(let items) = self { return items }
        return []
    }

    /// The children's values in file order: the items of a list, whatever their keys are
    /// (unnamed, `a0`, `a1`…, `i0000000000`…, `Point0`…).
    var items: [LVValue] {
        children.map(\.value)
    }

    /// The last child named `name` (names may repeat; the last one wins, as in the nd2 reader).
    subscript(name: String) -> LVValue? {
        children.last { $0.name == name }?.value
    }

    /// Follows `names` from this value, one child level at a time.
    subscript(path names: String...) -> LVValue? {
        var value: LVValue? = self
        for name in names { value = value?[name] }
        return value
    }
}

/// Where and why an LV payload could not be decoded.
struct LVDecodingError: Error {
    /// Offset inside the payload (inside the inflated block for compressed blocks).
    var offset: Int
    var message: String
}

/// Decodes an LV payload into its top-level entries.
///
/// Every read is bounds-checked against the payload; nesting is limited to ``maxDepth``
/// levels and compressed blocks inside compressed blocks to ``maxCompressedDepth``. One
/// payload, compressed blocks included, may inflate to at most ``maxInflatedBytes`` in total
/// and hold at most ``maxEntries`` entries, so a hostile payload cannot exhaust memory.
struct LVDecoder {
    static let maxDepth = 64
    static let maxCompressedDepth = 4
    static let maxInflatedBytes = 64 << 20
    /// Real files hold about 500 entries per chunk (12,600 in 27 chunks).
    static let maxEntries = 2_000_000

    /// What is left to spend while decoding one payload (shared with nested compressed blocks).
    private final class Budget {
        var inflatedBytes = LVDecoder.maxInflatedBytes
        var entries = LVDecoder.maxEntries
    }

    let view: ByteView
    private let compressedDepth: Int
    private let budget: Budget

    init(_ bytes: [UInt8]) {
        self.init(bytes, compressedDepth: 0, budget: Budget())
    }

    private init(_ bytes: [UInt8], compressedDepth: Int, budget: Budget) {
        self.view = ByteView(bytes: bytes)
        self.compressedDepth = compressedDepth
        self.budget = budget
    }

    /// Top-level entries. Decoding stops cleanly at the end or at zero padding.
    func decode() throws(LVDecodingError) -> [(name: String, value: LVValue)] {
        try entries(from: 0, end: view.count, count: nil, depth: 0).entries
    }

    /// Decodes up to `count` entries (all until `end` or zero padding when nil) starting at
    /// `start`; a compressed block ends the sequence (it holds the rest).
    private func entries(
        from start: Int, end: Int, count: Int?, depth: Int
    ) throws(LVDecodingError) -> (entries: [(name: String, value: LVValue)], next: Int) {
        var result: [(name: String, value: LVValue)] = []
        var position = start
        var decoded = 0
        while position < end {
            if let count, decoded >= count { break }
            if count == nil, view.u8(position) == 0 { break }  // zero padding after the last entry
            if view.u8(position) == 76 {
                result += try compressed(at: position, end: end, depth: depth)
                return (result, end)
            }
            budget.entries -= 1
            guard budget.entries >= 0 else {
                throw LVDecodingError(offset: position, message: "more than \(Self.maxEntries) entries")
            }
            let (name, value, next) = try entry(at: position, end: end, depth: depth)
            result.append((name, value))
            position = next
            decoded += 1
        }
        if let count, decoded < count {
            throw LVDecodingError(offset: position, message: "declared \(count) items, the bytes end after \(decoded)")
        }
        return (result, position)
    }

    /// A compressed block (type 76): 2 header bytes, 10 skipped bytes, then a zlib stream that
    /// runs to `end` and inflates to an LV payload [nd2-format.md §5.1, R].
    private func compressed(
        at start: Int, end: Int, depth: Int
    ) throws(LVDecodingError) -> [(name: String, value: LVValue)] {
        guard compressedDepth < Self.maxCompressedDepth else {
            throw LVDecodingError(
                offset: start, message: "compressed blocks nested deeper than \(Self.maxCompressedDepth)")
        }
        let streamStart = start + 12
        guard streamStart < end else {
            throw LVDecodingError(offset: start, message: "compressed block has no zlib stream")
        }
        let inflated: [UInt8]
        do {
            inflated = try ND2Zlib.inflate(view.bytes[streamStart..<end], limit: budget.inflatedBytes)
        } catch {
            throw LVDecodingError(offset: streamStart, message: "compressed block: \(error.message)")
        }
        budget.inflatedBytes -= inflated.count
        let inner = LVDecoder(inflated, compressedDepth: compressedDepth + 1, budget: budget)
        do {
            return try inner.entries(from: 0, end: inflated.count, count: nil, depth: depth).entries
        } catch {
            throw LVDecodingError(
                offset: streamStart,
                message: "inside compressed block at inflated offset \(error.offset): \(error.message)")
        }
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
            guard n <= end - p else {
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
            value = .bytes(Array(view.bytes[p..<(p + Int(count))]))
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
            // Each child needs at least 2 bytes: a hostile count fails here, before any work.
            guard itemCount <= (childrenEnd - childrenStart) / 2 || itemCount == 0 else {
                throw LVDecodingError(
                    offset: p,
                    message: "level \"\(name)\" declares \(itemCount) items in \(childrenEnd - childrenStart) bytes")
            }
            let children = try entries(from: childrenStart, end: childrenEnd, count: itemCount, depth: depth + 1)
            // After the children: an offset table of itemCount u64 values (skipped).
            let tableBytes = UInt64(itemCount) * 8
            guard tableBytes <= UInt64(end - childrenEnd) else {
                throw LVDecodingError(
                    offset: childrenEnd, message: "offset table of level \"\(name)\" runs past the end")
            }
            value = .level(children.entries)
            p = childrenEnd + Int(tableBytes)
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
