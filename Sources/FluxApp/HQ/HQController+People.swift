import Fluent
import FluxSecurity
import Foundation
import Leaf
import SQLKit
import Vapor

/// People, tenants, messages, the audit log and health.
extension HQController {
    @Sendable func users(_ request: Request, _ principal: Principal) async throws -> Response {
        let users = try await User.query(on: request.db).sort(\.$createdAt, .descending).limit(500).all()
        let memberships = try await Membership.query(on: request.db).filter(\.$userID ~~ users.compactMap(\.id)).all()
        let tenants = Dictionary(try await Tenant.query(on: request.db).all().map { ($0.id!, $0.name) }) { first, _ in first }
        let byUser = Dictionary(grouping: memberships, by: \.userID)
        let emails = Dictionary(users.map { ($0.id!, $0.email) }) { first, _ in first }
        let sessions = try await AuthSession.query(on: request.db).filter(\.$revokedAt == nil).filter(\.$expiresAt > Date())
            .sort(\.$lastUsedAt, .descending).limit(500).all()
        let ids = users.compactMap(\.id)
        let withApp = Set(try await MfaFactor.query(on: request.db).filter(\.$userID ~~ ids).filter(\.$confirmedAt != nil).all().map(\.userID))
        let withPasskey = Set(try await Passkey.query(on: request.db).filter(\.$userID ~~ ids).filter(\.$flaggedAt == nil).all().map(\.userID))
        struct UserRow: Encodable {
            let email, name, role, tenant, factors, created: String
            /// Whether the account has any second factor (a badge's colour).
            let protected: Bool
        }
        struct SessionRow: Encodable {
            let id: UUID
            let email, device, role, lastUsed: String
        }
        struct Body: Encodable {
            let users: [UserRow]
            let sessions: [SessionRow]
        }
        let body = Body(
            users: users.map { user in
                let membership = byUser[user.id!]?.first
                let factors = [withApp.contains(user.id!) ? "Authenticator app" : nil, withPasskey.contains(user.id!) ? "Passkey" : nil]
                    .compactMap { $0 }
                return UserRow(email: user.email, name: user.displayName ?? "", role: membership?.role.label ?? "",
                               tenant: membership.flatMap { tenants[$0.tenantID] } ?? "",
                               factors: factors.isEmpty ? "None" : factors.joined(separator: " and "), created: PageSite.time(user.createdAt),
                               protected: !factors.isEmpty)
            },
            sessions: sessions.map { SessionRow(id: $0.id!, email: emails[$0.userID] ?? "", device: $0.deviceLabel, role: $0.role.label,
                                                lastUsed: PageSite.time($0.lastUsedAt)) })
        return try await site.render(request, "hq/users", title: "Users and sessions", principal: principal, body: body)
    }

    /// `DELETE /api/hq/sessions/:sessionID`: ends anyone's session (audited).
    @Sendable func revokeSession(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        guard let id = request.parameters.get("sessionID", as: UUID.self), let session = try await AuthSession.find(id, on: request.db) else {
            throw AppError.notFound("No such session.")
        }
        try await revocations.revoke([id], reason: "revoked_by_staff", on: request.db)
        try await audit.record("session.revoked_by_staff", actor: principal.userID, tenant: session.tenantID,
                                        target: id.uuidString, request: request)
        return .noContent
    }

    /// Engineers answer clients here: choose an organization (`?tenantId=`), then one of its conversations.
    @Sendable func messages(_ request: Request, _ principal: Principal) async throws -> Response {
        let chosen = request.query[UUID.self, at: "tenantId"]
        let clients = try await Tenant.query(on: request.db).filter(\.$kind == .client).sort(\.$name).limit(500).all()
        return try await ConversationsPage.render(request, principal, site: site, tenantID: clients.first { $0.id == chosen }?.id,
                                                   page: "/hq-command/messages", tenants: clients.map {
            ConversationsPage.TenantLink(name: $0.name, href: "/hq-command/messages?tenantId=\($0.id!)", current: $0.id == chosen)
        })
    }

