import Vapor

/// The HQ Command Center: staff pages at `/hq-command`, the staff API under `/api/hq`.
func hqRoutes(_ root: GuardedRoutes, app: Application, config: AppConfig, store: any BlobStore) {
    let identity = root.identity
    let hq = HQController(site: HQController.site(identity), audit: identity.audit, revocations: identity.revocations,
                          store: store, rateLimitStore: config.rateLimitStore)
    let analytics = HQController.analytics, engineers = HQController.tenantViewers, administrators = HQController.administrators

    let pages = root.grouped("hq-command").grouped(NoStore())
    pages.open(.GET, use: hq.site.signInPage)
    pages.page(hq.site, "dashboard", roles: Role.staff, use: hq.dashboard)
    pages.page(hq.site, "dashboard", "conversations", roles: analytics, use: hq.conversations)
    pages.page(hq.site, "dashboard", "conversations", "export.csv", roles: analytics, use: hq.exportConversations)
    pages.page(hq.site, "dashboard", "conversations", ":conversationID", roles: analytics, use: hq.transcript)
    pages.page(hq.site, "signals", roles: analytics, use: hq.signals)
    pages.page(hq.site, "signals", "export.csv", roles: analytics, use: hq.exportSignals)
    pages.page(hq.site, "signals", ":signalID", roles: analytics, use: hq.signal)
    pages.page(hq.site, "users", roles: administrators, use: hq.users)
    pages.page(hq.site, "tenants", roles: engineers, use: hq.tenants)
    let workers = HQWorkerPages(site: hq.site, controls: WorkerControlController(control: app.workerControl, audit: identity.audit),
                                logs: TenantOperationsController(control: app.workerControl))
    pages.page(hq.site, "workers", roles: engineers, use: workers.list)
    pages.page(hq.site, "workers", ":tenantID", roles: engineers, use: workers.tenant)
    pages.page(hq.site, "messages", roles: engineers, use: hq.messages)
    pages.page(hq.site, "audit", roles: administrators, use: hq.auditPage)
    pages.page(hq.site, "health", roles: administrators, use: hq.health)
    pages.page(hq.site, "live", roles: analytics, streams: true, use: hq.live)

    let api = root.grouped("api", "hq")
    api.signedIn(.PUT, "signals", ":signalID", "status", roles: analytics, use: hq.changeStatus)
    api.signedIn(.DELETE, "sessions", ":sessionID", roles: administrators, use: hq.revokeSession)
    api.signedIn(.PUT, "setup-requests", ":requestID", "status", roles: engineers, use: hq.changeSetupRequest)

    api.signedIn(.GET, "workers", roles: engineers, use: workers.controls.all)
    api.tenant(.GET, "tenants", ":tenantID", "worker", roles: engineers, use: workers.controls.show)
    api.tenant(.POST, "tenants", ":tenantID", "worker", "commands", roles: engineers, use: workers.controls.command)
    api.tenant(.PUT, "tenants", ":tenantID", "worker", "config", roles: engineers, use: workers.controls.configureTenant)
    api.tenant(.PUT, "tenants", ":tenantID", "worker", "settings", roles: engineers, use: workers.controls.settings)
    api.tenant(.GET, "tenants", ":tenantID", "worker", "logs", roles: engineers, use: workers.logs.tenantLogs)

    let keys = APIKeyController(audit: identity.audit)
    api.tenant(.POST, "tenants", ":tenantID", "api-keys", roles: APIKeyController.managers, use: keys.create)
    api.tenant(.GET, "tenants", ":tenantID", "api-keys", roles: APIKeyController.managers, use: keys.list)
    api.signedIn(.POST, "api-keys", ":keyID", "rotate", roles: APIKeyController.managers, use: keys.rotate)
    api.signedIn(.DELETE, "api-keys", ":keyID", roles: APIKeyController.managers, use: keys.revoke)
}
