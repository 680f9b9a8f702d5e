import Fluent
import SQLKit

/// Code attempts per MFA challenge; staff accounts count as verified (an operator created them for their
/// address), so a provider sign-in can never claim one.
struct CreateMFAChallengeAttempts: AsyncMigration {
    func prepare(on database: any Database) async throws {
        try await database.schema("mfa_challenge_attempts")
            .field("challenge_id", .string, .identifier(auto: false))
            .field("attempts", .int, .required)
            .field("expires_at", .datetime, .required)
            .ignoreExisting().create()
        guard let sql = database as? any SQLDatabase else { return }
        try await sql.raw("CREATE INDEX IF NOT EXISTS mfa_challenge_attempts_expires_at_idx ON mfa_challenge_attempts (expires_at)").run()
        try await sql.raw("""
            UPDATE users SET email_verified_at = created_at
            WHERE email_verified_at IS NULL AND id IN (SELECT user_id FROM memberships WHERE role IN ('owner', 'admin', 'engineer', 'sales'))
            """).run()
    }

    func revert(on database: any Database) async throws {
        try await database.schema("mfa_challenge_attempts").delete()
    }
}
