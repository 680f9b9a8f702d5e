import Fluent
import Foundation

/// A user's role in one tenant.
final class Membership: Model, @unchecked Sendable {
    static let schema = "memberships"

    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    @Field(key: "tenant_id") var tenantID: UUID
    @Enum(key: "role") var role: Role
    @Field(key: "created_at") var createdAt: Date

    init() {}

    init(userID: UUID, tenantID: UUID, role: Role, createdAt: Date = Date()) {
        id = UUID()
        self.userID = userID
        self.tenantID = tenantID
        self.role = role
        self.createdAt = createdAt
    }
}
