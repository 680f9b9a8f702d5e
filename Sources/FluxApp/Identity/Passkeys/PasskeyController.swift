import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `/api/auth/passkeys/…`: adding, listing, renaming and removing passkeys (signed in); signing in with one, alone
/// or as the second step after the password, is in `PasskeyController+SignIn`.
struct PasskeyController: Sendable {
    let identity: Identity

    var passkeys: Passkeys { identity.passkeys }

    // MARK: managing one's keys

    struct View: Content {
        let id: UUID
        let name: String
        let createdAt: Date
        let lastUsedAt: Date?
        /// Synced to the owner's other devices by their platform (iCloud Keychain, Google Password Manager…).
        let backedUp: Bool
        let transports: [String]
        /// Refused for sign-in since it presented a sign count that went backwards.
        let flagged: Bool

        init(_ passkey: Passkey) {
            id = passkey.id!
            name = passkey.name
            createdAt = passkey.createdAt
            lastUsedAt = passkey.lastUsedAt
            backedUp = passkey.backedUp
            transports = passkey.transports.split(separator: ",").map(String.init)
            flagged = passkey.flaggedAt != nil
        }
    }

    @Sendable func list(_ request: Request, _ principal: Principal) async throws -> [View] {
        try await Passkey.query(on: request.db).filter(\.$userID == principal.userID).sort(\.$createdAt).all().map(View.init)
    }

    struct PasswordBody: Content {
        /// The current password (accounts without one: a sign-in within the last 5 minutes).
        let password: String?
    }

    struct CreationAnswer: Content {
        let challengeId: UUID
        let publicKey: Passkeys.CreationOptions
    }

