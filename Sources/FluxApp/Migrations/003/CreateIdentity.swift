import Fluent
import SQLKit

/// Accounts, organizations, memberships, device sessions, refresh-token families, login failures and one-time
/// tokens: the identity tables. Every hot filter column is indexed.
struct CreateIdentity: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("tenants")
            .id()
            .field("name", .string, .required)
            .field("kind", .string, .required)
            .field("status", .string, .required)
            .field("phone", .string)
            .field("created_at", .datetime, .required)
            .ignoreExisting().create()
        try await database.schema("users")
            .id()
            .field("email", .string, .required)
            .field("password_hash", .string)
            .field("display_name", .string)
            .field("created_at", .datetime, .required)
            .field("password_changed_at", .datetime)
            .unique(on: "email")
            .ignoreExisting().create()
        try await database.schema("memberships")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("role", .string, .required)
            .field("created_at", .datetime, .required)
            .unique(on: "user_id", "tenant_id")
            .ignoreExisting().create()
        try await database.schema("auth_sessions")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("tenant_id", .uuid, .required)
            .field("role", .string, .required)
            .field("device_label", .string, .required)
            .field("ip_hash", .string, .required)
            .field("created_at", .datetime, .required)
            .field("last_used_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("revoked_at", .datetime)
            .field("revoked_reason", .string)
            .ignoreExisting().create()
        try await database.schema("refresh_tokens")
            .id()
            .field("session_id", .uuid, .required, .references("auth_sessions", "id", onDelete: .cascade))
            .field("token_hash", .string, .required)
            .field("parent_id", .uuid)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("used_at", .datetime)
            .field("replaced_by_id", .uuid)
            .unique(on: "token_hash")
            .ignoreExisting().create()
        try await database.schema("login_failures")
            .field("account_key", .string, .identifier(auto: false))
            .field("failures", .int, .required)
            .field("last_failed_at", .datetime, .required)
            .ignoreExisting().create()
        try await database.schema("one_time_tokens")
            .id()
            .field("purpose", .string, .required)
            .field("token_hash", .string, .required)
            .field("user_id", .uuid)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("used_at", .datetime)
            .unique(on: "token_hash")
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            for statement in [
                "CREATE INDEX IF NOT EXISTS memberships_tenant_id_idx ON memberships (tenant_id)",
                "CREATE INDEX IF NOT EXISTS auth_sessions_user_id_idx ON auth_sessions (user_id)",
                "CREATE INDEX IF NOT EXISTS refresh_tokens_session_id_idx ON refresh_tokens (session_id)",
                "CREATE INDEX IF NOT EXISTS one_time_tokens_purpose_idx ON one_time_tokens (purpose)",
                "CREATE INDEX IF NOT EXISTS audit_events_actor_id_idx ON audit_events (actor_id)",
                "CREATE INDEX IF NOT EXISTS audit_events_tenant_id_idx ON audit_events (tenant_id)",
            ] {
                try await sql.raw(SQLQueryString(statement)).run()
            }
        }
    }

    func revert(on database: any Database) async throws {
        for table in ["one_time_tokens", "login_failures", "refresh_tokens", "auth_sessions", "memberships", "users", "tenants"] {
            try await database.schema(table).delete()
        }
    }
}

/// The audit trail gains the client's user agent (the identity events need it).
struct AddAuditUserAgent: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await AddColumn(table: "audit_events", column: "user_agent", type: .text).apply(on: database)
    }

    func revert(on database: any Database) async throws {
        try await database.schema("audit_events").deleteField("user_agent").update()
    }
}

/// Adds a nullable column unless it is there: PostgreSQL can say IF NOT EXISTS, SQLite cannot, so look
/// first, since a migration may run again.
struct AddColumn {
    enum ColumnType {
        case text, timestamp, uuid, integer
    }

    let table: String
    let column: String
    let type: ColumnType

    func apply(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        let present: Bool
        if sql.dialect.name == "sqlite" {
            present = try await sql.raw("SELECT 1 AS found FROM pragma_table_info(\(bind: table)) WHERE name = \(bind: column)").first() != nil
        } else {
            present = try await sql.raw("""
                SELECT 1 AS found FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = \(bind: table) AND column_name = \(bind: column)
                """).first() != nil
        }
        // As Fluent spells these types on each database, so the column reads back like its siblings.
        let spelled = switch (type, sql.dialect.name == "sqlite") {
        case (.text, _): "TEXT"
        case (.timestamp, true): "REAL"
        case (.timestamp, false): "TIMESTAMPTZ"
        case (.uuid, true): "BLOB"
        case (.uuid, false): "UUID"
        case (.integer, true): "INTEGER"
        case (.integer, false): "BIGINT"
        }
        if !present { try await sql.raw("ALTER TABLE \(ident: table) ADD COLUMN \(ident: column) \(unsafeRaw: spelled)").run() }
    }
}
