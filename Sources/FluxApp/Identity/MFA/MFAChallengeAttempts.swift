import Fluent
import Foundation
import SQLKit

/// Bounds the codes one sign-in challenge may try: each attempt is counted (one atomic upsert) before its
/// code is checked, so parallel requests with one challenge cannot exceed ``maximum``; past it, or once the
/// challenge has completed a sign-in, the challenge is dead.
enum MFAChallengeAttempts {
    static let maximum = 5

    /// Counts one attempt with challenge `id`; false when the challenge has no attempt left.
    static func claim(_ id: String, expiresAt: Date, on database: any Database, now: Date = Date()) async throws -> Bool {
        struct Row: Decodable { let attempts: Int }
        let sql = database.sql
        try await sql.delete(from: "mfa_challenge_attempts").where("expires_at", .lessThan, now).run()
        let row = try await sql.raw("""
            INSERT INTO mfa_challenge_attempts (challenge_id, attempts, expires_at) VALUES (\(bind: id), 1, \(bind: expiresAt))
            ON CONFLICT (challenge_id) DO UPDATE SET attempts = mfa_challenge_attempts.attempts + 1
            RETURNING attempts
            """).first(decoding: Row.self)
        return (row?.attempts ?? .max) <= maximum
    }

    /// A challenge that completed a sign-in cannot start another.
    static func spend(_ id: String, on database: any Database) async throws {
        try await database.sql.update("mfa_challenge_attempts")
            .set("attempts", to: maximum + 1).where("challenge_id", .equal, id).run()
    }
}
