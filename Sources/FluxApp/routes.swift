import AsyncHTTPClient
import FluxSecurity
import Vapor

/// Every route hangs off `root`, which carries the CSRF check, so no unsafe route can be added without it
/// (`EveryUnsafeRouteRequiresCSRF` in the tests walks the route table to hold that).
func routes(_ app: Application, config: AppConfig, metrics: HTTPMetrics, security: Hardening, identity: Identity) throws {
    app.storage[RootMiddlewareKey.self] = security.csrf.middleware
    let root = app.rootRoutes
    try root.register(collection: HealthController(uploads: UploadCapacity(config: config)))
    try root.register(collection: MetricsController(metrics: metrics, token: config.metricsToken, environment: config.environment))
    root.grouped(security.rateLimit(RateLimits.csrf)).get("api", "csrf") { req in try security.csrf.response(for: req) }
    AuthController(identity: identity, security: security).register(on: root)
    MFAController(identity: identity, security: security).register(on: root)
    AccountRecovery(identity: identity, security: security).register(on: root)
    if let google = config.googleSignIn {
        OIDCController(identity: identity, security: security, oidc: OIDCProvider(settings: google),
                       publicURL: config.publicURL).register(on: root)
    }
    TenantController(identity: identity, security: security).register(on: root)
    AuditController(identity: identity, security: security).register(on: root)
    PortalController(identity: identity, security: security).register(on: root)
    let operations = TenantOperationsController(identity: identity, security: security, keys: APIKeys(audit: identity.audit))
    operations.register(on: root)
    TeamController(identity: identity, security: security, invitationsPerDay: config.invitationsPerDay).register(on: root)
    MessagingController(identity: identity, security: security, realtime: app.realtime.hub).register(on: root)
    app.realtime.register(on: root)
    APIKeyController(identity: identity).register(on: root)
    ConsultationController(identity: identity, security: security, notify: config.notifyEmail).register(on: root)
    ChatController(identity: identity, security: security, provider: app.assistant(config.openAI),
                   recorder: app.conversationRecorder, metrics: metrics).register(on: root)
    PrivacyController(identity: identity, security: security).register(on: root)
    let files = PortalFilesController(identity: identity, security: security, config: config)
    files.register(on: root)
    DataRightsController(identity: identity, security: security, files: files).register(on: root)
    PortalPages(identity: identity, operations: operations, files: files).register(on: root)
    UploadController(identity: identity, security: security, directory: config.dataDirectory.appendingPathComponent("uploads"),
                     maxBytes: config.uploadMaxBytes, capacity: UploadCapacity(config: config)).register(on: root)
    SiteAssets.register(on: root)
    try APIDocs().register(on: root)
    HQController(identity: identity, security: security, rateLimitStore: config.rateLimitStore).register(on: root)
    AccountPages.register(on: root)
    SitePage.register(on: root)
}

struct RootMiddlewareKey: StorageKey {
    typealias Value = CSRFMiddleware
}

extension Application {
    /// The route group every Flux route belongs to (CSRF-checked); later features register here.
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
