import Fluent
import SQLKit

/// Token buckets shared by every replica (RATE_LIMIT_STORE=database). Times are Unix seconds as doubles so
/// one arithmetic statement works the same on SQLite and PostgreSQL.
struct CreateRateLimitBucket: AsyncMigration {
    func prepare(on database: any Database) async throws {
        guard let sql = database as? any SQLDatabase else { return }
        try await sql.raw("""
            CREATE TABLE IF NOT EXISTS rate_limit_buckets (
                key TEXT PRIMARY KEY,
                tokens DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                full_at DOUBLE PRECISION NOT NULL,
                allowed INTEGER NOT NULL
            )
            """).run()
        try await sql.raw("CREATE INDEX IF NOT EXISTS rate_limit_buckets_full_at_idx ON rate_limit_buckets (full_at)").run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("rate_limit_buckets").delete()
    }
}
