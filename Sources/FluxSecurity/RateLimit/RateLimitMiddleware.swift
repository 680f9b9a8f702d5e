import Vapor

/// Applies a ``RateLimitPolicy`` per client (by default the client address, as ``TrustedProxies`` resolves
/// it). Responses carry the fields of the IETF draft "RateLimit header fields for HTTP" (-07 onwards):
/// `RateLimit-Policy: "name";q=limit;w=seconds` and `RateLimit: "name";r=remaining;t=seconds-to-full`, added
/// rather than replaced, so a route behind two limits lists both; refused ones are `429 rate_limited` with
/// `Retry-After`. When the store itself fails the request goes through and the failure is logged:
/// an unavailable limiter must not take the site down with it, so a failed store limits nothing.
public struct RateLimitMiddleware: Middleware {
    public let policy: RateLimitPolicy
    let store: any RateLimitStore
    let key: @Sendable (Request) -> String
    /// The `RateLimit-Policy` field, the same on every response.
    private let policyField: String

    /// Keyed by `key`: requests it maps to one string share one bucket.
    public init(policy: RateLimitPolicy, store: any RateLimitStore, key: @escaping @Sendable (Request) -> String) {
        self.policy = policy
        self.store = store
        self.key = key
        policyField = "\"\(policy.name)\";q=\(policy.limit);w=\(Int(policy.period.rounded(.up)))"
    }

    /// Keyed by client address: an IPv4 address whole, an IPv6 address by its `/ipv6Prefix` network
    /// (``IPAddress/rateLimitKey(ipv6Prefix:)``).
    public init(policy: RateLimitPolicy, store: any RateLimitStore, trustedProxies: TrustedProxies, ipv6Prefix: Int = 64) {
        self.init(policy: policy, store: store) { request in
            trustedProxies.clientAddress(of: request)?.rateLimitKey(ipv6Prefix: ipv6Prefix) ?? "unknown"
        }
    }

    /// Spends a token, then responds through `next` or refuses with `429`.
    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        let bucket = "\(policy.name)|\(key(request))"
        let now = Date()
        if let decision = store.consumeImmediately(key: bucket, policy: policy, now: now) {
            return apply(decision, request, next)
        }
        let store = store
        let policy = policy
        return request.eventLoop.makeFutureWithTask {
            try await store.consume(key: bucket, policy: policy, now: now)
        }.map(Optional.some).recover { error in
            // Only the store's failure is caught here; the route's own errors pass through untouched.
            request.logger.error("rate limit store failed; request allowed", metadata: [
                "policy": .string(policy.name), "error": .string(String(describing: error)),
            ])
            return nil
        }.flatMap { decision in
            decision.map { apply($0, request, next) } ?? next.respond(to: request)
        }
    }

    private func apply(_ decision: RateLimitDecision, _ request: Request, _ next: any Responder) -> EventLoopFuture<Response> {
        let state = "\"\(policy.name)\";r=\(max(0, decision.remaining));t=\(max(0, Int(decision.resetAfter.rounded(.up))))"
        guard decision.allowed else {
            let retryAfter = String(max(1, Int(decision.retryAfter.rounded(.up))))
            let refusal: HTTPHeaders = ["RateLimit-Policy": policyField, "RateLimit": state, "Retry-After": retryAfter]
            return request.eventLoop.makeFailedFuture(SecurityFailure(
                .tooManyRequests, code: "rate_limited", reason: "Too many requests. Try again in \(retryAfter) s.",
                headers: refusal))
        }
        return next.respond(to: request).map { [policyField] response in
            response.updateHeaders { headers in
                headers.add(name: "RateLimit-Policy", value: policyField)
                headers.add(name: "RateLimit", value: state)
            }
            return response
        }
    }
}
