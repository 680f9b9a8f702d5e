import Fluent
import Foundation
import Vapor

/// The client portal's pages at `/app` (a ``PageSite`` for client roles): sign-in, onboarding until the
/// organization has a setup request, then its status and its message logs. Staff get 403 here: HQ is theirs.
struct PortalPages: Sendable {
    let site: PageSite
    let workers: TenantOperationsController
    let controls: WorkerControlController
    let team: TeamController
    let files: PortalFilesController

    static func site(_ identity: Identity) -> PageSite {
        PageSite(identity: identity, brand: "Flux portal", root: "/app", signIn: "/app/sign-in", home: "/app", navigation: { _ in
            [PageSite.NavItem(title: "Status", href: "/app/status"), PageSite.NavItem(title: "Logs", href: "/app/logs"),
             PageSite.NavItem(title: "Files", href: "/app/files"), PageSite.NavItem(title: "Messages", href: "/app/messages"),
             PageSite.NavItem(title: "Notifications", href: "/app/notifications"), PageSite.NavItem(title: "Team", href: "/app/team")]
        }, badges: { request, principal in
            let threads = try await ConversationStore.threads(of: principal.tenantID, visibleTo: principal, on: request.db)
            return ["/app/messages": threads.reduce(0) { $0 + $1.unread },
                    "/app/notifications": try await NotificationStore.unreadCount(for: principal.userID, on: request.db)]
        })
    }

    /// The caller's notifications and their unread-mail setting.
    @Sendable func notifications(_ request: Request, _ principal: Principal) async throws -> Response {
        try await NotificationsPage.render(request, principal, site: site)
    }

    /// Public: the invitee may have no account yet. The token stays in the URL fragment.
    @Sendable func acceptInvitation(_ request: Request) async throws -> Response {
        try await site.render(request, "app/accept", title: "Join your team")
    }

    @Sendable func teamPage(_ request: Request, _ principal: Principal) async throws -> Response {
        let view = try await team.show(request, principal)
        struct Member: Encodable {
            let userId: UUID
            let email, name, role, since: String
            let removable: Bool
        }
        struct Pending: Encodable {
            let id: UUID
            let email, role, expires: String
        }
        struct Body: Encodable {
            let tenantId: UUID
            let isAdmin: Bool
            let members: [Member]
            let invitations: [Pending]
        }
        let isAdmin = principal.role == .clientAdmin
        return try await site.render(request, "app/team", title: "Team", principal: principal, body: Body(
            tenantId: principal.tenantID, isAdmin: isAdmin,
            members: view.members.map { Member(userId: $0.userId, email: $0.email, name: $0.displayName ?? "", role: $0.role.rawValue,
                                               since: PageSite.time($0.since), removable: isAdmin && $0.userId != principal.userID) },
            invitations: view.invitations.map { Pending(id: $0.id, email: $0.email, role: $0.role.rawValue, expires: PageSite.time($0.expiresAt)) }))
    }

    /// The organization's conversations; `?thread=` opens one (else the most recent). Its messages load and
    /// arrive live in the browser, over the portal's WebSocket.
    @Sendable func messages(_ request: Request, _ principal: Principal) async throws -> Response {
        try await ConversationsPage.render(request, principal, site: site, tenantID: principal.tenantID, page: "/app/messages", tenants: [])
    }

    /// The organization's files the caller sees, one folder at a time (`?folderId=`), with uploads (progress,
    /// retry), previews, share links, folders and who-can-see controls in the browser (``FilesPage``).
    @Sendable func filesPage(_ request: Request, _ principal: Principal) async throws -> Response {
        try await FilesPage.render(request, principal, site: site, files: files)
    }

    /// Where a client belongs now: onboarding until a setup request exists, then status.
    @Sendable func start(_ request: Request, _ principal: Principal) async throws -> Response {
        request.redirect(to: try await SetupRequest.exists(for: principal.tenantID, on: request.db) ? "/app/status" : "/app/onboarding")
    }

    @Sendable func onboarding(_ request: Request, _ principal: Principal) async throws -> Response {
        let latest = try await SetupRequest.query(on: request.db).filter(\.$tenantID == principal.tenantID).sort(\.$createdAt, .descending).first()
        struct Body: Encodable {
            let request: PortalController.SetupRequestView?
            let canRequest: Bool
            let isAdmin: Bool
            let templateTypes: [String]
        }
        let open = latest.map { $0.status != .rejected } ?? false
        return try await site.render(request, "app/onboarding", title: "Set up your service", principal: principal, body: Body(
            request: latest.map(PortalController.view), canRequest: !open && principal.role == .clientAdmin,
            isAdmin: principal.role == .clientAdmin, templateTypes: PortalController.templateTypes))
    }

    @Sendable func status(_ request: Request, _ principal: Principal) async throws -> Response {
        let view = try await workers.status(request, principal)
        let overview = try await controls.overview(of: principal.tenantID, on: request.db)
        let recent = try await workers.logs(request, tenant: principal.tenantID)
        struct Body: Encodable {
            let tenant, tenantStatus, phone, setupStatus, lastMessage: String
            let messages: Int
            let provisioned: Bool
            let panel: WorkerPanel
        }
        let locale = Messages.locale(for: request)
        return try await site.render(request, "app/status", title: Messages.shared.text("status.title", locale: locale), principal: principal, script: "workers", body: Body(
            tenant: view.name, tenantStatus: Messages.shared.text("status.tenant." + view.status, locale: locale), phone: view.phone ?? "",
            setupStatus: Messages.shared.text("notifications.status." + (view.setupRequest?.status.rawValue ?? "none"), locale: locale),
            lastMessage: PageSite.time(view.lastMessageAt), messages: view.messagesLast24h, provisioned: view.config != nil || !overview.workers.isEmpty,
            panel: WorkerPanel(overview: overview, defaultStaleSeconds: controls.control.staleSeconds, staff: false, canEdit: principal.role == .clientAdmin, logs: recent.entries, locale: locale)))
    }

    @Sendable func logs(_ request: Request, _ principal: Principal) async throws -> Response {
        let page = try await workers.logs(request, principal)
        struct Row: Encodable {
            let time, direction, from, to, text: String
        }
        struct Body: Encodable {
            let entries: [Row]
            let direction, q: String
            /// Absent on the last page (Leaf counts an empty string as true).
            let older: String?
        }
        var older: String?
        if let cursor = page.nextCursor {
            var components = URLComponents()
            components.queryItems = [URLQueryItem(name: "cursor", value: cursor)]
                + ["direction", "q"].compactMap { name in request.query[String.self, at: name].map { URLQueryItem(name: name, value: $0) } }
            older = "/app/logs?" + (components.percentEncodedQuery ?? "")
        }
        return try await site.render(request, "app/logs", title: "Message logs", principal: principal, body: Body(
            entries: page.entries.map { Row(time: PageSite.time($0.occurredAt), direction: $0.direction.rawValue, from: $0.from, to: $0.to, text: $0.text) },
            direction: request.query[String.self, at: "direction"] ?? "", q: request.query[String.self, at: "q"] ?? "", older: older))
    }
}
