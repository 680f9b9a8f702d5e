import Fluent
import SQLKit

/// The consultation ticket a public upload is attached to: unattached uploads are collected after a day.
struct AddAssetTicket: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await AddColumn(table: "assets", column: "signal_id", type: .uuid).apply(on: database)
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS assets_unattached_idx ON assets (signal_id, created_at)").run()
        }
    }

    func revert(on database: any Database) async throws {
        try await database.schema("assets").deleteField("signal_id").update()
    }
}
