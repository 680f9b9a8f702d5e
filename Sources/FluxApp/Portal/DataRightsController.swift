import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// Data-subject rights: `GET /api/account/export` (everything Flux holds about the caller, as JSON),
/// `DELETE /api/account` (erasure) and `GET /api/tenants/:tenantID/export` (a client admin's copy of the
/// organization's data).
///
/// Erasure deletes the account with its memberships, sessions, second factors and linked sign-ins, blanks the
/// text of every message the person sent (the conversation keeps its numbering, and the earlier versions go
/// too), and deletes the files they kept private. Files they shared with the organization or staff are the
/// organization's and stay. Audit events keep the account's id, not its email: the security record outlives
/// the account, pseudonymous. Exports carry no secret: no password hash, token, key hash or TOTP secret.
struct DataRightsController: Sendable {
    static let limit = 10_000

    let audit: AuditLog
    let passwords: PasswordHasher
    let revocations: SessionRevocations
    let files: PortalFilesController

    // MARK: - The account

    struct MembershipView: Content {
        let tenantId: UUID
        let tenant: String
        let role: Role
        let since: Date
    }

    struct SessionView: Content {
        let id: UUID
        let device: String
        let createdAt: Date
        let lastUsedAt: Date
        let expiresAt: Date
        let revokedAt: Date?
    }

    struct SentMessage: Content {
        let threadId: UUID
        let seq: Int
        let body: String
        let createdAt: Date
        let editedAt: Date?
        let deletedAt: Date?
    }

    struct AuditView: Content {
        let action: String
        let occurredAt: Date
        let tenantId: UUID?
        let target: String?

        init(_ event: AuditEvent) {
            action = event.action
            occurredAt = event.occurredAt
            tenantId = event.tenantID
            target = event.target
        }
    }

    struct AccountExport: Content {
        struct Person: Content {
            let id: UUID
            let email: String
            let displayName: String?
            let createdAt: Date
            let emailVerifiedAt: Date?
            let hasPassword: Bool
            let linkedSignIns: [String]
        }

        let exportedAt: Date
        let user: Person
        let memberships: [MembershipView]
        let sessions: [SessionView]
        let messages: [SentMessage]
        let files: [PortalFilesController.FileView]
        let auditEvents: [AuditView]
        let notifications: [NotificationsController.NotificationView]
        /// How unread messages are mailed: immediately, daily or never.
        let mailDigest: String
    }

    @Sendable func exportAccount(_ request: Request, _ principal: Principal) async throws -> Response {
        let db = request.db
        guard let user = try await User.find(principal.userID, on: db) else { throw AppError.notFound("No such account.") }
        let memberships = try await Membership.query(on: db).filter(\.$userID == principal.userID).all()
        let tenants = Dictionary(try await Tenant.query(on: db).filter(\.$id ~~ memberships.map(\.tenantID)).all().map { ($0.id!, $0.name) }) { a, _ in a }
        let export = AccountExport(
            exportedAt: Date(),
            user: .init(id: user.id!, email: user.email, displayName: user.displayName, createdAt: user.createdAt,
                        emailVerifiedAt: user.emailVerifiedAt, hasPassword: user.passwordHash != nil,
                        linkedSignIns: try await ExternalIdentity.query(on: db).filter(\.$userID == principal.userID).all().map(\.provider)),
            memberships: memberships.map { MembershipView(tenantId: $0.tenantID, tenant: tenants[$0.tenantID] ?? "", role: $0.role, since: $0.createdAt) },
            sessions: try await AuthSession.query(on: db).filter(\.$userID == principal.userID).sort(\.$createdAt).all().map {
                SessionView(id: $0.id!, device: $0.deviceLabel, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt, expiresAt: $0.expiresAt,
                            revokedAt: $0.revokedAt)
            },
            messages: try await ChatMessage.query(on: db).filter(\.$senderID == principal.userID).sort(\.$createdAt).limit(Self.limit).all().map {
                SentMessage(threadId: $0.threadID, seq: $0.seq, body: $0.body, createdAt: $0.createdAt, editedAt: $0.editedAt, deletedAt: $0.deletedAt)
            },
            files: try await PortalFile.query(on: db).filter(\.$uploadedBy == principal.userID).sort(\.$createdAt).all().map(PortalFilesController.view),
            auditEvents: try await AuditEvent.query(on: db).filter(\.$actorID == principal.userID).sort(\.$occurredAt, .descending)
                .limit(Self.limit).all().map(AuditView.init),
            notifications: try await NotificationsController.views(of: principal.userID, limit: Self.limit, on: db),
            mailDigest: try await NotificationStore.digest(for: principal.userID, on: db).rawValue)
        try await audit.record("account.exported", actor: principal.userID, tenant: principal.tenantID, request: request)
        return try await attachment(export, name: "flux-account-\(user.id!.uuidString.lowercased()).json", request)
    }

