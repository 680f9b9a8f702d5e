import Fluent
import SQLKit

/// The mail outbox, and when an account's email address was verified.
struct CreateOutbox: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("outbox_messages")
            .id()
            .field("kind", .string, .required)
            .field("recipient", .string, .required)
            .field("payload", .string, .required)
            .field("status", .string, .required)
            .field("attempts", .int, .required)
            .field("created_at", .datetime, .required)
            .field("next_attempt_at", .datetime, .required)
            .field("claimed_until", .datetime)
            .field("sent_at", .datetime)
            .field("last_error", .string)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS outbox_messages_due_idx ON outbox_messages (status, next_attempt_at)").run()
        }
        try await AddColumn(table: "users", column: "email_verified_at", type: .timestamp).apply(on: database)
    }

    func revert(on database: any Database) async throws {
        try await database.schema("outbox_messages").delete()
        try await database.schema("users").deleteField("email_verified_at").update()
    }
}
