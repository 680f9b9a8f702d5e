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

    accountPages(root, AccountPages(identity: root.identity))
}

/// Signing up, in and back in, and one's own settings, devices and privacy: for clients and staff alike.
private func accountPages(_ root: GuardedRoutes, _ pages: AccountPages) {
    let account = root.grouped("account").grouped(NoStore())
    root.grouped(NoStore()).open(.GET, "hq-command", "setup",
                                 use: pages.link("setup", titleKey: "account.setup.title", endpoint: "/api/auth/setup"))
    account.open(.GET, use: pages.start)
    account.open(.GET, "sign-in", use: pages.signIn)
    account.open(.GET, "sign-up", use: pages.signUp)
    account.open(.GET, "forgot-password", use: pages.forgotPassword)
    account.open(.GET, "verify-email", use: pages.link("verify", titleKey: "account.verify.title", endpoint: "/api/auth/email/verify"))
    account.open(.GET, "reset-password", use: pages.link("reset", titleKey: "account.reset.title", endpoint: "/api/auth/password/reset"))
    account.open(.GET, "confirm-email", use: pages.link("email", titleKey: "account.confirmEmail.title", endpoint: "/api/auth/email/confirm"))
    account.page(pages.site, "settings", roles: Role.everyone, use: pages.settings)
    account.page(pages.site, "devices", roles: Role.everyone, use: pages.devices)
    account.page(pages.site, "privacy", roles: Role.everyone, use: pages.privacy)
}