    @Sendable func tenants(_ request: Request, _ principal: Principal) async throws -> Response {
        let tenants = try await Tenant.query(on: request.db).sort(\.$createdAt, .descending).limit(500).all()
        let counts = Dictionary(grouping: try await Membership.query(on: request.db).all(), by: \.tenantID).mapValues(\.count)
        struct Row: Encodable {
            let name, kind, status, created: String
            let members: Int
        }
        struct SetupRow: Encodable {
            let id: UUID
            let tenant, templateType, contactNumber, status, created: String
            let next: [String]
        }
        struct Body: Encodable {
            let tenants: [Row]
            let requests: [SetupRow]
        }
        let names = Dictionary(tenants.map { ($0.id!, $0.name) }) { first, _ in first }
        let open = try await SetupRequest.query(on: request.db).filter(\.$status ~~ [.pending, .approved]).sort(\.$createdAt).limit(200).all()
        let body = Body(
            tenants: tenants.map {
                Row(name: $0.name, kind: $0.kind.rawValue, status: $0.status, created: PageSite.time($0.createdAt), members: counts[$0.id!] ?? 0)
            },
            requests: open.map {
                SetupRow(id: $0.id!, tenant: names[$0.tenantID] ?? "", templateType: $0.templateType, contactNumber: $0.contactNumber,
                         status: $0.status.rawValue, created: PageSite.time($0.createdAt),
                         next: (Self.setupTransitions[$0.status] ?? []).map(\.rawValue).sorted())
            })
        return try await site.render(request, "hq/tenants", title: "Tenants", principal: principal, body: body)
    }

    @Sendable func auditPage(_ request: Request, _ principal: Principal) async throws -> Response {
        let action = request.query[String.self, at: "action"].map { String($0.prefix(100)) } ?? ""
        var query = AuditEvent.query(on: request.db).sort(\.$occurredAt, .descending).limit(200)
        if !action.isEmpty { query = query.filter(\.$action == action) }
        // No stored action has a control character, and PostgreSQL would refuse a NUL: such a filter matches nothing.
        let events = TextInput.hasControlCharacters(action) ? [] : try await query.all()
        let actors = try await User.query(on: request.db).filter(\.$id ~~ events.compactMap(\.actorID)).all()
        let emails = Dictionary(actors.map { ($0.id!, $0.email) }) { first, _ in first }
        struct Row: Encodable {
            let time, action, actor, target, userAgent: String
        }
        struct Body: Encodable {
            let action: String
            let events: [Row]
        }
        let body = Body(action: action, events: events.map {
            Row(time: PageSite.time($0.occurredAt), action: $0.action, actor: $0.actorID.flatMap { emails[$0] } ?? "", target: $0.target ?? "",
                userAgent: $0.userAgent ?? "")
        })
        return try await site.render(request, "hq/audit", title: "Audit log", principal: principal, body: body)
    }

    @Sendable func health(_ request: Request, _ principal: Principal) async throws -> Response {
        let probe = await DatabaseProbe.ping(request.db, timeout: HealthController.databaseTimeout)
        let backlog = try? await Outbox.backlog(on: request.db)
        let storageUp = (try? await store.checkReachable(within: HealthController.storageTimeout)) != nil
        // The newest files only: each is a request to the store, and the page must stay quick.
        let objects = storageUp ? try? await StoredObjects.missing(on: request.db, store: store, limit: 50) : nil
        struct HealthView: Encodable {
            let database, latency, storage, storedFiles, outboxPending, outboxOldest, outboxFailed, rateLimitStore, version: String
        }
        struct Body: Encodable { let health: HealthView }
        let (state, latency): (String, String) = switch probe {
        case .up(let took): ("up", "\(took / .microseconds(1)) µs")
        case .down: ("down", "")
        }
        let body = Body(health: HealthView(
            database: state, latency: latency, storage: storageUp ? "up" : "down",
            storedFiles: objects.map { "\($0.missing.count) missing of the newest \($0.checked) checked" } ?? "not checked",
            outboxPending: backlog.map { String($0.pending) } ?? "unknown",
            outboxOldest: backlog.map { "\(Int($0.oldestPendingAge)) s" } ?? "unknown", outboxFailed: backlog.map { String($0.failed) } ?? "unknown",
            rateLimitStore: rateLimitStore.rawValue, version: Self.version))
        return try await site.render(request, "hq/health", title: "Health", principal: principal, body: body)
    }
}
