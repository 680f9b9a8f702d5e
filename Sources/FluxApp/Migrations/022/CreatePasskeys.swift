import Fluent
import SQLKit

/// Passkeys (WebAuthn credentials) and the single-use challenges their ceremonies sign.
struct CreatePasskeys: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("passkeys")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("credential_id", .string, .required)
            .field("public_key", .string, .required)
            .field("algorithm", .int, .required)
            .field("sign_count", .int64, .required)
            .field("transports", .string, .required)
            .field("backup_eligible", .bool, .required)
            .field("backed_up", .bool, .required)
            .field("name", .string, .required)
            .field("created_at", .datetime, .required)
            .field("last_used_at", .datetime)
            .field("flagged_at", .datetime)
            .unique(on: "credential_id")
            .ignoreExisting().create()
        try await database.schema("webauthn_challenges")
            .id()
            .field("challenge", .string, .required)
            .field("purpose", .string, .required)
            .field("user_id", .uuid, .references("users", "id", onDelete: .cascade))
            .field("binding", .string)
            .field("expires_at", .datetime, .required)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS passkeys_user_idx ON passkeys (user_id)").run()
        }
    }

    func revert(on database: any Database) async throws {
        for table in ["webauthn_challenges", "passkeys"] {
            try await database.schema(table).delete()
        }
    }
}
