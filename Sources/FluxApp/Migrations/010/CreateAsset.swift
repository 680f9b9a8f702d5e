import Fluent

/// Public uploads.
struct CreateAsset: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("assets")
            .id()
            .field("sha256", .string, .required)
            .field("size", .int64, .required)
            .field("content_type", .string, .required)
            .field("original_name", .string, .required)
            .field("uploader_ip_hash", .string, .required)
            .field("created_at", .datetime, .required)
            .ignoreExisting().create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("assets").delete()
    }
}
