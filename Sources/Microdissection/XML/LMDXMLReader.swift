import CLibXML2
import FoundationEssentials

/// Reads LMD shape files written by py-lmd or by the Leica software with libxml2.
///
/// Tolerant where real files differ: `-0` and `+5` are accepted, any number of calibration
/// points (not only 1…9), unknown top-level elements are ignored with a warning, unknown shape
/// children are kept as ``LMDAttribute``s, shapes with fewer than 3 points are left out with a
/// warning. Coordinates stay in XML units; map them back with ``LMDDocument/pixelPolygons(using:)``.
/// Entities are not expanded and no network access happens (`XML_PARSE_NONET`).
public enum LMDXMLReader {
    /// A parsed document and what was noticed while reading it.
    public struct Result: Sendable, Hashable {
        /// The document (shapes with < 3 points omitted).
        public var document: LMDDocument
        /// Non-fatal findings: skipped shapes, unknown elements, count mismatches.
        public var warnings: [MicrodissectionWarning]
    }

    /// Reads a file.
    /// - Throws: ``MicrodissectionError`` `.io` (with the path) or `.xmlParse`.
    public static func read(path: String) throws(MicrodissectionError) -> Result {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw MicrodissectionError(code: .io, message: "cannot read LMD XML: \(error)", context: .init(path: path))
        }
        do {
            return try parse(Array(data))
        } catch var error {
            error.context.path = path
            throw error
        }
    }

    /// Parses a document from bytes.
    /// - Throws: ``MicrodissectionError`` `.xmlParse` with libxml2's message, or when the root is not
    ///   `ImageData` or a coordinate is not an integer.
    public static func parse(_ bytes: [UInt8]) throws(MicrodissectionError) -> Result {
        _ = libxml2Initialised
        guard !bytes.isEmpty else {
            throw MicrodissectionError(code: .xmlParse, message: "the document is empty")
        }
        guard let ctxt = xmlNewParserCtxt() else {
            throw MicrodissectionError(code: .xmlParse, message: "xmlNewParserCtxt failed")
        }
        defer { xmlFreeParserCtxt(ctxt) }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let doc = bytes.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buf.count, 1)) {
                xmlCtxtReadMemory(ctxt, $0, Int32(clamping: buf.count), "lmd.xml", nil, options)
            }
        }
        guard let doc else {
            let message = xmlCtxtGetLastError(ctxt).flatMap { err -> String? in
                guard let m = err.pointee.message else { return nil }
                return trimmed(String(cString: m)) + " (line \(err.pointee.line))"
            }
            throw MicrodissectionError(
                code: .xmlParse, message: "not well-formed XML", context: .init(libraryMessage: message ?? "unknown"))
        }
        defer { xmlFreeDoc(doc) }
        guard let root = xmlDocGetRootElement(doc), name(root) == "ImageData" else {
            throw MicrodissectionError(code: .xmlParse, message: "root element is not <ImageData>")
        }
        var warnings: [MicrodissectionWarning] = []
        var globalCoordinates: Int?
        var declaredShapeCount: Int?
        var calibration: [Int: (x: Int?, y: Int?)] = [:]
        var shapes: [LMDShape] = []
        for child in elements(of: root) {
            let tag = name(child)
            if tag == "GlobalCoordinates" {
                globalCoordinates = try integer(text(child), element: tag)
            } else if tag == "ShapeCount" {
                declaredShapeCount = try integer(text(child), element: tag)
            } else if let (axis, index) = calibrationTag(tag) {
                let value = try integer(text(child), element: tag)
                var entry = calibration[index] ?? (nil, nil)
                if axis == "X" { entry.x = value } else { entry.y = value }
                calibration[index] = entry
            } else if tag.hasPrefix("Shape_") {
                if let shape = try readShape(child, tag: tag, warnings: &warnings) { shapes.append(shape) }
            } else {
                warnings.append(
                    MicrodissectionWarning(code: .unknownElement, message: "ignored top-level element <\(tag)>"))
            }
        }
        var points: [XMLPoint] = []
        for index in calibration.keys.sorted() {
            let entry = calibration[index]!
            guard let x = entry.x, let y = entry.y else {
                throw MicrodissectionError(
                    code: .xmlParse, message: "calibration point \(index) lacks its \(entry.x == nil ? "X" : "Y") value"
                )
            }
            points.append(XMLPoint(x: x, y: y))
        }
        if let declaredShapeCount, declaredShapeCount != shapes.count {
            warnings.append(
                MicrodissectionWarning(
                    code: .countMismatch,
                    message: "ShapeCount says \(declaredShapeCount), \(shapes.count) usable shapes were read"))
        }
        let document = LMDDocument(
            calibrationPoints: points, shapes: shapes, globalCoordinates: globalCoordinates ?? points.count)
        return Result(document: document, warnings: warnings)
    }

    private static func readShape(
        _ node: xmlNodePtr, tag: String, warnings: inout [MicrodissectionWarning]
    ) throws(MicrodissectionError) -> LMDShape? {
        var xs: [Int: Int] = [:]
        var ys: [Int: Int] = [:]
        var well: String?
        var declared: Int?
        var attributes: [LMDAttribute] = []
        for child in elements(of: node) {
            let t = name(child)
            if t == "PointCount" {
                declared = try integer(text(child), element: "\(tag)/\(t)")
            } else if t == "CapID" {
                well = text(child)
            } else if let (axis, index) = pointTag(t) {
                let v = try integer(text(child), element: "\(tag)/\(t)")
                if axis == "X" { xs[index] = v } else { ys[index] = v }
            } else {
                attributes.append(LMDAttribute(name: t, value: text(child)))
            }
        }
        var points: [XMLPoint] = []
        for index in Set(xs.keys).union(ys.keys).sorted() {
            guard let x = xs[index], let y = ys[index] else {
                warnings.append(
                    MicrodissectionWarning(
                        code: .countMismatch, message: "\(tag): point \(index) lacks X or Y; dropped"))
                continue
            }
            points.append(XMLPoint(x: x, y: y))
        }
        if let declared, declared != points.count {
            warnings.append(
                MicrodissectionWarning(
                    code: .countMismatch, message: "\(tag): PointCount says \(declared), found \(points.count) points"))
        }
        guard points.count >= 3 else {
            warnings.append(
                MicrodissectionWarning(
                    code: .shapeTooFewPoints,
                    message: "\(tag) has \(points.count) point(s); a shape needs at least 3, so it was skipped"))
            return nil
        }
        return LMDShape(points: points, well: well, attributes: attributes)
    }

    // MARK: libxml2 helpers

    private static func elements(of node: xmlNodePtr) -> [xmlNodePtr] {
        var out: [xmlNodePtr] = []
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_ELEMENT_NODE { out.append(c) }
            child = c.pointee.next
        }
        return out
    }

    private static func name(_ node: xmlNodePtr) -> String {
        node.pointee.name.map { String(cString: $0) } ?? ""
    }

    /// Concatenated text and CDATA content of the direct children, trimmed.
    private static func text(_ node: xmlNodePtr) -> String {
        var s = ""
        var child = node.pointee.children
        while let c = child {
            if c.pointee.type == XML_TEXT_NODE || c.pointee.type == XML_CDATA_SECTION_NODE,
                let content = c.pointee.content
            {
                s += String(cString: content)
            }
            child = c.pointee.next
        }
        return trimmed(s)
    }

    static func trimmed(_ s: String) -> String {
        let ws: Set<UInt8> = [9, 10, 13, 32]
        let u = Array(s.utf8)
        var lo = 0
        var hi = u.count
        while lo < hi && ws.contains(u[lo]) { lo += 1 }
        while hi > lo && ws.contains(u[hi - 1]) { hi -= 1 }
        return String(decoding: u[lo..<hi], as: UTF8.self)
    }

    /// Parses `[+-]?digits` (so `-0` is 0).
    static func integer(_ text: String, element: String) throws(MicrodissectionError) -> Int {
        var body = Substring(text)
        var negative = false
        if let f = body.first, f == "-" || f == "+" {
            negative = f == "-"
            body = body.dropFirst()
        }
        guard !body.isEmpty, body.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let magnitude = Int(body) else {
            throw MicrodissectionError(
                code: .xmlParse, message: "<\(element)> must hold an integer, found \"\(text)\"",
                context: .init(key: element))
        }
        return negative ? -magnitude : magnitude
    }

    /// `X_CalibrationPoint_12` → ("X", 12).
    private static func calibrationTag(_ tag: String) -> (String, Int)? {
        for axis in ["X", "Y"] {
            let prefix = "\(axis)_CalibrationPoint_"
            if tag.hasPrefix(prefix), let i = Int(tag.dropFirst(prefix.count)) { return (axis, i) }
        }
        return nil
    }

    /// `X_12` → ("X", 12).
    private static func pointTag(_ tag: String) -> (String, Int)? {
        for axis in ["X", "Y"] {
            let prefix = "\(axis)_"
            if tag.hasPrefix(prefix), let i = Int(tag.dropFirst(prefix.count)), i >= 1 { return (axis, i) }
        }
        return nil
    }
}
