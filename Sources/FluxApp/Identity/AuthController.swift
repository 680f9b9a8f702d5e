import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// `/api/auth/…`: registration, sign-in, refresh, sign-out, device sessions and token introspection.
struct AuthController: Sendable {
    let identity: Identity

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
        let name = TextInput.name(body.name)
        let organization = TextInput.name(body.company) ?? email!
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
        let totp = try await MultiFactor(identity: identity).isEnabled(user.id!, on: request.db)
        let passkey = try await identity.passkeys.hasUsable(user.id!, on: request.db)
        let mfaEnabled = totp || passkey
        if mfaEnabled || Role.requiringMFA.contains(membership.role) {
            let challenge = try await identity.accessTokens.issueChallenge(
                userID: user.id!, tenantID: membership.tenantID, role: membership.role,
                purpose: mfaEnabled ? .verify : .enroll, cookies: cookies)
            try await identity.audit.record(mfaEnabled ? "login.mfa_challenge" : "login.mfa_enrollment_required",
                                            actor: user.id, tenant: membership.tenantID, request: request)
            return try await MFAChallengeBody(mfaRequired: mfaEnabled, enrollmentRequired: !mfaEnabled,
                                              methods: (totp ? ["totp"] : []) + (passkey ? ["passkey"] : [])
                                                  + (try await MultiFactor(identity: identity).hasRecoveryCodes(user.id!, on: request.db) ? ["recovery"] : []),
                                              challenge: challenge,
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
        /// The second steps this account can take: `totp` (a code from the app), `passkey`, and `recovery` (a recovery code).
        let methods: [String]
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
                displayName: TextInput.name(body.name), on: request.db)
        } catch Accounts.Failure.emailTaken {
            throw AppError(.conflict, code: "email_taken", message: "An account with this email exists.")
        }
        try await identity.audit.record("setup.owner_created", actor: user.id, tenant: nil, target: email, request: request)
        let response = Response(status: .created)
        try response.content.encode(["userId": user.id!.uuidString])
        return response
    }
}
