import Foundation
public import HTTPTypes
public import Hummingbird

/// An error the API answers with: an HTTP status, a stable machine-readable code and a message
/// for the client. Every error response has the body `{"error": {"code": "...", "message": "..."}}`.
///
/// Messages name only what the request itself contained (a run id, a file name, a query value):
/// never a server path, a stack trace or a library's internal description. Details that would
/// reveal those go to the log instead.
public struct APIError: Error, Sendable, CustomStringConvertible, HTTPResponseError {
    /// A stable, machine-readable error code (the `error.code` of the response body).
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code's text.
        public let rawValue: String
        /// Creates a code from its text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// A query parameter, path parameter or body is malformed (400).
        public static let badRequest = Code(rawValue: "bad_request")
        /// No bearer token was given, or it is not known (401).
        public static let unauthorized = Code(rawValue: "unauthorized")
        /// The token is known but may not do this (a read token on a POST) (403).
        public static let forbidden = Code(rawValue: "forbidden")
        /// A file the catalog lists resolves outside the run's directory and the outbox (403).
        public static let pathOutsideRun = Code(rawValue: "path_outside_run")
        /// The run, file or route does not exist (404).
        public static let notFound = Code(rawValue: "not_found")
        /// The operation is not allowed in the run's current state (409).
        public static let invalidState = Code(rawValue: "invalid_state")
        /// The request body is larger than `max_body_bytes` (413).
        public static let bodyTooLarge = Code(rawValue: "body_too_large")
        /// A selection document does not parse or does not fit the run's features (422).
        public static let invalidDocument = Code(rawValue: "config_invalid")
        /// The client sent more requests than `requests_per_minute` allows (429).
        public static let rateLimited = Code(rawValue: "rate_limited")
        /// The catalog is unreachable or the daemon's status row is stale (503).
        public static let notReady = Code(rawValue: "not_ready")
        /// Something failed on the server; the log has the details (500).
        public static let internalError = Code(rawValue: "internal_error")
        /// The text of the code.
        public var description: String { rawValue }
    }

    /// The stable error code.
    public let code: Code
    /// The HTTP status of the response.
    public let status: HTTPResponse.Status
    /// What went wrong, for the client.
    public let message: String
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`).
    public let headers: HTTPFields

    /// Creates an API error.
    /// - Parameters:
    ///   - code: the stable code.
    ///   - status: the HTTP status.
    ///   - message: what went wrong, naming only what the request contained.
    ///   - headers: extra response headers.
    public init(code: Code, status: HTTPResponse.Status, message: String, headers: HTTPFields = [:]) {
        self.code = code
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// `status code: message`, one line.
    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON body of the error.
    var body: Data {
        let object: [String: Any] = ["error": ["code": code.rawValue, "message": message]]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    /// The error as a JSON response.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        makeResponse()
    }

    /// The error as a JSON response (also used outside Hummingbird's error path).
    func makeResponse() -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: - Common errors

    /// 404 for a route that does not exist.
    static func noRoute(_ path: String) -> APIError {
        APIError(code: .notFound, status: .notFound, message: "no such endpoint: \(path)")
    }

    /// 404 for a run that does not exist.
    static func noRun(_ id: Int64) -> APIError {
        APIError(code: .notFound, status: .notFound, message: "no run \(id)")
    }

    /// 400 for a malformed value.
    static func badRequest(_ message: String) -> APIError {
        APIError(code: .badRequest, status: .badRequest, message: message)
    }

    /// 500 with a generic message (the details belong in the log).
    static let internalError = APIError(
        code: .internalError, status: .internalServerError, message: "internal error; the service log has the details")
}
