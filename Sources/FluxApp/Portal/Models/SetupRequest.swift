import Fluent
import Foundation

/// A client's onboarding request: pending → approved → provisioned, or rejected.
final class SetupRequest: Model, @unchecked Sendable {
    static let schema = "setup_requests"

    enum Status: String, Codable, Sendable {
        case pending, approved, provisioned, rejected
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "user_id") var userID: UUID
    @Field(key: "template_type") var templateType: String
    @Field(key: "contact_number") var contactNumber: String
    @Enum(key: "status") var status: Status
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "updated_at") var updatedAt: Date

    init() {}

    init(tenantID: UUID, userID: UUID, templateType: String, contactNumber: String, now: Date = Date()) {
        id = UUID()
        self.tenantID = tenantID
        self.userID = userID
        self.templateType = templateType
        self.contactNumber = contactNumber
        status = .pending
        createdAt = now
        updatedAt = now
    }

    /// Whether `tenantID` has made a request that is not rejected: until then its users belong in onboarding.
    static func exists(for tenantID: UUID, on database: any Database) async throws -> Bool {
        try await SetupRequest.query(on: database).filter(\.$tenantID == tenantID).filter(\.$status != .rejected).first() != nil
    }
}