    /// The export as a download, never cached.
    private func attachment(_ value: some Content, name: String, _ request: Request) async throws -> Response {
        let response = try await value.encodeResponse(for: request)
        response.headers.replaceOrAdd(name: .contentDisposition, value: "attachment; filename=\"\(name)\"")
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }

    struct EraseBody: Content {
        /// The account's email, typed again: erasure cannot be undone.
        let email: String
        /// Required when the account has a password.
        let password: String?
    }

    @Sendable func erase(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let body = try request.content.decode(EraseBody.self)
        let db = request.db
        guard let user = try await User.find(principal.userID, on: db) else { throw AppError.notFound("No such account.") }
        var errors = FieldErrors()
        errors.check("email", body.email.trimmingCharacters(in: .whitespaces).lowercased() == user.email.lowercased(), "must be this account's email")
        try errors.throwIfAny()
        if user.passwordHash != nil {
            guard let password = body.password, try await passwords.verify(password, against: user.passwordHash) else {
                throw AppError(.forbidden, code: "reauthentication_failed", message: "The password is not this account's.")
            }
        }
        // An organization is never left without an admin while it has other members.
        for membership in try await Membership.query(on: db).filter(\.$userID == user.id!).all()
        where [.clientAdmin, .owner].contains(membership.role) {
            let admins = try await Membership.query(on: db).filter(\.$tenantID == membership.tenantID).filter(\.$role == membership.role).count()
            let members = try await Membership.query(on: db).filter(\.$tenantID == membership.tenantID).count()
            if admins == 1, members > 1 {
                throw AppError(.conflict, code: "last_admin", message: "Make another member an admin of your organization first.")
            }
        }
        let sessions = try await AuthSession.query(on: db).filter(\.$userID == user.id!).all().compactMap(\.id)
        try await revocations.revoke(sessions, reason: "account_erased", on: db)
        let privateFiles = try await PortalFile.query(on: db).filter(\.$uploadedBy == user.id!).filter(\.$visibility == .private).all()
        let now = Date()
        try await db.writeTransaction { transaction in
            let sql = transaction.sql
            try await sql.raw("""
                DELETE FROM chat_revisions WHERE message_id IN (SELECT id FROM chat_messages WHERE sender_id = \(bind: user.id!))
                """).run()
            try await sql.raw("""
                UPDATE chat_messages SET body = '', attachment_id = NULL, deleted_at = COALESCE(deleted_at, \(bind: now))
                WHERE sender_id = \(bind: user.id!)
                """).run()
            try await PortalFile.query(on: transaction).filter(\.$id ~~ privateFiles.compactMap(\.id)).delete()
            try await OneTimeToken.query(on: transaction).filter(\.$userID == user.id!).delete()
            try await user.delete(on: transaction)
        }
        for message in try await ChatMessage.query(on: db).filter(\.$senderID == user.id!).all() {
            try await RealtimeEventRedaction.rewrite(message: message.id!, thread: message.threadID, as: MessagingController.view(message, attachment: nil),
                                                     on: db)
        }
        for file in privateFiles { try? await files.store.delete(files.key(file)) }
        try await audit.record("account.erased", actor: user.id, tenant: principal.tenantID,
                               metadata: ["sessions": String(sessions.count), "privateFiles": String(privateFiles.count)], request: request)
        return .noContent
    }

