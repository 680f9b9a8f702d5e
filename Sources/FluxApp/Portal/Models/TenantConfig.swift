import Fluent
import Foundation

/// A provisioned organization's settings (from its setup request, editable by staff).
final class TenantConfig: Model, @unchecked Sendable {
    static let schema = "tenant_configs"

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Field(key: "template_type") var templateType: String
    @Field(key: "business_name") var businessName: String
    @Field(key: "language") var language: String
    /// JSON object: weekday → [opening, closing] times.
    @Field(key: "opening_hours") var openingHours: String
    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}
