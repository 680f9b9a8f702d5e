import Fluent
import SQLKit

/// What runs for a client organization once it is provisioned: its configuration, the workers that serve
/// it (with heartbeats), the messages they log, and the API keys those workers call Flux with.
struct CreateTenantOperations: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("tenant_configs")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("template_type", .string, .required)
            .field("business_name", .string, .required)
            .field("language", .string, .required)
            .field("opening_hours", .string, .required)
            .field("updated_at", .datetime, .required)
            .unique(on: "tenant_id")
            .ignoreExisting().create()
        try await database.schema("message_logs")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("direction", .string, .required)
            .field("from_address", .string, .required)
            .field("to_address", .string, .required)
            .field("text", .string, .required)
            .field("external_id", .string)
            .field("occurred_at", .datetime, .required)
            .ignoreExisting().create()
        try await database.schema("worker_processes")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("name", .string, .required)
            .field("status", .string, .required)
            .field("last_error", .string)
            .field("heartbeat_at", .datetime, .required)
            .unique(on: "tenant_id", "name")
            .ignoreExisting().create()
        try await database.schema("api_keys")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("name", .string, .required)
            .field("scopes", .string, .required)
            .field("secret_hash", .string, .required)
            .field("created_by", .uuid)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime)
            .field("last_used_at", .datetime)
            .field("revoked_at", .datetime)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS message_logs_tenant_time_idx ON message_logs (tenant_id, occurred_at, id)").run()
            try await sql.raw("CREATE UNIQUE INDEX IF NOT EXISTS message_logs_external_idx ON message_logs (tenant_id, external_id)").run()
            try await sql.raw("CREATE INDEX IF NOT EXISTS api_keys_tenant_idx ON api_keys (tenant_id, name)").run()
        }
    }

    func revert(on database: any Database) async throws {
        for table in ["api_keys", "worker_processes", "message_logs", "tenant_configs"] {
            try await database.schema(table).delete()
        }
    }
}
