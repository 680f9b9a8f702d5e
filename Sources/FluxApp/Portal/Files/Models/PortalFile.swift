import Fluent
import Foundation

/// A document a client organization stores: its bytes live in the ``BlobStore`` under `files/<tenant>/<file>`.
final class PortalFile: Model, @unchecked Sendable {
    static let schema = "portal_files"

    /// Who sees a file besides its uploader.
    enum Visibility: String, Codable, Sendable, CaseIterable {
        /// Nobody else.
        case `private`
        /// Every member of the organization.
        case tenant
        /// The company's staff (the engineers the client works with).
        case staff
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @OptionalField(key: "folder_id") var folderID: UUID?
    @Field(key: "name") var name: String
    @Field(key: "content_type") var contentType: String
    @Field(key: "size") var size: Int64
    @Field(key: "sha256") var sha256: String
    @Enum(key: "visibility") var visibility: Visibility
    @Field(key: "uploaded_by") var uploadedBy: UUID
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}
