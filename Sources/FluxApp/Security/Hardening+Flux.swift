import FluxSecurity
import SQLKit
import Vapor

extension Hardening {
    /// FluxSecurity as Flux configures it: keys from SESSION_SECRET (and SESSION_SECRET_PREVIOUS during a
    /// rotation), TRUSTED_PROXIES, CSP_CONNECT_SOURCES, the rate-limit store RATE_LIMIT_STORE names and the IPv6
    /// prefix RATE_LIMIT_IPV6_PREFIX that names one client.
    init(config: AppConfig, app: Application) {
        let store: any RateLimitStore = switch config.rateLimitStore {
        case .memory: MemoryRateLimitStore()
        case .database: SQLRateLimitStore(database: { app.db.sql })
        }
        // Built once: the binding runs on every unsafe request.
        let cookies = CookiePolicy(trustedProxies: config.trustedProxies)
        self.init(secret: config.sessionSecret.value, previousSecrets: config.previousSessionSecret.map { [$0.value] } ?? [],
                  trustedProxies: config.trustedProxies,
                  connectSources: config.connectSources, rateLimitStore: store, rateLimitIPv6Prefix: config.rateLimitIPv6Prefix,
                  sessionBinding: { request in
                      // A browser's CSRF token is bound to its signed-in session, named in its access cookie.
                      cookies.read(Identity.accessCookie, from: request)
                          .flatMap(AccessTokens.unverifiedSessionID)
                  })
    }
}

/// Flux's limits, per client address.
enum RateLimits {
    static let csrf = RateLimitPolicy.perMinute(60, name: "csrf")
    static let login = RateLimitPolicy.perMinute(10, name: "login")
    static let register = RateLimitPolicy.perMinute(5, name: "register")
    /// Second-factor codes, per address (each account also has its own delay).
    static let mfa = RateLimitPolicy.perMinute(10, name: "mfa")
    static let refresh = RateLimitPolicy.perMinute(30, name: "refresh")
    /// The public consultation form.
    static let consultation = RateLimitPolicy.perMinute(5, name: "consultation")
    /// FluxAI turns.
    static let chat = RateLimitPolicy.perMinute(20, name: "chat")
    /// Public uploads (nginx applies the same zone in front).
    static let uploads = RateLimitPolicy.perMinute(5, name: "uploads")
    /// Reading public uploads.
    static let assets = RateLimitPolicy.perMinute(120, name: "assets")
    /// Signed-in API use.
    static let account = RateLimitPolicy.perMinute(300, name: "account")
    /// Workers' calls (each about five a minute: a long poll, a heartbeat, message logs), so that one host can run
    /// the workers of a few hundred organizations.
    static let workers = RateLimitPolicy.perMinute(3000, name: "workers")
}
