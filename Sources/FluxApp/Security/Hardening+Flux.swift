import FluxSecurity
import SQLKit
import Vapor

extension Hardening {
    /// FluxSecurity as Flux configures it: keys from SESSION_SECRET (and SESSION_SECRET_PREVIOUS during a
    /// rotation), TRUSTED_PROXIES, CSP_CONNECT_SOURCES, and the rate-limit store RATE_LIMIT_STORE names.
    init(config: AppConfig, app: Application) {
        let store: any RateLimitStore = switch config.rateLimitStore {
        case .memory: MemoryRateLimitStore()
        case .database: SQLRateLimitStore(database: { app.db as! any SQLDatabase })
        }
        self.init(secret: config.sessionSecret.value, previousSecrets: config.previousSessionSecret.map { [$0.value] } ?? [],
                  trustedProxies: config.trustedProxies,
                  connectSources: config.connectSources, rateLimitStore: store)
    }
}

/// Flux's limits, per client address.
enum RateLimits {
    static let csrf = RateLimitPolicy.perMinute(60, name: "csrf")
}
