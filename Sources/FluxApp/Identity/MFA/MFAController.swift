import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `/api/auth/mfa/…`: TOTP enrolment (signed in, or with the enrolment challenge of a role that requires
/// it), the second step of a sign-in, disabling, and recovery codes.
struct MFAController: Sendable {
    let identity: Identity
    let security: Hardening

    var multiFactor: MultiFactor { MultiFactor(identity: identity) }

    func register(on root: any RoutesBuilder) {
        let mfa = root.grouped("api", "auth", "mfa")
        let signedIn = mfa.grouped(security.rateLimit(RateLimits.account))
        signedIn.post("totp", "setup", use: setup)
        signedIn.post("totp", "confirm", use: confirm)
        signedIn.secured(.POST, "totp", "disable", roles: Role.everyone, identity: identity, use: disable)
        signedIn.secured(.POST, "recovery-codes", roles: Role.everyone, identity: identity, use: replaceRecoveryCodes)
        mfa.grouped(security.rateLimit(RateLimits.mfa)).post("verify", use: verify)
    }

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
    }

    @Sendable func setup(_ request: Request) async throws -> MultiFactor.Enrolment {
        let body = try request.body.data == nil ? SetupBody(challenge: nil) : request.content.decode(SetupBody.self)
        let enroller = try await enroller(request, challenge: body.challenge)
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
        guard let codes = try await multiFactor.confirm(userID, code: body.code, on: request.db) else {
            try await identity.audit.record("mfa.enable_failed", actor: userID, tenant: nil, request: request)
            throw Self.invalidCode
        }
        switch enroller {
        case .signedIn(let principal):
            try await identity.audit.record("mfa.enabled", actor: userID, tenant: principal.tenantID, request: request)
            return try await RecoveryCodes(recoveryCodes: codes).encodeResponse(status: .ok, for: request)
        case .challenged(let claims):
            try await identity.audit.record("mfa.enabled", actor: userID, tenant: claims.tid, request: request)
            return try await identity.startSession(userID: userID, tenantID: claims.tid, role: claims.role,
                                                   cookies: claims.cookies, recoveryCodes: codes, request: request)
        }
    }

    struct VerifyBody: Content {
        let challenge: String
        let code: String?
        let recoveryCode: String?
    }

    /// The second step of a sign-in: a current TOTP code, or one recovery code. Failures count toward the
    /// account's sign-in delay, like wrong passwords.
    @Sendable func verify(_ request: Request) async throws -> Response {
        let body = try request.content.decode(VerifyBody.self)
        guard let claims = await identity.accessTokens.verifyChallenge(body.challenge, purpose: .verify),
            let userID = UUID(uuidString: claims.sub.value),
            let user = try await User.find(userID, on: request.db)
        else { throw Self.invalidChallenge }
        try await identity.throttle.requireReady(user.email, on: request.db)
        let passed: Bool
        var action = "mfa.success"
        if let code = body.code {
            passed = try await multiFactor.check(userID, code: code, on: request.db)
        } else if let recovery = body.recoveryCode, recovery.count <= 64 {
            passed = try await multiFactor.useRecoveryCode(userID, code: recovery, on: request.db)
            action = "mfa.recovery_code_used"
        } else {
            throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.",
                           fields: ["code": "give a code from the authenticator app, or a recoveryCode"])
        }
        guard passed else {
            try await identity.throttle.recordFailure(user.email, on: request.db)
            try await identity.audit.record("mfa.failure", actor: userID, tenant: claims.tid, request: request)
            throw Self.invalidCode
        }
        try await identity.throttle.recordSuccess(user.email, on: request.db)
        try await identity.audit.record(action, actor: userID, tenant: claims.tid, request: request)
        return try await identity.startSession(userID: userID, tenantID: claims.tid, role: claims.role,
                                               cookies: claims.cookies, request: request)
    }

    struct DisableBody: Content {
        let password: String
        let code: String
    }

    @Sendable func disable(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let body = try request.content.decode(DisableBody.self)
        guard !Role.requiringMFA.contains(principal.role) else {
            throw AppError(.forbidden, code: "mfa_required", message: "Your role requires two-factor authentication.")
        }
        _ = try await identity.confirmPassword(body.password, of: principal, failureAction: "mfa.password_failed", request: request)
        guard try await multiFactor.check(principal.userID, code: body.code, on: request.db) else { throw Self.invalidCode }
        try await multiFactor.disable(principal.userID, on: request.db)
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
