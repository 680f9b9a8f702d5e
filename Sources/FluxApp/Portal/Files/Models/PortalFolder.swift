import Fluent
import Foundation

/// A folder of an organization's files, inside another or at the top level.
final class PortalFolder: Model, @unchecked Sendable {
    static let schema = "portal_folders"

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @OptionalField(key: "parent_id") var parentID: UUID?
    @Field(key: "name") var name: String
    @Field(key: "created_by") var createdBy: UUID
    @Field(key: "created_at") var createdAt: Date

    init() {}
}
