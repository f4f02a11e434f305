import CHDF5
import Foundation

// MARK: - Public description types

/// The values of an HDF5 attribute or small dataset, converted to Swift.
public enum H5Value: Sendable, Hashable {
    /// Strings (variable- or fixed-length; fixed-length ones without their padding).
    case strings([String])
    /// Signed integers of any width.
    case integers([Int64])
    /// Unsigned integers of any width.
    case unsignedIntegers([UInt64])
    /// Floating-point numbers of any width.
    case floats([Double])
    /// Enum values by member name (numpy booleans read as `"FALSE"`/`"TRUE"`).
    case enumNames([String])
    /// A type this reader does not convert; the payload names its HDF5 class.
    case unsupported(String)
}

/// An HDF5 datatype, in the terms h5py exposes (class, size, sign, byte order, string
/// character set and padding, enum members, float bit fields).
public struct H5TypeSummary: Sendable, Hashable, CustomStringConvertible {
    /// The HDF5 type class.
    public enum TypeClass: String, Sendable, Hashable {
        /// `H5T_INTEGER`.
        case integer
        /// `H5T_FLOAT`.
        case float
        /// `H5T_STRING`.
        case string
        /// `H5T_ENUM`.
        case enumeration
        /// Any other class (compound, array, opaque, …).
        case other
    }

    /// One enum member.
    public struct EnumMember: Sendable, Hashable {
        /// The member name, e.g. `"TRUE"`.
        public var name: String
        /// The member value.
        public var value: Int64
    }

    /// The type class.
    public var typeClass: TypeClass
    /// Size in bytes (pointer size for variable-length strings, as `H5Tget_size` reports).
    public var size: Int
    /// Whether integers (or an enum's base integers) are signed.
    public var isSigned: Bool
    /// Whether numbers are stored little-endian.
    public var isLittleEndian: Bool
    /// Whether this is a variable-length string.
    public var isVariableLengthString: Bool
    /// `"ascii"` or `"utf8"` for strings, else `nil`.
    public var characterSet: String?
    /// `"nullterm"`, `"nullpad"` or `"spacepad"` for strings, else `nil`.
    public var stringPadding: String?
    /// Enum members in declaration order (empty for other classes).
    public var enumMembers: [EnumMember]
    /// For floats: sign position, exponent position and size, mantissa position and size,
    /// exponent bias, precision (empty for other classes).
    public var floatFields: [Int]

    /// A compact one-line rendering, e.g. `float size=2 le fields=[15, 10, 5, 0, 10, 15, 16]`.
    public var description: String {
        var parts = ["\(typeClass.rawValue) size=\(size)"]
        switch typeClass {
        case .integer: parts.append(isSigned ? "signed" : "unsigned"); parts.append(isLittleEndian ? "le" : "be")
        case .float: parts.append(isLittleEndian ? "le" : "be"); parts.append("fields=\(floatFields)")
        case .string:
            parts.append(isVariableLengthString ? "vlen" : "fixed")
            parts.append(characterSet ?? "?")
            parts.append(stringPadding ?? "?")
        case .enumeration:
            parts.append(isSigned ? "signed" : "unsigned")
            parts.append(enumMembers.map { "\($0.name)=\($0.value)" }.joined(separator: ","))
        case .other: break
        }
        return parts.joined(separator: " ")
    }
}

/// One filter of a chunked dataset's pipeline.
public struct H5FilterSummary: Sendable, Hashable {
    /// The filter id (1 = deflate, 32000 = LZF).
    public var id: Int
    /// The filter flags (bit 0: optional).
    public var flags: UInt32
    /// The filter's client data (`cd_values`).
    public var clientData: [UInt32]
    /// The name stored with the filter.
    public var name: String
}

/// One attribute: name, type, shape (empty for a scalar) and value.
public struct H5AttributeSummary: Sendable, Hashable {
    /// The attribute name.
    public var name: String
    /// Its datatype.
    public var type: H5TypeSummary
    /// Its dimensions; empty for a scalar.
    public var shape: [Int]
    /// Its value.
    public var value: H5Value
}

