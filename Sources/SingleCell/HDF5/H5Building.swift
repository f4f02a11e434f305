import CHDF5
import Foundation

/// Creating groups, attributes and small datasets exactly as h5py/anndata write them:
/// strings are variable-length UTF-8 (null-terminated) scalars or 1-D arrays, except the
/// fixed-length ASCII byte-string arrays scPortrait stores as `channel_names`/`channel_mapping`
/// attributes; numpy booleans are an HDF5 enum over int8 (`FALSE` = 0, `TRUE` = 1); integers
/// and floats are little-endian standard types. All functions run under the ``H5Library`` lock
/// and register every identifier they open with `handles`.
struct H5Builder {
    /// Where errors point.
    let site: H5Site
    /// Identifiers to close when the locked operation ends.
    let handles: H5Handles

    // MARK: Types and spaces

    /// Variable-length UTF-8 string type (h5py's `str`).
    func variableString(_ object: String) throws(SingleCellError) -> hid_t {
        let type = handles.keep(try site.check(H5Tcopy(lmd_h5t_c_s1()), object, "cannot create a string type"), .datatype)
        try site.check(H5Tset_size(type, lmd_h5t_variable()), object, "cannot make the string type variable-length")
        try site.check(H5Tset_cset(type, H5T_CSET_UTF8), object, "cannot set UTF-8 on the string type")
        try site.check(H5Tset_strpad(type, H5T_STR_NULLTERM), object, "cannot set string padding")
        return type
    }

    /// Fixed-length, null-padded ASCII string type of `length` bytes (numpy `|S<length>`).
    func fixedString(length: Int, _ object: String) throws(SingleCellError) -> hid_t {
        let type = handles.keep(try site.check(H5Tcopy(lmd_h5t_c_s1()), object, "cannot create a string type"), .datatype)
        try site.check(H5Tset_size(type, max(length, 1)), object, "cannot size the string type")
        try site.check(H5Tset_cset(type, H5T_CSET_ASCII), object, "cannot set ASCII on the string type")
        try site.check(H5Tset_strpad(type, H5T_STR_NULLPAD), object, "cannot set string padding")
        return type
    }

    /// numpy's bool as h5py stores it: enum over int8 with members FALSE = 0, TRUE = 1.
    func boolType(_ object: String) throws(SingleCellError) -> hid_t {
        let type = handles.keep(try site.check(H5Tenum_create(lmd_h5t_native_int8()), object, "cannot create the bool enum type"), .datatype)
        var no: Int8 = 0
        var yes: Int8 = 1
        try site.check(H5Tenum_insert(type, "FALSE", &no), object, "cannot add FALSE to the bool enum type")
        try site.check(H5Tenum_insert(type, "TRUE", &yes), object, "cannot add TRUE to the bool enum type")
        return type
    }

    /// IEEE binary16, little-endian (numpy `<f2`).
    func float16(_ object: String) throws(SingleCellError) -> hid_t {
        handles.keep(try site.check(lmd_h5t_ieee_f16le(), object, "cannot create the float16 type"), .datatype)
    }

    /// A scalar dataspace.
    func scalarSpace(_ object: String) throws(SingleCellError) -> hid_t {
        handles.keep(try site.check(H5Screate(H5S_SCALAR), object, "cannot create a scalar dataspace"), .dataspace)
    }

    /// A simple dataspace with fixed dimensions.
    func simpleSpace(_ dims: [Int], _ object: String) throws(SingleCellError) -> hid_t {
        let extents = dims.map { hsize_t($0) }
        return handles.keep(
            try site.check(H5Screate_simple(Int32(extents.count), extents, nil), object, "cannot create a dataspace of shape \(dims)"),
            .dataspace)
    }

    // MARK: Groups

    /// Creates group `name` under `parent` with anndata's `encoding-type`/`encoding-version`.
    func group(_ parent: hid_t, _ name: String, path: String, encoding: String, version: String) throws(SingleCellError) -> hid_t {
        let id = handles.keep(
            try site.check(H5Gcreate2(parent, name, lmd_h5p_default(), lmd_h5p_default(), lmd_h5p_default()), path, "cannot create the group"),
            .group)
        try encodingAttributes(id, path: path, type: encoding, version: version)
        return id
    }

