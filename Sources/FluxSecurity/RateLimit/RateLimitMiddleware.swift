import Vapor

/// Applies a ``RateLimitPolicy`` per client (by default the client address, as ``TrustedProxies`` resolves
/// it). Allowed responses carry `RateLimit-Limit/-Remaining/-Reset`; refused ones are `429 rate_limited`
/// with `Retry-After`. When the store itself fails the request goes through and the failure is logged:
/// an unavailable limiter must not take the site down with it.
public struct RateLimitMiddleware: AsyncMiddleware {
    public let policy: RateLimitPolicy
    let store: any RateLimitStore
    let key: @Sendable (Request) -> String

    public init(policy: RateLimitPolicy, store: any RateLimitStore, key: @escaping @Sendable (Request) -> String) {
        self.policy = policy
        self.store = store
        self.key = key
    }

    /// Keyed by client address.
    public init(policy: RateLimitPolicy, store: any RateLimitStore, trustedProxies: TrustedProxies) {
        self.init(policy: policy, store: store) { request in
            trustedProxies.clientAddress(of: request)?.description ?? "unknown"
        }
    }

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let decision: RateLimitDecision
        do {
            decision = try await store.consume(key: "\(policy.name)|\(key(request))", policy: policy, now: Date())
        } catch {
            request.logger.error("rate limit store failed; request allowed", metadata: [
                "policy": .string(policy.name), "error": .string(String(describing: error)),
            ])
            return try await next.respond(to: request)
        }
        var headers: HTTPHeaders = [
            "RateLimit-Limit": String(policy.limit),
            "RateLimit-Remaining": String(decision.remaining),
            "RateLimit-Reset": String(Int(decision.resetAfter.rounded(.up))),
            "RateLimit-Policy": "\(policy.limit);w=\(Int(policy.period))",
        ]
        guard decision.allowed else {
            headers.add(name: .retryAfter, value: String(max(1, Int(decision.retryAfter.rounded(.up)))))
            throw SecurityFailure(.tooManyRequests, code: "rate_limited",
                                  reason: "Too many requests. Try again in \(max(1, Int(decision.retryAfter.rounded(.up)))) s.",
                                  headers: headers)
        }
        let response = try await next.respond(to: request)
        for (name, value) in headers { response.headers.replaceOrAdd(name: name, value: value) }
        return response
    }
}
