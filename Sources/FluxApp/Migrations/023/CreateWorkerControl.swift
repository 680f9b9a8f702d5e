import Fluent
import SQLKit

/// The worker control plane: each organization's desired state and the commands that changed it, and what
/// each worker last reported beyond its heartbeat (ordering, pairing, version, staleness).
struct CreateWorkerControl: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("worker_desired_states")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("version", .int64, .required)
            .field("run", .bool, .required)
            .field("restart_generation", .int64, .required)
            .field("config_version", .int64, .required)
            .field("stale_after_seconds", .int64)
            .field("log_retention_days", .int64)
            .field("updated_at", .datetime, .required)
            .unique(on: "tenant_id")
            .ignoreExisting().create()
        try await database.schema("worker_commands")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("kind", .string, .required)
            .field("reason", .string, .required)
            .field("issued_by", .uuid)
            .field("issued_at", .datetime, .required)
            .field("acknowledged_at", .datetime)
            .field("acknowledged_by", .string)
            .ignoreExisting().create()
        for (column, type) in [("sequence", AddColumn.ColumnType.integer), ("qr_payload", .text), ("qr_expires_at", .timestamp),
                               ("paired_number", .text), ("software_version", .text), ("config_version", .integer),
                               ("stale_since", .timestamp)] {
            try await AddColumn(table: "worker_processes", column: column, type: type).apply(on: database)
        }
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS worker_commands_pending_idx ON worker_commands (tenant_id, acknowledged_at, issued_at)").run()
        }
    }

    func revert(on database: any Database) async throws {
        for table in ["worker_commands", "worker_desired_states"] {
            try await database.schema(table).delete()
        }
        for column in ["sequence", "qr_payload", "qr_expires_at", "paired_number", "software_version", "config_version", "stale_since"] {
            try await database.schema("worker_processes").deleteField(FieldKey(stringLiteral: column)).update()
        }
    }
}
