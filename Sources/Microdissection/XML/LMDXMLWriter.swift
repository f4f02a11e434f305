import CLibXML2

#if canImport(Glibc)
    import Glibc
#endif

/// libxml2 must be initialised once before it is used from several threads.
let libxml2Initialised: Void = { xmlInitParser() }()

/// Runs `body` with libxml2's error output for this thread silenced (its handlers are
/// thread-local), so failures surface only as our errors, never on stderr.
func withQuietLibxml2<R>(_ body: () -> R) -> R {
    let savedHandler = __xmlStructuredError().pointee
    let savedContext = __xmlStructuredErrorContext().pointee
    xmlSetStructuredErrorFunc(nil, { _, _ in })
    defer { xmlSetStructuredErrorFunc(savedContext, savedHandler) }
    return body()
}

/// Writes ``LMDDocument``s with libxml2's text writer, laid out exactly as py-lmd 1.6.1 (lxml)
/// does: `<?xml version='1.0' encoding='UTF-8'?>`, two-space indentation, one element per line,
/// fixed element order, trailing newline.
public enum LMDXMLWriter {
    /// The document as UTF-8 bytes.
    /// - Throws: ``MicrodissectionError`` `.xmlWrite` if libxml2 fails or a custom attribute name is
    ///   not a valid XML name.
    public static func bytes(for document: LMDDocument) throws(MicrodissectionError) -> [UInt8] {
        _ = libxml2Initialised
        try validateNames(document)
        guard let buffer = xmlBufferCreate() else {
            throw MicrodissectionError(code: .xmlWrite, message: "xmlBufferCreate failed")
        }
        defer { xmlBufferFree(buffer) }
        guard let writer = xmlNewTextWriterMemory(buffer, 0) else {
            throw MicrodissectionError(code: .xmlWrite, message: "xmlNewTextWriterMemory failed")
        }
        let ok = emit(document, to: writer)
        xmlFreeTextWriter(writer)  // flushes into the buffer
        guard ok else { throw writeError(path: nil) }
        let length = Int(xmlBufferLength(buffer))
        guard let content = xmlBufferContent(buffer) else { return [] }
        return Array(UnsafeBufferPointer(start: content, count: length))
    }

    /// Streams the document to `path` (replacing any file there; a partial file is removed on
    /// failure). Callers that need atomic replacement write ``bytes(for:)`` themselves.
    /// - Throws: ``MicrodissectionError`` `.xmlWrite` or `.io` naming the path.
    public static func write(_ document: LMDDocument, to path: String) throws(MicrodissectionError) {
        _ = libxml2Initialised
        try validateNames(document)
        guard let file = fopen(path, "wb") else {
            let reason = String(cString: strerror(errno))
            throw MicrodissectionError(
                code: .io, message: "cannot open the file for writing: \(reason)", context: .init(path: path))
        }
        let ok: Bool = withQuietLibxml2 {
            guard let output = xmlOutputBufferCreateFile(file, nil), let writer = xmlNewTextWriter(output) else {
                return false
            }
            let ok = emit(document, to: writer)
            xmlFreeTextWriter(writer)  // flushes and frees the output buffer (not the FILE)
            return ok
        }
        let flushed = fflush(file) == 0 && ferror(file) == 0
        let closed = fclose(file) == 0
        guard ok, flushed, closed else {
            _ = unlink(path)
            if !flushed || !closed {
                throw MicrodissectionError(
                    code: .io, message: "writing failed: \(String(cString: strerror(errno)))",
                    context: .init(path: path))
            }
            throw writeError(path: path)
        }
    }

    /// Writes the whole document with py-lmd's layout; `false` if any libxml2 call failed.
    private static func emit(_ document: LMDDocument, to writer: xmlTextWriterPtr) -> Bool {
        var ok = true
        func check(_ rc: Int32) { if rc < 0 { ok = false } }
        check(xmlTextWriterSetIndent(writer, 1))
        check(xmlTextWriterSetIndentString(writer, "  "))
        check(xmlTextWriterSetQuoteChar(writer, UInt8(ascii: "'")))
        check(xmlTextWriterStartDocument(writer, "1.0", "UTF-8", nil))
        check(xmlTextWriterStartElement(writer, "ImageData"))
        check(xmlTextWriterWriteElement(writer, "GlobalCoordinates", String(document.globalCoordinates)))
        for (k, p) in document.calibrationPoints.enumerated() {
            check(xmlTextWriterWriteElement(writer, "X_CalibrationPoint_\(k + 1)", String(p.x)))
            check(xmlTextWriterWriteElement(writer, "Y_CalibrationPoint_\(k + 1)", String(p.y)))
        }
        check(xmlTextWriterWriteElement(writer, "ShapeCount", String(document.shapes.count)))
        for (n, shape) in document.shapes.enumerated() where ok {
            check(xmlTextWriterStartElement(writer, "Shape_\(n + 1)"))
            check(xmlTextWriterWriteElement(writer, "PointCount", String(shape.points.count)))
            if let well = shape.well { check(xmlTextWriterWriteElement(writer, "CapID", well)) }
            for attribute in shape.attributes {
                check(xmlTextWriterWriteElement(writer, attribute.name, attribute.value))
            }
            for (i, p) in shape.points.enumerated() {
                check(xmlTextWriterWriteElement(writer, "X_\(i + 1)", String(p.x)))
                check(xmlTextWriterWriteElement(writer, "Y_\(i + 1)", String(p.y)))
            }
            check(xmlTextWriterEndElement(writer))
        }
        check(xmlTextWriterEndElement(writer))
        check(xmlTextWriterEndDocument(writer))
        return ok
    }

    private static func validateNames(_ document: LMDDocument) throws(MicrodissectionError) {
        for shape in document.shapes {
            for attribute in shape.attributes where !isXMLName(attribute.name) {
                throw MicrodissectionError(
                    code: .xmlWrite, message: "custom shape attribute name `\(attribute.name)` is not a valid XML name",
                    context: .init(key: attribute.name))
            }
        }
    }

    private static func writeError(path: String?) -> MicrodissectionError {
        let message = xmlGetLastError().flatMap { $0.pointee.message.map { String(cString: $0) } }
        return MicrodissectionError(
            code: .xmlWrite, message: "libxml2 text writer failed", context: .init(path: path, libraryMessage: message))
    }

    /// Whether `name` is a plain XML element name (ASCII letters, digits, `_`, `-`, `.`; not
    /// starting with a digit, `-` or `.`, nor with "xml").
    static func isXMLName(_ name: String) -> Bool {
        guard let first = name.utf8.first else { return false }
        func letter(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        guard letter(first) else { return false }
        guard !name.lowercased().hasPrefix("xml") else { return false }
        return name.utf8.allSatisfy { letter($0) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
    }
}
