import Fluent
import Foundation
import SQLKit

/// Single-use secrets sent out of band (the staff setup link, email verification, password reset): 256
/// random bits, stored only as hashes, spent by one conditional update so two concurrent uses cannot both
/// succeed.
enum OneTimeTokens {
    static func issue(purpose: String, userID: UUID?, lifetime: TimeInterval, on database: any Database,
                      now: Date = Date()) async throws -> String {
        let token = [UInt8].random(count: 32).base64URL
        try await OneTimeToken(purpose: purpose, tokenHash: RefreshTokenRotation.hash(token), userID: userID,
                               now: now, lifetime: lifetime).create(on: database)
        return token
    }

    struct Spent: Decodable {
        let user_id: UUID?
        let created_at: Date
    }

    /// Marks `token` used when it is a live token for `purpose`; `nil` when unknown, used, expired or foreign.
    static func redeem(_ token: String, purpose: String, on database: any Database, now: Date = Date()) async throws -> Spent? {
        guard token.utf8.count == 43 else { return nil }
        return try await database.sql.raw("""
            UPDATE one_time_tokens SET used_at = \(bind: now)
            WHERE purpose = \(bind: purpose) AND token_hash = \(bind: RefreshTokenRotation.hash(token))
                AND used_at IS NULL AND expires_at > \(bind: now)
            RETURNING user_id, created_at
            """).first(decoding: Spent.self)
    }

    /// Voids every unused token of `purpose` (of every purpose when `nil`), for `userID` when given.
    static func voidAll(purpose: String?, userID: UUID? = nil, on database: any Database) async throws {
        var query = OneTimeToken.query(on: database).filter(\.$usedAt == nil)
        if let purpose { query = query.filter(\.$purpose == purpose) }
        if let userID { query = query.filter(\.$userID == userID) }
        try await query.delete()
    }
}
