@testable import FluxApp
import Fluent
import FluxSecurity
import Foundation
import Testing
import VaporTesting

/// Passkeys through the API, with a software authenticator that signs as a real one does: adding one, signing in
/// with it alone and as the second step after the password, and every refusal the issue names.
@Suite struct PasskeyTests {
    /// The relying party a test Flux has: PUBLIC_URL http://127.0.0.1:8080 becomes `localhost`.
    static let rpID = "localhost"
    static let origin = "http://localhost:8080"

    struct Options: Decodable {
        struct PublicKey: Decodable {
            struct Descriptor: Decodable { let id: String }
            struct User: Decodable { let id: String }
            let challenge: String
            let rpId: String?
            let user: User?
            let allowCredentials: [Descriptor]?
            let excludeCredentials: [Descriptor]?
        }
        let challengeId: UUID
        let publicKey: PublicKey

        var challenge: [UInt8] { Base64URL.decode(publicKey.challenge) ?? [] }
    }

    func send(_ tester: any TestingApplicationTester, _ path: String, _ body: [String: Any]?, method: HTTPMethod = .POST,
              headers extra: HTTPHeaders = [:]) async throws -> TestingHTTPResponse {
        var headers = try await csrfHeaders(tester)
        headers.add(contentsOf: extra)
        return try await tester.sendRequest(method, path, headers: headers) { req in
            if let body { req.body = .init(data: try JSONSerialization.data(withJSONObject: body)) }
        }
    }

    func registrationOptions(_ tester: any TestingApplicationTester, _ account: SignedIn) async throws -> Options {
        let response = try await send(tester, "/api/auth/passkeys/registration/options", [:], headers: account.bearer)
        #expect(response.status == .ok, "\(response.body.string)")
        return try response.content.decode(Options.self)
    }

    func credential(_ registered: (clientDataJSON: [UInt8], attestationObject: [UInt8], credentialID: [UInt8])) -> [String: Any] {
        ["id": Base64URL.encode(registered.credentialID), "type": "public-key",
         "response": ["clientDataJSON": Base64URL.encode(registered.clientDataJSON),
                      "attestationObject": Base64URL.encode(registered.attestationObject), "transports": ["internal", "hybrid"]]]
    }

    /// Adds `authenticator`'s key to `account` through both steps; the answer of the second.
    func add(_ tester: any TestingApplicationTester, _ account: SignedIn, _ authenticator: SoftwareAuthenticator,
             name: String = "Work laptop") async throws -> TestingHTTPResponse {
        let options = try await registrationOptions(tester, account)
        return try await send(tester, "/api/auth/passkeys", ["challengeId": options.challengeId.uuidString, "name": name,
                                                             "credential": credential(authenticator.register(challenge: options.challenge))],
                              headers: account.bearer)
    }

    func assertion(_ authenticator: inout SoftwareAuthenticator, _ options: Options, userHandle: String?) -> [String: Any] {
        let signed = authenticator.assert(challenge: options.challenge, userHandle: userHandle.flatMap { Base64URL.decode($0) })
        var response: [String: Any] = ["clientDataJSON": Base64URL.encode(signed.clientDataJSON),
                                       "authenticatorData": Base64URL.encode(signed.authenticatorData),
                                       "signature": Base64URL.encode(signed.signature)]
        if let userHandle { response["userHandle"] = userHandle }
        return ["id": Base64URL.encode(authenticator.credentialID), "type": "public-key", "response": response]
    }

    /// Signs in with the key alone (`mfaChallenge` nil) or as the second step; the options and the answer.
    func signIn(_ tester: any TestingApplicationTester, _ authenticator: inout SoftwareAuthenticator, userHandle: String?,
                mfaChallenge: String? = nil) async throws -> (options: Options, response: TestingHTTPResponse) {
        let asked = try await send(tester, "/api/auth/passkeys/authentication/options", mfaChallenge.map { ["challenge": $0] } ?? [:])
        #expect(asked.status == .ok, "\(asked.body.string)")
        let options = try asked.content.decode(Options.self)
        var body: [String: Any] = ["challengeId": options.challengeId.uuidString, "credential": assertion(&authenticator, options, userHandle: userHandle)]
        if let mfaChallenge { body["challenge"] = mfaChallenge }
        return (options, try await send(tester, "/api/auth/passkeys/authentication", body))
    }

    func actions(_ app: Application) async throws -> [String] {
        try await AuditEvent.query(on: app.db).all().map(\.action)
    }

