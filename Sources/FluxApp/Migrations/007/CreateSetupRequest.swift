import Fluent
import SQLKit

/// A client organization's request to be set up (onboarding).
struct CreateSetupRequest: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("setup_requests")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("user_id", .uuid, .required)
            .field("template_type", .string, .required)
            .field("contact_number", .string, .required)
            .field("status", .string, .required)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS setup_requests_tenant_id_idx ON setup_requests (tenant_id)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("setup_requests").delete()
    }
}
