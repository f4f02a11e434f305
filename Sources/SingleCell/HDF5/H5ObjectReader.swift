import CHDF5
import Foundation

/// Opening objects and converting types and values; used by ``H5Inspector`` and
/// ``H5SCReader``. Every identifier opened is registered with `handles`.
struct H5ObjectReader {
    /// Where errors point.
    let site: H5Site
    /// Identifiers to close when the locked operation ends.
    let handles: H5Handles

    /// Opens the file read-only, with a clear error for a missing or non-HDF5 file.
    func openFile() throws(SingleCellError) -> hid_t {
        guard FileManager.default.fileExists(atPath: site.path) else {
            throw SingleCellError(code: .hdf5, message: "file does not exist", context: .init(path: site.path))
        }
        let isHDF5 = H5Fis_hdf5(site.path)
        if isHDF5 == 0 {
            _ = H5Library.takeErrorText()
            throw SingleCellError(code: .hdf5, message: "not an HDF5 file (no HDF5 signature)", context: .init(path: site.path))
        }
        if isHDF5 < 0 { throw site.failure("/", "cannot open the file") }
        return handles.keep(
            try site.check(H5Fopen(site.path, lmd_h5f_acc_rdonly(), lmd_h5p_default()), "/", "cannot open the file"), .file)
    }

