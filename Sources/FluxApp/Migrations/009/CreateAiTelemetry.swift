import Fluent
import SQLKit

/// FluxAI telemetry, with the column names of the site's report (AiConversation, AiEvent), indexed for every
/// dashboard filter.
struct CreateAiTelemetry: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("ai_conversations")
            .id()
            .field("sessionId", .string, .required)
            .field("visitorIp", .string, .required)
            .field("locale", .string, .required)
            .field("pageUrl", .string)
            .field("industryLabel", .string)
            .field("funnelStage", .string, .required)
            .field("outcome", .string, .required)
            .field("messageCount", .int, .required)
            .field("toolCallCount", .int, .required)
            .field("estimatedSavingsPercent", .double)
            .field("productionVolume", .double)
            .field("signalId", .uuid)
            .field("startedAt", .datetime, .required)
            .field("lastMessageAt", .datetime, .required)
            .field("closedAt", .datetime)
            .unique(on: "sessionId")
            .ignoreExisting().create()
        try await database.schema("ai_events")
            .id()
            .field("conversationId", .uuid, .required, .references("ai_conversations", "id", onDelete: .cascade))
            .field("type", .string, .required)
            .field("payloadJson", .string, .required)
            .field("toolName", .string)
            .field("latencyMs", .int)
            .field("tokensIn", .int)
            .field("tokensOut", .int)
            .field("cachedTokens", .int)
            .field("createdAt", .datetime, .required)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            for (name, table, columns) in [
                ("ai_conversations_started_idx", "ai_conversations", ["startedAt"]),
                ("ai_conversations_outcome_idx", "ai_conversations", ["outcome", "startedAt"]),
                ("ai_conversations_industry_idx", "ai_conversations", ["industryLabel"]),
                ("ai_conversations_locale_idx", "ai_conversations", ["locale"]),
                ("ai_conversations_stage_idx", "ai_conversations", ["funnelStage"]),
                ("ai_conversations_last_message_idx", "ai_conversations", ["outcome", "lastMessageAt"]),
                ("ai_conversations_signal_idx", "ai_conversations", ["signalId"]),
                ("ai_events_conversation_idx", "ai_events", ["conversationId", "createdAt"]),
            ] {
                let list = SQLList(columns.map { SQLIdentifier($0) })
                try await sql.raw("CREATE INDEX IF NOT EXISTS \(ident: name) ON \(ident: table) (\(list))").run()
            }
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("ai_events").delete()
        try await database.schema("ai_conversations").delete()
    }
}
