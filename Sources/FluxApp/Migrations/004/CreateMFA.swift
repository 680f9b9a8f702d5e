import Fluent
import SQLKit

/// TOTP factors and recovery codes.
struct CreateMFA: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("mfa_factors")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("sealed_secret", .string, .required)
            .field("created_at", .datetime, .required)
            .field("confirmed_at", .datetime)
            .field("last_used_step", .int64)
            .unique(on: "user_id")
            .ignoreExisting().create()
        try await database.schema("recovery_codes")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("code_hash", .string, .required)
            .field("created_at", .datetime, .required)
            .field("used_at", .datetime)
            .unique(on: "code_hash")
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS recovery_codes_user_id_idx ON recovery_codes (user_id)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("recovery_codes").delete()
        try await database.schema("mfa_factors").delete()
    }
}
