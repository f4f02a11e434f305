/// Shape-generation settings: py-lmd 1.6.1's `SegmentationLoader` keys (also scPortrait's
/// `LMDSelection` section), with py-lmd's defaults, plus two lmdflow extensions.
///
/// Every property documents its py-lmd key. Parse a py-lmd/scPortrait config with
/// ``init(json:)`` or ``init(values:)``; keys that are not listed here are rejected by name, so a
/// typo (or scPortrait's `rdp`, which py-lmd never reads) cannot silently fall back to a default.
/// See `docs/MICRODISSECTION.md` for the exact semantics and every deliberate difference.
public struct LMDConfig: Sendable, Hashable {
    /// How the shapes of one cell set are ordered for cutting (`path_optimization`).
    public enum PathOptimization: String, Sendable, Hashable, CaseIterable {
        /// Cell-set order (after merging: order of each group's first member).
        case none
        /// Hilbert-curve order of the shape centres (the *intended* order, not py-lmd's inverse
        /// permutation), then 2-opt improvement.
        case hilbert
        /// Nearest-neighbour chain from the first shape, then 2-opt improvement.
        case greedy
    }

    /// What to do with a label (or merged group) that is several separate blobs after smoothing.
    public enum MultiBlobPolicy: String, Sendable, Hashable, CaseIterable {
        /// Every blob becomes its own shape with the set's well (nothing is lost; default).
        case separate
        /// Only the largest blob (by pixel count) is kept; the others are reported in a warning.
        case largest
    }

    /// `shape_dilation` (px, default 0): disk dilation; with `join_intersecting` it is applied in
    /// the merge pass, otherwise added to the smoothing dilation.
    public var shapeDilation: Int = 0
    /// `shape_erosion` (px, default 0): disk erosion; **only used when `join_intersecting` is
    /// false** (py-lmd ignores it otherwise, and so do we).
    public var shapeErosion: Int = 0
    /// `binary_smoothing` (px, default 3): radius of the morphological closing of every shape.
    public var binarySmoothing: Int = 3
    /// `convolution_smoothing` (default 15): window of the circular moving average over the traced
    /// contour (vertices 0.5 px apart); 1 disables it.
    public var convolutionSmoothing: Int = 15
    /// `rdp_epsilon` (px, default 0.1): Ramer–Douglas–Peucker tolerance; 0 removes only exactly
    /// collinear vertices.
    public var rdpEpsilon: Double = 0.1
    /// `path_optimization` (default `hilbert`).
    public var pathOptimization: PathOptimization = .hilbert
    /// `hilbert_p` (default 7): order of the Hilbert curve (grid 2^p × 2^p), 1…31.
    public var hilbertP: Int = 7
    /// `greedy_k` (default 0): accepted for compatibility; our greedy search is exact, so it is
    /// not needed (py-lmd's k-NN graph size).
    public var greedyK: Int = 0
    /// `xml_decimal_transform` (default 100): factor from pixels to XML units.
    public var xmlDecimalTransform: Double = 100
    /// `distance_heuristic` (px, default 300): only cells whose centres are at most this far apart
    /// are tested for overlap when merging.
    public var distanceHeuristic: Double = 300
    /// `join_intersecting` (default true): merge cells of one set whose dilated pixel sets share a pixel.
    public var joinIntersecting: Bool = true
    /// `orientation_transform` (default identity): the 2×2 matrix T of the export mapping.
    public var orientationTransform: OrientationTransform = .identity
    /// `threads` (py-lmd default 10): accepted and ignored — the output never depends on it; use
    /// the `parallelism` argument of ``CuttingPlanner`` instead.
    public var threads: Int = 10
    /// `skip_missing` (lmdflow extension, default false): labels absent from the mask are skipped
    /// with a warning instead of failing (py-lmd raises `KeyError`).
    public var skipMissing: Bool = false
    /// `multi_blob` (lmdflow extension, default `separate`): see ``MultiBlobPolicy``.
    public var multiBlob: MultiBlobPolicy = .separate
    /// Keys that were accepted but have no effect (e.g. `threads`, scPortrait's `cell_width`).
    public var ignoredKeys: [String] = []

    /// The py-lmd defaults.
    public init() {}

    /// The keys ``init(values:)`` understands.
    public static let knownKeys: Set<String> = Set([
        "shape_dilation", "shape_erosion", "binary_smoothing", "convolution_smoothing", "rdp_epsilon",
        "path_optimization", "hilbert_p", "greedy_k", "xml_decimal_transform", "distance_heuristic",
        "join_intersecting", "orientation_transform", "threads", "processes", "skip_missing", "multi_blob",
    ]).union(acceptedAndIgnoredKeys)

