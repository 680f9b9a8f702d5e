import Vapor

/// FluxSecurity's controls built from one secret, ready to install in any Vapor app:
///
///     let hardening = Hardening(secret: secret)
///     app.middleware.use(hardening.headers, at: .beginning)
///     app.middleware.use(hardening.rateLimit(.perMinute(120, name: "site")))
///     app.grouped(hardening.csrf.middleware).post("contact", use: contact)
///     app.get("csrf") { req in try hardening.csrf.response(for: req) }
///
/// Every key comes from `secret`, so its strength bounds theirs; nothing here checks it (``SecretStrength``
/// does). Installing a control is the app's part: a route outside the CSRF group is not protected.
public struct Hardening: Sendable {
    public let trustedProxies: TrustedProxies
    public let cookies: CookiePolicy
    public let csrf: CSRFProtection
    public let headers: SecurityHeadersMiddleware
    public let addressHasher: AddressHasher
    /// Where every rate limit made by ``rateLimit(_:)`` keeps its buckets.
    public let rateLimitStore: any RateLimitStore
    /// The IPv6 prefix length that names one client for rate limits.
    public let rateLimitIPv6Prefix: Int

    /// - Parameters:
    ///   - secret: the application secret every key is derived from (check it with ``SecretStrength``).
    ///   - previousSecrets: secrets rotated out; what they signed stays valid until it expires.
    ///   - trustedProxies: proxies whose forwarded address and scheme are believed; none by default.
    ///   - connectSources: extra `connect-src` origins for the Content-Security-Policy.
    ///   - rateLimitStore: where buckets live; in memory by default, a shared store for several replicas.
    ///   - rateLimitIPv6Prefix: IPv6 clients are counted per network of this prefix length (a /64 by default).
    ///   - sessionBinding: the signed-in session's id for a request, to bind CSRF tokens to it.
    public init(secret: String, previousSecrets: [String] = [], trustedProxies: TrustedProxies = TrustedProxies(),
                connectSources: [String] = [],
                rateLimitStore: any RateLimitStore = MemoryRateLimitStore(), rateLimitIPv6Prefix: Int = 64,
                sessionBinding: @escaping @Sendable (Request) -> String? = { _ in nil }) {
        let keys = SecretKeys(secret: secret)
        self.trustedProxies = trustedProxies
        cookies = CookiePolicy(trustedProxies: trustedProxies)
        csrf = CSRFProtection(keys: keys, previousKeys: previousSecrets.map(SecretKeys.init(secret:)), cookies: cookies,
                              sessionBinding: sessionBinding)
        headers = SecurityHeadersMiddleware(connectSources: connectSources, trustedProxies: trustedProxies)
        addressHasher = AddressHasher(keys: keys)
        self.rateLimitStore = rateLimitStore
        self.rateLimitIPv6Prefix = rateLimitIPv6Prefix
    }

    /// The keyed hash of the request's client address (as ``TrustedProxies`` resolves it): what Flux stores
    /// instead of an address.
    public func clientAddressHash(_ request: Request) -> String {
        addressHasher.hash(trustedProxies.clientAddress(of: request)?.description ?? "unknown")
    }

    /// A rate limit of `policy` per client address.
    public func rateLimit(_ policy: RateLimitPolicy) -> RateLimitMiddleware {
        RateLimitMiddleware(policy: policy, store: rateLimitStore, trustedProxies: trustedProxies, ipv6Prefix: rateLimitIPv6Prefix)
    }
}