    // MARK: - The organization

    struct TenantExport: Content {
        struct Organization: Content {
            let id: UUID
            let name: String
            let status: String
            let phone: String?
            let createdAt: Date
        }

        struct Member: Content {
            let userId: UUID
            let email: String
            let displayName: String?
            let role: Role
            let since: Date
        }

        struct Conversation: Content {
            let thread: MessagingController.ThreadView
            let messages: [MessagingController.MessageView]
        }

        let exportedAt: Date
        let organization: Organization
        let configuration: TenantConfig?
        let members: [Member]
        let setupRequests: [PortalController.SetupRequestView]
        let workers: [WorkerProcess]
        let messageLogs: [MessageLog]
        let conversations: [Conversation]
        /// The organization's files the exporting user may read; members' private files stay theirs.
        let files: [PortalFilesController.FileView]
        let auditEvents: [AuditView]
    }

    @Sendable func exportTenant(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let db = request.db
        let tenantID = access.tenantID
        guard let tenant = try await Tenant.find(tenantID, on: db) else { throw AppError.notFound("No such tenant.") }
        let memberships = try await Membership.query(on: db).filter(\.$tenantID == tenantID).all()
        let users = Dictionary(try await User.query(on: db).filter(\.$id ~~ memberships.map(\.userID)).all().map { ($0.id!, $0) }) { a, _ in a }
        var conversations: [TenantExport.Conversation] = []
        // Only what the exporting user may read: a client admin's export leaves out direct conversations
        // they are not part of.
        for thread in try await ChatThread.query(on: db).filter(\.$tenantID == tenantID).sort(\.$createdAt).all()
        where try await ThreadAccess.canSee(thread, access.principal, on: db) {
            let messages = try await ChatMessage.query(on: db).filter(\.$threadID == thread.id!).sort(\.$seq).limit(Self.limit).all()
            conversations.append(.init(thread: MessagingController.view(thread, unread: 0),
                                       messages: try await MessagingController.views(messages, on: db)))
        }
        let export = TenantExport(
            exportedAt: Date(),
            organization: .init(id: tenantID, name: tenant.name, status: tenant.status, phone: tenant.phone, createdAt: tenant.createdAt),
            configuration: try await TenantConfig.query(on: db).filter(\.$tenantID == tenantID).first(),
            members: memberships.map { membership in
                TenantExport.Member(userId: membership.userID, email: users[membership.userID]?.email ?? "",
                                    displayName: users[membership.userID]?.displayName, role: membership.role, since: membership.createdAt)
            },
            setupRequests: try await SetupRequest.query(on: db).filter(\.$tenantID == tenantID).sort(\.$createdAt).all().map(PortalController.view),
            workers: try await WorkerProcess.query(on: db).filter(\.$tenantID == tenantID).all(),
            messageLogs: try await MessageLog.query(on: db).filter(\.$tenantID == tenantID).sort(\.$occurredAt, .descending).limit(Self.limit).all(),
            conversations: conversations,
            files: try await PortalFile.query(on: db).filter(\.$tenantID == tenantID).filter(\.$visibility != .private).sort(\.$createdAt).all()
                .filter { FileAccess.canSee($0, access.principal) }.map(PortalFilesController.view),
            auditEvents: try await AuditEvent.query(on: db).filter(\.$tenantID == tenantID).sort(\.$occurredAt, .descending).limit(Self.limit).all()
                .map(AuditView.init))
        try await audit.record("tenant.exported", actor: access.principal.userID, tenant: tenantID, request: request)
        return try await attachment(export, name: "flux-organization-\(tenantID.uuidString.lowercased()).json", request)
    }
}