    /// Whether `path` (absolute) names an existing link, checking each level so that a
    /// missing parent is not an error.
    func exists(_ file: hid_t, _ path: String) -> Bool {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if H5Lexists(file, prefix, lmd_h5p_default()) <= 0 {
                _ = H5Library.takeErrorText()
                return false
            }
        }
        return true
    }

    /// Opens the dataset at `path` or throws a layout error naming it.
    func openDataset(_ file: hid_t, _ path: String) throws(SingleCellError) -> hid_t {
        guard exists(file, path) else { throw site.layoutError(path, "dataset is missing") }
        let object = handles.keep(try site.check(H5Oopen(file, path, lmd_h5p_default()), path, "cannot open the object"), .object)
        guard H5Iget_type(object) == H5I_DATASET else { throw site.layoutError(path, "is not a dataset") }
        return object
    }

    /// Opens the group at `path` or throws a layout error naming it.
    func openGroup(_ file: hid_t, _ path: String) throws(SingleCellError) -> hid_t {
        guard path == "/" || exists(file, path) else { throw site.layoutError(path, "group is missing") }
        let object = handles.keep(try site.check(H5Oopen(file, path, lmd_h5p_default()), path, "cannot open the object"), .object)
        guard H5Iget_type(object) == H5I_GROUP else { throw site.layoutError(path, "is not a group") }
        return object
    }

    /// Describes the object `id` at `path` and, for groups, its members (name order).
    func walk(_ id: hid_t, path: String, into result: inout [H5ObjectSummary]) throws(SingleCellError) {
        let kindID = H5Iget_type(id)
        let isGroup = kindID == H5I_GROUP || kindID == H5I_FILE
        var summary = H5ObjectSummary(
            path: path, kind: isGroup ? .group : .dataset, type: nil, shape: nil, chunkShape: nil,
            filters: [], attributes: try attributes(id, path: path), values: nil)
        if !isGroup { try describeDataset(id, path: path, into: &summary) }
        result.append(summary)
        guard isGroup else { return }
        for name in try memberNames(id, path: path) {
            let childPath = path == "/" ? "/" + name : path + "/" + name
            let child = handles.keep(try site.check(H5Oopen(id, name, lmd_h5p_default()), childPath, "cannot open the object"), .object)
            let childKind = H5Iget_type(child)
            if childKind == H5I_GROUP || childKind == H5I_DATASET {
                try walk(child, path: childPath, into: &result)
            }
            handles.close(child)
        }
    }

    /// Member names of a group in name order.
    func memberNames(_ group: hid_t, path: String) throws(SingleCellError) -> [String] {
        var info = H5G_info_t()
        try site.check(H5Gget_info(group, &info), path, "cannot get group information")
        var names: [String] = []
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, lmd_h5p_default())
            guard length >= 0 else { throw site.failure(path, "cannot get the name of member \(index)") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            guard H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, lmd_h5p_default()) >= 0 else {
                throw site.failure(path, "cannot get the name of member \(index)")
            }
            names.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return names
    }

    private func describeDataset(_ dataset: hid_t, path: String, into summary: inout H5ObjectSummary) throws(SingleCellError) {
        let type = handles.keep(try site.check(H5Dget_type(dataset), path, "cannot get the datatype"), .datatype)
        let space = handles.keep(try site.check(H5Dget_space(dataset), path, "cannot get the dataspace"), .dataspace)
        let dcpl = handles.keep(try site.check(H5Dget_create_plist(dataset), path, "cannot get the creation properties"), .plist)
        summary.type = try typeSummary(type, path)
        summary.shape = try shape(space, path)
        if H5Pget_layout(dcpl) == H5D_CHUNKED {
            var dims = [hsize_t](repeating: 0, count: 32)
            let rank = H5Pget_chunk(dcpl, 32, &dims)
            guard rank >= 0 else { throw site.failure(path, "cannot get the chunk shape") }
            summary.chunkShape = dims.prefix(Int(rank)).map { Int($0) }
            summary.filters = try filters(dcpl, path)
        } else {
            let count = H5Sget_simple_extent_npoints(space)
            if count >= 0, count <= H5Inspector.valueLimit {
                summary.values = try readValues(type: type, space: space, path) { memoryType, buffer in
                    H5Dread(dataset, memoryType, lmd_h5s_all(), lmd_h5s_all(), lmd_h5p_default(), buffer)
                }
            }
        }
    }

    /// The filter pipeline of a dataset-creation property list.
    func filters(_ dcpl: hid_t, _ path: String) throws(SingleCellError) -> [H5FilterSummary] {
        let count = H5Pget_nfilters(dcpl)
        guard count >= 0 else { throw site.failure(path, "cannot count the filters") }
        var result: [H5FilterSummary] = []
        for index in 0..<UInt32(count) {
            var flags: UInt32 = 0
            var valueCount = 16
            var values = [UInt32](repeating: 0, count: 16)
            var name = [CChar](repeating: 0, count: 257)
            var config: UInt32 = 0
            let id = H5Pget_filter2(dcpl, index, &flags, &valueCount, &values, 256, &name, &config)
            guard id >= 0 else { throw site.failure(path, "cannot read filter \(index)") }
            result.append(H5FilterSummary(
                id: Int(id), flags: flags, clientData: Array(values.prefix(min(valueCount, 16))),
                name: String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
        }
        return result
    }

    /// Dimensions of a dataspace (empty for scalar and null spaces).
    func shape(_ space: hid_t, _ path: String) throws(SingleCellError) -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw site.failure(path, "cannot get the rank") }
        guard rank > 0 else { return [] }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        guard H5Sget_simple_extent_dims(space, &dims, nil) >= 0 else { throw site.failure(path, "cannot get the dimensions") }
        return dims.map { Int($0) }
    }

    /// All attributes of `object`, sorted by name.
    func attributes(_ object: hid_t, path: String) throws(SingleCellError) -> [H5AttributeSummary] {
        var info = H5O_info_t()
        try site.check(H5Oget_info2(object, &info, UInt32(H5O_INFO_NUM_ATTRS)), path, "cannot get object information")
        var result: [H5AttributeSummary] = []
        for index in 0..<info.num_attrs {
            let attribute = handles.keep(
                try site.check(
                    H5Aopen_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, index, lmd_h5p_default(), lmd_h5p_default()),
                    path, "cannot open attribute \(index)"),
                .attribute)
            let length = H5Aget_name(attribute, 0, nil)
            guard length >= 0 else { throw site.failure(path, "cannot get the name of attribute \(index)") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            _ = H5Aget_name(attribute, buffer.count, &buffer)
            let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            result.append(try readAttribute(attribute, name: name, path: path))
            handles.close(attribute)
        }
        return result.sorted { $0.name < $1.name }
    }

    /// Reads the attribute `name` of `object`, or `nil` when it does not exist.
    func attribute(_ object: hid_t, _ name: String, path: String) throws(SingleCellError) -> H5AttributeSummary? {
        let exists = H5Aexists(object, name)
        guard exists >= 0 else { throw site.failure(path, "cannot look up attribute '\(name)'") }
        guard exists > 0 else { return nil }
        let attribute = handles.keep(
            try site.check(H5Aopen(object, name, lmd_h5p_default()), "\(path) @\(name)", "cannot open the attribute"), .attribute)
        defer { handles.close(attribute) }
        return try readAttribute(attribute, name: name, path: path)
    }

    private func readAttribute(_ attribute: hid_t, name: String, path: String) throws(SingleCellError) -> H5AttributeSummary {
        let where_ = "\(path) @\(name)"
        let type = handles.keep(try site.check(H5Aget_type(attribute), where_, "cannot get the datatype"), .datatype)
        let space = handles.keep(try site.check(H5Aget_space(attribute), where_, "cannot get the dataspace"), .dataspace)
        let value = try readValues(type: type, space: space, where_) { memoryType, buffer in
            H5Aread(attribute, memoryType, buffer)
        }
        let summary = H5AttributeSummary(name: name, type: try typeSummary(type, where_), shape: try shape(space, where_), value: value)
        handles.close(space)
        handles.close(type)
        return summary
    }

    /// Describes a datatype.
    func typeSummary(_ type: hid_t, _ path: String) throws(SingleCellError) -> H5TypeSummary {
        let typeClass = H5Tget_class(type)
        var summary = H5TypeSummary(
            typeClass: .other, size: H5Tget_size(type), isSigned: false, isLittleEndian: true,
            isVariableLengthString: false, characterSet: nil, stringPadding: nil, enumMembers: [], floatFields: [])
        switch typeClass {
        case H5T_INTEGER:
            summary.typeClass = .integer
            summary.isSigned = H5Tget_sign(type) == H5T_SGN_2
            summary.isLittleEndian = H5Tget_order(type) == H5T_ORDER_LE
        case H5T_FLOAT:
            summary.typeClass = .float
            summary.isLittleEndian = H5Tget_order(type) == H5T_ORDER_LE
            var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
            guard H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0 else {
                throw site.failure(path, "cannot read the float bit fields")
            }
            summary.floatFields = [spos, epos, esize, mpos, msize, H5Tget_ebias(type), H5Tget_precision(type)]
        case H5T_STRING:
            summary.typeClass = .string
            summary.isVariableLengthString = H5Tis_variable_str(type) > 0
            switch H5Tget_cset(type) {
            case H5T_CSET_ASCII: summary.characterSet = "ascii"
            case H5T_CSET_UTF8: summary.characterSet = "utf8"
            default: summary.characterSet = "other"
            }
            switch H5Tget_strpad(type) {
            case H5T_STR_NULLTERM: summary.stringPadding = "nullterm"
            case H5T_STR_NULLPAD: summary.stringPadding = "nullpad"
            case H5T_STR_SPACEPAD: summary.stringPadding = "spacepad"
            default: summary.stringPadding = "other"
            }
        case H5T_ENUM:
            summary.typeClass = .enumeration
            let base = handles.keep(try site.check(H5Tget_super(type), path, "cannot get the enum base type"), .datatype)
            summary.isSigned = H5Tget_sign(base) == H5T_SGN_2
            summary.isLittleEndian = H5Tget_order(base) == H5T_ORDER_LE
            let count = H5Tget_nmembers(type)
            guard count >= 0 else { throw site.failure(path, "cannot count the enum members") }
            for index in 0..<UInt32(count) {
                guard let cName = H5Tget_member_name(type, index) else { throw site.failure(path, "cannot read enum member \(index)") }
                let name = String(cString: cName)
                H5free_memory(cName)
                var value: Int64 = 0
                guard H5Tget_member_value(type, index, &value) >= 0 else { throw site.failure(path, "cannot read enum member \(index)") }
                // The value is stored in the base type's width: sign-extend or zero-extend it.
                value = Self.widen(value, size: H5Tget_size(base), signed: summary.isSigned)
                summary.enumMembers.append(.init(name: name, value: value))
            }
            handles.close(base)
        default:
            summary.typeClass = .other
        }
        return summary
    }

    /// Interprets the low `size` bytes of `raw` (little-endian host memory) as an integer.
    private static func widen(_ raw: Int64, size: Int, signed: Bool) -> Int64 {
        guard size > 0, size < 8 else { return raw }
        let bits = size * 8
        let mask = (Int64(1) << bits) - 1
        let low = raw & mask
        if signed, low & (Int64(1) << (bits - 1)) != 0 { return low | ~mask }
        return low
    }

    /// Reads all elements of an attribute or dataset whose file type is `type` and extent
    /// `space`; `read` performs the `H5Aread`/`H5Dread` into a buffer of the memory type given.
    func readValues(
        type: hid_t, space: hid_t, _ path: String, read: (hid_t, UnsafeMutableRawPointer?) -> herr_t
    ) throws(SingleCellError) -> H5Value {
        let points = H5Sget_simple_extent_npoints(space)
        guard points >= 0 else { throw site.failure(path, "cannot count the elements") }
        let count = Int(points)
        switch H5Tget_class(type) {
        case H5T_STRING:
            let memoryType = handles.keep(try site.check(H5Tcopy(type), path, "cannot copy the string type"), .datatype)
            defer { handles.close(memoryType) }
            if H5Tis_variable_str(type) > 0 {
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
                let status = pointers.withUnsafeMutableBytes { read(memoryType, $0.baseAddress) }
                guard status >= 0 else { throw site.failure(path, "cannot read the strings") }
                let strings = pointers.prefix(count).map { $0.map { String(cString: $0) } ?? "" }
                _ = pointers.withUnsafeMutableBytes { H5Dvlen_reclaim(memoryType, space, lmd_h5p_default(), $0.baseAddress) }
                return .strings(strings)
            }
            let size = H5Tget_size(type)
            guard size > 0 else { throw site.failure(path, "string type has no size") }
            var bytes = [UInt8](repeating: 0, count: max(size * count, 1))
            let status = bytes.withUnsafeMutableBytes { read(memoryType, $0.baseAddress) }
            guard status >= 0 else { throw site.failure(path, "cannot read the strings") }
            let spacePadded = H5Tget_strpad(type) == H5T_STR_SPACEPAD
            var strings: [String] = []
            for index in 0..<count {
                var field = bytes[index * size ..< (index + 1) * size]
                if let end = field.firstIndex(of: 0) { field = field[..<end] }
                if spacePadded { while field.last == 0x20 { field = field.dropLast() } }
                strings.append(String(decoding: field, as: UTF8.self))
            }
            return .strings(strings)
        case H5T_INTEGER:
            if H5Tget_sign(type) == H5T_SGN_NONE {
                var values = [UInt64](repeating: 0, count: max(count, 1))
                guard values.withUnsafeMutableBytes({ read(lmd_h5t_native_uint64(), $0.baseAddress) }) >= 0 else {
                    throw site.failure(path, "cannot read the integers")
                }
                return .unsignedIntegers(Array(values.prefix(count)))
            }
            var values = [Int64](repeating: 0, count: max(count, 1))
            guard values.withUnsafeMutableBytes({ read(lmd_h5t_native_int64(), $0.baseAddress) }) >= 0 else {
                throw site.failure(path, "cannot read the integers")
            }
            return .integers(Array(values.prefix(count)))
        case H5T_FLOAT:
            var values = [Double](repeating: 0, count: max(count, 1))
            guard values.withUnsafeMutableBytes({ read(lmd_h5t_native_double(), $0.baseAddress) }) >= 0 else {
                throw site.failure(path, "cannot read the numbers")
            }
            return .floats(Array(values.prefix(count)))
        case H5T_ENUM:
            let memoryType = handles.keep(try site.check(H5Tcopy(type), path, "cannot copy the enum type"), .datatype)
            defer { handles.close(memoryType) }
            let size = H5Tget_size(type)
            guard size > 0 else { throw site.failure(path, "enum type has no size") }
            var bytes = [UInt8](repeating: 0, count: max(size * count, 1))
            guard bytes.withUnsafeMutableBytes({ read(memoryType, $0.baseAddress) }) >= 0 else {
                throw site.failure(path, "cannot read the enum values")
            }
            var names: [String] = []
            var name = [CChar](repeating: 0, count: 256)
            for index in 0..<count {
                let status = bytes.withUnsafeBytes { raw -> herr_t in
                    guard let base = raw.baseAddress else { return -1 }
                    return H5Tenum_nameof(memoryType, base + index * size, &name, 255)
                }
                if status < 0 {
                    _ = H5Library.takeErrorText()
                    names.append("?")
                } else {
                    names.append(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
            }
            return .enumNames(names)
        default:
            return .unsupported("class \(H5Tget_class(type).rawValue)")
        }
    }
}
