import Fluent
import SQLKit

/// Invitations into client organizations.
struct CreateInvitation: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("invitations")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("email", .string, .required)
            .field("role", .string, .required)
            .field("invited_by", .uuid, .required)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("accepted_at", .datetime)
            .field("revoked_at", .datetime)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS invitations_tenant_email_idx ON invitations (tenant_id, email)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("invitations").delete()
    }
}
