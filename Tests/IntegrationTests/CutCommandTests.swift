import Foundation
import Testing

/// `lmdflow cut` on the shared py-lmd reference cases, and its errors.
@Suite(.serialized, .enabled(if: DaemonHarness.binaryExists, "lmdflow binary not built (run `make test`)"))
struct CutCommandTests {
    static let cases = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/testdata/lmd").path

    static var haveCases: Bool { FileManager.default.fileExists(atPath: "\(cases)/d17_two_wells/mask.tif") }

    @Test(.enabled(if: haveCases, "../shared/testdata/lmd absent"))
    func twoWellsCaseWritesTheReferenceShapeCountAndAPreview() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-cut-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = "\(Self.cases)/d17_two_wells"
        let (status, stdout, stderr) = try DaemonHarness.cli([
            "cut", "--mask", "\(c)/mask.tif", "--sets", "\(c)/cellsets.json", "--calibration", "\(c)/calibration.json",
            "--config", "\(c)/config.yaml", "-o", "\(dir)/ours.xml", "--preview", "\(dir)/preview.png", "--json",
        ])
        #expect(status == 0, "stderr: \(stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        // py-lmd's reference has 207 shapes in wells A1 and B1 for this case.
        #expect(summary["shapes"] as? Int == 207)
        let reference = try String(contentsOfFile: "\(c)/pylmd.xml", encoding: .utf8)
        let ours = try String(contentsOfFile: "\(dir)/ours.xml", encoding: .utf8)
        #expect(ours.components(separatedBy: "<CapID>A1</CapID>").count == reference.components(separatedBy: "<CapID>A1</CapID>").count)
        #expect(ours.components(separatedBy: "<CapID>B1</CapID>").count == reference.components(separatedBy: "<CapID>B1</CapID>").count)
        // Calibration points are written exactly as py-lmd writes them (floor of the scaled value).
        let calibration = reference.components(separatedBy: "<ShapeCount>")[0]
        #expect(ours.hasPrefix(calibration))
        let png = try #require(FileManager.default.contents(atPath: "\(dir)/preview.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }

    @Test(.enabled(if: haveCases, "../shared/testdata/lmd absent"))
    func badInputsGiveClearErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lmdflow-cut-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = "\(Self.cases)/d01_defaults"
        try #"[{"name": "x", "classes": [1, 2, 99999, 99998], "well": "A1"}]"#.write(toFile: "\(dir)/missing.json", atomically: true, encoding: .utf8)
        try #"{"points_row_col_px": [[0, 0], [10, 10], [20, 20]]}"#.write(toFile: "\(dir)/collinear.json", atomically: true, encoding: .utf8)
        try "shape_dilaton: 3\n".write(toFile: "\(dir)/typo.yaml", atomically: true, encoding: .utf8)
        func cut(_ sets: String, _ calibration: String, config: String? = nil) throws -> (Int32, String) {
            var arguments = ["cut", "--mask", "\(c)/mask.tif", "--sets", sets, "--calibration", calibration, "-o", "\(dir)/out.xml"]
            if let config { arguments += ["--config", config] }
            let (status, _, stderr) = try DaemonHarness.cli(arguments)
            return (status, stderr)
        }
        let (missing, missingError) = try cut("\(dir)/missing.json", "\(c)/calibration.json")
        #expect(missing == 65)
        #expect(missingError.contains("99999") && missingError.contains("99998"), "names the missing ids: \(missingError)")
        let (collinear, collinearError) = try cut("\(c)/cellsets.json", "\(dir)/collinear.json")
        #expect(collinear == 65)
        #expect(collinearError.lowercased().contains("collinear"), "\(collinearError)")
        let (typo, typoError) = try cut("\(c)/cellsets.json", "\(c)/calibration.json", config: "\(dir)/typo.yaml")
        #expect(typo == 78)
        #expect(typoError.contains("shape_dilaton"), "\(typoError)")
        let (notALabelImage, labelError) = try DaemonHarness.cli([
            "cut", "--mask", "\(dir)/missing.json", "--sets", "\(c)/cellsets.json", "--calibration", "\(c)/calibration.json",
            "-o", "\(dir)/out.xml",
        ]).0 == 65 ? (true, "") : (false, "not 65")
        #expect(notALabelImage, "\(labelError)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/out.xml"), "no output on error")
    }
}
