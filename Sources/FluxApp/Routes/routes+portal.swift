import Vapor

/// The client portal: its pages at `/app`, its API under `/api/portal` and `/api/tenants/:tenantID`, the
/// worker endpoints that authenticate with a tenant's API key, and shared-file links.
func portalRoutes(_ root: GuardedRoutes, app: Application, config: AppConfig) {
    let audit = root.identity.audit
    let portal = root.grouped("api", "portal").limited(RateLimits.account)
    let tenants = root.grouped("api", "tenants").limited(RateLimits.account)

    let organization = PortalController(audit: audit)
    portal.signedIn(.GET, "me", roles: Role.client, use: organization.me)
    portal.signedIn(.POST, "setup-request", roles: [.clientAdmin], use: organization.createSetupRequest)

    let control = app.workerControl
    let protocolEnds = WorkerProtocolController(keys: APIKeys(audit: audit), control: control, incidents: app.workerIncidents)
    let workerEnds = root.grouped("api", "portal", "worker").limited(RateLimits.workers)
    workerEnds.open(.GET, "desired", use: protocolEnds.desired)
    workerEnds.open(.POST, "heartbeat", use: protocolEnds.heartbeat)
    workerEnds.open(.POST, "message-logs", use: protocolEnds.messageLogs)
    let workers = TenantOperationsController(control: control)
    portal.signedIn(.GET, "tenant", "current", "status", roles: Role.client, use: workers.status)
    portal.signedIn(.GET, "tenant", "current", "logs", roles: Role.client, use: workers.logs)
    let controls = WorkerControlController(control: control, audit: audit)
    portal.signedIn(.GET, "tenant", "current", "worker", roles: Role.client, use: controls.current)
    portal.signedIn(.POST, "tenant", "current", "worker", "restart", roles: [.clientAdmin], use: controls.restartCurrent)
    portal.signedIn(.PUT, "tenant", "current", "config", roles: [.clientAdmin], use: controls.configureCurrent)

    let team = TeamController(audit: audit, passwords: root.identity.passwords, links: root.identity.links,
                              invitationsPerDay: config.invitationsPerDay)
    portal.signedIn(.GET, "team", roles: Role.client, use: team.show)
    portal.signedIn(.POST, "team", "invitations", roles: [.clientAdmin], use: team.invite)
    portal.signedIn(.DELETE, "team", "invitations", ":invitationID", roles: [.clientAdmin], use: team.revoke)
    root.grouped("api", "portal").limited(RateLimits.register).open(.POST, "team", "accept", use: team.accept)

    let files = PortalFilesController(audit: audit, store: app.blobStore, secrets: root.identity.secrets, config: config)
    messagingRoutes(portal, messaging: MessagingController(audit: audit, realtime: app.realtime.hub, files: files), realtime: app.realtime)
    fileRoutes(root, tenants: tenants, files: files, site: PortalPages.site(root.identity))

    let notifications = NotificationsController()
    portal.signedIn(.GET, "notifications", roles: Role.clientData, use: notifications.list)
    portal.signedIn(.POST, "notifications", "read", roles: Role.clientData, use: notifications.read)
    portal.signedIn(.GET, "notifications", "settings", roles: Role.clientData, use: notifications.settings)
    portal.signedIn(.PUT, "notifications", "settings", roles: Role.clientData, use: notifications.changeSettings)

    let rights = DataRightsController(audit: audit, passwords: root.identity.passwords, revocations: root.identity.revocations,
                                      files: files)
    let account = root.grouped("api", "account").limited(RateLimits.account)
    account.signedIn(.GET, "export", roles: Role.everyone, use: rights.exportAccount)
    account.signedIn(.DELETE, roles: Role.everyone, use: rights.erase)
    tenants.tenant(.GET, ":tenantID", "export", roles: [.clientAdmin, .owner, .admin], use: rights.exportTenant)

    portalPages(root, PortalPages(site: PortalPages.site(root.identity), workers: workers, controls: controls, team: team, files: files))
}

