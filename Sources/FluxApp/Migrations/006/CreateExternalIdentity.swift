import Fluent

/// Accounts linked to an OpenID Connect provider's subject.
struct CreateExternalIdentity: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("external_identities")
            .id()
            .field("provider", .string, .required)
            .field("subject", .string, .required)
            .field("user_id", .uuid, .required, .references("users", "id", onDelete: .cascade))
            .field("created_at", .datetime, .required)
            .unique(on: "provider", "subject")
            .ignoreExisting().create()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("external_identities").delete()
    }
}
