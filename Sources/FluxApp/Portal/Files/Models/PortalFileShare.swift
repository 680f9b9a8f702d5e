import Fluent
import Foundation

/// A link that lets anyone holding it download one file until it expires or is revoked.
final class PortalFileShare: Model, @unchecked Sendable {
    static let schema = "portal_file_shares"

    @ID(key: .id) var id: UUID?
    @Field(key: "file_id") var fileID: UUID
    @Field(key: "created_by") var createdBy: UUID
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "revoked_at") var revokedAt: Date?

    init() {}
}
