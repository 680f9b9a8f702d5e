import Fluent
import SQLKit

/// The real-time event log (numbered, so a client that reconnects resumes where it stopped) and who is
/// connected to which conversation (presence, shared by every replica).
struct CreateRealtime: AsyncMigration {
    func prepare(on database: any Database) async throws {
        if let sql = database as? any SQLDatabase, sql.dialect.name == "sqlite" {
            // AUTOINCREMENT: a plain INTEGER PRIMARY KEY reuses numbers once the newest rows are deleted (as
            // retention does), and a client resuming "after N" would then miss events numbered N or less.
            // Column types as Fluent spells them on SQLite (UUID as BLOB, dates as REAL).
            try await sql.raw("""
                CREATE TABLE IF NOT EXISTS realtime_events (id INTEGER PRIMARY KEY AUTOINCREMENT,
                    thread_id BLOB NOT NULL REFERENCES chat_threads (id) ON DELETE CASCADE,
                    type TEXT NOT NULL, data TEXT NOT NULL, created_at REAL NOT NULL)
                """).run()
        } else {
            // An identity column never hands a number out twice.
            try await database.schema("realtime_events")
                .field("id", .int64, .identifier(auto: true))
                .field("thread_id", .uuid, .required, .references("chat_threads", "id", onDelete: .cascade))
                .field("type", .string, .required)
                .field("data", .string, .required)
                .field("created_at", .datetime, .required)
                .ignoreExisting().create()
        }
        try await database.schema("realtime_presence")
            .field("connection_id", .uuid, .required)
            .field("thread_id", .uuid, .required, .references("chat_threads", "id", onDelete: .cascade))
            .field("user_id", .uuid, .required)
            .field("status", .string, .required)
            .field("seen_at", .datetime, .required)
            .compositeIdentifier(over: "connection_id", "thread_id")
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS realtime_events_thread_idx ON realtime_events (thread_id, id)").run()
            try await sql.raw("CREATE INDEX IF NOT EXISTS realtime_events_created_idx ON realtime_events (created_at)").run()
            try await sql.raw("CREATE INDEX IF NOT EXISTS realtime_presence_thread_idx ON realtime_presence (thread_id, seen_at)").run()
            try await sql.raw("CREATE INDEX IF NOT EXISTS realtime_presence_seen_idx ON realtime_presence (seen_at)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("realtime_presence").delete()
        try await database.schema("realtime_events").delete()
    }
}
