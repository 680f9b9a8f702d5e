import Fluent
import FluxSecurity
import Foundation
import Vapor

/// The links mailed to people: pages under PUBLIC_URL with the token in the fragment, which browsers never
/// send to a server or in a Referer.
struct AccountLinks: Sendable {
    let publicURL: URL

    func verifyEmail(_ token: String) -> URL { link("account/verify-email", token) }
    /// Where security notices send people: the sign-in page.
    var signIn: URL { publicURL.appendingPathComponent("app") }
    func resetPassword(_ token: String) -> URL { link("account/reset-password", token) }
    func confirmEmailChange(_ token: String, to address: String) -> URL {
        URL(string: link("account/confirm-email", token).absoluteString + "&email="
            + (address.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))!
    }
    /// The devices page, where a session that is not the owner's can be ended.
    var devices: URL { publicURL.appendingPathComponent("account/devices") }
    func acceptInvitation(_ id: UUID, _ token: String) -> URL {
        URL(string: publicURL.appendingPathComponent("app/accept-invitation").absoluteString + "#invitation=" + id.uuidString + "&token=" + token)!
    }

    private func link(_ path: String, _ token: String) -> URL {
        URL(string: publicURL.appendingPathComponent(path).absoluteString + "#token=" + token)!
    }
}

/// `POST /api/auth/email/verify`, `/api/auth/password/forgot` and `/api/auth/password/reset`.
struct AccountRecovery: Sendable {
    static let verifyEmail = "verify-email"
    static let passwordReset = "password-reset"
    static let lifetime: TimeInterval = 60 * 60

    let identity: Identity

    /// Issues a one-time token for `user` and queues the message carrying its link, on `database` (the
    /// caller's transaction, so the mail exists exactly when the event does).
    static func mailLink(_ purpose: String, to user: User, kind: String, on database: any Database,
                         message: (MailAddress, String) async throws -> MailMessage) async throws {
        let token = try await OneTimeTokens.issue(purpose: purpose, userID: user.id, lifetime: lifetime, on: database)
        try await Outbox.enqueue(message(MailAddress(name: user.displayName, address: user.email)!, token), kind: kind, on: database)
    }

    /// An email change's token is issued for, and redeemable only with, the new address: the purpose names it, so
    /// the address the link carries cannot be swapped for another.
    static func emailChangePurpose(_ address: String) -> String { "email-change:" + address }

    struct EmailChangeBody: Content {
        let newEmail: String
        let password: String?
    }

    struct EmailChangeAccepted: Content {
        var status = "accepted"
        var message = "If the new address can be used, a link to confirm it is on its way there. The address changes when it is opened."
    }

