import Fluent
import FluxSecurity
import Foundation
import Vapor

/// Signing in with a passkey: alone (a discoverable key names its account) or as the second step after the password.
extension PasskeyController {
    struct OptionsBody: Content {
        /// The password sign-in's challenge when the passkey is its second step; absent to sign in with a passkey alone.
        let challenge: String?
    }

    struct RequestAnswer: Content {
        let challengeId: UUID
        let publicKey: Passkeys.RequestOptions
    }

    /// The options for `navigator.credentials.get`: any key of this site's (alone), or the keys of the account the
    /// password named (second step).
    @Sendable func authenticationOptions(_ request: Request) async throws -> RequestAnswer {
        let body = try request.body.data == nil ? OptionsBody(challenge: nil) : request.content.decode(OptionsBody.self)
        guard let token = body.challenge else {
            let challenge = try await passkeys.issueChallenge(.signIn, userID: nil, binding: nil, on: request.db)
            return RequestAnswer(challengeId: challenge.id!, publicKey: passkeys.requestOptions(allowed: [], challenge: challenge))
        }
        guard let claims = await identity.accessTokens.verifyChallenge(token, purpose: .verify),
            let userID = UUID(uuidString: claims.sub.value)
        else { throw MFAController.invalidChallenge }
        let allowed = try await passkeys.usable(userID, on: request.db)
        guard !allowed.isEmpty else {
            throw AppError(.conflict, code: "no_passkey", message: "This account has no passkey. Use a code from your authenticator app.")
        }
        let challenge = try await passkeys.issueChallenge(.secondFactor, userID: userID, binding: claims.jti.value, on: request.db)
        return RequestAnswer(challengeId: challenge.id!, publicKey: passkeys.requestOptions(allowed: allowed, challenge: challenge))
    }

    /// A `PublicKeyCredential` from `navigator.credentials.get`, as its `toJSON()` writes it.
    struct AssertionCredential: Content {
        struct Response: Content {
            let clientDataJSON: String
            let authenticatorData: String
            let signature: String
            let userHandle: String?
        }
        let id: String
        let type: String
        let response: Response
    }

    struct AuthenticateBody: Content {
        let challengeId: UUID
        let credential: AssertionCredential
        /// The password sign-in's challenge, for a passkey as the second step.
        let challenge: String?
        /// Browser pages ask for HttpOnly cookies instead of tokens in the body.
        let useCookies: Bool?
    }

    /// Signs in with a verified assertion: a passkey that checks the user's presence and verification (a PIN or a
    /// biometric on the device) is both factors at once, so it satisfies the staff rule for a second factor.
    @Sendable func authenticate(_ request: Request) async throws -> Response {
        let body = try request.content.decode(AuthenticateBody.self)
        let response = body.credential.response
        guard body.credential.type == "public-key", let clientData = Base64URL.decode(response.clientDataJSON),
            let authenticatorData = Base64URL.decode(response.authenticatorData), let signature = Base64URL.decode(response.signature),
            Base64URL.decode(body.credential.id) != nil
        else { throw AppError.invalidFields(["credential": "must be the credential the browser returned, as its toJSON() writes it"]) }
        var claims: MFAChallengeClaims?
        if let token = body.challenge {
            guard let verified = await identity.accessTokens.verifyChallenge(token, purpose: .verify) else { throw MFAController.invalidChallenge }
            claims = verified
        }
        guard let challenge = try await passkeys.takeChallenge(body.challengeId, for: claims == nil ? .signIn : .secondFactor, on: request.db),
            challenge.binding == claims?.jti.value, let challengeBytes = Base64URL.decode(challenge.challenge)
        else { throw Self.invalidChallenge }
        guard let passkey = try await Passkey.query(on: request.db).filter(\.$credentialID == body.credential.id).first() else {
            try await identity.audit.record("passkey.unknown_credential", actor: nil, tenant: nil, request: request)
            throw Self.failed
        }
        let userID = passkey.userID
        if let claims {
            // The second step: the key must be the account's whose password was just given.
            guard claims.sub.value == userID.uuidString, challenge.userID == userID else {
                try await identity.audit.record("passkey.wrong_account", actor: userID, tenant: claims.tid, request: request)
                throw Self.failed
            }
            guard try await MFAChallengeAttempts.claim(claims.jti.value, expiresAt: claims.exp.value, on: request.db) else {
                throw MFAController.invalidChallenge
            }
            _ = try await identity.mfaThrottle.claimAttempt(userID.uuidString, on: request.db)
        } else if response.userHandle != Passkeys.userHandle(userID) {
            // A discoverable key names its account; one naming another account than the key's own is an attack.
            try await identity.audit.record("passkey.user_handle_mismatch", actor: userID, tenant: nil, request: request)
            throw Self.failed
        }
        guard passkey.flaggedAt == nil else {
            try await identity.audit.record("passkey.flagged_refused", actor: userID, tenant: claims?.tid, target: passkey.id!.uuidString,
                                            request: request)
            throw Self.failed
        }
        let assertion: WebAuthnVerifier.Assertion
        do {
            assertion = try WebAuthnVerifier.verifyAssertion(
                clientDataJSON: clientData, authenticatorData: authenticatorData, signature: signature, challenge: challengeBytes,
                publicKey: Base64URL.decode(passkey.publicKey) ?? [], storedSignCount: UInt32(clamping: passkey.signCount),
                relyingParty: passkeys.relyingParty)
        } catch let failure as WebAuthnFailure {
            if failure.reason == WebAuthnVerifier.signCountReason {
                passkey.flaggedAt = Date()
                try await passkey.update(on: request.db)
                try await identity.audit.record("passkey.flagged", actor: userID, tenant: claims?.tid, target: passkey.id!.uuidString,
                                                metadata: ["reason": failure.reason], request: request)
            } else {
                try await identity.audit.record("passkey.failure", actor: userID, tenant: claims?.tid, target: passkey.id!.uuidString,
                                                metadata: ["reason": failure.reason], request: request)
            }
            throw Self.failed
        }
        passkey.signCount = Int64(assertion.signCount)
        passkey.backedUp = assertion.backedUp
        passkey.lastUsedAt = Date()
        try await passkey.update(on: request.db)

        let tenantID: UUID, role: Role
        if let claims {
            tenantID = claims.tid
            role = try await MFAController(identity: identity).currentRole(userID, tenant: claims.tid, on: request.db)
            try await identity.mfaThrottle.clear(userID.uuidString, on: request.db)
            try await MFAChallengeAttempts.spend(claims.jti.value, on: request.db)
        } else {
            guard let membership = try await Membership.query(on: request.db).filter(\.$userID == userID).sort(\.$createdAt).first() else {
                throw Self.failed
            }
            tenantID = membership.tenantID
            role = membership.role
        }
        try await identity.audit.record(claims == nil ? "passkey.sign_in" : "mfa.success", actor: userID, tenant: tenantID,
                                        target: passkey.id!.uuidString, metadata: ["method": "passkey"], request: request)
        return try await identity.startSession(userID: userID, tenantID: tenantID, role: role,
                                               cookies: claims?.cookies ?? body.useCookies ?? false, request: request)
    }
}
