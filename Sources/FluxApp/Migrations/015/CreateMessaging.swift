import Fluent
import SQLKit

/// Conversations between clients and staff: threads, their members with read receipts, numbered messages,
/// and the revisions edits and deletions leave behind.
struct CreateMessaging: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("chat_threads")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("kind", .string, .required)
            .field("title", .string, .required)
            .field("created_by", .uuid, .required)
            .field("created_at", .datetime, .required)
            .field("last_seq", .int, .required)
            .field("last_message_at", .datetime)
            .ignoreExisting().create()
        try await database.schema("chat_members")
            .id()
            .field("thread_id", .uuid, .required, .references("chat_threads", "id", onDelete: .cascade))
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("last_read_seq", .int, .required)
            .field("notified_seq", .int, .required)
            .field("joined_at", .datetime, .required)
            .unique(on: "thread_id", "user_id")
            .ignoreExisting().create()
        try await database.schema("chat_messages")
            .id()
            .field("thread_id", .uuid, .required, .references("chat_threads", "id", onDelete: .cascade))
            .field("seq", .int, .required)
            .field("sender_id", .uuid, .required)
            .field("body", .string, .required)
            .field("created_at", .datetime, .required)
            .field("edited_at", .datetime)
            .field("deleted_at", .datetime)
            .unique(on: "thread_id", "seq")
            .ignoreExisting().create()
        try await database.schema("chat_revisions")
            .id()
            .field("message_id", .uuid, .required, .references("chat_messages", "id", onDelete: .cascade))
            .field("action", .string, .required)
            .field("body", .string, .required)
            .field("actor_id", .uuid, .required)
            .field("at", .datetime, .required)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS chat_threads_tenant_idx ON chat_threads (tenant_id, last_message_at)").run()
            try await sql.raw("CREATE INDEX IF NOT EXISTS chat_members_user_idx ON chat_members (user_id)").run()
        }
    }

    func revert(on database: any Database) async throws {
        for table in ["chat_revisions", "chat_messages", "chat_members", "chat_threads"] {
            try await database.schema(table).delete()
        }
    }
}
