import Fluent

/// A message may carry one of its organization's files.
struct AddMessageAttachment: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await AddColumn(table: "chat_messages", column: "attachment_id", type: .uuid).apply(on: database)
    }

    func revert(on database: any Database) async throws {
        try await database.schema("chat_messages").deleteField("attachment_id").update()
    }
}
