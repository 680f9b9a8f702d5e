import FluentKit
import FluxSecurity
import SQLKit
import Vapor

/// The FluxSecurity controls as Flux uses them, built once from the configuration.
struct SecurityServices: Sendable {
    let trustedProxies: TrustedProxies
    let csrf: CSRFProtection
    let headers: SecurityHeadersMiddleware
    let addressHasher: AddressHasher
    let rateLimitStore: any RateLimitStore

    init(config: AppConfig, app: Application) {
        let keys = SecretKeys(secret: config.sessionSecret.value)
        trustedProxies = config.trustedProxies
        csrf = CSRFProtection(keys: keys, cookies: CookiePolicy(trustedProxies: config.trustedProxies))
        headers = SecurityHeadersMiddleware(connectSources: config.connectSources, trustedProxies: config.trustedProxies)
        addressHasher = AddressHasher(keys: keys)
        switch config.rateLimitStore {
        case .memory: rateLimitStore = MemoryRateLimitStore()
        case .database: rateLimitStore = SQLRateLimitStore(database: { app.db as! any SQLDatabase })
        }
    }

    /// `policy` per client address.
    func rateLimit(_ policy: RateLimitPolicy) -> RateLimitMiddleware {
        RateLimitMiddleware(policy: policy, store: rateLimitStore, trustedProxies: trustedProxies)
    }
}

/// Flux's limits, per client address.
enum RateLimits {
    static let csrf = RateLimitPolicy.perMinute(60, name: "csrf")
}
