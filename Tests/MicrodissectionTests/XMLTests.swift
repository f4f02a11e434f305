import Foundation
import Microdissection
import Testing

@Suite("LMD XML writer and reader")
struct XMLTests {
    static let tiny = LMDDocument(
        calibrationPoints: [XMLPoint(x: -1035, y: -966), XMLPoint(x: -1050, y: 52234), XMLPoint(x: 52265, y: 25600)],
        shapes: [
            LMDShape(
                points: [XMLPoint(x: 150, y: 450), XMLPoint(x: 150, y: 750), XMLPoint(x: -450, y: 750)], well: "A1"),
            LMDShape(
                points: [XMLPoint(x: 1, y: 2), XMLPoint(x: 3, y: 4), XMLPoint(x: 5, y: 0)],
                attributes: [LMDAttribute(name: "Note", value: "a&b")]),
        ])

    @Test("layout is byte-identical to py-lmd's (lxml pretty print)")
    func layout() throws {
        let expected = """
            <?xml version='1.0' encoding='UTF-8'?>
            <ImageData>
              <GlobalCoordinates>3</GlobalCoordinates>
              <X_CalibrationPoint_1>-1035</X_CalibrationPoint_1>
              <Y_CalibrationPoint_1>-966</Y_CalibrationPoint_1>
              <X_CalibrationPoint_2>-1050</X_CalibrationPoint_2>
              <Y_CalibrationPoint_2>52234</Y_CalibrationPoint_2>
              <X_CalibrationPoint_3>52265</X_CalibrationPoint_3>
              <Y_CalibrationPoint_3>25600</Y_CalibrationPoint_3>
              <ShapeCount>2</ShapeCount>
              <Shape_1>
                <PointCount>3</PointCount>
                <CapID>A1</CapID>
                <X_1>150</X_1>
                <Y_1>450</Y_1>
                <X_2>150</X_2>
                <Y_2>750</Y_2>
                <X_3>-450</X_3>
                <Y_3>750</Y_3>
              </Shape_1>
              <Shape_2>
                <PointCount>3</PointCount>
                <Note>a&amp;b</Note>
                <X_1>1</X_1>
                <Y_1>2</Y_1>
                <X_2>3</X_2>
                <Y_2>4</Y_2>
                <X_3>5</X_3>
                <Y_3>0</Y_3>
              </Shape_2>
            </ImageData>

            """
        let bytes = try LMDXMLWriter.bytes(for: Self.tiny)
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    @Test("an empty document still has the full header and ShapeCount 0")
    func emptyDocument() throws {
        let text = String(
            decoding: try LMDXMLWriter.bytes(for: LMDDocument(calibrationPoints: [], shapes: [])), as: UTF8.self)
        #expect(
            text
                == "<?xml version='1.0' encoding='UTF-8'?>\n<ImageData>\n  <GlobalCoordinates>0</GlobalCoordinates>\n  <ShapeCount>0</ShapeCount>\n</ImageData>\n"
        )
    }

    @Test("invalid custom attribute names are refused")
    func badAttributeName() {
        let doc = LMDDocument(
            calibrationPoints: [],
            shapes: [LMDShape(points: [], attributes: [LMDAttribute(name: "1bad name", value: "")])])
        #expect(throws: MicrodissectionError.self) { try LMDXMLWriter.bytes(for: doc) }
    }

    @Test("write → read gives the same document; file round trip")
    func roundTrip() throws {
        let bytes = try LMDXMLWriter.bytes(for: Self.tiny)
        let read = try LMDXMLReader.parse(bytes)
        #expect(read.document == Self.tiny)
        #expect(read.warnings.isEmpty)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmd-\(UUID().uuidString).xml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try LMDXMLWriter.write(Self.tiny, to: path)
        #expect(try LMDXMLReader.read(path: path).document == Self.tiny)
        #expect(Self.tiny.travel == XMLPoint(x: -450, y: 750).distance(to: XMLPoint(x: 1, y: 2)))
    }

    @Test("writing to an impossible path is an io error naming it")
    func unwritable() {
        do {
            try LMDXMLWriter.write(Self.tiny, to: "/nonexistent-dir/x.xml")
            Issue.record("wrote to a missing directory")
        } catch {
            #expect(error.code == .io || error.code == .xmlWrite)
            #expect(error.context.path == "/nonexistent-dir/x.xml")
        }
    }

    @Test("a planned document maps back to the same pixel shapes")
    func pixelRoundTrip() throws {
        let mask = Fixtures.mask(width: 40, height: 40, [(1, 3...9, 4...12), (2, 20...30, 22...35)])
        var config = Fixtures.raw
        config.orientationTransform = .scPortrait
        let plan = try Fixtures.plan(mask, config)
        let read = try LMDXMLReader.parse(try LMDXMLWriter.bytes(for: plan.document))
        let polygons = read.document.pixelPolygons(using: plan.mapping)
        #expect(polygons == plan.sets[0].shapes.map(\.polygon))
        let calibration = read.document.pixelCalibrationPoints(using: plan.mapping)
        #expect(calibration == plan.calibration.points)
    }