    /// scPortrait-side and parallelism keys that are accepted but have no effect here.
    public static let acceptedAndIgnoredKeys: Set<String> = [
        "threads", "processes", "processes_cell_sets", "cell_width", "batch_size_coordinate_extraction",
        "segmentation_channel",
    ]

    /// Keys people use that py-lmd 1.6.1 silently ignores, with what they probably meant.
    static let misleadingKeys: [String: String] = [
        "rdp": "py-lmd never reads `rdp` (scPortrait's documented name); use `rdp_epsilon`",
        "poly_compression_factor": "removed in py-lmd 1.6.1; use `rdp_epsilon`",
    ]

    /// Parses a JSON object of py-lmd keys (e.g. a case's `config.json`).
    /// - Throws: ``MicrodissectionError`` `.invalidJSON`, `.unknownConfigKey`, `.invalidConfigValue`
    ///   or `.invalidTransform`; ``MicrodissectionError/Context/key`` names the offending key.
    public init(json bytes: some Sequence<UInt8>) throws(MicrodissectionError) {
        let value = try ConfigValue.parseJSON(bytes)
        guard case .object(let object) = value else {
            throw MicrodissectionError(
                code: .invalidJSON, message: "the configuration must be a JSON object, found \(value.kindName)")
        }
        try self.init(values: object)
    }

    /// Builds a configuration from key/value pairs; missing keys keep py-lmd's defaults.
    /// - Throws: ``MicrodissectionError`` `.unknownConfigKey` (first unknown key in sorted order),
    ///   `.invalidConfigValue` or `.invalidTransform`.
    public init(values: [String: ConfigValue]) throws(MicrodissectionError) {
        self.init()
        for key in values.keys.sorted() where !Self.knownKeys.contains(key) {
            let hint = Self.misleadingKeys[key].map { " (\($0))" } ?? ""
            throw MicrodissectionError(
                code: .unknownConfigKey, message: "unknown configuration key `\(key)`\(hint)", context: .init(key: key))
        }
        func int(_ key: String, min lower: Int, max upper: Int = Int.max) throws(MicrodissectionError) -> Int? {
            guard let v = values[key] else { return nil }
            guard let i = v.integer, i >= lower, i <= upper else {
                let range = upper == Int.max ? "≥ \(lower)" : "in \(lower)…\(upper)"
                throw MicrodissectionError(
                    code: .invalidConfigValue, message: "`\(key)` must be an integer \(range), found \(v)",
                    context: .init(key: key))
            }
            return i
        }
        func number(_ key: String, positive: Bool) throws(MicrodissectionError) -> Double? {
            guard let v = values[key] else { return nil }
            guard let d = v.number, d.isFinite, positive ? d > 0 : d >= 0 else {
                throw MicrodissectionError(
                    code: .invalidConfigValue,
                    message: "`\(key)` must be a \(positive ? "positive" : "non-negative") number, found \(v)",
                    context: .init(key: key))
            }
            return d
        }
        func bool(_ key: String) throws(MicrodissectionError) -> Bool? {
            guard let v = values[key] else { return nil }
            guard case .bool(let b) = v else {
                throw MicrodissectionError(
                    code: .invalidConfigValue, message: "`\(key)` must be true or false, found \(v)",
                    context: .init(key: key))
            }
            return b
        }
        func choice<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type) throws(MicrodissectionError) -> E?
        where E.RawValue == String {
            guard let v = values[key] else { return nil }
            guard case .string(let s) = v, let e = E(rawValue: s) else {
                let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
                throw MicrodissectionError(
                    code: .invalidConfigValue, message: "`\(key)` must be one of \(allowed), found \(v)",
                    context: .init(key: key))
            }
            return e
        }

