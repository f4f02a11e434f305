import ImageKit
import MicroscopyIO

/// Reads channel `channel` of the first frame of a TIFF/OME-TIFF/ND2 as 32-bit values (labels,
/// or 8/16-bit samples widened); other sample types are left 0.
public func loadTestPlane(_ path: String, channel: Int = 0) throws -> (width: Int, height: Int, values: [UInt32]) {
    let plane = try AcquisitionFile.open(path: path).plane(PlaneIndex(frame: 0, channel: channel))
    let n = plane.width * plane.height
    var values = [UInt32](repeating: 0, count: n)
    plane.bytes.withUnsafeBytes { raw in
        switch plane.pixelType {
        case .uint8: for i in 0..<n { values[i] = UInt32(raw[i]) }
        case .uint16: for i in 0..<n { values[i] = UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .uint32: for i in 0..<n { values[i] = raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self) }
        default: break
        }
    }
    return (plane.width, plane.height, values)
}

/// A label image (any unsigned integer TIFF) as `UInt32` labels.
public func loadTestLabels(_ path: String, channel: Int = 0) throws -> Image<UInt32> {
    let p = try loadTestPlane(path, channel: channel)
    return try Image(width: p.width, height: p.height, pixels: p.values)
}

/// An image channel as 16-bit samples (clamped).
public func loadTestImage(_ path: String, channel: Int = 0) throws -> Image<UInt16> {
    let p = try loadTestPlane(path, channel: channel)
    return try Image(width: p.width, height: p.height, pixels: p.values.map { UInt16(clamping: $0) })
}
