import Fluent
import Foundation

/// A single-use secret sent out of band (the staff setup link; later email verification and password reset),
/// stored only as a hash.
final class OneTimeToken: Model, @unchecked Sendable {
    static let schema = "one_time_tokens"

    @ID(key: .id) var id: UUID?
    @Field(key: "purpose") var purpose: String
    @Field(key: "token_hash") var tokenHash: String
    @OptionalField(key: "user_id") var userID: UUID?
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "used_at") var usedAt: Date?

    init() {}

    init(purpose: String, tokenHash: String, userID: UUID?, now: Date, lifetime: TimeInterval) {
        id = UUID()
        self.purpose = purpose
        self.tokenHash = tokenHash
        self.userID = userID
        createdAt = now
        expiresAt = now.addingTimeInterval(lifetime)
    }
}