    // MARK: Attributes

    /// Writes anndata's `encoding-type` and `encoding-version` string attributes.
    func encodingAttributes(_ object: hid_t, path: String, type: String, version: String) throws(SingleCellError) {
        try stringAttribute(object, "encoding-type", type, path: path)
        try stringAttribute(object, "encoding-version", version, path: path)
    }

    /// A scalar variable-length UTF-8 string attribute.
    func stringAttribute(_ object: hid_t, _ name: String, _ value: String, path: String) throws(SingleCellError) {
        let where_ = "\(path) @\(name)"
        let type = try variableString(where_)
        let space = try scalarSpace(where_)
        try writeVariableStrings(attributeOn: object, name: name, type: type, space: space, [value], path: where_)
    }

    /// A 1-D variable-length UTF-8 string array attribute.
    func stringArrayAttribute(_ object: hid_t, _ name: String, _ values: [String], path: String) throws(SingleCellError) {
        let where_ = "\(path) @\(name)"
        let type = try variableString(where_)
        let space = try simpleSpace([values.count], where_)
        try writeVariableStrings(attributeOn: object, name: name, type: type, space: space, values, path: where_)
    }

    /// A 1-D fixed-length byte-string array attribute (numpy `|S<n>`, n = longest value).
    func byteStringArrayAttribute(_ object: hid_t, _ name: String, _ values: [String], path: String) throws(SingleCellError) {
        let where_ = "\(path) @\(name)"
        let encoded = values.map { Array($0.utf8) }
        let length = max(encoded.map(\.count).max() ?? 1, 1)
        let type = try fixedString(length: length, where_)
        let space = try simpleSpace([values.count], where_)
        var bytes = [UInt8](repeating: 0, count: length * values.count)
        for (index, value) in encoded.enumerated() {
            bytes.replaceSubrange(index * length ..< index * length + value.count, with: value)
        }
        let attribute = try createAttribute(object, name, type: type, space: space, where_)
        try site.check(H5Awrite(attribute, type, bytes), where_, "cannot write the attribute")
    }

    /// A scalar int64 attribute (numpy `int64`).
    func int64Attribute(_ object: hid_t, _ name: String, _ value: Int64, path: String) throws(SingleCellError) {
        let where_ = "\(path) @\(name)"
        let attribute = try createAttribute(object, name, type: lmd_h5t_std_i64le(), space: try scalarSpace(where_), where_)
        var value = value
        try site.check(H5Awrite(attribute, lmd_h5t_native_int64(), &value), where_, "cannot write the attribute")
    }

    /// A scalar numpy-bool attribute.
    func boolAttribute(_ object: hid_t, _ name: String, _ value: Bool, path: String) throws(SingleCellError) {
        let where_ = "\(path) @\(name)"
        let type = try boolType(where_)
        let attribute = try createAttribute(object, name, type: type, space: try scalarSpace(where_), where_)
        var raw: Int8 = value ? 1 : 0
        try site.check(H5Awrite(attribute, type, &raw), where_, "cannot write the attribute")
    }

    /// A 1-D float64 array attribute.
    func float64ArrayAttribute(_ object: hid_t, _ name: String, _ values: [Double], path: String) throws(SingleCellError) {
        let where_ = "\(path) @\(name)"
        let attribute = try createAttribute(object, name, type: lmd_h5t_ieee_f64le(), space: try simpleSpace([values.count], where_), where_)
        try site.check(H5Awrite(attribute, lmd_h5t_native_double(), values), where_, "cannot write the attribute")
    }

    private func createAttribute(_ object: hid_t, _ name: String, type: hid_t, space: hid_t, _ where_: String) throws(SingleCellError) -> hid_t {
        handles.keep(
            try site.check(H5Acreate2(object, name, type, space, lmd_h5p_default(), lmd_h5p_default()), where_, "cannot create the attribute"),
            .attribute)
    }

