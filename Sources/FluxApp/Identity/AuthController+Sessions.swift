import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// Signing out, the signed-in devices, the password, and what a signed-in caller learns about itself.
extension AuthController {

    @Sendable func logout(_ request: Request, _ principal: Principal) async throws -> Response {
        try await identity.revocations.revoke([principal.sessionID], reason: "logout", on: request.db)
        try await identity.audit.record("logout", actor: principal.userID, tenant: principal.tenantID,
                                        target: principal.sessionID.uuidString, request: request)
        return clearingCookies(request)
    }

    @Sendable func logoutAll(_ request: Request, _ principal: Principal) async throws -> Response {
        let ids = try await AuthSession.query(on: request.db)
            .filter(\.$userID == principal.userID).filter(\.$revokedAt == nil).all(\.$id)
        try await identity.revocations.revoke(ids, reason: "logout_all", on: request.db)
        try await identity.audit.record("logout_all", actor: principal.userID, tenant: principal.tenantID,
                                        metadata: ["sessions": String(ids.count)], request: request)
        return clearingCookies(request)
    }

    /// Ends every session of the account but this one ("sign out everywhere else").
    @Sendable func logoutOthers(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let others = try await AuthSession.query(on: request.db)
            .filter(\.$userID == principal.userID).filter(\.$revokedAt == nil).filter(\.$id != principal.sessionID).all(\.$id)
        try await identity.revocations.revoke(others, reason: "logout_others", on: request.db)
        try await identity.audit.record("logout_others", actor: principal.userID, tenant: principal.tenantID,
                                        metadata: ["sessions": String(others.count)], request: request)
        return .noContent
    }

    private func clearingCookies(_ request: Request) -> Response {
        let response = Response(status: .noContent)
        for name in [Identity.accessCookie, Identity.refreshCookie] {
            identity.cookies.set(name, value: "", maxAge: 0, on: response, for: request)
        }
        return response
    }

    struct SessionView: Content {
        let id: UUID
        let deviceLabel: String
        let createdAt: Date
        let lastUsedAt: Date
        /// When the session ends unless it is used again (each renewal moves this, up to `absoluteExpiresAt`).
        let expiresAt: Date
        let absoluteExpiresAt: Date
        /// Whether the account had signed in from this session's network before this session began.
        let knownNetwork: Bool
        let current: Bool
    }

    @Sendable func sessions(_ request: Request, _ principal: Principal) async throws -> [SessionView] {
        let now = Date()
        let all = try await AuthSession.query(on: request.db).filter(\.$userID == principal.userID).all()
        return all.filter { $0.isActive(at: now) }.sorted { $0.lastUsedAt > $1.lastUsedAt }.map { session in
            SessionView(id: session.id!, deviceLabel: session.deviceLabel, createdAt: session.createdAt,
                        lastUsedAt: session.lastUsedAt, expiresAt: session.expiresAt,
                        absoluteExpiresAt: identity.lifetimes.absoluteEnd(signedInAt: session.createdAt),
                        knownNetwork: all.contains { $0.ipHash == session.ipHash && $0.createdAt < session.createdAt },
                        current: session.id == principal.sessionID)
        }
    }

    @Sendable func revokeSession(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        guard let id = request.parameters.get("sessionID", as: UUID.self),
            let session = try await AuthSession.find(id, on: request.db), session.userID == principal.userID
        else { throw AppError.notFound("No such session.") }
        try await identity.revocations.revoke([id], reason: "revoked_by_user", on: request.db)
        try await identity.audit.record("session.revoked", actor: principal.userID, tenant: principal.tenantID,
                                        target: id.uuidString, request: request)
        return .noContent
    }

    struct PasswordChangeBody: Content {
        let currentPassword: String
        let newPassword: String
    }

    /// Changes the password after checking the current one, and ends every other session of the account.
    @Sendable func changePassword(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let body = try request.content.decode(PasswordChangeBody.self)
        var errors = FieldErrors()
        errors.check("currentPassword", body.currentPassword.count <= PasswordPolicy.maximumLength,
                     "must be at most \(PasswordPolicy.maximumLength) characters")
        PasswordPolicy.check(body.newPassword, field: "newPassword", into: &errors)
        try errors.throwIfAny()
        let user = try await identity.confirmPassword(body.currentPassword, of: principal, failureAction: "password.change_failed",
                                                      request: request)
        user.passwordHash = try await identity.passwords.hash(body.newPassword)
        user.passwordChangedAt = Date()
        try await user.update(on: request.db)
        let others = try await AuthSession.query(on: request.db)
            .filter(\.$userID == principal.userID).filter(\.$revokedAt == nil).filter(\.$id != principal.sessionID).all(\.$id)
        try await identity.revocations.revoke(others, reason: "password_changed", on: request.db)
        try await identity.audit.record("password.changed", actor: user.id, tenant: principal.tenantID,
                                        metadata: ["sessionsEnded": String(others.count)], request: request)
        return .noContent
    }

