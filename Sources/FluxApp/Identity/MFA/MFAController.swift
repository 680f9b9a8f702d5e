import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `/api/auth/mfa/…`: TOTP enrolment (signed in, or with the enrolment challenge of a role that requires
/// it), the second step of a sign-in, disabling, and recovery codes.
struct MFAController: Sendable {
    let identity: Identity

    var multiFactor: MultiFactor { MultiFactor(identity: identity) }

    /// Who is enrolling: a signed-in caller, or a sign-in held at its enrolment challenge.
    private enum Enroller {
        case signedIn(Principal)
        case challenged(MFAChallengeClaims)

        var userID: UUID {
            switch self {
            case .signedIn(let principal): principal.userID
            case .challenged(let claims): UUID(uuidString: claims.sub.value)!
            }
        }
    }

    private func enroller(_ request: Request, challenge: String?) async throws -> Enroller {
        if let challenge {
            guard let claims = await identity.accessTokens.verifyChallenge(challenge, purpose: .enroll) else {
                throw Self.invalidChallenge
            }
            return .challenged(claims)
        }
        return .signedIn(try await RouteGuardCheck.principal(request, roles: Role.everyone, identity: identity))
    }

    struct SetupBody: Content {
        let challenge: String?
        /// Signed in: the current password (a stolen access token alone cannot put the thief's factor on).
        let password: String?
    }

    @Sendable func setup(_ request: Request) async throws -> MultiFactor.Enrolment {
        let body = try request.body.data == nil ? SetupBody(challenge: nil, password: nil) : request.content.decode(SetupBody.self)
        let enroller = try await enroller(request, challenge: body.challenge)
        if case .signedIn(let principal) = enroller {
            try await identity.reauthenticate(password: body.password, of: principal, failureAction: "mfa.password_failed",
                                              request: request)
        }
        guard let user = try await User.find(enroller.userID, on: request.db) else { throw Self.invalidChallenge }
        guard let enrolment = try await multiFactor.begin(for: user, on: request.db) else {
            throw AppError(.conflict, code: "mfa_already_enabled", message: "Two-factor authentication is already on.")
        }
        return enrolment
    }

    struct ConfirmBody: Content {
        let code: String
        let challenge: String?
    }

    struct RecoveryCodes: Content {
        let recoveryCodes: [String]
    }

    /// Turns the pending factor on. With an enrolment challenge the sign-in then completes: the answer
    /// carries the tokens as well as the recovery codes.
    @Sendable func confirm(_ request: Request) async throws -> Response {
        let body = try request.content.decode(ConfirmBody.self)
        let enroller = try await enroller(request, challenge: body.challenge)
        let userID = enroller.userID
        // A challenged enrolment completes a sign-in: with the role held now, checked before the factor is on.
        var currentRole: Role?
        if case .challenged(let claims) = enroller {
            currentRole = try await self.currentRole(userID, tenant: claims.tid, on: request.db)
        }
        guard let codes = try await multiFactor.confirm(userID, code: body.code, on: request.db) else {
            try await identity.audit.record("mfa.enable_failed", actor: userID, tenant: nil, request: request)
            throw Self.invalidCode
        }
        try await mailOwner(userID, enabled: true, on: request.db)
        switch enroller {
        case .signedIn(let principal):
            try await identity.audit.record("mfa.enabled", actor: userID, tenant: principal.tenantID, request: request)
            return try await RecoveryCodes(recoveryCodes: codes).encodeResponse(status: .ok, for: request)
        case .challenged(let claims):
            guard let role = currentRole else { throw Self.invalidChallenge }
            try await identity.audit.record("mfa.enabled", actor: userID, tenant: claims.tid, request: request)
            return try await identity.startSession(userID: userID, tenantID: claims.tid, role: role,
                                                   cookies: claims.cookies, recoveryCodes: codes, request: request)
        }
    }

    struct VerifyBody: Content {
        let challenge: String
        let code: String?
        let recoveryCode: String?
    }

    /// Wrong codes after which the account's owner is told (and again after as many more).
    static let failuresAlertEvery = 10

    /// The second step of a sign-in: a current TOTP code, or one recovery code. Every attempt is counted
    /// before its code is checked, twice: against the challenge (``MFAChallengeAttempts``: 5 codes, then it is
    /// dead) and against the account's second-factor count (``Identity/mfaThrottle``), which a correct
    /// password never clears, only a passed code. The role is read again here: a member removed or demoted
    /// while the challenge was open gets the current role, or nothing.
    @Sendable func verify(_ request: Request) async throws -> Response {
        let body = try request.content.decode(VerifyBody.self)
        guard let claims = await identity.accessTokens.verifyChallenge(body.challenge, purpose: .verify),
            let userID = UUID(uuidString: claims.sub.value),
            let user = try await User.find(userID, on: request.db)
        else { throw Self.invalidChallenge }
        guard body.code != nil || (body.recoveryCode.map { $0.count <= 64 } ?? false) else {
            throw AppError.invalidFields(["code": "give a code from the authenticator app, or a recoveryCode"])
        }
        let role = try await currentRole(userID, tenant: claims.tid, on: request.db)
        guard try await MFAChallengeAttempts.claim(claims.jti.value, expiresAt: claims.exp.value, on: request.db) else {
            throw Self.invalidChallenge
        }
        let failures = try await identity.mfaThrottle.claimAttempt(userID.uuidString, on: request.db)
        let passed: Bool
        var action = "mfa.success"
        if let code = body.code {
            passed = try await multiFactor.check(userID, code: code, on: request.db)
        } else {
            passed = try await multiFactor.useRecoveryCode(userID, code: body.recoveryCode!, on: request.db)
            action = "mfa.recovery_code_used"
        }
        guard passed else {
            try await identity.audit.record("mfa.failure", actor: userID, tenant: claims.tid, request: request)
            if failures % Self.failuresAlertEvery == 0 {
                try await Outbox.enqueue(MailTemplates.secondFactorFailures(to: MailAddress(name: user.displayName, address: user.email)!,
                                                                            count: failures, link: identity.links.signIn),
                                         kind: "mfa-failures", on: request.db)
                try await identity.audit.record("mfa.failures_alert", actor: userID, tenant: claims.tid,
                                                metadata: ["failures": String(failures)], request: request)
            }
            throw Self.invalidCode
        }
        try await identity.mfaThrottle.clear(userID.uuidString, on: request.db)
        try await MFAChallengeAttempts.spend(claims.jti.value, on: request.db)
        try await identity.audit.record(action, actor: userID, tenant: claims.tid, request: request)
        return try await identity.startSession(userID: userID, tenantID: claims.tid, role: role,
                                               cookies: claims.cookies, request: request)
    }

    /// The role `userID` holds in `tenant` now; a challenge for a membership that is gone is void.
    func currentRole(_ userID: UUID, tenant: UUID, on database: any Database) async throws -> Role {
        guard let membership = try await Membership.query(on: database)
            .filter(\.$userID == userID).filter(\.$tenantID == tenant).first()
        else { throw Self.invalidChallenge }
        return membership.role
    }

    /// The owner hears of every factor added or removed, whoever did it.
    private func mailOwner(_ userID: UUID, enabled: Bool, on database: any Database) async throws {
        guard let user = try await User.find(userID, on: database),
            let address = MailAddress(name: user.displayName, address: user.email) else { return }
        try await Outbox.enqueue(MailTemplates.secondFactorChanged(to: address, enabled: enabled, link: identity.links.signIn),
                                 kind: enabled ? "mfa-enabled" : "mfa-disabled", on: database)
    }

    struct DisableBody: Content {
        let password: String
        let code: String
    }

    @Sendable func disable(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let body = try request.content.decode(DisableBody.self)
        if Role.requiringMFA.contains(principal.role), try await !identity.passkeys.hasUsable(principal.userID, on: request.db) {
            throw AppError(.forbidden, code: "mfa_required",
                           message: "Your role requires two-factor authentication: add a passkey before turning the authenticator app off.")
        }
        _ = try await identity.confirmPassword(body.password, of: principal, failureAction: "mfa.password_failed", request: request)
        guard try await multiFactor.check(principal.userID, code: body.code, on: request.db) else { throw Self.invalidCode }
        try await multiFactor.disable(principal.userID, on: request.db)
        try await mailOwner(principal.userID, enabled: false, on: request.db)
        try await identity.audit.record("mfa.disabled", actor: principal.userID, tenant: principal.tenantID, request: request)
        return .noContent
    }

    struct PasswordBody: Content {
        let password: String
    }

    @Sendable func replaceRecoveryCodes(_ request: Request, _ principal: Principal) async throws -> RecoveryCodes {
        let body = try request.content.decode(PasswordBody.self)
        _ = try await identity.confirmPassword(body.password, of: principal, failureAction: "mfa.password_failed", request: request)
        guard try await multiFactor.isEnabled(principal.userID, on: request.db) else {
            throw AppError(.conflict, code: "mfa_not_enabled", message: "Turn on two-factor authentication first.")
        }
        let codes = try await multiFactor.replaceRecoveryCodes(principal.userID, on: request.db)
        try await identity.audit.record("mfa.recovery_codes_replaced", actor: principal.userID, tenant: principal.tenantID,
                                        request: request)
        return RecoveryCodes(recoveryCodes: codes)
    }

    static let invalidChallenge = AppError(.unauthorized, code: "invalid_challenge",
                                           message: "The sign-in challenge is invalid or expired. Sign in again.")
    static let invalidCode = AppError(.unauthorized, code: "invalid_code", message: "The code is wrong, expired or already used.")
}
