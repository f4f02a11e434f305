/// A planar, multi-channel raster of `Pixel` values.
///
/// Pixels are stored channel-major, then row-major: the sample at `(x, y)` of channel `c`
/// lives at index `c * width * height + y * width + x` of ``pixels``. Every channel is one
/// contiguous plane, which is what the kernels (filters, labeling, thresholds) want.
///
/// `Image` is a value type backed by a copy-on-write array, so passing it between tasks is free
/// until somebody mutates a copy.
///
/// ```swift
/// var image = Image<UInt16>(width: 64, height: 32, channels: 2, repeating: 0)
/// image[x: 3, y: 4, channel: 1] = 1200
/// ```
public struct Image<Pixel: BitwiseCopyable & Sendable>: Sendable {
    /// Width in pixels (number of columns).
    public let width: Int
    /// Height in pixels (number of rows).
    public let height: Int
    /// Number of planes (channels).
    public let channels: Int
    /// All samples, channel-major then row-major; `count == width * height * channels`.
    @inlinable
    public var pixels: [Pixel] { storage }

    /// Backing store of ``pixels``; kept internal so the sample count always matches the sizes.
    @usableFromInline
    internal var storage: [Pixel]

    /// Creates an image from existing samples.
    ///
    /// - Parameters:
    ///   - width: Columns, at least 1.
    ///   - height: Rows, at least 1.
    ///   - channels: Planes, at least 1.
    ///   - pixels: Samples in channel-major, row-major order.
    /// - Throws: ``ImageError`` with code `.invalidDimensions` when a size is below 1 or the
    ///   product overflows, or `.pixelCountMismatch` when `pixels.count` is not
    ///   `width * height * channels`.
    public init(width: Int, height: Int, channels: Int = 1, pixels: [Pixel]) throws(ImageError) {
        let expected = try Self.sampleCount(width: width, height: height, channels: channels)
        guard pixels.count == expected else {
            throw ImageError(
                code: .pixelCountMismatch,
                message: "expected \(expected) samples for \(width)x\(height)x\(channels), found \(pixels.count)"
            )
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.storage = pixels
    }

    /// Creates an image with every sample set to `value`.
    ///
    /// Sizes here come from code, not from files, so invalid sizes are a programming error.
    /// - Precondition: `width`, `height` and `channels` are at least 1 and their product fits in `Int`.
    public init(width: Int, height: Int, channels: Int = 1, repeating value: Pixel) {
        let count: Int
        do {
            count = try Self.sampleCount(width: width, height: height, channels: channels)
        } catch {
            preconditionFailure(error.description)
        }
        self.width = width
        self.height = height
        self.channels = channels
        self.storage = [Pixel](repeating: value, count: count)
    }

    /// Number of samples in one plane (`width * height`).
    @inlinable
    public var planeCount: Int { width &* height }

    /// Linear index of `(x, y)` in `channel`, without bounds checks.
    @inlinable
    public func index(x: Int, y: Int, channel: Int = 0) -> Int {
        (channel &* height &+ y) &* width &+ x
    }

    /// Reads or writes one sample.
    ///
    /// - Precondition: `0 <= x < width`, `0 <= y < height`, `0 <= channel < channels`.
    ///   Hot loops should use ``withUnsafeBufferPointer(_:)`` instead.
    @inlinable
    public subscript(x x: Int, y y: Int, channel channel: Int = 0) -> Pixel {
        get {
            precondition(
                contains(x: x, y: y, channel: channel),
                "pixel (\(x), \(y), c\(channel)) outside \(width)x\(height)x\(channels)")
            return storage[index(x: x, y: y, channel: channel)]
        }
        set {
            precondition(
                contains(x: x, y: y, channel: channel),
                "pixel (\(x), \(y), c\(channel)) outside \(width)x\(height)x\(channels)")
            storage[index(x: x, y: y, channel: channel)] = newValue
        }
    }

    /// Whether `(x, y, channel)` lies inside the image.
    @inlinable
    public func contains(x: Int, y: Int, channel: Int = 0) -> Bool {
        x >= 0 && x < width && y >= 0 && y < height && channel >= 0 && channel < channels
    }

    /// Calls `body` with a read-only buffer over all samples (channel-major, row-major).
    @inlinable
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Pixel>) throws(E) -> R
    ) throws(E) -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with a mutable buffer over all samples (channel-major, row-major).
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (inout UnsafeMutableBufferPointer<Pixel>) throws(E) -> R
    ) throws(E) -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }

    /// Returns one channel as a single-channel image (a copy of that plane).
    ///
    /// - Precondition: `0 <= channel < channels`.
    public func plane(_ channel: Int) -> Image<Pixel> {
        precondition(channel >= 0 && channel < channels, "channel \(channel) outside 0..<\(channels)")
        let start = channel &* planeCount
        return Image(
            unchecked: width, height: height, channels: 1, pixels: Array(pixels[start..<(start &+ planeCount)]))
    }

    /// Memberwise init for callers that already validated the sizes.
    @usableFromInline
    init(unchecked width: Int, height: Int, channels: Int, pixels: [Pixel]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.storage = pixels
    }

    private static func sampleCount(width: Int, height: Int, channels: Int) throws(ImageError) -> Int {
        guard width >= 1, height >= 1, channels >= 1 else {
            throw ImageError(
                code: .invalidDimensions,
                message: "sizes must be at least 1, found \(width)x\(height)x\(channels)"
            )
        }
        let (plane, o1) = width.multipliedReportingOverflow(by: height)
        let (total, o2) = plane.multipliedReportingOverflow(by: channels)
        guard !o1, !o2 else {
            throw ImageError(code: .invalidDimensions, message: "\(width)x\(height)x\(channels) samples overflow Int")
        }
        return total
    }
}

extension Image: Equatable where Pixel: Equatable {
    /// Two images are equal when their sizes and every sample are equal.
    public static func == (lhs: Image, rhs: Image) -> Bool {
        lhs.width == rhs.width && lhs.height == rhs.height && lhs.channels == rhs.channels && lhs.pixels == rhs.pixels
    }
}

/// An error from constructing or combining images.
public struct ImageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; do not switch exhaustively.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The stable name of the code, e.g. `"invalidDimensions"`.
        public let rawValue: String
        /// Creates a code from its name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A width, height or channel count is below 1, or their product overflows.
        public static let invalidDimensions = Code(rawValue: "invalidDimensions")
        /// The number of samples does not match `width * height * channels`.
        public static let pixelCountMismatch = Code(rawValue: "pixelCountMismatch")
        /// The code's name.
        public var description: String { rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What was expected and what was found.
    public var message: String

    /// Creates an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// `"<code>: <message>"`.
    public var description: String { "\(code): \(message)" }
}
