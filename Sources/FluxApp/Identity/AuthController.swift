import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// `/api/auth/…`: registration, sign-in, refresh, sign-out, device sessions and token introspection.
struct AuthController: Sendable {
    let identity: Identity
    let security: Hardening

    func register(on root: any RoutesBuilder) {
        let auth = root.grouped("api", "auth")
        auth.grouped(security.rateLimit(RateLimits.register)).post("register", use: register)
        auth.grouped(security.rateLimit(RateLimits.login)).post("login", use: login)
        auth.grouped(security.rateLimit(RateLimits.refresh)).post("refresh", use: refresh)
        auth.grouped(security.rateLimit(RateLimits.register)).post("setup", use: setup)

        let signedIn = auth.grouped(security.rateLimit(RateLimits.account))
        signedIn.secured(.POST, "logout", roles: Role.everyone, identity: identity, use: logout)
        signedIn.secured(.POST, "logout-all", roles: Role.everyone, identity: identity, use: logoutAll)
        signedIn.secured(.GET, "sessions", roles: Role.everyone, identity: identity, use: sessions)
        signedIn.secured(.DELETE, "sessions", ":sessionID", roles: Role.everyone, identity: identity, use: revokeSession)
        signedIn.secured(.GET, "token-info", roles: Role.everyone, identity: identity, use: tokenInfo)
        signedIn.secured(.GET, "me", roles: Role.everyone, identity: identity, use: me)
        signedIn.secured(.GET, "verify", roles: Role.everyone, identity: identity, use: verify)
        signedIn.secured(.POST, "password", roles: Role.everyone, identity: identity, use: changePassword)
    }

    // MARK: registration and sign-in

    struct RegisterBody: Content {
        let email: String
        let password: String
        let name: String?
        let company: String?
    }

    /// Always `202` with the same body, whether or not the email already has an account, so registration
    /// cannot be used to find out who has one; the new account then signs in as usual.
    @Sendable func register(_ request: Request) async throws -> Response {
        let body = try request.content.decode(RegisterBody.self)
        var errors = FieldErrors()
        let email = EmailAddress.normalized(body.email)
        errors.check("email", email != nil, "must be a valid email address")
        PasswordPolicy.check(body.password, into: &errors)
        errors.check("name", (body.name ?? "").count <= 120, "must be at most 120 characters")
        errors.check("company", (body.company ?? "").count <= 160, "must be at most 160 characters")
        try errors.throwIfAny()

        // Hashing happens either way, so a taken email answers in the same time as a new one.
        let hash = try await identity.passwords.hash(body.password)
        let name = Self.oneLine(body.name)
        let organization = Self.oneLine(body.company) ?? email!
        let links = identity.links
        do {
            let (user, tenant) = try await Accounts(passwords: identity.passwords).createClient(
                email: email!, passwordHash: hash, displayName: name, organization: organization, on: request.db
            ) { user, transaction in
                try await AccountRecovery.mailLink(AccountRecovery.verifyEmail, to: user, kind: "verify-email", on: transaction) {
                    try await MailTemplates.verifyEmail(to: $0, link: links.verifyEmail($1))
                }
            }
            try await identity.audit.record("register", actor: user.id, tenant: tenant.id, target: email, request: request)
        } catch {
            guard let existing = try await User.query(on: request.db).filter(\.$email == email!).first() else { throw error }
            // The owner of the address hears about it; the caller learns nothing.
            try await request.db.writeTransaction { transaction in
                try await AccountRecovery.mailLink(AccountRecovery.passwordReset, to: existing, kind: "account-exists", on: transaction) {
                    try await MailTemplates.accountExists(to: $0, resetLink: links.resetPassword($1))
                }
            }
            try await identity.audit.record("register.email_taken", actor: nil, tenant: nil, target: email, request: request)
        }
        let response = Response(status: .accepted)
        try response.content.encode(RegisterAccepted())
        return response
    }

    struct RegisterAccepted: Content {
        var status = "accepted"
        var message = "If this email can be registered, the account is ready: sign in with it."
    }

