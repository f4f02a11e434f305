import Foundation
import ImageKit
import Microdissection

/// The py-lmd reference cases in `../shared/testdata/lmd` (relative to the repository root),
/// found from this file's location; `LMD_TESTDATA` overrides the directory.
enum ReferenceCases {
    static var directory: URL? {
        if let env = ProcessInfo.processInfo.environment["LMD_TESTDATA"] {
            return URL(fileURLWithPath: env)
        }
        // Tests/MicrodissectionTests/Support/ReferenceCases.swift → repository root → ../shared
        let file = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        let repo = file.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dir = repo.deletingLastPathComponent().appendingPathComponent("shared/testdata/lmd")
        return FileManager.default.fileExists(atPath: dir.path) ? dir : nil
    }

    /// Case directory names that hold a mask and a config, sorted.
    static var names: [String] {
        guard let dir = directory,
            let entries = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        else { return [] }
        return entries.filter { name in
            let d = dir.appendingPathComponent(name)
            let fm = FileManager.default
            return fm.fileExists(atPath: d.appendingPathComponent("config.json").path)
                && (fm.fileExists(atPath: d.appendingPathComponent("mask.npy").path)
                    || fm.fileExists(atPath: d.appendingPathComponent("mask.npy.gz").path))
        }.sorted()
    }

    struct Case {
        var name: String
        var directory: URL
        var mask: Image<UInt32>
        var dtype: String
        var config: LMDConfig
        var cellSets: [CellSet]
        var calibration: Calibration
        /// `pylmd.xml` or `pylmd.xml.gz`.
        var referenceXML: URL?
    }

    static func load(_ name: String) throws -> Case {
        let dir = directory!.appendingPathComponent(name)
        let fm = FileManager.default
        let maskPath =
            fm.fileExists(atPath: dir.appendingPathComponent("mask.npy").path)
            ? dir.appendingPathComponent("mask.npy").path : dir.appendingPathComponent("mask.npy.gz").path
        let (mask, dtype) = try NPYReader.labelImage(path: maskPath)
        let config = try LMDConfig(json: try Data(contentsOf: dir.appendingPathComponent("config.json")))
        let sets = try CellSet.list(json: try Data(contentsOf: dir.appendingPathComponent("cellsets.json")))
        let calibration = try Calibration(json: try Data(contentsOf: dir.appendingPathComponent("calibration.json")))
        var reference: URL?
        for candidate in ["pylmd.xml", "pylmd.xml.gz"]
        where fm.fileExists(atPath: dir.appendingPathComponent(candidate).path) {
            reference = dir.appendingPathComponent(candidate)
            break
        }
        return Case(
            name: name, directory: dir, mask: mask, dtype: dtype, config: config, cellSets: sets,
            calibration: calibration, referenceXML: reference)
    }

    /// Reads py-lmd's XML (gunzipping `.gz`).
    static func readReference(_ url: URL) throws -> LMDXMLReader.Result {
        if url.path.hasSuffix(".gz") {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["gunzip", "-c", url.path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return try LMDXMLReader.parse([UInt8](data))
        }
        return try LMDXMLReader.read(path: url.path)
    }

    /// The anchors venv's Python (py-lmd, shapely) if installed.
    static var anchorsPython: String? {
        let path =
            ProcessInfo.processInfo.environment["LMD_ANCHORS_PYTHON"] ?? "/root/.cache/lmdflow-anchors/bin/python"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// `lmdcompare.py`, next to the test data.
    static var compareScript: String? {
        guard let dir = directory else { return nil }
        let script = dir.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "tools/lmdcompare.py")
        return FileManager.default.fileExists(atPath: script.path) ? script.path : nil
    }

    struct Comparison {
        var exitCode: Int32
        var summary: String
        var report: [String: Any]

        var metrics: [String: Any] { report["metrics"] as? [String: Any] ?? [:] }
        var checks: [String: Bool] { report["checks"] as? [String: Bool] ?? [:] }
        var failedChecks: Set<String> { Set(checks.filter { !$0.value }.keys) }
        func number(_ key: String) -> Double? { (metrics[key] as? NSNumber)?.doubleValue }
        /// `(reference shape, candidate shape, IoU)` of the worst pairs (1-based shape numbers).
        var worstPairs: [(reference: Int, candidate: Int, iou: Double)] {
            (metrics["worst_pairs"] as? [[String: Any]] ?? []).compactMap { p in
                guard let r = p["ref_shape"] as? Int, let c = p["cand_shape"] as? Int,
                    let v = (p["iou"] as? NSNumber)?.doubleValue
                else { return nil }
                return (r, c, v)
            }
        }
        func pair(_ key: String) -> (Double, Double)? {
            guard let a = metrics[key] as? [Any], a.count == 2, let x = (a[0] as? NSNumber)?.doubleValue,
                let y = (a[1] as? NSNumber)?.doubleValue
            else { return nil }
            return (x, y)
        }
    }

    /// Runs lmdcompare.py REFERENCE CANDIDATE --json … and returns its report.
    static func compare(reference: URL, candidate: URL, extraArguments: [String] = []) throws -> Comparison? {
        guard let python = anchorsPython, let script = compareScript else { return nil }
        let report = candidate.deletingLastPathComponent().appendingPathComponent(
            "report-\(reference.deletingPathExtension().lastPathComponent).json")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, reference.path, candidate.path, "--json", report.path] + extraArguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let json = (try? JSONSerialization.jsonObject(with: Data(contentsOf: report))) as? [String: Any] ?? [:]
        let summary = output.split(separator: "\n").last.map(String.init) ?? ""
        return Comparison(exitCode: process.terminationStatus, summary: summary, report: json)
    }

    /// Runs py-lmd 1.6.1 with only the over-closed-ring defect removed (``PyLMDClosedRings``) on a
    /// case and returns the XML it wrote, or `nil` without the anchors venv.
    static func closedRingReference(caseDirectory: URL, into dir: URL) throws -> URL? {
        guard let python = anchorsPython, let compare = compareScript else { return nil }
        let script = dir.appendingPathComponent("pylmd_closed_rings.py")
        try PyLMDClosedRings.script.write(to: script, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("pylmd_closed.xml")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, caseDirectory.path, out.path]
        var env = ProcessInfo.processInfo.environment
        env["LMD_TOOLS"] = URL(fileURLWithPath: compare).deletingLastPathComponent().path
        process.environment = env
        let sink = Pipe()
        process.standardOutput = sink
        process.standardError = sink
        try process.run()
        _ = sink.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? out : nil
    }

    /// A fresh temporary directory.
    static func temporaryDirectory(_ prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