        if let v = try int("shape_dilation", min: 0, max: 1000) { shapeDilation = v }
        if let v = try int("shape_erosion", min: 0, max: 1000) { shapeErosion = v }
        if let v = try int("binary_smoothing", min: 0, max: 1000) { binarySmoothing = v }
        if let v = try int("convolution_smoothing", min: 1, max: 100_000) { convolutionSmoothing = v }
        if let v = try number("rdp_epsilon", positive: false) { rdpEpsilon = v }
        if let v = try choice("path_optimization", PathOptimization.self) { pathOptimization = v }
        if let v = try int("hilbert_p", min: 1, max: 31) { hilbertP = v }
        if let v = try int("greedy_k", min: 0) { greedyK = v }
        if let v = try number("xml_decimal_transform", positive: true) { xmlDecimalTransform = v }
        if let v = try number("distance_heuristic", positive: false) { distanceHeuristic = v }
        if let v = try bool("join_intersecting") { joinIntersecting = v }
        if let v = try int("threads", min: 1) { threads = v }
        _ = try int("processes", min: 1)
        if let v = try bool("skip_missing") { skipMissing = v }
        if let v = try choice("multi_blob", MultiBlobPolicy.self) { multiBlob = v }
        if let v = values["orientation_transform"] {
            orientationTransform = try Self.parseTransform(v)
        }
        ignoredKeys = values.keys.filter { Self.acceptedAndIgnoredKeys.contains($0) }.sorted()
    }

    /// Checks ranges that ``init(values:)`` enforces, for configurations built in code.
    /// - Throws: ``MicrodissectionError`` `.invalidConfigValue` or `.invalidTransform`.
    public func validate() throws(MicrodissectionError) {
        func fail(_ key: String, _ message: String) -> MicrodissectionError {
            MicrodissectionError(code: .invalidConfigValue, message: "`\(key)` \(message)", context: .init(key: key))
        }
        guard (0...1000).contains(shapeDilation) else { throw fail("shape_dilation", "must be in 0…1000") }
        guard (0...1000).contains(shapeErosion) else { throw fail("shape_erosion", "must be in 0…1000") }
        guard (0...1000).contains(binarySmoothing) else { throw fail("binary_smoothing", "must be in 0…1000") }
        guard (1...100_000).contains(convolutionSmoothing) else {
            throw fail("convolution_smoothing", "must be in 1…100000")
        }
        guard rdpEpsilon.isFinite, rdpEpsilon >= 0 else { throw fail("rdp_epsilon", "must be ≥ 0") }
        guard (1...31).contains(hilbertP) else { throw fail("hilbert_p", "must be in 1…31") }
        guard greedyK >= 0 else { throw fail("greedy_k", "must be ≥ 0") }
        guard xmlDecimalTransform.isFinite, xmlDecimalTransform > 0 else {
            throw fail("xml_decimal_transform", "must be positive")
        }
        guard distanceHeuristic.isFinite, distanceHeuristic >= 0 else {
            throw fail("distance_heuristic", "must be ≥ 0")
        }
        try orientationTransform.validate()
    }

    /// The export mapping (T and scale) of this configuration.
    /// - Throws: ``MicrodissectionError`` `.invalidTransform` / `.invalidConfigValue`.
    public func coordinateMapping() throws(MicrodissectionError) -> CoordinateMapping {
        try CoordinateMapping(transform: orientationTransform, scale: xmlDecimalTransform)
    }

    /// Radius of the dilation in the smoothing pass (py-lmd: `binary_smoothing`, plus
    /// `shape_dilation` when not joining).
    var smoothingDilation: Int { joinIntersecting ? binarySmoothing : binarySmoothing + shapeDilation }
    /// Radius of the erosion in the smoothing pass (py-lmd: `binary_smoothing`, plus
    /// `shape_erosion` when not joining).
    var smoothingErosion: Int { joinIntersecting ? binarySmoothing : binarySmoothing + shapeErosion }

    private static func parseTransform(_ v: ConfigValue) throws(MicrodissectionError) -> OrientationTransform {
        guard case .array(let rows) = v else {
            throw MicrodissectionError(
                code: .invalidTransform, message: "orientation_transform must be [[a, b], [c, d]], found \(v)",
                context: .init(key: "orientation_transform"))
        }
        var matrix: [[Double]] = []
        for row in rows {
            guard case .array(let cells) = row else {
                throw MicrodissectionError(
                    code: .invalidTransform, message: "orientation_transform must be [[a, b], [c, d]], found \(v)",
                    context: .init(key: "orientation_transform"))
            }
            var numbers: [Double] = []
            for cell in cells {
                guard let d = cell.number else {
                    throw MicrodissectionError(
                        code: .invalidTransform,
                        message: "orientation_transform entries must be numbers, found \(cell)",
                        context: .init(key: "orientation_transform"))
                }
                numbers.append(d)
            }
            matrix.append(numbers)
        }
        return try OrientationTransform(rows: matrix)
    }
}