    struct LoginBody: Content {
        let email: String
        let password: String
        let tenantId: UUID?
        /// Browser pages ask for HttpOnly cookies instead of tokens in the body.
        let useCookies: Bool?
    }

    @Sendable func login(_ request: Request) async throws -> Response {
        let body = try request.content.decode(LoginBody.self)
        var errors = FieldErrors()
        errors.check("email", body.email.utf8.count <= 254 && !body.email.isEmpty && !TextInput.hasControlCharacters(body.email),
                     "must be an email address")
        errors.check("password", body.password.count <= PasswordPolicy.maximumLength, "must be at most \(PasswordPolicy.maximumLength) characters")
        try errors.throwIfAny()
        let email = EmailAddress.normalized(body.email) ?? body.email.lowercased()

        try identity.passwords.requireCapacity()
        // Counted before the hash is compared: concurrent guesses cannot outrun the count.
        try await identity.throttle.claimAttempt(email, on: request.db)
        let user = try await User.query(on: request.db).filter(\.$email == email).first()
        let passwordMatches = try await identity.passwords.verify(body.password, against: user?.passwordHash)
        var membership: Membership?
        if passwordMatches, let user {
            var query = Membership.query(on: request.db).filter(\.$userID == user.id!)
            if let tenantID = body.tenantId { query = query.filter(\.$tenantID == tenantID) }
            membership = try await query.sort(\.$createdAt).first()
        }
        guard let user, let membership else {
            try await identity.audit.record("login.failure", actor: user?.id, tenant: nil, target: email, request: request)
            throw Self.invalidCredentials
        }
        // The password's count only: a second factor keeps its own, which only a passed code clears.
        try await identity.throttle.clear(email, on: request.db)
        let cookies = body.useCookies ?? false
        let mfaEnabled = try await MultiFactor(identity: identity).isEnabled(user.id!, on: request.db)
        if mfaEnabled || Role.requiringMFA.contains(membership.role) {
            let challenge = try await identity.accessTokens.issueChallenge(
                userID: user.id!, tenantID: membership.tenantID, role: membership.role,
                purpose: mfaEnabled ? .verify : .enroll, cookies: cookies)
            try await identity.audit.record(mfaEnabled ? "login.mfa_challenge" : "login.mfa_enrollment_required",
                                            actor: user.id, tenant: membership.tenantID, request: request)
            return try await MFAChallengeBody(mfaRequired: mfaEnabled, enrollmentRequired: !mfaEnabled, challenge: challenge,
                                        expiresIn: Int(MFAChallengeClaims.lifetime)).encodeResponse(status: .ok, for: request)
        }
        return try await identity.startSession(userID: user.id!, tenantID: membership.tenantID, role: membership.role,
                                               cookies: cookies, request: request)
    }

    /// A password sign-in that needs a second factor: no tokens yet, only the challenge to present to
    /// `POST /api/auth/mfa/verify` (or, for `enrollmentRequired`, to the TOTP setup and confirm routes).
    struct MFAChallengeBody: Content {
        let mfaRequired: Bool
        let enrollmentRequired: Bool
        let challenge: String
        let expiresIn: Int
    }

    static let invalidCredentials = AppError(.unauthorized, code: "invalid_credentials", message: "Email or password is incorrect.")

    // MARK: refresh

    struct RefreshBody: Content {
        let refreshToken: String?
    }

    @Sendable func refresh(_ request: Request) async throws -> Response {
        let fromBody = request.body.data == nil ? nil : try request.content.decode(RefreshBody.self).refreshToken
        let fromCookie = identity.cookies.read(Identity.refreshCookie, from: request)
        guard let presented = fromBody ?? fromCookie else { throw Self.invalidRefresh }
        switch try await identity.refreshTokens.rotate(presented, on: request.db, revocations: identity.revocations) {
        case .invalid:
            throw Self.invalidRefresh
        case .reuseDetected(let session):
            try await identity.audit.record("refresh.reuse_detected", actor: session.userID, tenant: session.tenantID,
                                            target: session.id?.uuidString, request: request)
            request.logger.warning("refresh token reuse: session revoked", metadata: ["session": .string(session.id!.uuidString)])
            throw Self.invalidRefresh
        case .rotated(let session, let token):
            try await identity.audit.record("refresh", actor: session.userID, tenant: session.tenantID,
                                            target: session.id?.uuidString, request: request)
            return try await identity.tokenResponse(session: session, refreshToken: token, cookies: fromBody == nil,
                                                    request: request, now: Date())
        }
    }