    struct ProfileBody: Content {
        let displayName: String
    }

    /// Changes the name shown to others; the email address and the role change elsewhere.
    @Sendable func updateProfile(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let body = try request.content.decode(ProfileBody.self)
        var errors = FieldErrors()
        let name = TextInput.name(body.displayName)
        errors.check("displayName", name != nil, "enter your name")
        errors.check("displayName", body.displayName.count <= 120, "must be at most 120 characters")
        try errors.throwIfAny()
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AppError.notFound("No such account.") }
        user.displayName = name
        try await user.update(on: request.db)
        try await identity.audit.record("profile.updated", actor: principal.userID, tenant: principal.tenantID, request: request)
        return .noContent
    }

    // MARK: introspection

    struct TokenInfo: Content {
        let userId: String
        let sessionId: UUID
        let tenantId: UUID
        let role: Role
        let issuedAt: Date
        let expiresAt: Date
        /// When the session ends unless renewed before, and when it ends regardless.
        let idleExpiresAt: Date
        let absoluteExpiresAt: Date
        let issuer: String
        let audience: [String]
        let tokenId: String
    }

    @Sendable func tokenInfo(_ request: Request, _ principal: Principal) async throws -> TokenInfo {
        let claims = principal.claims
        guard let session = try await AuthSession.find(principal.sessionID, on: request.db) else {
            throw AppError(.unauthorized, code: "unauthorized", message: "The session has ended. Sign in again.")
        }
        return TokenInfo(userId: claims.sub.value, sessionId: claims.sid, tenantId: claims.tid, role: claims.role,
                         issuedAt: claims.iat.value, expiresAt: claims.exp.value, idleExpiresAt: session.expiresAt,
                         absoluteExpiresAt: identity.lifetimes.absoluteEnd(signedInAt: session.createdAt), issuer: claims.iss.value,
                         audience: claims.aud.value, tokenId: claims.jti.value)
    }

    struct Verified: Content {
        let valid: Bool
        let userId: UUID
        let role: Role
        let tenantId: UUID
        let expiresAt: Date
    }

    @Sendable func verify(_ request: Request, _ principal: Principal) async throws -> Verified {
        Verified(valid: true, userId: principal.userID, role: principal.role, tenantId: principal.tenantID,
                 expiresAt: principal.claims.exp.value)
    }

    struct MeView: Content {
        struct TenantView: Content {
            let id: UUID
            let name: String
            let kind: Tenant.Kind
            let status: String
        }

        let id: UUID
        let email: String
        let displayName: String?
        let role: Role
        let tenant: TenantView
        let sessionId: UUID
        /// Clients: whether their organization has a (not rejected) setup request; until then the portal
        /// sends them to onboarding. Always true for staff.
        let hasSetupRequest: Bool
    }

    private struct MeRow: Decodable {
        let email: String
        let display_name: String?
        let name: String
        let kind: Tenant.Kind
        let status: String
        let has_setup_request: Int
    }

    /// One query for the account, its tenant and whether the tenant has asked to be set up: this route is
    /// what a signed-in page calls first.
    @Sendable func me(_ request: Request, _ principal: Principal) async throws -> MeView {
        guard let row = try await request.db.sql.raw("""
            SELECT users.email, users.display_name, tenants.name, tenants.kind, tenants.status,
                CASE WHEN EXISTS (SELECT 1 FROM setup_requests WHERE setup_requests.tenant_id = tenants.id
                    AND setup_requests.status <> 'rejected') THEN 1 ELSE 0 END AS has_setup_request
            FROM users JOIN tenants ON tenants.id = \(bind: principal.tenantID)
            WHERE users.id = \(bind: principal.userID)
            """).first(decoding: MeRow.self)
        else { throw AppError(.unauthorized, code: "unauthenticated", message: "Sign in to continue.") }
        return MeView(id: principal.userID, email: row.email, displayName: row.display_name, role: principal.role,
                      tenant: .init(id: principal.tenantID, name: row.name, kind: row.kind, status: row.status),
                      sessionId: principal.sessionID, hasSetupRequest: principal.role.isStaff || row.has_setup_request == 1)
    }
}