    /// The first step of adding a key: the password re-checked (a stolen session alone cannot add the thief's key),
    /// then the options for `navigator.credentials.create`.
    @Sendable func registrationOptions(_ request: Request, _ principal: Principal) async throws -> CreationAnswer {
        let body = try request.body.data == nil ? PasswordBody(password: nil) : request.content.decode(PasswordBody.self)
        try await identity.reauthenticate(password: body.password, of: principal, failureAction: "passkey.password_failed", request: request)
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AuthController.invalidCredentials }
        let existing = try await Passkey.query(on: request.db).filter(\.$userID == principal.userID).all()
        guard existing.count < Passkeys.maximumPerUser else {
            throw AppError(.conflict, code: "too_many_passkeys",
                           message: "An account holds at most \(Passkeys.maximumPerUser) passkeys. Remove one you no longer use first.")
        }
        let challenge = try await passkeys.issueChallenge(.register, userID: principal.userID, binding: principal.sessionID.uuidString,
                                                         on: request.db)
        return CreationAnswer(challengeId: challenge.id!, publicKey: passkeys.creationOptions(for: user, existing: existing, challenge: challenge))
    }

    /// A `PublicKeyCredential` from `navigator.credentials.create`, as its `toJSON()` writes it.
    struct RegistrationCredential: Content {
        struct Response: Content {
            let clientDataJSON: String
            let attestationObject: String
            let transports: [String]?
        }
        let id: String
        let type: String
        let response: Response
    }

    struct RegisterBody: Content {
        let challengeId: UUID
        let name: String
        let credential: RegistrationCredential
    }

    struct Added: Content {
        let passkey: View
        /// Ten recovery codes, shown once, when the account had none left: a passkey-only account that loses its
        /// device signs in with one of them.
        let recoveryCodes: [String]?
    }

    /// The second step: the authenticator's answer verified against the challenge this session was given, then kept.
    @Sendable func register(_ request: Request, _ principal: Principal) async throws -> Response {
        let body = try request.content.decode(RegisterBody.self)
        let name = try Self.validName(body.name)
        guard let clientData = Base64URL.decode(body.credential.response.clientDataJSON),
            let attestation = Base64URL.decode(body.credential.response.attestationObject), body.credential.type == "public-key"
        else { throw AppError.invalidFields(["credential": "must be the credential the browser returned, as its toJSON() writes it"]) }
        guard let challenge = try await passkeys.takeChallenge(body.challengeId, for: .register, on: request.db),
            challenge.userID == principal.userID, challenge.binding == principal.sessionID.uuidString,
            let challengeBytes = Base64URL.decode(challenge.challenge)
        else { throw Self.invalidChallenge }
        let registration: WebAuthnVerifier.Registration
        do {
            registration = try WebAuthnVerifier.verifyRegistration(clientDataJSON: clientData, attestationObject: attestation,
                                                                   challenge: challengeBytes, relyingParty: passkeys.relyingParty)
        } catch let failure as WebAuthnFailure {
            try await identity.audit.record("passkey.add_failed", actor: principal.userID, tenant: principal.tenantID,
                                            metadata: ["reason": failure.reason], request: request)
            throw AppError(.badRequest, code: "passkey_invalid", message: "The passkey could not be added: \(failure.reason)")
        }
        let transports = (body.credential.response.transports ?? []).prefix(8).map { TextInput.line($0, maxLength: 32) }
        let passkey = Passkey(userID: principal.userID, registration: registration, transports: Array(transports), name: name, now: Date())
        guard try await Passkey.query(on: request.db).filter(\.$credentialID == passkey.credentialID).first() == nil else {
            throw AppError(.conflict, code: "passkey_exists", message: "This passkey is already on an account.")
        }
        try await passkey.create(on: request.db)
        let multiFactor = MultiFactor(identity: identity)
        let codes = try await multiFactor.hasRecoveryCodes(principal.userID, on: request.db)
            ? nil : try await multiFactor.replaceRecoveryCodes(principal.userID, on: request.db)
        try await mailOwner(principal.userID, added: true, name: name, on: request.db)
        try await identity.audit.record("passkey.added", actor: principal.userID, tenant: principal.tenantID,
                                        target: passkey.id!.uuidString, request: request)
        return try await Added(passkey: View(passkey), recoveryCodes: codes).encodeResponse(status: .created, for: request)
    }

    struct RenameBody: Content {
        let name: String
    }

    @Sendable func rename(_ request: Request, _ principal: Principal) async throws -> View {
        let body = try request.content.decode(RenameBody.self)
        let passkey = try await own(request, principal)
        passkey.name = try Self.validName(body.name)
        try await passkey.update(on: request.db)
        try await identity.audit.record("passkey.renamed", actor: principal.userID, tenant: principal.tenantID,
                                        target: passkey.id!.uuidString, request: request)
        return View(passkey)
    }

    /// Removes a key, the password re-checked. A role that requires a second factor keeps at least one: the last
    /// passkey of someone without an authenticator app stays until they set one up.
    @Sendable func remove(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let body = try request.body.data == nil ? PasswordBody(password: nil) : request.content.decode(PasswordBody.self)
        let passkey = try await own(request, principal)
        try await identity.reauthenticate(password: body.password, of: principal, failureAction: "passkey.password_failed", request: request)
        if Role.requiringMFA.contains(principal.role), try await !MultiFactor(identity: identity).isEnabled(principal.userID, on: request.db) {
            let others = try await passkeys.usable(principal.userID, on: request.db).filter { $0.id != passkey.id }
            guard !others.isEmpty else {
                throw AppError(.conflict, code: "mfa_required",
                               message: "Your role requires a second factor: set up an authenticator app or add another passkey before removing this one.")
            }
        }
        try await passkey.delete(on: request.db)
        // Recovery codes stand in for a second factor: with none left, they go too.
        if try await !MultiFactor(identity: identity).hasAnyFactor(principal.userID, on: request.db) {
            try await RecoveryCode.query(on: request.db).filter(\.$userID == principal.userID).delete()
        }
        try await mailOwner(principal.userID, added: false, name: passkey.name, on: request.db)
        try await identity.audit.record("passkey.removed", actor: principal.userID, tenant: principal.tenantID,
                                        target: passkey.id!.uuidString, request: request)
        return .noContent
    }

    private func own(_ request: Request, _ principal: Principal) async throws -> Passkey {
        guard let id = request.parameters.get("passkeyID", as: UUID.self),
            let passkey = try await Passkey.query(on: request.db).filter(\.$id == id).filter(\.$userID == principal.userID).first()
        else { throw AppError.notFound("No such passkey.") }
        return passkey
    }

    static func validName(_ name: String) throws -> String {
        let line = TextInput.line(name, maxLength: 64)
        guard !line.isEmpty, name.count <= 64 else {
            throw AppError.invalidFields(["name": "give the passkey a name of 1 to 64 characters, such as the device it is on"])
        }
        return line
    }

    private func mailOwner(_ userID: UUID, added: Bool, name: String, on database: any Database) async throws {
        guard let user = try await User.find(userID, on: database),
            let address = MailAddress(name: user.displayName, address: user.email) else { return }
        try await Outbox.enqueue(MailTemplates.passkeyChanged(to: address, added: added, name: name, link: identity.links.signIn),
                                 kind: added ? "passkey-added" : "passkey-removed", on: database)
    }

    static let invalidChallenge = AppError(.unauthorized, code: "invalid_challenge",
                                           message: "The passkey request is invalid, used or expired. Try again.")
    static let failed = AppError(.unauthorized, code: "passkey_failed",
                                 message: "The passkey could not be verified. Try again, or sign in another way.")
}
