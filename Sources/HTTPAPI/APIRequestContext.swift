import Hummingbird
import NIOCore

/// The per-request context of the API: Hummingbird's core storage, the client's address (the
/// rate limiter's key) and the access its token granted.
struct APIRequestContext: RequestContext {
    /// Hummingbird's own per-request storage.
    var coreContext: CoreRequestContextStorage
    /// The client's IP address; `local` when there is none (in-process tests, Unix sockets).
    let clientAddress: String
    /// What the request's token allows, once the auth middleware has looked at it.
    var access: APIAccess?

    /// Creates the context of one request on a channel.
    init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "local"
    }
}
