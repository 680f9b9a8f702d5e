import AsyncHTTPClient
import FluxSecurity
import Vapor

/// The route table. Every path Flux serves is listed here or in the area files beside it
/// (`routes+identity.swift`, `routes+portal.swift`, `routes+hq.swift`, `routes+site.swift`), one line per
/// route: its method, its path, who may call it and its handler.
///
/// Every route hangs off `root`, which carries the CSRF check, so no unsafe route can be added without it
/// (`EveryUnsafeRouteRequiresCSRF` in the tests walks the route table to hold that) except through
/// ``GuardedRoutes/crossSitePost(_:why:declaredIn:use:)``, kept by a test to Apple's form_post callback. Every route is registered
/// through ``GuardedRoutes``, so each one names its guard (`RouteTableTests` holds that every route is
/// declared in these files).
func routes(_ app: Application, config: AppConfig, metrics: HTTPMetrics, security: Hardening, identity: Identity) throws {
    app.storage[RootMiddlewareKey.self] = security.csrf.middleware
    let root = GuardedRoutes(builder: app.rootRoutes, identity: identity)

    let health = HealthController(uploads: UploadCapacity(config: config), store: app.blobStore)
    root.open(.GET, "api", "health", use: health.readiness)
    root.open(.GET, "api", "health", "live", use: health.liveness)
    let scrape = MetricsController(metrics: metrics, token: config.metricsToken, environment: config.environment)
    root.open(.GET, "metrics", use: scrape.scrape)
    root.limited(RateLimits.csrf).open(.GET, "api", "csrf") { request in try security.csrf.response(for: request) }

    identityRoutes(root, config: config)
    portalRoutes(root, app: app, config: config)
    hqRoutes(root, app: app, config: config, store: app.blobStore)
    try siteRoutes(root, app: app, config: config, metrics: metrics)
}

struct RootMiddlewareKey: StorageKey {
    typealias Value = CSRFMiddleware
}

extension Application {
    /// The route group every Flux route belongs to (CSRF-checked).
    var rootRoutes: any RoutesBuilder { grouped(storage[RootMiddlewareKey.self]!) }
}

extension Application {
    /// FluxAI's model: the configured OpenAI-compatible service, on a client of its own whose read timeout
    /// bounds every wait for the next piece of a streamed answer; the offline assistant without one.
    func assistant(_ settings: OpenAISettings?) -> any LLMProvider {
        guard let settings else { return OfflineAssistant() }
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: settings.timeout)
        let client = HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
        lifecycle.use(HTTPClientShutdown(client: client))
        return OpenAICompatibleProvider(settings: settings, client: client)
    }
}

struct HTTPClientShutdown: LifecycleHandler {
    let client: HTTPClient

    func shutdownAsync(_ application: Application) async {
        try? await client.shutdown()
    }
}