/// The portal's pages at `/app`.
private func portalPages(_ root: GuardedRoutes, _ pages: PortalPages) {
    let app = root.grouped("app").grouped(NoStore())
    app.open(.GET, "sign-in", use: pages.site.signInPage)
    app.page(pages.site, roles: Role.client, use: pages.start)
    app.page(pages.site, "onboarding", roles: Role.client, use: pages.onboarding)
    app.page(pages.site, "status", roles: Role.client, use: pages.status)
    app.page(pages.site, "logs", roles: Role.client, use: pages.logs)
    app.page(pages.site, "team", roles: Role.client, use: pages.teamPage)
    app.page(pages.site, "messages", roles: Role.client, use: pages.messages)
    app.page(pages.site, "files", roles: Role.client, use: pages.filesPage)
    app.page(pages.site, "notifications", roles: Role.client, use: pages.notifications)
    // Public: the invitee may have no account yet. The token stays in the URL fragment.
    app.open(.GET, "accept-invitation", use: pages.acceptInvitation)
}

/// Conversations, their messages and attachments, and the socket that brings them live.
private func messagingRoutes(_ portal: GuardedRoutes, messaging: MessagingController, realtime: RealtimeService) {
    let everyone = Role.clientData
    portal.signedIn(.GET, "conversations", roles: everyone, use: messaging.list)
    portal.signedIn(.POST, "conversations", roles: everyone, use: messaging.create)
    portal.signedIn(.GET, "conversations", ":threadID", roles: everyone, use: messaging.show)
    portal.signedIn(.GET, "conversations", ":threadID", "messages", roles: everyone, use: messaging.messages)
    portal.signedIn(.POST, "conversations", ":threadID", "messages", roles: everyone, use: messaging.post)
    portal.signedIn(.POST, "conversations", ":threadID", "read", roles: everyone, use: messaging.read)
    portal.signedIn(.PATCH, "messages", ":messageID", roles: everyone, use: messaging.edit)
    portal.signedIn(.DELETE, "messages", ":messageID", roles: everyone, use: messaging.delete)
    portal.signedIn(.GET, "messages", ":messageID", "attachment", roles: everyone, use: messaging.attachment)
    portal.signedIn(.GET, "realtime", roles: everyone, use: realtime.upgrade)
}

/// An organization's files and folders, and share links (whose pages, for a browser, are `site`'s).
private func fileRoutes(_ root: GuardedRoutes, tenants: GuardedRoutes, files: PortalFilesController, site: PageSite) {
    let everyone = Role.clientData
    tenants.tenant(.GET, ":tenantID", "files", roles: everyone, use: files.list)
    tenants.tenant(.POST, ":tenantID", "files", roles: Role.client, body: .stream, use: files.upload)
    tenants.tenant(.GET, ":tenantID", "files", ":fileID", "content", roles: everyone, use: files.download)
    tenants.tenant(.PATCH, ":tenantID", "files", ":fileID", roles: Role.client, use: files.change)
    tenants.tenant(.DELETE, ":tenantID", "files", ":fileID", roles: Role.client, use: files.delete)
    tenants.tenant(.GET, ":tenantID", "files", ":fileID", "shares", roles: Role.client, use: files.shares)
    tenants.tenant(.POST, ":tenantID", "files", ":fileID", "shares", roles: Role.client, use: files.share)
    tenants.tenant(.DELETE, ":tenantID", "files", ":fileID", "shares", ":shareID", roles: Role.client, use: files.revokeShare)
    tenants.tenant(.POST, ":tenantID", "folders", roles: Role.client, use: files.createFolder)
    tenants.tenant(.PATCH, ":tenantID", "folders", ":folderID", roles: Role.client, use: files.changeFolder)
    tenants.tenant(.DELETE, ":tenantID", "folders", ":folderID", roles: Role.client, use: files.deleteFolder)
    root.limited(RateLimits.assets).open(.GET, "api", "shared", ":shareID", ":token") { request in
        try await files.shared(request, site: site)
    }
}