    @Test func aPasskeyAddedFromSettingsSignsInAloneUntilItIsRemoved() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await mintSignedIn(app, role: .clientAdmin)
            var laptop = SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin)
            let options = try await registrationOptions(tester, account)
            #expect(options.publicKey.user?.id == Passkeys.userHandle(account.userID))
            let added = try await send(tester, "/api/auth/passkeys", ["challengeId": options.challengeId.uuidString, "name": "Work laptop",
                                                                      "credential": credential(laptop.register(challenge: options.challenge))],
                                       headers: account.bearer)
            #expect(added.status == .created, "\(added.body.string)")
            let answer = try added.content.decode(PasskeyController.Added.self)
            let view = answer.passkey
            #expect(view.name == "Work laptop" && view.transports == ["internal", "hybrid"] && !view.flagged)
            // The account's first factor: recovery codes come with it, once.
            let codes = try #require(answer.recoveryCodes)
            #expect(codes.count == 10)
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$kind == "passkey-added").count() == 1)
            // The same key cannot be added twice: the next options exclude it.
            #expect(try await registrationOptions(tester, account).publicKey.excludeCredentials?.map(\.id) == [Base64URL.encode(laptop.credentialID)])

            let handle = Passkeys.userHandle(account.userID)
            let (used, signedIn) = try await signIn(tester, &laptop, userHandle: handle)
            #expect(signedIn.status == .ok, "\(signedIn.body.string)")
            let pair = try signedIn.content.decode(TokenPair.self)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Authorization": "Bearer \(pair.accessToken)"]).status == .ok)
            #expect(try await Passkey.query(on: app.db).first()?.lastUsedAt != nil)

            // A challenge is used once: the same answer again is refused.
            let replay = try await send(tester, "/api/auth/passkeys/authentication",
                                        ["challengeId": used.challengeId.uuidString, "credential": assertion(&laptop, used, userHandle: handle)])
            #expect(replay.status == .unauthorized && errorCode(replay) == "invalid_challenge")

            let renamed = try await send(tester, "/api/auth/passkeys/\(view.id)", ["name": "Old laptop"], method: .PATCH, headers: account.bearer)
            #expect(renamed.status == .ok)
            #expect(try renamed.content.decode(PasskeyController.View.self).name == "Old laptop")
            let removed = try await send(tester, "/api/auth/passkeys/\(view.id)", [:], method: .DELETE, headers: account.bearer)
            #expect(removed.status == .noContent)
            // No factor left: the recovery codes went with the last one.
            #expect(try await RecoveryCode.query(on: app.db).filter(\.$userID == account.userID).count() == 0)
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$kind == "passkey-removed").count() == 1)
            let refused = try await signIn(tester, &laptop, userHandle: handle).response
            #expect(refused.status == .unauthorized && errorCode(refused) == "passkey_failed")
            let audited = try await actions(app)
            for action in ["passkey.added", "passkey.sign_in", "passkey.renamed", "passkey.removed", "passkey.unknown_credential"] {
                #expect(audited.contains(action), "\(action)")
            }
        }
    }

    @Test(arguments: [SoftwareAuthenticator.Algorithm.es256, .rs256])
    func anOwnerSatisfiesTheStaffRuleWithAPasskeyAfterThePassword(_ algorithm: SoftwareAuthenticator.Algorithm) async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let owner = try await mintSignedIn(app, role: .owner)
            var key = SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin, algorithm: algorithm)
            let added = try await add(tester, owner, key)
            #expect(added.status == .created)
            let recovery = try #require(try added.content.decode(PasskeyController.Added.self).recoveryCodes)
            let user = try #require(try await User.find(owner.userID, on: app.db))
            user.passwordHash = try await app.identity.passwords.hash(testPassword)
            try await user.update(on: app.db)

            struct Challenge: Decodable { let mfaRequired: Bool; let enrollmentRequired: Bool; let methods: [String]; let challenge: String }
            let password = try await login(tester, email: user.email)
            let challenge = try password.content.decode(Challenge.self)
            #expect(challenge.mfaRequired && !challenge.enrollmentRequired && challenge.methods == ["passkey", "recovery"])
            // Without an authenticator app, a code cannot be the second step.
            let code = try await send(tester, "/api/auth/mfa/verify", ["challenge": challenge.challenge, "code": "123456"])
            #expect(code.status == .unauthorized)

            // A key of another account cannot complete this account's sign-in.
            let other = try await mintSignedIn(app, role: .engineer)
            var stranger = SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin)
            #expect(try await add(tester, other, stranger).status == .created)
            let wrongKey = try await signIn(tester, &stranger, userHandle: nil, mfaChallenge: challenge.challenge)
            #expect(wrongKey.response.status == .unauthorized)

            let (options, second) = try await signIn(tester, &key, userHandle: nil, mfaChallenge: challenge.challenge)
            #expect(options.publicKey.allowCredentials?.map(\.id) == [Base64URL.encode(key.credentialID)])
            #expect(second.status == .ok, "\(second.body.string)")
            let pair = try second.content.decode(TokenPair.self)
            let session = try #require(try await AuthSession.find(pair.sessionId, on: app.db))
            #expect(session.role == .owner && session.userID == owner.userID)
            #expect(try await actions(app).contains("passkey.wrong_account"))

            // The owner's only factor stays: removing it is refused until another exists.
            let view = try #require(try await Passkey.query(on: app.db).filter(\.$userID == owner.userID).first())
            let removal = try await send(tester, "/api/auth/passkeys/\(view.id!)", ["password": testPassword], method: .DELETE,
                                         headers: ["Authorization": "Bearer \(pair.accessToken)"])
            #expect(removal.status == .conflict && errorCode(removal) == "mfa_required")

            // The device lost: the password and a recovery code still sign the owner in, once per code.
            let lost = try await login(tester, email: user.email).content.decode(Challenge.self)
            let rescued = try await send(tester, "/api/auth/mfa/verify", ["challenge": lost.challenge, "recoveryCode": recovery[0]])
            #expect(rescued.status == .ok, "\(rescued.body.string)")
        }
    }

    @Test func whatABrowserOrAttackerGetsWrongIsRefusedAndNothingIsStored() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await mintSignedIn(app, role: .clientMember)
            func register(_ authenticator: SoftwareAuthenticator, attestation: [UInt8]? = nil) async throws -> TestingHTTPResponse {
                let options = try await registrationOptions(tester, account)
                var sent = credential(authenticator.register(challenge: options.challenge))
                if let attestation {
                    sent["response"] = ["clientDataJSON": (sent["response"] as! [String: Any])["clientDataJSON"]!,
                                        "attestationObject": Base64URL.encode(attestation)]
                }
                return try await send(tester, "/api/auth/passkeys", ["challengeId": options.challengeId.uuidString, "name": "Key", "credential": sent],
                                      headers: account.bearer)
            }
            // Malformed CBOR, a key made for another site, a page on another origin, a fake ceremony type.
            let malformed = try await register(SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin), attestation: [0xA3, 0x63, 0x66, 0x6D])
            #expect(malformed.status == .badRequest && errorCode(malformed) == "passkey_invalid")
            let otherSite = try await register(SoftwareAuthenticator(rpID: "evil.example", origin: Self.origin))
            #expect(otherSite.status == .badRequest)
            let otherOrigin = try await register(SoftwareAuthenticator(rpID: Self.rpID, origin: "https://evil.example"))
            #expect(otherOrigin.status == .badRequest)
            var wrongType = SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin)
            wrongType.clientDataType = "webauthn.get"
            #expect(try await register(wrongType).status == .badRequest)
            var unverified = SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin)
            unverified.flags = 0x01
            #expect(try await register(unverified).status == .badRequest)
            let blank = try await send(tester, "/api/auth/passkeys", ["challengeId": UUID().uuidString, "name": "", "credential": [:]],
                                       headers: account.bearer)
            #expect(blank.status == .badRequest)
            #expect(try await Passkey.query(on: app.db).count() == 0)

            // A challenge given to one session cannot add a key through another.
            let options = try await registrationOptions(tester, account)
            let elsewhere = try await mintSignedIn(app, role: .clientMember)
            let crossed = try await send(tester, "/api/auth/passkeys",
                                         ["challengeId": options.challengeId.uuidString, "name": "Key",
                                          "credential": credential(SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin).register(challenge: options.challenge))],
                                         headers: elsewhere.bearer)
            #expect(crossed.status == .unauthorized && errorCode(crossed) == "invalid_challenge")
            #expect(try await Passkey.query(on: app.db).count() == 0)

            // An expired challenge is refused.
            var phone = SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin)
            #expect(try await add(tester, account, phone).status == .created)
            let asked = try await send(tester, "/api/auth/passkeys/authentication/options", [:]).content.decode(Options.self)
            let challenge = try #require(try await WebAuthnChallenge.find(asked.challengeId, on: app.db))
            challenge.expiresAt = Date().addingTimeInterval(-1)
            try await challenge.update(on: app.db)
            let late = try await send(tester, "/api/auth/passkeys/authentication",
                                      ["challengeId": asked.challengeId.uuidString,
                                       "credential": assertion(&phone, asked, userHandle: Passkeys.userHandle(account.userID))])
            #expect(late.status == .unauthorized && errorCode(late) == "invalid_challenge")

            // A user handle naming another account than the key's is an attack, audited.
            let named = try await signIn(tester, &phone, userHandle: Passkeys.userHandle(elsewhere.userID)).response
            #expect(named.status == .unauthorized && errorCode(named) == "passkey_failed")
            #expect(try await actions(app).contains("passkey.user_handle_mismatch"))

            // A sign count that goes backwards flags the key: it signs in no more.
            let handle = Passkeys.userHandle(account.userID)
            #expect(try await signIn(tester, &phone, userHandle: handle).response.status == .ok)
            phone.signCount = 0
            let cloned = try await signIn(tester, &phone, userHandle: handle).response
            #expect(cloned.status == .unauthorized)
            #expect(try await Passkey.query(on: app.db).first()?.flaggedAt != nil)
            phone.signCount = 1_000
            #expect(try await signIn(tester, &phone, userHandle: handle).response.status == .unauthorized)
            #expect(try await actions(app).contains("passkey.flagged"))
        }
    }

    /// The authenticator app turned off while a passkey remains: its recovery codes stay, for the day the device is lost.
    @Test func recoveryCodesOutliveTheAppWhileAPasskeyRemains() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await mintSignedIn(app, role: .clientMember)
            let multiFactor = MultiFactor(identity: app.identity)
            let user = try #require(try await User.find(account.userID, on: app.db))
            _ = try await multiFactor.begin(for: user, on: app.db)
            let factor = try #require(try await MfaFactor.query(on: app.db).filter(\.$userID == account.userID).first())
            let seed = try app.identity.secretBox.open(factor.sealedSecret)
            #expect(try await multiFactor.confirm(account.userID, code: TOTP.code(secret: seed, step: TOTP.step(at: Date())), on: app.db)?.count == 10)
            let added = try await add(tester, account, SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin))
            #expect(try added.content.decode(PasskeyController.Added.self).recoveryCodes == nil)
            try await multiFactor.disable(account.userID, on: app.db)
            #expect(try await multiFactor.hasRecoveryCodes(account.userID, on: app.db))
        }
    }

    /// A passkey is a second factor everywhere one is asked: a mailed reset link does not sign its account in.
    @Test func aPasswordResetLinkDoesNotStandInForThePasskey() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await mintSignedIn(app, role: .clientMember)
            #expect(try await add(tester, account, SoftwareAuthenticator(rpID: Self.rpID, origin: Self.origin)).status == .created)
            let token = try await OneTimeTokens.issue(purpose: AccountRecovery.passwordReset, userID: account.userID,
                                                      lifetime: AccountRecovery.lifetime, on: app.db)
            let reset = try await send(tester, "/api/auth/password/reset", ["token": token, "password": "a fresh passphrase", "useCookies": true])
            #expect(reset.status == .noContent)
            #expect(reset.headers.setCookie?["access"] == nil)
        }
    }

    @Test func theRelyingPartyComesFromPublicURLAndBadSettingsStopTheBoot() throws {
        let directory = try TemporaryDirectory()
        func load(_ environment: [String: String]) throws(ConfigError) -> AppConfig {
            try AppConfig.load(from: ["DATA_DIR": directory.url.path].merging(environment) { _, new in new })
        }
        let production = try load(["PUBLIC_URL": "https://portal.example.com"])
        #expect(production.relyingParty.id == "portal.example.com" && production.relyingParty.origins == ["https://portal.example.com"])
        let above = try load(["PUBLIC_URL": "https://portal.example.com", "WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://www.example.com"])
        #expect(above.relyingParty.id == "example.com" && above.relyingParty.origins == ["https://portal.example.com", "https://www.example.com"])
        let development = try load([:])
        #expect(development.relyingParty.id == "localhost" && development.relyingParty.origins.contains("http://localhost:8080"))
        for (name, value) in [("WEBAUTHN_RP_ID", "10.0.0.1"), ("WEBAUTHN_RP_ID", "other.example"), ("WEBAUTHN_ORIGINS", "https://evil.example"),
                              ("WEBAUTHN_ORIGINS", "http://portal.example.com")] {
            do {
                _ = try load(["PUBLIC_URL": "https://portal.example.com", name: value])
                Issue.record("\(name)=\(value) was accepted")
            } catch {
                #expect(error.problems.map(\.variable) == [name], "\(name)=\(value)")
            }
        }
    }
}
