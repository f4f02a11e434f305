import Foundation
import ImageKit
import MicroscopyIO
public import Segmentation

/// Reading images for segmentation, running the configured method, and writing label masks —
/// shared by the `segment` stage and `lmdflow segment`.
public enum SegmentJob {
    /// Reads the first frame of every channel of `path` (TIFF, OME-TIFF or ND2) as 16-bit planes,
    /// optionally picking and ordering channels by name or index (`channels`).
    /// - Throws: `input_invalid` naming the file for unreadable files, unsupported pixel types
    ///   (only 8- and 16-bit unsigned images are segmented) and unknown channels.
    public static func loadInput(path: String, channels wanted: [String]? = nil) throws(PipelineError) -> SegmentationInput {
        let reader: any AcquisitionReader
        do { reader = try AcquisitionFile.open(path: path) } catch { throw PipelineError(input: error) }
        let info = reader.info
        let names = info.channels.map(\.name)
        let count = max(1, info.channels.count)
        var order = Array(0..<count)
        if let wanted, !wanted.isEmpty {
            order = []
            for want in wanted {
                if let index = names.firstIndex(of: want) {
                    order.append(index)
                } else if let index = Int(want), index >= 0, index < count {
                    order.append(index)
                } else {
                    throw PipelineError(code: .inputInvalid, path: path,
                                        message: "channel '\(want)' not found (channels: \(names.enumerated().map { "\($0.offset) \($0.element)" }.joined(separator: ", ")))")
                }
            }
        }
        var planes: [Image<UInt16>] = []
        for c in order {
            let plane: Plane
            do { plane = try reader.plane(PlaneIndex(frame: 0, channel: c)) } catch { throw PipelineError(input: error) }
            planes.append(try image(from: plane, path: path))
        }
        do {
            return try SegmentationInput(channels: planes, names: order.map { names.indices.contains($0) ? names[$0] : "C\($0)" })
        } catch {
            throw PipelineError(code: .inputInvalid, path: path, message: error.description)
        }
    }

    /// A plane as 16-bit samples (8-bit values are kept, not scaled).
    static func image(from plane: Plane, path: String) throws(PipelineError) -> Image<UInt16> {
        let count = plane.width * plane.height
        var pixels = [UInt16](repeating: 0, count: count)
        switch plane.pixelType {
        case .uint8:
            plane.bytes.withUnsafeBufferPointer { src in for i in 0..<count { pixels[i] = UInt16(src[i]) } }
        case .uint16:
            pixels.withUnsafeMutableBytes { dst in plane.bytes.withUnsafeBytes { src in dst.copyMemory(from: src) } }
            #if _endian(big)
            for i in 0..<count { pixels[i] = UInt16(littleEndian: pixels[i]) }
            #endif
        default:
            throw PipelineError(code: .inputInvalid, path: path,
                                message: "segmentation needs 8- or 16-bit unsigned images, this one is \(plane.pixelType.rawValue)")
        }
        do { return try Image(width: plane.width, height: plane.height, pixels: pixels) } catch {
            throw PipelineError(code: .inputInvalid, path: path, message: error.description)
        }
    }

    /// Reads a label mask (8/16/32-bit unsigned TIFF; one channel per mask) and checks it against
    /// the image size.
    public static func readMasks(path: String, width: Int, height: Int, count: Int) throws(PipelineError) -> [Image<UInt32>] {
        let reader: any AcquisitionReader
        do { reader = try AcquisitionFile.open(path: path) } catch { throw PipelineError(input: error) }
        let info = reader.info
        guard info.width == width, info.height == height else {
            throw PipelineError(code: .inputInvalid, path: path,
                                message: "label mask is \(info.width)x\(info.height), the image is \(width)x\(height)")
        }
        let channels = max(1, info.channels.count)
        guard channels >= count else {
            throw PipelineError(code: .inputInvalid, path: path, message: "label mask has \(channels) channel(s), \(count) masks expected")
        }
        var masks: [Image<UInt32>] = []
        for c in 0..<count {
            let plane: Plane
            do { plane = try reader.plane(PlaneIndex(frame: 0, channel: c)) } catch { throw PipelineError(input: error) }
            masks.append(try labels(from: plane, path: path))
        }
        return masks
    }