    /// `POST /api/auth/email`: the owner (password re-checked) asks to use another address; a link goes to that
    /// address, and nothing changes until it is opened. The answer is the same whether or not another account holds
    /// the address.
    @Sendable func requestEmailChange(_ request: Request, _ principal: Principal) async throws -> Response {
        let body = try request.content.decode(EmailChangeBody.self)
        guard let address = EmailAddress.normalized(body.newEmail) else {
            throw AppError.invalidFields(["newEmail": "must be a valid email address"])
        }
        try await identity.reauthenticate(password: body.password, of: principal, failureAction: "email.change_password_failed",
                                          request: request)
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AppError.notFound("No such account.") }
        guard address != user.email else { throw AppError.invalidFields(["newEmail": "is already this account's address"]) }
        if try await User.query(on: request.db).filter(\.$email == address).first() == nil {
            let links = identity.links
            try await request.db.writeTransaction { transaction in
                let token = try await OneTimeTokens.issue(purpose: Self.emailChangePurpose(address), userID: user.id,
                                                          lifetime: Self.lifetime, on: transaction)
                try await Outbox.enqueue(try await MailTemplates.confirmEmailChange(
                    to: MailAddress(name: user.displayName, address: address)!, link: links.confirmEmailChange(token, to: address)),
                                         kind: "email-change", on: transaction)
            }
        }
        try await identity.audit.record("email.change_requested", actor: principal.userID, tenant: principal.tenantID,
                                        target: address, request: request)
        return try await EmailChangeAccepted().encodeResponse(status: .accepted, for: request)
    }

    struct EmailConfirmBody: Content {
        let token: String
        let email: String
    }

    /// `POST /api/auth/email/confirm`: the link from the new address's mail. The address changes and counts as
    /// proved; the old address is told, with the way back if it was not its owner.
    @Sendable func confirmEmailChange(_ request: Request) async throws -> HTTPStatus {
        let body = try request.content.decode(EmailConfirmBody.self)
        guard let address = EmailAddress.normalized(body.email),
            let spent = try await OneTimeTokens.redeem(body.token, purpose: Self.emailChangePurpose(address), on: request.db),
            let userID = spent.user_id, let user = try await User.find(userID, on: request.db)
        else { throw Self.invalidToken }
        guard try await User.query(on: request.db).filter(\.$email == address).first() == nil else {
            throw AppError(.conflict, code: "email_taken", message: "Another account uses this address now.")
        }
        let old = user.email
        let links = identity.links
        try await request.db.writeTransaction { transaction in
            user.email = address
            user.emailVerifiedAt = Date()
            try await user.update(on: transaction)
            if let previous = MailAddress(name: user.displayName, address: old) {
                try await Outbox.enqueue(try await MailTemplates.emailChanged(to: previous, newAddress: address, link: links.signIn),
                                         kind: "email-changed", on: transaction)
            }
        }
        try await identity.audit.record("email.changed", actor: userID, tenant: nil, target: address,
                                        metadata: ["previous": old], request: request)
        return .noContent
    }

    struct TokenBody: Content {
        let token: String
        /// A browser page asks to be signed in by the link (HttpOnly cookies), as after a password sign-in.
        let useCookies: Bool?
    }

    static let invalidToken = AppError(.badRequest, code: "invalid_token", message: "The link is invalid, used or expired.")

    /// `POST /api/auth/email/verify/resend`: a new confirmation link to the signed-in account's own address, while it is
    /// unconfirmed (the earlier links stay valid until they expire).
    @Sendable func resendVerification(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AppError.notFound("No such account.") }
        guard user.emailVerifiedAt == nil else {
            throw AppError(.conflict, code: "already_verified", message: "This address is confirmed already.")
        }
        let links = identity.links
        try await request.db.writeTransaction { transaction in
            try await Self.mailLink(Self.verifyEmail, to: user, kind: "verify-email", on: transaction) {
                try await MailTemplates.verifyEmail(to: $0, link: links.verifyEmail($1))
            }
        }
        try await identity.audit.record("email.verification_resent", actor: principal.userID, tenant: principal.tenantID,
                                        request: request)
        return .accepted
    }

    /// Confirms the address; with `useCookies`, also signs this browser in (``signIn(_:request:)``).
    @Sendable func verify(_ request: Request) async throws -> Response {
        let body = try request.content.decode(TokenBody.self)
        guard let spent = try await OneTimeTokens.redeem(body.token, purpose: Self.verifyEmail, on: request.db),
            let userID = spent.user_id, let user = try await User.find(userID, on: request.db)
        else { throw Self.invalidToken }
        user.emailVerifiedAt = Date()
        try await user.update(on: request.db)
        try await identity.audit.record("email.verified", actor: userID, tenant: nil, target: user.email, request: request)
        return try await body.useCookies == true ? signIn(user, request: request) : Response(status: .noContent)
    }

    /// A mailed link proves that whoever opened it reads the account's mail, which is what a password reset already
    /// trusts: it signs the browser in, unless the account has (or its role requires) a second factor, which a
    /// link cannot stand in for. Then `204`, and the page sends the owner to sign in.
    private func signIn(_ user: User, request: Request) async throws -> Response {
        guard let membership = try await Membership.query(on: request.db).filter(\.$userID == user.id!).sort(\.$createdAt).first(),
            !Role.requiringMFA.contains(membership.role),
            try await !MultiFactor(identity: identity).hasAnyFactor(user.id!, on: request.db)
        else { return Response(status: .noContent) }
        return try await identity.startSession(userID: user.id!, tenantID: membership.tenantID, role: membership.role,
                                               cookies: true, request: request)
    }

    struct ForgotBody: Content {
        let email: String
    }

    struct Accepted: Content {
        var status = "accepted"
        var message = "If an account uses this email, a link to choose a new password is on its way."
    }

    /// Always `202` with the same body: whether the address has an account is never said.
    @Sendable func forgot(_ request: Request) async throws -> Response {
        let body = try request.content.decode(ForgotBody.self)
        guard body.email.utf8.count <= 254 else {
            throw AppError.invalidFields(["email": "must be at most 254 characters"])
        }
        if let email = EmailAddress.normalized(body.email),
            let user = try await User.query(on: request.db).filter(\.$email == email).first() {
            let links = identity.links
            try await request.db.writeTransaction { transaction in
                try await Self.mailLink(Self.passwordReset, to: user, kind: "password-reset", on: transaction) {
                    try await MailTemplates.passwordReset(to: $0, link: links.resetPassword($1))
                }
            }
            try await identity.audit.record("password.reset_requested", actor: user.id, tenant: nil, target: email, request: request)
        }
        return try await Accepted().encodeResponse(status: .accepted, for: request)
    }

    struct ResetBody: Content {
        let token: String
        let password: String
        let useCookies: Bool?
    }

    /// Sets a new password from a reset link and ends every session of the account (with `useCookies`, this browser
    /// then signs in anew). A link is void once the password has changed by any means after it was sent.
    @Sendable func reset(_ request: Request) async throws -> Response {
        let body = try request.content.decode(ResetBody.self)
        var errors = FieldErrors()
        PasswordPolicy.check(body.password, into: &errors)
        try errors.throwIfAny()
        let hash = try await identity.passwords.hash(body.password)
        guard let spent = try await OneTimeTokens.redeem(body.token, purpose: Self.passwordReset, on: request.db),
            let userID = spent.user_id, let user = try await User.find(userID, on: request.db),
            (user.passwordChangedAt ?? .distantPast) < spent.created_at
        else { throw Self.invalidToken }
        let now = Date()
        user.passwordHash = hash
        user.passwordChangedAt = now
        // The link came to this address: it is proved.
        if user.emailVerifiedAt == nil { user.emailVerifiedAt = now }
        try await user.update(on: request.db)
        try await OneTimeTokens.voidAll(purpose: Self.passwordReset, userID: userID, on: request.db)
        let sessions = try await AuthSession.query(on: request.db)
            .filter(\.$userID == userID).filter(\.$revokedAt == nil).all(\.$id)
        try await identity.revocations.revoke(sessions, reason: "password_reset", on: request.db)
        try await identity.throttle.clear(user.email, on: request.db)
        try await identity.audit.record("password.reset", actor: userID, tenant: nil,
                                        metadata: ["sessionsEnded": String(sessions.count)], request: request)
        return try await body.useCookies == true ? signIn(user, request: request) : Response(status: .noContent)
    }
}
