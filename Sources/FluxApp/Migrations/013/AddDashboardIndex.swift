import Fluent
import SQLKit

/// A covering index for the FluxAI dashboard's aggregate: it starts with the grouped columns and holds every
/// column the aggregate and its filters read, so the dashboard is one pass over a narrow index in group order.
struct AddDashboardIndex: AsyncMigration {
    func prepare(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        try await sql.raw("""
            CREATE INDEX IF NOT EXISTS ai_conversations_dashboard_idx ON ai_conversations
                ("funnelStage", outcome, "industryLabel", locale, "startedAt", "messageCount", "toolCallCount")
            """).run()
    }

    func revert(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        try await sql.raw("DROP INDEX IF EXISTS ai_conversations_dashboard_idx").run()
    }
}
