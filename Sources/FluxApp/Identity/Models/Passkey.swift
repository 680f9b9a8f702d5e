import Fluent
import FluxSecurity
import Foundation

/// A WebAuthn credential (a passkey) of one user: the public key the authenticator made for this relying party,
/// and what each sign-in must check against it. The private key never leaves the authenticator.
final class Passkey: Model, @unchecked Sendable {
    static let schema = "passkeys"

    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    /// The authenticator's credential id, base64url: how a sign-in names the key.
    @Field(key: "credential_id") var credentialID: String
    /// The COSE_Key bytes, base64url, exactly as the authenticator gave them at registration.
    @Field(key: "public_key") var publicKey: String
    /// The COSE algorithm: -7 (ES256) or -257 (RS256).
    @Field(key: "algorithm") var algorithm: Int
    @Field(key: "sign_count") var signCount: Int64
    /// Transports the browser reported (`internal`, `usb`, `hybrid`…), comma-separated; hints for the next sign-in.
    @Field(key: "transports") var transports: String
    /// Whether the key may be synced to the owner's other devices, and whether it is.
    @Field(key: "backup_eligible") var backupEligible: Bool
    @Field(key: "backed_up") var backedUp: Bool
    @Field(key: "name") var name: String
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "last_used_at") var lastUsedAt: Date?
    /// Set when a sign-in presented a sign count that went backwards (a cloned authenticator, perhaps): the key
    /// signs in no more until its owner removes it and adds it again.
    @OptionalField(key: "flagged_at") var flaggedAt: Date?

    init() {}

    init(userID: UUID, registration: WebAuthnVerifier.Registration, transports: [String], name: String, now: Date) {
        id = UUID()
        self.userID = userID
        credentialID = Base64URL.encode(registration.credentialID)
        publicKey = Base64URL.encode(registration.publicKey)
        algorithm = registration.algorithm
        signCount = Int64(registration.signCount)
        self.transports = transports.joined(separator: ",")
        backupEligible = registration.backupEligible
        backedUp = registration.backedUp
        self.name = name
        createdAt = now
    }
}

/// A WebAuthn challenge handed to a browser: random bytes it must sign, used once, for one purpose, within
/// five minutes, and bound to what asked for it (the signed-in session adding a key, or the password sign-in
/// that a passkey completes).
final class WebAuthnChallenge: Model, @unchecked Sendable {
    static let schema = "webauthn_challenges"

    enum Purpose: String, Codable {
        /// Adding a passkey, signed in.
        case register
        /// Signing in with a passkey alone.
        case signIn = "sign_in"
        /// A passkey as the second step after the password.
        case secondFactor = "second_factor"
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "challenge") var challenge: String
    @Enum(key: "purpose") var purpose: Purpose
    @OptionalField(key: "user_id") var userID: UUID?
    /// The session (register) or the password sign-in's challenge id (second factor) this challenge belongs to.
    @OptionalField(key: "binding") var binding: String?
    @Field(key: "expires_at") var expiresAt: Date

    init() {}

    init(challenge: [UInt8], purpose: Purpose, userID: UUID?, binding: String?, expiresAt: Date) {
        id = UUID()
        self.challenge = Base64URL.encode(challenge)
        self.purpose = purpose
        self.userID = userID
        self.binding = binding
        self.expiresAt = expiresAt
    }
}
