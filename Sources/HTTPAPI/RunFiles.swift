import Catalog
import Foundation
import Glibc
import HTTPTypes
import Pipeline

/// Which file of a run a request may download, and where it really is.
///
/// A file is served only when the catalog lists it as one of the run's outputs (matched by base
/// name) and its real path (symbolic links resolved) lies inside the run's directory or the
/// outbox. Names are percent-decoded once and must be a single path component.
enum RunFiles {
    /// A file chosen for download.
    struct Resolved: Sendable {
        /// The real path (no symbolic links).
        var path: String
        /// Its size in bytes.
        var size: Int
        /// The content type, from the extension.
        var contentType: String
        /// The base name the client asked for.
        var name: String
    }

    /// The decoded name, or a 400 when it is not a plain file name.
    static func decodeName(_ raw: String) throws(APIError) -> String {
        guard let name = raw.removingPercentEncoding else {
            throw APIError.badRequest("the file name is not valid percent-encoding")
        }
        if name.isEmpty || name == "." || name == ".." || name.contains("/") || name.contains("\\")
            || name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        {
            throw APIError(
                code: .badRequest, status: .badRequest,
                message: "'\(printable(name))' is not a file name (one path component without '/' or '..')")
        }
        return name
    }

    /// The output of `details` called `name`, resolved and checked.
    /// - Throws: ``APIError`` 404 when the run lists no such file or it is gone, 403 when it
    ///   resolves outside the run's directory and the outbox.
    static func resolve(_ name: String, in details: RunDetails, layout: StateLayout) throws(APIError) -> Resolved {
        let runID = details.run.id ?? 0
        let matches = details.outputs.filter { baseName($0.path) == name }
        guard !matches.isEmpty else {
            throw APIError(code: .notFound, status: .notFound, message: "run \(runID) has no file '\(printable(name))'")
        }
        var roots: [String] = []
        if let runDir = details.run.runDir, let real = realPath(runDir) { roots.append(real) }
        if let real = realPath(layout.outbox) { roots.append(real) }
        // The copy in the run directory first; outbox copies after.
        let ordered = matches.sorted { a, b in
            let aIn = details.run.runDir.map { a.path.hasPrefix($0 + "/") } ?? false
            let bIn = details.run.runDir.map { b.path.hasPrefix($0 + "/") } ?? false
            return aIn && !bIn
        }
        var outside = false
        for output in ordered {
            guard let real = realPath(output.path) else { continue }
            guard roots.contains(where: { real.hasPrefix($0 + "/") }) else {
                outside = true
                continue
            }
            guard let info = FileOps.stat(real), info.isRegular else { continue }
            return Resolved(path: real, size: Int(info.size), contentType: contentType(of: name), name: name)
        }
        if outside {
            throw APIError(
                code: .pathOutsideRun, status: .forbidden,
                message: "file '\(printable(name))' of run \(runID) resolves outside the run's directory; refused")
        }
        throw APIError(
            code: .notFound, status: .notFound,
            message: "file '\(printable(name))' of run \(runID) is listed but no longer exists")
    }

    /// The last path component.
    static func baseName(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
    }

    /// `realpath(3)`: the absolute path with every symbolic link, `.` and `..` resolved; nil when
    /// the file does not exist.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The content type of a file name, by extension.
    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last?.lowercased() ?? "" {
        case "xml": "application/xml"
        case "png": "image/png"
        case "csv": "text/csv; charset=utf-8"
        case "json": "application/json"
        case "txt", "log": "text/plain; charset=utf-8"
        case "tif", "tiff": "image/tiff"
        default: "application/octet-stream"
        }
    }

    /// The API path of a run's file, its name percent-encoded.
    static func url(runID: Int64, name: String) -> String {
        "/api/v1/runs/\(runID)/files/\(percentEncode(name))"
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    static func percentEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(
            CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// A name as it may appear in a message: control characters replaced, at most 200 characters.
    static func printable(_ text: String) -> String {
        let cleaned = String(
            String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : $0 }))
        return cleaned.count > 200 ? String(cleaned.prefix(200)) + "…" : cleaned
    }
}
