import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// Passkeys: the options a browser needs for each WebAuthn ceremony, the single-use challenges behind them, and
/// the keys that verified registrations store. What a response proves is judged by ``WebAuthnVerifier``.
struct Passkeys: Sendable {
    /// How long a browser has to answer a challenge.
    static let challengeLifetime: TimeInterval = 300
    /// Keys one person may hold: enough for every device they own, few enough to list on one page.
    static let maximumPerUser = 20
    static let algorithms = [-7, -257]

    let relyingParty: RelyingParty
    /// The name browsers show in their passkey dialogs.
    let relyingPartyName: String

    // MARK: challenges

    /// A fresh challenge for `purpose`, stored until it is used or expires; expired ones are removed on the way.
    func issueChallenge(_ purpose: WebAuthnChallenge.Purpose, userID: UUID?, binding: String?, on database: any Database,
                        now: Date = Date()) async throws -> WebAuthnChallenge {
        try await database.sql.delete(from: WebAuthnChallenge.schema).where("expires_at", .lessThan, now).run()
        let challenge = WebAuthnChallenge(challenge: [UInt8].random(count: 32), purpose: purpose, userID: userID,
                                          binding: binding, expiresAt: now.addingTimeInterval(Self.challengeLifetime))
        try await challenge.create(on: database)
        return challenge
    }

    /// Takes challenge `id` for `purpose` out of the store, so no two answers can use it; `nil` when it was never
    /// issued, was used, has expired or was issued for something else.
    func takeChallenge(_ id: UUID, for purpose: WebAuthnChallenge.Purpose, on database: any Database,
                       now: Date = Date()) async throws -> WebAuthnChallenge? {
        struct Row: Decodable {
            let challenge: String
            let purpose: String
            let userId: UUID?
            let binding: String?
            let expiresAt: Date
        }
        guard let row = try await database.sql.raw("""
            DELETE FROM webauthn_challenges WHERE id = \(bind: id)
            RETURNING challenge, purpose, user_id, binding, expires_at
            """).first(decoding: Row.self, keyDecodingStrategy: .convertFromSnakeCase),
            row.purpose == purpose.rawValue, row.expiresAt > now, let bytes = Base64URL.decode(row.challenge)
        else { return nil }
        return WebAuthnChallenge(challenge: bytes, purpose: purpose, userID: row.userId, binding: row.binding, expiresAt: row.expiresAt)
    }

    // MARK: keys

    /// The keys that can still sign `userID` in (a flagged key cannot).
    func usable(_ userID: UUID, on database: any Database) async throws -> [Passkey] {
        try await Passkey.query(on: database).filter(\.$userID == userID).filter(\.$flaggedAt == nil).sort(\.$createdAt).all()
    }

    func hasUsable(_ userID: UUID, on database: any Database) async throws -> Bool {
        try await Passkey.query(on: database).filter(\.$userID == userID).filter(\.$flaggedAt == nil).count() > 0
    }

    // MARK: options, as the WebAuthn JSON forms (PublicKeyCredentialCreationOptionsJSON and …RequestOptionsJSON)

    struct Descriptor: Content {
        var type = "public-key"
        let id: String
        let transports: [String]?

        init(_ passkey: Passkey) {
            id = passkey.credentialID
            transports = passkey.transports.isEmpty ? nil : passkey.transports.split(separator: ",").map(String.init)
        }
    }

    struct CreationOptions: Content {
        struct Party: Content { let id: String; let name: String }
        struct User: Content { let id: String; let name: String; let displayName: String }
        struct Parameter: Content { var type = "public-key"; let alg: Int }
        struct Selection: Content {
            var residentKey = "preferred"
            var requireResidentKey = false
            var userVerification = "required"
        }
        let rp: Party
        let user: User
        let challenge: String
        let pubKeyCredParams: [Parameter]
        let timeout: Int
        let excludeCredentials: [Descriptor]
        var authenticatorSelection = Selection()
        var attestation = "none"
    }

    struct RequestOptions: Content {
        let challenge: String
        let rpId: String
        let timeout: Int
        let allowCredentials: [Descriptor]
        var userVerification = "required"
    }

    /// What a browser needs to make a key for `user`, who already holds `existing` (the authenticator refuses
    /// to make a second key for an account it already has one for).
    func creationOptions(for user: User, existing: [Passkey], challenge: WebAuthnChallenge) -> CreationOptions {
        CreationOptions(rp: .init(id: relyingParty.id, name: relyingPartyName),
                        user: .init(id: Self.userHandle(user.id!), name: user.email, displayName: user.displayName ?? user.email),
                        challenge: challenge.challenge, pubKeyCredParams: Self.algorithms.map { .init(alg: $0) },
                        timeout: Int(Self.challengeLifetime * 1000), excludeCredentials: existing.map(Descriptor.init))
    }

    /// What a browser needs to sign in with one of `allowed` (empty: any key it holds for this site).
    func requestOptions(allowed: [Passkey], challenge: WebAuthnChallenge) -> RequestOptions {
        RequestOptions(challenge: challenge.challenge, rpId: relyingParty.id, timeout: Int(Self.challengeLifetime * 1000),
                       allowCredentials: allowed.map(Descriptor.init))
    }

    /// The WebAuthn user handle of `userID`: its 16 bytes, base64url. It names the account without saying anything
    /// about the person.
    static func userHandle(_ userID: UUID) -> String {
        Base64URL.encode(withUnsafeBytes(of: userID.uuid) { Array($0) })
    }
}
