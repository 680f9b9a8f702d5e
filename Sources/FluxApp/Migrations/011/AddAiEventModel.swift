import Fluent

/// Each FluxAI answer records the model that gave it, so its cost is priced at that model's rates.
struct AddAiEventModel: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await AddColumn(table: "ai_events", column: "model", type: .text).apply(on: database)
    }

    func revert(on database: any Database) async throws {
        try await database.schema("ai_events").deleteField("model").update()
    }
}