    private func writeVariableStrings(
        attributeOn object: hid_t, name: String, type: hid_t, space: hid_t, _ values: [String], path: String
    ) throws(SingleCellError) {
        let attribute = try createAttribute(object, name, type: type, space: space, path)
        let pointers = values.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        guard !pointers.contains(where: { $0 == nil }) else {
            throw SingleCellError(code: .hdf5, message: "out of memory copying strings", context: .init(path: site.path, object: path))
        }
        let status = pointers.map { UnsafePointer($0) }.withUnsafeBufferPointer { H5Awrite(attribute, type, $0.baseAddress) }
        try site.check(status, path, "cannot write the attribute")
    }

    // MARK: Datasets

    /// A contiguous 1-D variable-length UTF-8 string dataset with anndata's
    /// `string-array` encoding attributes.
    func stringArrayDataset(_ parent: hid_t, _ name: String, _ values: [String], path: String) throws(SingleCellError) {
        let type = try variableString(path)
        let space = try simpleSpace([values.count], path)
        let dataset = try createDataset(parent, name, type: type, space: space, path)
        try writeVariableStrings(dataset: dataset, type: type, values, path: path)
        try encodingAttributes(dataset, path: path, type: "string-array", version: "0.2.0")
    }

    /// A scalar variable-length UTF-8 string dataset (anndata encoding `string`).
    func stringScalarDataset(_ parent: hid_t, _ name: String, _ value: String, path: String) throws(SingleCellError) {
        let type = try variableString(path)
        let dataset = try createDataset(parent, name, type: type, space: try scalarSpace(path), path)
        try writeVariableStrings(dataset: dataset, type: type, [value], path: path)
        try encodingAttributes(dataset, path: path, type: "string", version: "0.2.0")
    }

    /// A scalar numeric dataset (anndata encoding `numeric-scalar`): `fileType` on disk,
    /// `value` given in `memoryType`.
    func numericScalarDataset(
        _ parent: hid_t, _ name: String, fileType: hid_t, memoryType: hid_t, value: UnsafeRawPointer, path: String
    ) throws(SingleCellError) {
        let dataset = try createDataset(parent, name, type: fileType, space: try scalarSpace(path), path)
        try site.check(H5Dwrite(dataset, memoryType, lmd_h5s_all(), lmd_h5s_all(), lmd_h5p_default(), value), path, "cannot write the dataset")
        try encodingAttributes(dataset, path: path, type: "numeric-scalar", version: "0.2.0")
    }

    /// A contiguous 1-D int8 dataset (anndata encoding `array`).
    func int8ArrayDataset(_ parent: hid_t, _ name: String, _ values: [Int8], path: String) throws(SingleCellError) {
        let dataset = try createDataset(parent, name, type: lmd_h5t_std_i8le(), space: try simpleSpace([values.count], path), path)
        try site.check(H5Dwrite(dataset, lmd_h5t_native_int8(), lmd_h5s_all(), lmd_h5s_all(), lmd_h5p_default(), values), path, "cannot write the dataset")
        try encodingAttributes(dataset, path: path, type: "array", version: "0.2.0")
    }

    /// Creates a dataset with the default (contiguous) layout.
    func createDataset(_ parent: hid_t, _ name: String, type: hid_t, space: hid_t, _ path: String, dcpl: hid_t? = nil) throws(SingleCellError) -> hid_t {
        handles.keep(
            try site.check(
                H5Dcreate2(parent, name, type, space, lmd_h5p_default(), dcpl ?? lmd_h5p_default(), lmd_h5p_default()),
                path, "cannot create the dataset"),
            .dataset)
    }

    private func writeVariableStrings(dataset: hid_t, type: hid_t, _ values: [String], path: String) throws(SingleCellError) {
        let pointers = values.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        guard !pointers.contains(where: { $0 == nil }) else {
            throw SingleCellError(code: .hdf5, message: "out of memory copying strings", context: .init(path: site.path, object: path))
        }
        let status = pointers.map { UnsafePointer($0) }.withUnsafeBufferPointer {
            H5Dwrite(dataset, type, lmd_h5s_all(), lmd_h5s_all(), lmd_h5p_default(), $0.baseAddress)
        }
        try site.check(status, path, "cannot write the dataset")
    }
}
