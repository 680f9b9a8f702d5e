import Fluent
import Foundation

/// A provider's account (issuer-scoped subject) linked to a Flux user.
final class ExternalIdentity: Model, @unchecked Sendable {
    static let schema = "external_identities"

    @ID(key: .id) var id: UUID?
    @Field(key: "provider") var provider: String
    @Field(key: "subject") var subject: String
    @Field(key: "user_id") var userID: UUID
    @Field(key: "created_at") var createdAt: Date

    init() {}

    init(provider: String, subject: String, userID: UUID, now: Date = Date()) {
        id = UUID()
        self.provider = provider
        self.subject = subject
        self.userID = userID
        createdAt = now
    }
}