    static let invalidRefresh = AppError(.unauthorized, code: "invalid_refresh_token",
                                         message: "The refresh token is invalid, expired or already used. Sign in again.")

    // MARK: sign-out and sessions

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
        let expiresAt: Date
        let current: Bool
    }

    @Sendable func sessions(_ request: Request, _ principal: Principal) async throws -> [SessionView] {
        let now = Date()
        return try await AuthSession.query(on: request.db)
            .filter(\.$userID == principal.userID).filter(\.$revokedAt == nil).filter(\.$expiresAt > now)
            .sort(\.$lastUsedAt, .descending).all()
            .map { SessionView(id: $0.id!, deviceLabel: $0.deviceLabel, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt,
                               expiresAt: $0.expiresAt, current: $0.id == principal.sessionID) }
    }

    @Sendable func revokeSession(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        guard let id = request.parameters.get("sessionID", as: UUID.self),
            let session = try await AuthSession.find(id, on: request.db), session.userID == principal.userID
        else { throw AppError(.notFound, code: "not_found", message: "No such session.") }
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

    // MARK: introspection

    struct TokenInfo: Content {
        let userId: String
        let sessionId: UUID
        let tenantId: UUID
        let role: Role
        let issuedAt: Date
        let expiresAt: Date
        let issuer: String
        let audience: [String]
        let tokenId: String
    }

    @Sendable func tokenInfo(_ request: Request, _ principal: Principal) async throws -> TokenInfo {
        let claims = principal.claims
        return TokenInfo(userId: claims.sub.value, sessionId: claims.sid, tenantId: claims.tid, role: claims.role,
                         issuedAt: claims.iat.value, expiresAt: claims.exp.value, issuer: claims.iss.value,
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
        guard let row = try await (request.db as! any SQLDatabase).raw("""
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

    /// A name as stored: control characters removed, trimmed, `nil` when nothing is left.
    static func oneLine(_ text: String?) -> String? {
        guard let text else { return nil }
        let cleaned = TextInput.line(text, maxLength: 160)
        return cleaned.isEmpty ? nil : cleaned
    }

    // MARK: first staff account

    struct SetupBody: Content {
        let token: String
        let email: String
        let password: String
        let name: String?
    }

    /// Creates the owner account from the one-time link logged at boot while no staff account exists.
    @Sendable func setup(_ request: Request) async throws -> Response {
        let body = try request.content.decode(SetupBody.self)
        var errors = FieldErrors()
        let email = EmailAddress.normalized(body.email)
        errors.check("email", email != nil, "must be a valid email address")
        PasswordPolicy.check(body.password, into: &errors)
        errors.check("name", (body.name ?? "").count <= 120, "must be at most 120 characters")
        try errors.throwIfAny()
        let invalid = AppError(.forbidden, code: "invalid_setup_token", message: "The setup link is invalid, used or expired.")
        guard try await StaffSetup.redeem(body.token, on: request.db) else { throw invalid }
        let user: User
        do {
            user = try await Accounts(passwords: identity.passwords).createStaff(
                email: email!, password: body.password, role: .owner,
                displayName: Self.oneLine(body.name), on: request.db)
        } catch Accounts.Failure.emailTaken {
            throw AppError(.conflict, code: "email_taken", message: "An account with this email exists.")
        }
        try await identity.audit.record("setup.owner_created", actor: user.id, tenant: nil, target: email, request: request)
        let response = Response(status: .created)
        try response.content.encode(["userId": user.id!.uuidString])
        return response
    }
}
