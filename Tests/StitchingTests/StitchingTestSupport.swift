import Foundation
import ImageKit
import LMDTestSupport

@testable import Stitching

/// `../shared/testdata` beside the project (or `$LMD_SHARED_TESTDATA`); tests needing it are
/// skipped when it is absent.
let sharedTestData: URL? = {
    var candidates: [URL] = [
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("shared/testdata", isDirectory: true)
    ]
    if let env = ProcessInfo.processInfo.environment["LMD_SHARED_TESTDATA"] {
        candidates.insert(URL(fileURLWithPath: env, isDirectory: true), at: 0)
    }
    return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("stitching").path) }
}()

/// Whether the shared test data is present.
let hasSharedTestData = sharedTestData != nil

/// RMS distance between solved and true positions after removing the mean offset, and the max.
func positionError(_ solved: [Registration.Position], _ truth: [(Double, Double)]) -> (rms: Double, max: Double) {
    let n = Double(solved.count)
    let my = zip(solved, truth).map { $0.y - $1.0 }.reduce(0, +) / n
    let mx = zip(solved, truth).map { $0.x - $1.1 }.reduce(0, +) / n
    var sum = 0.0
    var worst = 0.0
    for (s, t) in zip(solved, truth) {
        let d2 = (s.y - t.0 - my) * (s.y - t.0 - my) + (s.x - t.1 - mx) * (s.x - t.1 - mx)
        sum += d2
        worst = max(worst, d2.squareRoot())
    }
    return ((sum / n).squareRoot(), worst)
}

/// One line per pair, for test logs.
func describe(_ solution: Registration.Solution) -> String {
    var lines = [
        "threshold \(String(format: "%.3f", solution.scoreThreshold)) from \(solution.nullScores.count) null samples"
    ]
    for p in solution.pairs {
        lines.append(
            String(
                format: "  %d-%d  measured (%.2f, %.2f) nominal (%.1f, %.1f) score %.3f residual %.3f  %@",
                p.first, p.second, p.measuredOffsetY, p.measuredOffsetX, p.nominalOffsetY, p.nominalOffsetX,
                p.score, p.residual ?? -1, p.status.rawValue))
    }
    lines += solution.warnings.map { "  warning: \($0)" }
    return lines.joined(separator: "\n")
}
