import Foundation
import ImageKit
public import Microdissection
import MicroscopyIO

/// Mask + cell sets + calibration + py-lmd settings → LMD XML bytes (and a preview PNG): the
/// work shared by `lmdflow cut` and the pipeline's `cut` stage. Files in, bytes out; the caller
/// places them (atomically).
public struct CutJob: Sendable {
    /// The label mask file (TIFF/OME-TIFF, first plane; integer labels, 0 = background).
    public var maskPath: String
    /// The cell sets, in output order.
    public var cellSets: [CellSet]
    /// Calibration points (row, column) in mask pixels.
    public var calibration: Calibration
    /// py-lmd / scPortrait `LMDSelection` settings.
    public var config: LMDConfig

    /// Creates a job.
    public init(maskPath: String, cellSets: [CellSet], calibration: Calibration, config: LMDConfig) {
        self.maskPath = maskPath
        self.cellSets = cellSets
        self.calibration = calibration
        self.config = config
    }

    /// What a job produced.
    public struct Output: Sendable {
        /// The plan (sets, shapes, travel, warnings, timings).
        public var plan: CuttingPlan
        /// The XML document, laid out as py-lmd writes it.
        public var xml: [UInt8]
        /// Mask size (for a preview without a background image).
        public var width: Int
        /// Mask height.
        public var height: Int
    }

    /// Reads the mask, plans the cut and encodes the XML.
    /// - Throws: `PipelineError` (`input_*` for an unreadable or non-label mask, `cut_*` for
    ///   `MicrodissectionError` codes such as missing labels or an empty set).
    public func run() throws(PipelineError) -> Output {
        let plane: Plane
        do {
            plane = try AcquisitionFile.open(path: maskPath).plane(PlaneIndex(frame: 0, channel: 0))
        } catch {
            throw PipelineError(input: error)
        }
        guard [.uint8, .uint16, .uint32].contains(plane.pixelType) else {
            throw PipelineError(code: .inputInvalid, path: maskPath,
                                message: "a label mask must hold unsigned integer labels (uint8/16/32), found \(plane.pixelType.rawValue)")
        }
        do throws(MicrodissectionError) {
            let planner = CuttingPlanner(config: config)
            let plan: CuttingPlan
            switch plane.pixelType {
            case .uint8: plan = try planner.plan(mask: Self.image(plane, as: UInt8.self), cellSets: cellSets, calibration: calibration)
            case .uint16: plan = try planner.plan(mask: Self.image(plane, as: UInt16.self), cellSets: cellSets, calibration: calibration)
            default: plan = try planner.plan(mask: Self.image(plane, as: UInt32.self), cellSets: cellSets, calibration: calibration)
            }
            return Output(plan: plan, xml: try LMDXMLWriter.bytes(for: plan.document), width: plane.width, height: plane.height)
        } catch {
            throw Self.wrap(error, path: maskPath)
        }
    }

    /// A preview PNG of `output` over the first plane of `channel` of `imagePath` (black when nil).
    public static func previewPNG(_ output: Output, imagePath: String?, channel: Int = 0) throws(PipelineError) -> [UInt8] {
        var background: Plane?
        if let imagePath {
            do {
                background = try AcquisitionFile.open(path: imagePath).plane(PlaneIndex(frame: 0, channel: channel))
            } catch {
                throw PipelineError(input: error)
            }
        }
        let rgba: RGBAImage
        switch background?.pixelType {
        case .uint8?: rgba = PreviewRenderer.render(background: image(background!, as: UInt8.self), plan: output.plan)
        case .uint16?: rgba = PreviewRenderer.render(background: image(background!, as: UInt16.self), plan: output.plan)
        case .uint32?: rgba = PreviewRenderer.render(background: image(background!, as: UInt32.self), plan: output.plan)
        case .float32?: rgba = PreviewRenderer.render(background: image(background!, as: Float.self), plan: output.plan)
        default:
            rgba = PreviewRenderer.render(background: Image<UInt8>?.none, plan: output.plan,
                                          canvasWidth: output.width, canvasHeight: output.height)
        }
        do {
            // zlib level 4, not 6: on a 2048² preview 0.3 s instead of 1.0 s for 7 % more bytes
            // (measured on the whole-pipeline benchmark's preview, docs/PERFORMANCE.md).
            return try PNGWriter.encode(width: rgba.width, height: rgba.height, colorType: .rgba, pixels: rgba.bytes,
                                        compressionLevel: 4)
        } catch {
            throw PipelineError(code: .writeFailed, message: "preview PNG: \(error.message)")
        }
    }

    /// py-lmd settings from a parsed YAML/JSON mapping (nulls dropped).
    public static func config(from value: ConfigValue, path: String) throws(PipelineError) -> LMDConfig {
        guard case .object(let object) = value else {
            throw PipelineError(code: .config, path: path, message: "expected a mapping of py-lmd settings")
        }
        do { return try LMDConfig(values: object.compactMapValues(convert)) } catch { throw wrap(error, path: path) }
    }

    static func convert(_ value: ConfigValue) -> Microdissection.ConfigValue? {
        switch value {
        case .null: return nil
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .int(number)
        case .double(let number): return .double(number)
        case .string(let text): return .string(text)
        case .array(let items): return .array(items.compactMap(convert))
        case .object(let object): return .object(object.compactMapValues(convert))
        }
    }

    static func wrap(_ error: MicrodissectionError, path: String) -> PipelineError {
        PipelineError(code: PipelineError.Code(rawValue: "cut_\(error.code.rawValue)"), path: path, message: error.description)
    }

    static func image<T: BitwiseCopyable & Sendable>(_ plane: Plane, as: T.Type) -> Image<T> {
        let pixels = plane.bytes.withUnsafeBytes { raw in Array(raw.bindMemory(to: T.self)) }
        return try! Image(width: plane.width, height: plane.height, pixels: pixels)
    }
}
