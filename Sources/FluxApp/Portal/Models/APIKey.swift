import Fluent
import Foundation

/// A machine client's key: named, scoped to one tenant and to some operations, stored as a SHA-256 hash.
final class APIKey: Model, @unchecked Sendable {
    static let schema = "api_keys"

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "name") var name: String
    /// Space-separated ``APIKeys/Scope`` values.
    @Field(key: "scopes") var scopes: String
    @Field(key: "secret_hash") var secretHash: String
    @OptionalField(key: "created_by") var createdBy: UUID?
    @Field(key: "created_at") var createdAt: Date
    /// Set on the old key when it is rotated: it keeps working until then, beside its successor.
    @OptionalField(key: "expires_at") var expiresAt: Date?
    @OptionalField(key: "last_used_at") var lastUsedAt: Date?
    @OptionalField(key: "revoked_at") var revokedAt: Date?

    init() {}

    func isActive(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { $0 > now } ?? true)
    }
}
