import Fluent
import Foundation

/// A user's TOTP authenticator: the seed sealed by ``SecretBox``, confirmed once a first code matched, and
/// the last time step accepted, so no code is accepted twice.
final class MfaFactor: Model, @unchecked Sendable {
    static let schema = "mfa_factors"

    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    @Field(key: "sealed_secret") var sealedSecret: String
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "confirmed_at") var confirmedAt: Date?
    @OptionalField(key: "last_used_step") var lastUsedStep: Int64?

    init() {}

    init(userID: UUID, sealedSecret: String, now: Date) {
        id = UUID()
        self.userID = userID
        self.sealedSecret = sealedSecret
        createdAt = now
    }
}

/// One single-use recovery code, stored as a SHA-256 hash (the codes carry 80 random bits).
final class RecoveryCode: Model, @unchecked Sendable {
    static let schema = "recovery_codes"

    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    @Field(key: "code_hash") var codeHash: String
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "used_at") var usedAt: Date?

    init() {}

    init(userID: UUID, codeHash: String, now: Date) {
        id = UUID()
        self.userID = userID
        self.codeHash = codeHash
        createdAt = now
    }
}
