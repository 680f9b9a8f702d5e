import Foundation

/// A token bucket: `limit` requests, refilled evenly over `period` (so 5 per minute is one every 12 s,
/// with a burst of 5). It says how many requests pass, not who sends them: that is the middleware's key.
public struct RateLimitPolicy: Sendable, Hashable {
    /// Names the bucket family (two policies with different names never share a bucket) and the policy in
    /// the `RateLimit` and `RateLimit-Policy` response fields: letters, digits, `-`, `_` and `.`.
    public let name: String
    public let limit: Int
    public let period: TimeInterval

    /// `limit` requests per `period` seconds; traps on a non-positive limit or period or a name outside the
    /// allowed characters, as those are programming errors.
    public init(name: String, limit: Int, period: TimeInterval) {
        precondition(limit > 0 && period > 0, "a rate limit needs a positive limit and period")
        precondition(!name.isEmpty && name.utf8.allSatisfy(Self.isNameByte),
                     "a rate-limit policy's name is ASCII letters, digits, -, _ and . (it is quoted in response headers)")
        self.name = name
        self.limit = limit
        self.period = period
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default: false
        }
    }

    /// `limit` requests a minute.
    public static func perMinute(_ limit: Int, name: String) -> RateLimitPolicy {
        RateLimitPolicy(name: name, limit: limit, period: 60)
    }

    /// Tokens added per second.
    public var refillRate: Double { Double(limit) / period }
}

/// What a store decided for one request: the arithmetic of ``RateLimitPolicy``, not a promise that a later
/// request will be decided alike.
public struct RateLimitDecision: Sendable, Equatable {
    public let allowed: Bool
    /// Whole tokens left after this request.
    public let remaining: Int
    /// Seconds until a request would be allowed (0 when allowed).
    public let retryAfter: TimeInterval
    /// Seconds until the bucket is full again.
    public let resetAfter: TimeInterval

    /// Applies one request to a bucket holding `tokens` at `updated`, as of `now`; returns the decision and
    /// the bucket's new token count. Every store uses this arithmetic (the SQL store in one statement), so
    /// they agree to the token.
    public static func consume(tokens: Double, updated: Date, now: Date, policy: RateLimitPolicy) -> (RateLimitDecision, Double) {
        let elapsed = max(0, now.timeIntervalSince(updated))
        let available = min(Double(policy.limit), tokens + elapsed * policy.refillRate)
        let allowed = available >= 1
        let left = allowed ? available - 1 : available
        return (after(tokens: left, allowed: allowed, policy: policy), left)
    }

    /// The decision for a bucket left holding `tokens` after a request that was (or was not) `allowed`.
    public static func after(tokens: Double, allowed: Bool, policy: RateLimitPolicy) -> RateLimitDecision {
        let resetAfter = (Double(policy.limit) - tokens) / policy.refillRate
        return allowed
            ? RateLimitDecision(allowed: true, remaining: Int(tokens), retryAfter: 0, resetAfter: resetAfter)
            : RateLimitDecision(allowed: false, remaining: 0, retryAfter: (1 - tokens) / policy.refillRate, resetAfter: resetAfter)
    }
}

/// Where buckets live. Implementations must apply a request atomically, so concurrent requests (or
/// replicas sharing a database) can never both spend the last token.
public protocol RateLimitStore: Sendable {
    /// Spends a token of bucket `key` under `policy` as of `now`; throws when the store cannot answer.
    func consume(key: String, policy: RateLimitPolicy, now: Date) async throws -> RateLimitDecision

    /// The decision when the store can give it without waiting (an in-memory store), else `nil`; it spares
    /// the middleware a task per request.
    func consumeImmediately(key: String, policy: RateLimitPolicy, now: Date) -> RateLimitDecision?
}

extension RateLimitStore {
    /// Never answers at once: the middleware waits for ``consume(key:policy:now:)``.
    public func consumeImmediately(key: String, policy: RateLimitPolicy, now: Date) -> RateLimitDecision? { nil }
}
