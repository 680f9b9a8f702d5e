import Fluent
import SQLKit

/// The append-only audit trail every later feature writes to (sign-ins, role changes, key use).
struct CreateAuditEvent: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("audit_events")
            .id()
            .field("occurred_at", .datetime, .required)
            .field("action", .string, .required)
            .field("actor_id", .uuid)
            .field("tenant_id", .uuid)
            .field("target", .string)
            .field("ip_hash", .string)
            .field("request_id", .string)
            .field("metadata", .string)
            .ignoreExisting()
            .create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS audit_events_occurred_at_idx ON audit_events (occurred_at)").run()
            try await sql.raw("CREATE INDEX IF NOT EXISTS audit_events_action_idx ON audit_events (action)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("audit_events").delete()
    }
}
