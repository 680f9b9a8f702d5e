import Fluent
import SQLKit

/// Client organizations' files and folders, and the share links made for files.
struct CreatePortalFiles: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("portal_folders")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("parent_id", .uuid, .references("portal_folders", "id", onDelete: .restrict))
            .field("name", .string, .required)
            .field("created_by", .uuid, .required)
            .field("created_at", .datetime, .required)
            .ignoreExisting().create()
        try await database.schema("portal_files")
            .id()
            .field("tenant_id", .uuid, .required, .references("tenants", "id", onDelete: .cascade))
            .field("folder_id", .uuid, .references("portal_folders", "id", onDelete: .restrict))
            .field("name", .string, .required)
            .field("content_type", .string, .required)
            .field("size", .int64, .required)
            .field("sha256", .string, .required)
            .field("visibility", .string, .required)
            .field("uploaded_by", .uuid, .required)
            .field("created_at", .datetime, .required)
            .field("updated_at", .datetime, .required)
            .ignoreExisting().create()
        try await database.schema("portal_file_shares")
            .id()
            .field("file_id", .uuid, .required, .references("portal_files", "id", onDelete: .cascade))
            .field("created_by", .uuid, .required)
            .field("created_at", .datetime, .required)
            .field("expires_at", .datetime, .required)
            .field("revoked_at", .datetime)
            .ignoreExisting().create()
        if let sql = database as? any SQLDatabase {
            try await sql.raw("CREATE INDEX IF NOT EXISTS portal_files_folder_idx ON portal_files (tenant_id, folder_id)").run()
            try await sql.raw("CREATE INDEX IF NOT EXISTS portal_folders_parent_idx ON portal_folders (tenant_id, parent_id)").run()
            try await sql.raw("CREATE INDEX IF NOT EXISTS portal_file_shares_file_idx ON portal_file_shares (file_id)").run()
        }
    }

    func revert(on database: any Database) async throws {
        for table in ["portal_file_shares", "portal_files", "portal_folders"] {
            try await database.schema(table).delete()
        }
    }
}
