import ImageKit

/// An 8-bit RGBA raster (row-major, 4 bytes per pixel, straight alpha), ready for a PNG encoder.
public struct RGBAImage: Sendable, Hashable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 4` bytes: R, G, B, A per pixel, rows top to bottom.
    public var bytes: [UInt8]

    /// Creates an image filled with one colour.
    public init(width: Int, height: Int, fill: (r: UInt8, g: UInt8, b: UInt8, a: UInt8) = (0, 0, 0, 255)) {
        self.width = width
        self.height = height
        var bytes = [UInt8](repeating: 0, count: width * height * 4)
        for i in stride(from: 0, to: bytes.count, by: 4) {
            bytes[i] = fill.r
            bytes[i + 1] = fill.g
            bytes[i + 2] = fill.b
            bytes[i + 3] = fill.a
        }
        self.bytes = bytes
    }

    /// The RGBA value at `(x, y)`.
    public func pixel(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8, a: UInt8) {
        let i = (y * width + x) * 4
        return (bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3])
    }
}

/// A grayscale sample type the preview can show.
public protocol PreviewPixel: BitwiseCopyable & Sendable {
    /// The sample as a double for contrast stretching.
    var previewIntensity: Double { get }
}

extension UInt8: PreviewPixel {
    /// The value as a double.
    public var previewIntensity: Double { Double(self) }
}

extension UInt16: PreviewPixel {
    /// The value as a double.
    public var previewIntensity: Double { Double(self) }
}

extension UInt32: PreviewPixel {
    /// The value as a double.
    public var previewIntensity: Double { Double(self) }
}

extension Float: PreviewPixel {
    /// The value as a double (NaN shows as black).
    public var previewIntensity: Double { isNaN ? -Double.infinity : Double(self) }
}

extension Double: PreviewPixel {
    /// The value itself (NaN shows as black).
    public var previewIntensity: Double { isNaN ? -Double.infinity : self }
}

/// Renders a QA preview of a cutting plan: the auto-contrasted image, each shape outlined in its
/// well's colour, the cutting order as thin lines from each shape's last vertex to the next
/// shape's first, and the calibration points as crosses. No PNG encoding here.
public enum PreviewRenderer {
    /// Rendering options.
    public struct Options: Sendable, Hashable {
        /// The longer side of the output is at most this many pixels (the image is downsampled by
        /// nearest neighbour; shapes are drawn at output resolution).
        public var maxSide: Int = 2048
        /// Lower contrast percentile (maps to black).
        public var lowPercentile: Double = 0.5
        /// Upper contrast percentile (maps to white).
        public var highPercentile: Double = 99.5
        /// Whether to draw the cutting order.
        public var drawPath: Bool = true
        /// Half-size of the calibration crosses in output pixels.
        public var markerRadius: Int = 6

        /// Default options.
        public init() {}
    }

    /// Outline colours, one per well in order of first appearance (cycled).
    public static let palette: [(r: UInt8, g: UInt8, b: UInt8)] = [
        (0, 255, 127), (255, 64, 64), (64, 160, 255), (255, 200, 0), (255, 0, 255), (0, 230, 230),
        (255, 128, 0), (160, 96, 255), (180, 255, 0), (255, 105, 180),
    ]

    /// Renders `plan` over `background` (channel 0 is used; `nil` gives a black canvas of
    /// `canvasWidth × canvasHeight` pixels).
    public static func render<Pixel: PreviewPixel>(
        background: Image<Pixel>?, plan: CuttingPlan, canvasWidth: Int? = nil, canvasHeight: Int? = nil,
        options: Options = Options()
    ) -> RGBAImage {
        var wells: [String] = []
        var shapes: [(PixelPolygon, Int)] = []
        for set in plan.sets {
            let key = set.well ?? ""
            let index =
                wells.firstIndex(of: key)
                ?? {
                    wells.append(key)
                    return wells.count - 1
                }()
            for shape in set.shapes { shapes.append((shape.polygon, index)) }
        }
        return render(
            background: background, shapes: shapes, calibration: plan.calibration.points, canvasWidth: canvasWidth,
            canvasHeight: canvasHeight, options: options)
    }

    /// Renders shapes (each with a colour index, in cutting order) and calibration points.
    public static func render<Pixel: PreviewPixel>(
        background: Image<Pixel>?, shapes: [(polygon: PixelPolygon, colour: Int)], calibration: [PixelPoint],
        canvasWidth: Int? = nil, canvasHeight: Int? = nil, options: Options = Options()
    ) -> RGBAImage {
        let srcW = max(1, background?.width ?? canvasWidth ?? 1)
        let srcH = max(1, background?.height ?? canvasHeight ?? 1)
        let scale = min(1.0, Double(max(1, options.maxSide)) / Double(max(srcW, srcH)))
        let outW = max(1, Int((Double(srcW) * scale).rounded(.up)))
        let outH = max(1, Int((Double(srcH) * scale).rounded(.up)))
        var canvas = Canvas(image: RGBAImage(width: outW, height: outH))
        if let background {
            drawBackground(background, into: &canvas.image, scale: scale, options: options)
        }
        // Pixel (row, col) centre → output position.
        func map(_ p: PixelPoint) -> (Double, Double) { ((p.column + 0.5) * scale, (p.row + 0.5) * scale) }
        if options.drawPath {
            for k in 1..<max(shapes.count, 1) {
                guard let a = shapes[k - 1].polygon.vertices.last, let b = shapes[k].polygon.vertices.first else {
                    continue
                }
                let (x0, y0) = map(a)
                let (x1, y1) = map(b)
                canvas.line(x0, y0, x1, y1, colour: (255, 255, 255), alpha: 0.45)
            }
        }
        for (polygon, colour) in shapes {
            let c = palette[((colour % palette.count) + palette.count) % palette.count]
            let v = polygon.vertices
            for i in v.indices {
                let (x0, y0) = map(v[i])
                let (x1, y1) = map(v[(i + 1) % v.count])
                canvas.line(x0, y0, x1, y1, colour: c, alpha: 1)
            }
        }
        let r = Double(options.markerRadius)
        for p in calibration {
            let (x, y) = map(p)
            canvas.line(x - r, y - r, x + r, y + r, colour: (255, 0, 255), alpha: 1)
            canvas.line(x - r, y + r, x + r, y - r, colour: (255, 0, 255), alpha: 1)
            canvas.line(x - r, y, x + r, y, colour: (255, 0, 255), alpha: 1)
            canvas.line(x, y - r, x, y + r, colour: (255, 0, 255), alpha: 1)
        }
        return canvas.image
    }

    /// The `low`/`high` percentiles of up to ~1 M samples of channel 0 (NaN excluded).
    static func percentiles<Pixel: PreviewPixel>(_ image: Image<Pixel>, low: Double, high: Double) -> (Double, Double) {
        let count = image.planeCount
        let step = max(1, count / 1_000_000)
        var samples: [Double] = []
        samples.reserveCapacity(count / step + 1)
        image.withUnsafeBufferPointer { buf in
            var i = 0
            while i < count {
                let v = buf[i].previewIntensity
                if v.isFinite { samples.append(v) }
                i &+= step
            }
        }
        guard !samples.isEmpty else { return (0, 1) }
        samples.sort()
        func at(_ q: Double) -> Double {
            let pos = min(max(q / 100, 0), 1) * Double(samples.count - 1)
            let lo = Int(pos.rounded(.down))
            let hi = min(lo + 1, samples.count - 1)
            let f = pos - Double(lo)
            return samples[lo] * (1 - f) + samples[hi] * f
        }
        return (at(low), at(high))
    }

    private static func drawBackground<Pixel: PreviewPixel>(
        _ image: Image<Pixel>, into out: inout RGBAImage, scale: Double, options: Options
    ) {
        let (lo, hi) = percentiles(image, low: options.lowPercentile, high: options.highPercentile)
        let span = hi > lo ? hi - lo : 1
        let w = image.width
        let h = image.height
        let ow = out.width
        let oh = out.height
        let columns = (0..<ow).map { min(w - 1, Int((Double($0) + 0.5) / scale)) }
        image.withUnsafeBufferPointer { src in
            out.bytes.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    let sy = min(h - 1, Int((Double(y) + 0.5) / scale))
                    let row = sy &* w
                    var o = y &* ow &* 4
                    for x in 0..<ow {
                        let v = src[row &+ columns[x]].previewIntensity
                        let t = v.isFinite ? min(max((v - lo) / span, 0), 1) : 0
                        let g = UInt8((t * 255).rounded())
                        dst[o] = g
                        dst[o &+ 1] = g
                        dst[o &+ 2] = g
                        dst[o &+ 3] = 255
                        o &+= 4
                    }
                }
            }
        }
    }
}

/// Anti-alias-free line drawing with alpha blending.
private struct Canvas {
    var image: RGBAImage

    mutating func blend(_ x: Int, _ y: Int, _ c: (r: UInt8, g: UInt8, b: UInt8), _ alpha: Double) {
        guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
        let i = (y * image.width + x) * 4
        func mix(_ old: UInt8, _ new: UInt8) -> UInt8 {
            UInt8((Double(old) * (1 - alpha) + Double(new) * alpha).rounded())
        }
        image.bytes[i] = mix(image.bytes[i], c.r)
        image.bytes[i + 1] = mix(image.bytes[i + 1], c.g)
        image.bytes[i + 2] = mix(image.bytes[i + 2], c.b)
        image.bytes[i + 3] = 255
    }

    /// A 1-px line between continuous positions (pixel `(x, y)` covers `[x, x+1) × [y, y+1)`).
    mutating func line(
        _ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, colour: (r: UInt8, g: UInt8, b: UInt8), alpha: Double
    ) {
        guard x0.isFinite, y0.isFinite, x1.isFinite, y1.isFinite else { return }
        let steps = Int(max(abs(x1 - x0), abs(y1 - y0)).rounded(.up))
        guard steps <= 100_000 else { return }
        var lastX = Int.min
        var lastY = Int.min
        for s in 0...max(steps, 0) {
            let t = steps == 0 ? 0 : Double(s) / Double(steps)
            let x = Int((x0 + (x1 - x0) * t).rounded(.down))
            let y = Int((y0 + (y1 - y0) * t).rounded(.down))
            if x == lastX && y == lastY { continue }
            lastX = x
            lastY = y
            blend(x, y, colour, alpha)
        }
    }
}