/// One group or dataset of an HDF5 file, as ``H5Inspector/objects(inFile:)`` reports it.
public struct H5ObjectSummary: Sendable, Hashable {
    /// Whether the object is a group or a dataset.
    public enum Kind: String, Sendable, Hashable {
        /// An HDF5 group.
        case group
        /// An HDF5 dataset.
        case dataset
    }

    /// The absolute path, e.g. `/obsm/single_cell_images` (`/` for the root group).
    public var path: String
    /// Group or dataset.
    public var kind: Kind
    /// The datatype (datasets only).
    public var type: H5TypeSummary?
    /// The dimensions (datasets only; empty for a scalar).
    public var shape: [Int]?
    /// The chunk dimensions (chunked datasets only).
    public var chunkShape: [Int]?
    /// The filter pipeline (empty when unfiltered or not a dataset).
    public var filters: [H5FilterSummary]
    /// The attributes, sorted by name.
    public var attributes: [H5AttributeSummary]
    /// The contents of non-chunked datasets with at most ``H5Inspector/valueLimit`` elements.
    public var values: H5Value?

    /// The attribute called `name`, if any.
    public func attribute(_ name: String) -> H5AttributeSummary? { attributes.first { $0.name == name } }
}

/// Where one stored chunk of a chunked dataset is and how it was stored.
public struct H5ChunkSummary: Sendable, Hashable {
    /// The chunk's element offset in the dataset.
    public var offset: [Int]
    /// Its stored size in bytes.
    public var storedSize: Int
    /// Its filter mask (bit i set: filter i was skipped, e.g. 1 = stored raw).
    public var filterMask: UInt32
    /// The byte offset of its data in the file.
    public var fileOffset: UInt64
}

/// Read-only introspection of HDF5 files: every group and dataset with types, shapes, chunking,
/// filters and attributes, so tests and diagnostics can compare `.h5sc` layouts without h5py.
public enum H5Inspector {
    /// Datasets with more elements than this are described without their ``H5ObjectSummary/values``.
    public static let valueLimit = 100_000

    /// Every object in the file, root first, then depth-first in name order (as h5py's
    /// `visititems`).
    ///
    /// - Throws: ``SingleCellError`` (code `hdf5`) when the file cannot be opened or read.
    public static func objects(inFile path: String) throws(SingleCellError) -> [H5ObjectSummary] {
        try H5Library.withHandles { handles throws(SingleCellError) -> [H5ObjectSummary] in
            let reader = H5ObjectReader(site: H5Site(path: path), handles: handles)
            let file = try reader.openFile()
            var result: [H5ObjectSummary] = []
            try reader.walk(file, path: "/", into: &result)
            return result
        }
    }

    /// The stored chunks of the chunked dataset at `dataset`, in storage-index order.
    ///
    /// - Throws: ``SingleCellError`` (code `hdf5`) when the file or dataset cannot be read.
    public static func chunks(inFile path: String, dataset: String) throws(SingleCellError) -> [H5ChunkSummary] {
        try H5Library.withHandles { handles throws(SingleCellError) -> [H5ChunkSummary] in
            let reader = H5ObjectReader(site: H5Site(path: path), handles: handles)
            let file = try reader.openFile()
            let id = try reader.openDataset(file, dataset)
            let space = handles.keep(try reader.site.check(H5Dget_space(id), dataset, "cannot get the dataspace"), .dataspace)
            let rank = Int(H5Sget_simple_extent_ndims(space))
            var count: hsize_t = 0
            try reader.site.check(H5Dget_num_chunks(id, space, &count), dataset, "cannot count the chunks")
            var result: [H5ChunkSummary] = []
            result.reserveCapacity(Int(count))
            var offset = [hsize_t](repeating: 0, count: max(rank, 1))
            for index in 0..<count {
                var mask: UInt32 = 0
                var address: haddr_t = 0
                var size: hsize_t = 0
                try reader.site.check(
                    H5Dget_chunk_info(id, space, index, &offset, &mask, &address, &size), dataset,
                    "cannot get information on chunk \(index)")
                result.append(H5ChunkSummary(
                    offset: offset.prefix(rank).map { Int($0) }, storedSize: Int(size), filterMask: mask, fileOffset: UInt64(address)))
            }
            return result
        }
    }
}
