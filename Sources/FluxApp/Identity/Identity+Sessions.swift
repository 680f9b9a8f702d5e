import Fluent
import Foundation
import Vapor

extension Identity {
    /// Creates a device session for a sign-in that passed every factor, with its first refresh token, and
    /// answers with the tokens.
    func startSession(userID: UUID, tenantID: UUID, role: Role, cookies: Bool, recoveryCodes: [String]? = nil,
                      request: Request) async throws -> Response {
        let now = Date()
        let session = AuthSession(userID: userID, tenantID: tenantID, role: role,
                                  deviceLabel: DeviceLabel.from(userAgent: request.headers.first(name: .userAgent)),
                                  ipHash: security.clientAddressHash(request), now: now, lifetime: lifetimes.idle)
        let newDevice = try await request.db.writeTransaction { transaction in
            try await session.create(on: transaction)
            return try await noticeNewDevice(session, on: transaction)
        }
        if newDevice {
            try await audit.record("login.new_device", actor: userID, tenant: tenantID, target: session.id?.uuidString,
                                   metadata: ["device": session.deviceLabel], request: request)
        }
        let refresh = try await refreshTokens.start(session: session, on: request.db, now: now)
        try await audit.record("login.success", actor: userID, tenant: tenantID, target: session.id?.uuidString, request: request)
        return try await tokenResponse(session: session, refreshToken: refresh, cookies: cookies, recoveryCodes: recoveryCodes,
                                       request: request, now: now)
    }

    /// Mails the owner when an account that has signed in before does so from a device and a network it has never
    /// used: a stolen password used elsewhere shows up in the owner's inbox, with the way to end that session.
    /// Whether it did (the caller audits `login.new_device` outside the transaction).
    private func noticeNewDevice(_ session: AuthSession, on database: any Database) async throws -> Bool {
        let earlier = try await AuthSession.query(on: database)
            .filter(\.$userID == session.userID).filter(\.$id != session.id!).all()
        guard !earlier.isEmpty, !earlier.contains(where: { $0.deviceLabel == session.deviceLabel || $0.ipHash == session.ipHash }),
            let user = try await User.find(session.userID, on: database),
            let address = MailAddress(name: user.displayName, address: user.email)
        else { return false }
        try await Outbox.enqueue(try await MailTemplates.newDevice(to: address, device: session.deviceLabel, at: session.createdAt,
                                                                    link: links.devices), kind: "new-device", on: database)
        return true
    }

    /// Re-checks the signed-in user's password before a change to the account (its password, its second
    /// factor), throttled like a sign-in so a stolen access token is no password oracle. A failure is
    /// audited as `failureAction`.
    func confirmPassword(_ password: String, of principal: Principal, failureAction: String, request: Request) async throws -> User {
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AuthController.invalidCredentials }
        try await throttle.claimAttempt(user.email, on: request.db)
        guard password.count <= PasswordPolicy.maximumLength, try await passwords.verify(password, against: user.passwordHash) else {
            try await audit.record(failureAction, actor: user.id, tenant: principal.tenantID, request: request)
            throw AuthController.invalidCredentials
        }
        try await throttle.clear(user.email, on: request.db)
        return user
    }

    /// How recent a sign-in stands in for the password of an account that has none (provider sign-in only).
    static let recentSignIn: TimeInterval = 5 * 60

    /// Proof that the account's owner is present before its second factor changes: the current password, or,
    /// for an account without one, a session that signed in within ``recentSignIn``. A stolen access token
    /// alone is neither.
    func reauthenticate(password: String?, of principal: Principal, failureAction: String, request: Request) async throws {
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AuthController.invalidCredentials }
        if user.passwordHash != nil {
            guard let password, !password.isEmpty else {
                throw AppError.invalidFields(["password": "enter your current password"])
            }
            _ = try await confirmPassword(password, of: principal, failureAction: failureAction, request: request)
            return
        }
        guard let session = try await AuthSession.find(principal.sessionID, on: request.db),
            Date().timeIntervalSince(session.createdAt) <= Self.recentSignIn
        else {
            throw AppError(.forbidden, code: "reauthentication_required",
                           message: "Sign in again, then make this change within 5 minutes.")
        }
    }

    struct TokenBody: Content {
        let tokenType: String
        let accessToken: String?
        let refreshToken: String?
        let expiresIn: Int
        let sessionId: UUID
        /// Only when the sign-in just enrolled a second factor: shown this once.
        var recoveryCodes: [String]?
    }

    /// Tokens in the body for API clients; for browsers (`cookies`), HttpOnly cookies and no token in the body.
    func tokenResponse(session: AuthSession, refreshToken: String, cookies asCookies: Bool, recoveryCodes: [String]? = nil,
                       request: Request, now: Date) async throws -> Response {
        let access = try await accessTokens.issue(userID: session.userID, sessionID: session.id!,
                                                  tenantID: session.tenantID, role: session.role, now: now)
        let response = Response(status: .ok)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        let expiresIn = Int(accessTokens.lifetime)
        if asCookies {
            // The access cookie outlives its token so its session id can still bind CSRF tokens while a
            // browser refreshes; the token inside is worthless once it expires.
            let maxAge = max(1, Int(session.expiresAt.timeIntervalSince(now)))
            cookies.set(Identity.accessCookie, value: access, maxAge: maxAge, sameSite: .lax, on: response, for: request)
            cookies.set(Identity.refreshCookie, value: refreshToken, maxAge: maxAge, sameSite: .strict, on: response, for: request)
            try response.content.encode(TokenBody(tokenType: "cookie", accessToken: nil, refreshToken: nil,
                                                  expiresIn: expiresIn, sessionId: session.id!, recoveryCodes: recoveryCodes))
        } else {
            try response.content.encode(TokenBody(tokenType: "Bearer", accessToken: access, refreshToken: refreshToken,
                                                  expiresIn: expiresIn, sessionId: session.id!, recoveryCodes: recoveryCodes))
        }
        return response
    }
}
