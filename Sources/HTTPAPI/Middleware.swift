import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The outermost middleware: turns every error into the API's JSON error body (a handler's
/// ``APIError``, Hummingbird's own errors, anything unexpected as a plain 500 whose details only
/// the log gets), counts the request in `lmdflow_http_requests_total` and sets headers every
/// response carries.
struct ObservingMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let metrics: APIMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.makeResponse()
        } catch let error as HTTPError {
            response = Self.translate(error.status, path: request.uri.path).makeResponse()
        } catch let error as any HTTPResponseError {
            response = Self.translate(error.status, path: request.uri.path).makeResponse()
        } catch {
            logger.error("request failed: \(request.method) \(request.uri.path): \(error)")
            response = APIError.internalError.makeResponse()
        }
        var route = context.endpointPath ?? "unmatched"
        if route == "NotFound" { route = "unmatched" }
        metrics.countRequest(route: route, status: response.status.code)
        response.headers[.xContentTypeOptions] = "nosniff"
        if response.status.code >= 500 {
            logger.warning("\(request.method) \(request.uri.path) → \(response.status.code)")
        }
        return response
    }

    /// An error Hummingbird raised (no route, body too large, …) as an ``APIError``.
    static func translate(_ status: HTTPResponse.Status, path: String) -> APIError {
        switch status.code {
        case 404: APIError.noRoute(RunFiles.printable(path))
        case 413: APIError(code: .bodyTooLarge, status: .contentTooLarge, message: "the request body is too large")
        case 400..<500: APIError(code: .badRequest, status: status, message: status.reasonPhrase)
        default: APIError.internalError
        }
    }
}

/// Rate limit, bearer token and body size checks, in that order, for every route but `/healthz`.
struct GuardMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let tokens: TokenStore
    /// Whether requests need a token (tokens are configured, or the bind is not loopback).
    let requireToken: Bool
    let limiter: RateLimiter
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if request.uri.path == "/healthz" { return try await next(request, context) }
        if let seconds = limiter.take(context.clientAddress) {
            var headers = HTTPFields()
            headers[.retryAfter] = String(seconds)
            throw APIError(
                code: .rateLimited, status: .tooManyRequests,
                message: "more than \(limiter.perMinute) requests per minute; retry in \(seconds) s", headers: headers)
        }
        var context = context
        if requireToken {
            guard let header = request.headers[.authorization] else {
                throw Self.unauthorized("a bearer token is required (Authorization: Bearer TOKEN)", invalid: false)
            }
            let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw Self.unauthorized("the Authorization header must be 'Bearer TOKEN'", invalid: true)
            }
            guard let access = tokens.access(of: parts[1].trimmingCharacters(in: .whitespaces)) else {
                throw Self.unauthorized("the bearer token is not valid", invalid: true)
            }
            context.access = access
        } else {
            context.access = .write
        }
        if request.method != .get, request.method != .head, context.access != .write {
            throw APIError(
                code: .forbidden, status: .forbidden,
                message: "this token is read-only; \(request.method) needs a write token")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw Self.tooLarge(maxBodyBytes)
        }
        return try await next(request, context)
    }

    /// 401 with the `WWW-Authenticate` challenge.
    static func unauthorized(_ message: String, invalid: Bool) -> APIError {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] =
            invalid ? "Bearer realm=\"lmdflow\", error=\"invalid_token\"" : "Bearer realm=\"lmdflow\""
        return APIError(code: .unauthorized, status: .unauthorized, message: message, headers: headers)
    }

    /// 413 naming the limit.
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(
            code: .bodyTooLarge, status: .contentTooLarge, message: "the request body is larger than \(limit) bytes")
    }
}
