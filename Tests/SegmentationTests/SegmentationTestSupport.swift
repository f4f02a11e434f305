import Foundation
import LMDTestSupport
import ImageKit
import MicroscopyIO
import Segmentation

/// `../shared/testdata` beside the project; tests needing it are skipped when it is absent.
let sharedTestData: URL? = {
    let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("shared/testdata", isDirectory: true)
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}()

/// Whether the shared test data is present.
let hasSharedTestData = sharedTestData != nil

/// Reads channel `channel` of an 8/16/32-bit TIFF as 16-bit image samples (images) or labels.
func readPlane(_ path: String, channel: Int = 0) throws -> (width: Int, height: Int, values: [UInt32]) {
    try loadTestPlane(path, channel: channel)
}

func readImage(_ path: String, channel: Int = 0) throws -> Image<UInt16> { try loadTestImage(path, channel: channel) }

func readLabels(_ path: String, channel: Int = 0) throws -> Image<UInt32> { try loadTestLabels(path, channel: channel) }

/// Instance scores at IoU > `threshold` (≥ 0.5 makes the matching unique), as segscore.py.
struct InstanceScore: CustomStringConvertible {
    var truePositives = 0, predicted = 0, truth = 0
    var matchedIoU: [Double] = []
    var f1: Double { predicted + truth == 0 ? 1 : 2 * Double(truePositives) / Double(predicted + truth) }
    var description: String { "F1 \(String(format: "%.3f", f1)) (tp \(truePositives), pred \(predicted), gt \(truth))" }

    init(truth: Image<UInt32>, predicted: Image<UInt32>, threshold: Double = 0.5) {
        precondition(truth.width == predicted.width && truth.height == predicted.height)
        var areaT: [UInt32: Int] = [:], areaP: [UInt32: Int] = [:], pairs: [UInt64: Int] = [:]
        truth.withUnsafeBufferPointer { t in
            predicted.withUnsafeBufferPointer { p in
                for i in 0..<t.count {
                    if t[i] != 0 { areaT[t[i], default: 0] += 1 }
                    if p[i] != 0 { areaP[p[i], default: 0] += 1 }
                    if t[i] != 0 && p[i] != 0 { pairs[UInt64(t[i]) << 32 | UInt64(p[i]), default: 0] += 1 }
                }
            }
        }
        self.truth = areaT.count
        self.predicted = areaP.count
        for (key, inter) in pairs {
            let a = areaT[UInt32(key >> 32)]!, b = areaP[UInt32(key & 0xffff_ffff)]!
            let iou = Double(inter) / Double(a + b - inter)
            if iou > threshold {
                truePositives += 1
                matchedIoU.append(iou)
            }
        }
    }
}
