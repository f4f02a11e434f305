/// An error from planning, writing or reading laser-microdissection shapes.
///
/// Errors are values with a stable ``code`` (for exit codes and the catalogue's `error_code`),
/// a human-readable ``message`` and structured ``context`` (the offending config key, labels,
/// cell set, file path or C library message). Equality compares all fields.
///
/// ```swift
/// do { _ = try LMDConfig(json: bytes) } catch { print(error.code, error.context.key ?? "") }
/// ```
public struct MicrodissectionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; do not switch exhaustively.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable name of the code, e.g. `"unknownConfigKey"`.
        public let rawValue: String
        /// Creates a code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The JSON text is not valid JSON or not of the expected overall shape.
        public static let invalidJSON = Code(rawValue: "invalidJSON")
        /// A configuration key is not a py-lmd / scPortrait selection key (``Context/key`` names it).
        public static let unknownConfigKey = Code(rawValue: "unknownConfigKey")
        /// A configuration value has the wrong type or is out of range (``Context/key`` names it).
        public static let invalidConfigValue = Code(rawValue: "invalidConfigValue")
        /// A cell set definition is malformed (no `classes`, a non-string `well`, a CSV path …).
        public static let invalidCellSet = Code(rawValue: "invalidCellSet")
        /// A cell set has no usable labels (empty, only label 0, or every label skipped).
        public static let emptyCellSet = Code(rawValue: "emptyCellSet")
        /// Requested labels do not occur in the mask (``Context/labels`` lists them).
        public static let missingLabels = Code(rawValue: "missingLabels")
        /// Fewer than three calibration points, non-finite values, or all points on one line.
        public static let invalidCalibration = Code(rawValue: "invalidCalibration")
        /// The orientation transform is not an invertible 2×2 matrix of finite numbers.
        public static let invalidTransform = Code(rawValue: "invalidTransform")
        /// The label mask cannot be used (more than one channel, …).
        public static let invalidMask = Code(rawValue: "invalidMask")
        /// There is nothing to write (no shapes at all).
        public static let emptyDocument = Code(rawValue: "emptyDocument")
        /// libxml2 failed to parse a document, or it is not an LMD `ImageData` document.
        public static let xmlParse = Code(rawValue: "xmlParse")
        /// libxml2 failed to write a document.
        public static let xmlWrite = Code(rawValue: "xmlWrite")
        /// Reading or writing a file failed (``Context/path`` names it).
        public static let io = Code(rawValue: "io")
        /// GEOS reported an error (``Context/libraryMessage`` holds its text).
        public static let geometry = Code(rawValue: "geometry")

        /// The code's name.
        public var description: String { rawValue }
    }

    /// Structured details; every field is optional and only set where it applies.
    public struct Context: Sendable, Hashable {
        /// The configuration key or JSON member the error is about.
        public var key: String?
        /// Labels concerned (e.g. the ones missing from the mask), sorted ascending.
        public var labels: [Int]
        /// Name (or `#index`, 0-based) of the cell set concerned.
        public var cellSet: String?
        /// File the error is about.
        public var path: String?
        /// The message of the C library (libxml2, GEOS) that failed.
        public var libraryMessage: String?

        /// Creates a context; all fields default to "not applicable".
        public init(
            key: String? = nil, labels: [Int] = [], cellSet: String? = nil, path: String? = nil,
            libraryMessage: String? = nil
        ) {
            self.key = key
            self.labels = labels
            self.cellSet = cellSet
            self.path = path
            self.libraryMessage = libraryMessage
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What was expected and what was found.
    public var message: String
    /// Structured details (key, labels, cell set, path, library message).
    public var context: Context

    /// Creates an error.
    public init(code: Code, message: String, context: Context = Context()) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// `"<code>: <message>"` followed by the context fields that are set.
    public var description: String {
        var parts = ["\(code): \(message)"]
        if let key = context.key { parts.append("key=\(key)") }
        if let set = context.cellSet { parts.append("cellSet=\(set)") }
        if !context.labels.isEmpty { parts.append("labels=\(labelSummary(context.labels))") }
        if let path = context.path { parts.append("path=\(path)") }
        if let lib = context.libraryMessage { parts.append("library=\(lib)") }
        return parts.joined(separator: " ")
    }
}

/// A non-fatal observation made while planning or reading (label 0 dropped, a shape skipped, …).
///
/// Warnings never change the meaning of a successful result; callers log them.
public struct MicrodissectionWarning: Sendable, Hashable, CustomStringConvertible {
    /// What kind of observation this is. New codes may be added.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable name of the code.
        public let rawValue: String
        /// Creates a code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Label 0 (background) was listed in a cell set and removed, as py-lmd does.
        public static let labelZeroDropped = Code(rawValue: "labelZeroDropped")
        /// A label was listed more than once in one cell set; it is used once.
        public static let duplicateLabels = Code(rawValue: "duplicateLabels")
        /// Labels missing from the mask were skipped (`skip_missing: true`).
        public static let missingLabelsSkipped = Code(rawValue: "missingLabelsSkipped")
        /// A label (or merged group) consists of several separate blobs; see the multi-blob policy.
        public static let multipleBlobs = Code(rawValue: "multipleBlobs")
        /// A blob became degenerate (fewer than 3 distinct vertices or no area) and was not written.
        public static let degenerateShapeDropped = Code(rawValue: "degenerateShapeDropped")
        /// A shape needed repair to be a valid simple polygon (smoothing reduced, or GEOS repair).
        public static let shapeRepaired = Code(rawValue: "shapeRepaired")
        /// Several cells were merged into one shape (`join_intersecting`).
        public static let cellsMerged = Code(rawValue: "cellsMerged")
        /// A configuration key was accepted but has no effect in lmdflow.
        public static let ignoredConfigKey = Code(rawValue: "ignoredConfigKey")
        /// An XML shape has fewer than 3 points; the reader kept it out of ``LMDDocument/shapes``.
        public static let shapeTooFewPoints = Code(rawValue: "shapeTooFewPoints")
        /// An XML element was not understood and was ignored (or kept as a custom attribute).
        public static let unknownElement = Code(rawValue: "unknownElement")
        /// A count in the XML (ShapeCount, PointCount, GlobalCoordinates) disagrees with the content.
        public static let countMismatch = Code(rawValue: "countMismatch")

        /// The code's name.
        public var description: String { rawValue }
    }

    /// What kind of observation this is.
    public var code: Code
    /// A sentence describing it.
    public var message: String
    /// Labels concerned, sorted ascending (may be empty).
    public var labels: [Int]
    /// Name (or `#index`) of the cell set concerned, if any.
    public var cellSet: String?

    /// Creates a warning.
    public init(code: Code, message: String, labels: [Int] = [], cellSet: String? = nil) {
        self.code = code
        self.message = message
        self.labels = labels
        self.cellSet = cellSet
    }

    /// `"<code>: <message>"` plus the cell set and labels when set.
    public var description: String {
        var text = "\(code): \(message)"
        if let cellSet { text += " cellSet=\(cellSet)" }
        if !labels.isEmpty { text += " labels=\(labelSummary(labels))" }
        return text
    }
}

/// At most 20 labels, then "… (N total)".
func labelSummary(_ labels: [Int]) -> String {
    let head = labels.prefix(20).map(String.init).joined(separator: ",")
    return labels.count > 20 ? "\(head),… (\(labels.count) total)" : head
}
