/// Builds binary LV ("lite variant") payloads (nd2-format.md §5.1) for ``ND2Writer``: the
/// inverse of ``LVDecoder``. Each function returns one complete entry.
enum LVEncoder {
    static func header(_ type: UInt8, _ name: String) -> [UInt8] {
        let units = Array(name.utf16) + [0]
        precondition(units.count <= 255, "LV entry names are at most 254 UTF-16 units")
        var bytes: [UInt8] = [type, UInt8(units.count)]
        bytes.reserveCapacity(2 + units.count * 2 + 8)
        for unit in units { bytes.appendLittleEndian(unit) }
        return bytes
    }

    static func bool(_ name: String, _ value: Bool) -> [UInt8] {
        header(1, name) + [value ? 1 : 0]
    }

    static func int32(_ name: String, _ value: Int32) -> [UInt8] {
        var bytes = header(2, name)
        bytes.appendLittleEndian(value)
        return bytes
    }

    static func uint32(_ name: String, _ value: UInt32) -> [UInt8] {
        var bytes = header(3, name)
        bytes.appendLittleEndian(value)
        return bytes
    }

    static func uint64(_ name: String, _ value: UInt64) -> [UInt8] {
        var bytes = header(5, name)
        bytes.appendLittleEndian(value)
        return bytes
    }

    static func double(_ name: String, _ value: Double) -> [UInt8] {
        var bytes = header(6, name)
        bytes.appendLittleEndian(value.bitPattern)
        return bytes
    }

    static func string(_ name: String, _ value: String) -> [UInt8] {
        var bytes = header(8, name)
        for unit in value.utf16 where unit != 0 { bytes.appendLittleEndian(unit) }
        bytes.appendLittleEndian(UInt16(0))
        return bytes
    }

    static func bytes(_ name: String, _ value: [UInt8]) -> [UInt8] {
        var bytes = header(9, name)
        bytes.appendLittleEndian(UInt64(value.count))
        return bytes + value
    }

    /// A level: header, item count, length (entry start to the end of the last child), the
    /// children, then one u64 per child (its offset from the level's start).
    static func level(_ name: String, _ children: [[UInt8]]) -> [UInt8] {
        var bytes = header(11, name)
        let bodyStart = bytes.count + 12
        let bodyCount = children.reduce(0) { $0 + $1.count }
        bytes.appendLittleEndian(UInt32(children.count))
        bytes.appendLittleEndian(UInt64(bodyStart + bodyCount))
        bytes.reserveCapacity(bodyStart + bodyCount + 8 * children.count)
        var offsets: [Int] = []
        for child in children {
            offsets.append(bytes.count)
            bytes += child
        }
        for offset in offsets { bytes.appendLittleEndian(UInt64(offset)) }
        return bytes
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` as little-endian bytes.
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
