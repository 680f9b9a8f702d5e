import Fluent
import SQLKit

/// In-app notifications and each person's choice of unread-message mail.
struct CreateNotifications: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("notifications")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("kind", .string, .required)
            .field("subject", .string, .required)
            .field("actor_id", .uuid)
            .field("link", .string, .required)
            .field("source_id", .uuid)
            .field("count", .int, .required)
            .field("created_at", .datetime, .required)
            .field("read_at", .datetime)
            .ignoreExisting().create()
        try await database.schema("notification_settings")
            .id()
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("digest", .string, .required)
            .field("last_digest_at", .datetime)
            .unique(on: "user_id")
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS notifications_user_idx ON notifications (user_id, created_at)").run()
        }
    }

    func revert(on database: any Database) async throws {
        for table in ["notification_settings", "notifications"] {
            try await database.schema(table).delete()
        }
    }
}
