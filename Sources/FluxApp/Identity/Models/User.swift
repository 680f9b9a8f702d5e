import Fluent
import Foundation

final class User: Model, @unchecked Sendable {
    static let schema = "users"

    @ID(key: .id) var id: UUID?
    /// Normalized (``EmailAddress``), unique.
    @Field(key: "email") var email: String
    /// `nil` for an account that signs in only through a provider.
    @OptionalField(key: "password_hash") var passwordHash: String?
    @OptionalField(key: "display_name") var displayName: String?
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "password_changed_at") var passwordChangedAt: Date?
    @OptionalField(key: "email_verified_at") var emailVerifiedAt: Date?

    init() {}

    init(id: UUID = UUID(), email: String, passwordHash: String?, displayName: String? = nil, createdAt: Date = Date()) {
        self.id = id
        self.email = email
        self.passwordHash = passwordHash
        self.displayName = displayName
        self.createdAt = createdAt
    }
}
