import Vapor

/// The public website: its page, FluxAI, consultation requests, public uploads, the shared assets, the
/// account pages and the API documentation.
func siteRoutes(_ root: GuardedRoutes, app: Application, config: AppConfig, metrics: HTTPMetrics) throws {
    let security = root.identity.security
    let chat = ChatController(security: security, provider: app.assistant(config.openAI), recorder: app.conversationRecorder,
                              metrics: metrics)
    root.limited(RateLimits.chat).open(.POST, "api", "chat", use: chat.chat)

    let consultation = ConsultationController(security: security, notify: config.notifyEmail)
    root.limited(RateLimits.consultation).open(.POST, "api", "consultation", use: consultation.create)

    let uploads = UploadController(security: security, store: app.blobStore,
                                   incoming: config.dataDirectory.appendingPathComponent("uploads/.incoming", isDirectory: true),
                                   maxBytes: config.uploadMaxBytes, capacity: UploadCapacity(config: config))
    root.limited(RateLimits.uploads).open(.POST, "api", "public-upload", body: .stream, use: uploads.upload)
    root.limited(RateLimits.assets).open(.GET, "api", "assets", ":assetID", use: uploads.serve)

    root.open(.GET, use: SitePage.home)
    root.open(.GET, "assets", ":name", use: SiteAssets.serve)

    let docs = try APIDocs()
    root.open(.GET, "api", "openapi.json", use: docs.document)
    root.open(.GET, "api", "docs", use: docs.page)

    root.open(.GET, "hq-command", "setup", use: AccountPages.serve(AccountPages.setup))
    root.open(.GET, "account", "verify-email", use: AccountPages.serve(AccountPages.verifyEmail))
    root.open(.GET, "account", "reset-password", use: AccountPages.serve(AccountPages.resetPassword))
}
