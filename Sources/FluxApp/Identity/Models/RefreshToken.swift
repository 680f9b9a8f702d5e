import Fluent
import Foundation

/// One link of a session's refresh-token chain, stored only as a hash of the token.
final class RefreshToken: Model, @unchecked Sendable {
    static let schema = "refresh_tokens"

    @ID(key: .id) var id: UUID?
    @Field(key: "session_id") var sessionID: UUID
    @Field(key: "token_hash") var tokenHash: String
    @OptionalField(key: "parent_id") var parentID: UUID?
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "used_at") var usedAt: Date?
    @OptionalField(key: "replaced_by_id") var replacedByID: UUID?

    init() {}

    init(id: UUID, sessionID: UUID, tokenHash: String, parentID: UUID?, now: Date, lifetime: TimeInterval) {
        self.id = id
        self.sessionID = sessionID
        self.tokenHash = tokenHash
        self.parentID = parentID
        createdAt = now
        expiresAt = now.addingTimeInterval(lifetime)
    }
}
