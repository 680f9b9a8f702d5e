import Fluent
import Foundation

/// One device sign-in; its refresh tokens form one family, and revoking it stops its access tokens at once.
final class AuthSession: Model, @unchecked Sendable {
    static let schema = "auth_sessions"

    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    @Field(key: "tenant_id") var tenantID: UUID
    @Enum(key: "role") var role: Role
    @Field(key: "device_label") var deviceLabel: String
    @Field(key: "ip_hash") var ipHash: String
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "last_used_at") var lastUsedAt: Date
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "revoked_at") var revokedAt: Date?
    @OptionalField(key: "revoked_reason") var revokedReason: String?

    init() {}

    init(userID: UUID, tenantID: UUID, role: Role, deviceLabel: String, ipHash: String, now: Date, lifetime: TimeInterval) {
        id = UUID()
        self.userID = userID
        self.tenantID = tenantID
        self.role = role
        self.deviceLabel = deviceLabel
        self.ipHash = ipHash
        createdAt = now
        lastUsedAt = now
        expiresAt = now.addingTimeInterval(lifetime)
    }

    func isActive(at now: Date) -> Bool { revokedAt == nil && expiresAt > now }
}
