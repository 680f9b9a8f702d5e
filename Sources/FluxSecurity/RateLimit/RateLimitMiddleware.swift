import Vapor

/// Applies a ``RateLimitPolicy`` per client (by default the client address, as ``TrustedProxies`` resolves
/// it). Responses carry the fields of the IETF draft "RateLimit header fields for HTTP" (-07 onwards):
/// `RateLimit-Policy: "name";q=limit;w=seconds` and `RateLimit: "name";r=remaining;t=seconds-to-full`, added
/// rather than replaced, so a route behind two limits lists both; refused ones are `429 rate_limited` with
/// `Retry-After`. When the store itself fails the request goes through and the failure is logged:
/// an unavailable limiter must not take the site down with it.
public struct RateLimitMiddleware: Middleware {
    public let policy: RateLimitPolicy
    let store: any RateLimitStore
    let key: @Sendable (Request) -> String
    /// The bucket-name prefix, the policy field and the start of the `RateLimit` field, formatted once.
    private let bucketPrefix: String
    private let policyField: String
    private let stateFieldPrefix: [UInt8]

    public init(policy: RateLimitPolicy, store: any RateLimitStore, key: @escaping @Sendable (Request) -> String) {
        self.policy = policy
        self.store = store
        self.key = key
        bucketPrefix = policy.name + "|"
        policyField = "\"\(policy.name)\";q=\(policy.limit);w=\(Int(policy.period.rounded(.up)))"
        stateFieldPrefix = Array("\"\(policy.name)\";r=".utf8)
    }

    /// Keyed by client address: an IPv4 address whole, an IPv6 address by its `/ipv6Prefix` network
    /// (``IPAddress/rateLimitKey(ipv6Prefix:)``).
    public init(policy: RateLimitPolicy, store: any RateLimitStore, trustedProxies: TrustedProxies, ipv6Prefix: Int = 64) {
        self.init(policy: policy, store: store) { request in
            trustedProxies.clientAddress(of: request)?.rateLimitKey(ipv6Prefix: ipv6Prefix) ?? "unknown"
        }
    }

    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        let bucket = bucketPrefix + key(request)
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
        let state = Self.stateField(prefix: stateFieldPrefix, remaining: decision.remaining,
                                    seconds: Int(decision.resetAfter.rounded(.up)))
        guard decision.allowed else {
            let retryAfter = String(max(1, Int(decision.retryAfter.rounded(.up))))
            let refusal: HTTPHeaders = ["RateLimit-Policy": policyField, "RateLimit": state, "Retry-After": retryAfter]
            return request.eventLoop.makeFailedFuture(SecurityFailure(
                .tooManyRequests, code: "rate_limited", reason: "Too many requests. Try again in \(retryAfter) s.",
                headers: refusal))
        }
        return next.respond(to: request).changingResponse { [policyField] response in
            response.updateHeaders { headers in
                headers.add(name: "RateLimit-Policy", value: policyField)
                headers.add(name: "RateLimit", value: state)
            }
        }
    }

    /// `prefix` (`"name";r=`), then `remaining;t=seconds`, written into one buffer: string interpolation
    /// formats each number into a string of its own first, and this runs on every limited response.
    static func stateField(prefix: [UInt8], remaining: Int, seconds: Int) -> String {
        // Neither number is ever negative; each has at most 19 digits.
        String(unsafeUninitializedCapacity: prefix.count + 19 + 3 + 19) { text in
            var writer = TextWriter(text)
            writer.append(prefix)
            writer.append(decimal: max(0, remaining))
            writer.append(";t=".utf8)
            writer.append(decimal: max(0, seconds))
            return writer.count
        }
    }
}
