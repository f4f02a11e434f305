/// An error from single-cell extraction, featurization or selection: a stable ``code``, what
/// went wrong and where (the file and offset, the feature column, the expression position).
///
/// ```swift
/// do { _ = try Selection.evaluate(rules, on: table) }
/// catch { print(error.code, error.context.column ?? "", error.message) }
/// ```
public struct SingleCellError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; do not switch exhaustively.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable name of the code, e.g. `"unknownColumn"`.
        public let rawValue: String
        /// Creates a code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// An input (mask, image, stack) does not have the size, type or channels expected.
        public static let invalidInput = Code(rawValue: "invalidInput")
        /// A parameter is out of range or inconsistent.
        public static let invalidParameter = Code(rawValue: "invalidParameter")
        /// An HDF5 call failed (create, write, read), or a file is not the layout expected.
        public static let hdf5 = Code(rawValue: "hdf5")
        /// A selection expression does not parse.
        public static let syntax = Code(rawValue: "syntax")
        /// A selection names a feature column the table does not have.
        public static let unknownColumn = Code(rawValue: "unknownColumn")
        /// A selection names cell ids that do not exist, or an id list is malformed.
        public static let unknownCell = Code(rawValue: "unknownCell")
        /// A selection is well-formed but cannot be evaluated (type error, bad quantile, …).
        public static let evaluation = Code(rawValue: "evaluation")
        /// The work was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// The code's name.
        public var description: String { rawValue }
    }

    /// Structured details; only the fields that apply are set.
    public struct Context: Sendable, Hashable {
        /// The file concerned (an `.h5sc`, an id-list CSV, a selection file).
        public var path: String?
        /// The HDF5 object or CSV line/field concerned, e.g. `/obsm/single_cell_images`.
        public var object: String?
        /// The feature column concerned.
        public var column: String?
        /// The selection set concerned.
        public var set: String?
        /// The 0-based character offset in a selection expression.
        public var offset: Int?
        /// Creates a context.
        public init(path: String? = nil, object: String? = nil, column: String? = nil, set: String? = nil, offset: Int? = nil) {
            self.path = path
            self.object = object
            self.column = column
            self.set = set
            self.offset = offset
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What went wrong and what was expected.
    public var message: String
    /// Where it went wrong.
    public var context: Context

    /// Creates an error.
    public init(code: Code, message: String, context: Context = Context()) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// `"<path>: <object>: set '<set>': <message>"` with the parts that are known.
    public var description: String {
        var parts: [String] = []
        if let path = context.path { parts.append(path) }
        if let object = context.object { parts.append(object) }
        if let set = context.set { parts.append("set '\(set)'") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}