    @Test("Leica files: -0, CapID, unknown tags, GlobalCoordinates 1, many calibration points")
    func leicaFile() throws {
        let xml = """
            <?xml version="1.0" encoding="utf-8"?>
            <ImageData>
              <GlobalCoordinates>1</GlobalCoordinates>
              <X_CalibrationPoint_1>-0</X_CalibrationPoint_1>
              <Y_CalibrationPoint_1>+12</Y_CalibrationPoint_1>
              <X_CalibrationPoint_2>100</X_CalibrationPoint_2>
              <Y_CalibrationPoint_2>-0</Y_CalibrationPoint_2>
              <X_CalibrationPoint_3>5</X_CalibrationPoint_3>
              <Y_CalibrationPoint_3>6</Y_CalibrationPoint_3>
              <X_CalibrationPoint_10>7</X_CalibrationPoint_10>
              <Y_CalibrationPoint_10>8</Y_CalibrationPoint_10>
              <SoftwareVersion>LMD 8.3</SoftwareVersion>
              <ShapeCount>2</ShapeCount>
              <Shape_1>
                <PointCount>3</PointCount>
                <CapID>B3</CapID>
                <LaserPower>42</LaserPower>
                <X_1>-0</X_1><Y_1>0</Y_1>
                <X_2> 10 </X_2><Y_2>-0</Y_2>
                <X_3>10</X_3><Y_3>10</Y_3>
              </Shape_1>
              <Shape_2>
                <PointCount>1</PointCount>
                <X_1>3</X_1><Y_1>4</Y_1>
              </Shape_2>
            </ImageData>
            """
        let read = try LMDXMLReader.parse(Array(xml.utf8))
        let doc = read.document
        #expect(doc.globalCoordinates == 1)
        #expect(
            doc.calibrationPoints == [
                XMLPoint(x: 0, y: 12), XMLPoint(x: 100, y: 0), XMLPoint(x: 5, y: 6), XMLPoint(x: 7, y: 8),
            ])
        #expect(doc.shapes.count == 1)
        #expect(doc.shapes[0].points == [XMLPoint(x: 0, y: 0), XMLPoint(x: 10, y: 0), XMLPoint(x: 10, y: 10)])
        #expect(doc.shapes[0].well == "B3")
        #expect(doc.shapes[0].attributes == [LMDAttribute(name: "LaserPower", value: "42")])
        #expect(read.warnings.contains { $0.code == .shapeTooFewPoints && $0.message.contains("Shape_2") })
        #expect(read.warnings.contains { $0.code == .unknownElement && $0.message.contains("SoftwareVersion") })
        #expect(read.warnings.contains { $0.code == .countMismatch })
        // Custom attributes survive a rewrite.
        let again = try LMDXMLReader.parse(try LMDXMLWriter.bytes(for: doc)).document
        #expect(again == doc)
    }

    @Test("malformed input is an xmlParse error with libxml2's message")
    func malformed() {
        for text in [
            "<ImageData><ShapeCount>1</ImageData>", "<Other/>", "",
            "<ImageData><Shape_1><X_1>1.5</X_1></Shape_1></ImageData>",
        ] {
            do {
                _ = try LMDXMLReader.parse(Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.code == .xmlParse, "\(error)")
            }
        }
        do {
            _ = try LMDXMLReader.read(path: "/nonexistent/file.xml")
            Issue.record("read a missing file")
        } catch {
            #expect(error.code == .io)
            #expect(error.context.path == "/nonexistent/file.xml")
        }
    }

    @Test("py-lmd's own files read back", .enabled(if: ReferenceCases.directory != nil))
    func readsPyLMD() throws {
        let url = ReferenceCases.directory!.appendingPathComponent("d01_defaults/pylmd.xml")
        let read = try LMDXMLReader.read(path: url.path)
        #expect(read.warnings.isEmpty)
        #expect(read.document.shapes.count == 256)
        #expect(
            read.document.calibrationPoints == [
                XMLPoint(x: -1000, y: -1000), XMLPoint(x: -1000, y: 52000), XMLPoint(x: 52000, y: 25500),
            ])
        #expect(read.document.shapes.allSatisfy { $0.well == "A1" && $0.attributes.isEmpty })
        // Our writer reproduces py-lmd's file byte for byte from the parsed content.
        let original = try Data(contentsOf: url)
        #expect(try LMDXMLWriter.bytes(for: read.document) == [UInt8](original))
    }
}