    /// A label plane (8-, 16- or 32-bit unsigned) as `UInt32` labels.
    /// - Throws: `input_invalid` naming the file for any other sample type.
    static func labels(from plane: Plane, path: String) throws(PipelineError) -> Image<UInt32> {
        guard [.uint8, .uint16, .uint32].contains(plane.pixelType) else {
            throw PipelineError(code: .inputInvalid, path: path,
                                message: "label masks must be 8-, 16- or 32-bit unsigned integers, this one is \(plane.pixelType.rawValue)")
        }
        let n = plane.width * plane.height
        var pixels = [UInt32](repeating: 0, count: n)
        plane.bytes.withUnsafeBytes { raw in
            switch plane.pixelType {
            case .uint8: for i in 0..<n { pixels[i] = UInt32(raw[i]) }
            case .uint16: for i in 0..<n { pixels[i] = UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))) }
            default: for i in 0..<n { pixels[i] = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)) }
            }
        }
        do { return try Image(width: plane.width, height: plane.height, pixels: pixels) } catch {
            throw PipelineError(code: .inputInvalid, path: path, message: error.description)
        }
    }

    /// Runs the configured method on `input`. `inputPath` locates sidecars for `import`.
    public static func run(
        _ settings: SegmentationSettings, input: SegmentationInput, inputPath: String, stem: String,
        isCancelled: @escaping @Sendable () -> Bool = { false }
    ) throws(PipelineError) -> SegmentationOutput {
        let segmenter = TiledSegmenter(tileSize: settings.tileSize, overlap: settings.tileOverlap, workers: settings.threads)
        do throws(SegmentationError) {
            switch settings.method {
            case .workflow(let workflow):
                return try segmenter.run(workflow, on: input, isCancelled: isCancelled)
            case .importMask(let suffix):
                let folder = URL(fileURLWithPath: inputPath).deletingLastPathComponent().path
                let path = "\(folder)/\(stem)\(suffix)"
                guard FileManager.default.fileExists(atPath: path) else {
                    throw SegmentationError(code: .invalidMask, message: "no label mask: ImportSegmentation reads \(stem)\(suffix) beside the input",
                                            context: .init(workflow: "ImportSegmentation", path: path))
                }
                let masks = try wrap { () throws(PipelineError) in
                    try readMasks(path: path, width: input.width, height: input.height, count: settings.maskNames.count)
                }
                return given(masks, names: settings.maskNames)
            case .external(let external):
                let masks = try external.run(input, isCancelled: isCancelled)
                return given(masks, names: external.maskNames)
            }
        } catch {
            let code: PipelineError.Code = error.code == .invalidMask || error.code == .invalidInput ? .inputInvalid : .stageFailed
            throw PipelineError(code: code, path: error.context.path ?? inputPath, location: error.context.key, stage: "segment",
                                message: error.description)
        }
    }

    static func wrap<T>(_ body: () throws(PipelineError) -> T) throws(SegmentationError) -> T {
        do { return try body() } catch {
            throw SegmentationError(code: .invalidMask, message: error.message, context: .init(path: error.path))
        }
    }

    /// Writes masks as one uint32 OME-TIFF (one channel per mask, nearest-neighbour pyramid).
    public static func writeMasks(_ masks: [Image<UInt32>], names: [String], to path: String) throws(PipelineError) {
        guard let first = masks.first else { return }
        let stacked: Image<UInt32>
        if masks.count == 1 {
            stacked = first  // no copy: a whole-slide mask is 1.6 GB at 20k x 20k
        } else {
            var combined = Image<UInt32>(width: first.width, height: first.height, channels: masks.count, repeating: 0)
            let plane = first.planeCount
            for (c, mask) in masks.enumerated() {
                mask.withUnsafeBufferPointer { src in
                    combined.withUnsafeMutableBufferPointer { dst in
                        for i in 0..<plane { dst[c &* plane &+ i] = src[i] }
                    }
                }
            }
            stacked = combined
        }
        do {
            try TIFFWriter.writeOME(stacked, to: path, channelNames: names,
                                    options: OMETIFFOptions(tileSize: 512, compression: .deflate, downsample: .nearest))
        } catch { throw PipelineError(code: .writeFailed, path: path, message: error.description) }
    }
}

extension SegmentJob {
    /// Masks made outside the workflows (imported, or from a command) keep their ids: cell sets
    /// may refer to them.
    static func given(_ masks: [Image<UInt32>], names: [String]) -> SegmentationOutput {
        var ids = Set<UInt32>()
        var counts: [String: Int] = [:]
        for (name, mask) in zip(names, masks) {
            var own = Set<UInt32>()
            mask.withUnsafeBufferPointer { for v in $0 where v != 0 { own.insert(v) } }
            counts[name] = own.count
            ids.formUnion(own)
        }
        return SegmentationOutput(maskNames: names, masks: masks, objectCount: ids.count, counts: counts,
                                  timings: [:], tileCount: 1)
    }
}
