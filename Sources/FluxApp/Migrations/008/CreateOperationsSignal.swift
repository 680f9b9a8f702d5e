import Fluent
import SQLKit

/// Consultation tickets (OperationsSignal).
struct CreateOperationsSignal: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("operations_signals")
            .id()
            .field("status", .string, .required)
            .field("name", .string, .required)
            .field("company", .string, .required)
            .field("email", .string, .required)
            .field("phone", .string)
            .field("message", .string)
            .field("timeframe", .string)
            .field("preferred_contact", .string, .required)
            .field("conversation_insights", .string, .required)
            .field("suggested_topics", .string, .required)
            .field("page_url", .string)
            .field("referrer_url", .string)
            .field("session_id", .string)
            .field("ip_hash", .string, .required)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            for statement in [
                "CREATE INDEX IF NOT EXISTS operations_signals_status_idx ON operations_signals (status, created_at)",
                "CREATE INDEX IF NOT EXISTS operations_signals_session_id_idx ON operations_signals (session_id)",
            ] {
                try await sql.raw(SQLQueryString(statement)).run()
            }
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("operations_signals").delete()
    }
}
