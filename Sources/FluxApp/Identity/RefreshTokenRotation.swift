import Crypto
import Fluent
import FluxSecurity
import Foundation
import SQLKit

/// Refresh tokens: opaque, 256 bits, stored only as SHA-256 hashes, one family per session, rotated on every
/// use. Each rotation extends the session by its idle lifetime, up to its absolute end (``SessionLifetimes``); a
/// token is valid until the session's end as of its issue.
///
/// Rotation is one conditional `UPDATE … WHERE used_at IS NULL … RETURNING`, so of any number of concurrent
/// refreshes with one token exactly one wins, on SQLite and PostgreSQL alike. A successor is derived, not
/// drawn: HMAC(key, parent token ‖ successor id). So a legitimate double submit (two tabs, a retried request)
/// that loses the race within ``graceWindow`` gets the very successor the winner got, which only a holder of
/// the parent token can compute, and the chain stays one chain. Any other use of a rotated token is theft
/// or replay: the whole family (the session) is revoked.
struct RefreshTokenRotation: Sendable {
    static let graceWindow: TimeInterval = 10

    /// The current secret's key first; successors minted under the previous secret still match during a
    /// rotation.
    private let keys: [SymmetricKey]
    let lifetimes: SessionLifetimes

    init(secrets: [SecretKeys], lifetimes: SessionLifetimes) {
        keys = secrets.map { $0.key(for: "refresh-token") }
        self.lifetimes = lifetimes
    }

    enum Outcome {
        case rotated(session: AuthSession, token: String)
        /// Unknown, expired, or belonging to an ended session.
        case invalid
        /// A rotated token presented again outside the grace window: its session is now revoked.
        case reuseDetected(session: AuthSession)
    }

    /// The first token of a new session's family.
    func start(session: AuthSession, on database: any Database, now: Date) async throws -> String {
        let token = [UInt8].random(count: 32).base64URL
        try await RefreshToken(id: UUID(), sessionID: session.id!, tokenHash: Self.hash(token), parentID: nil,
                               now: now, lifetime: session.expiresAt.timeIntervalSince(now)).create(on: database)
        return token
    }

    func rotate(_ presented: String, on database: any Database, revocations: SessionRevocations,
                now: Date = Date()) async throws -> Outcome {
        guard presented.utf8.count == 43 else { return .invalid }
        let presentedHash = Self.hash(presented)
        guard let current = try await RefreshToken.query(on: database).filter(\.$tokenHash == presentedHash).first(),
            current.expiresAt > now,
            let session = try await AuthSession.find(current.sessionID, on: database)
        else { return .invalid }
        guard session.isActive(at: now) else { return .invalid }

        if current.usedAt == nil {
            let successorID = UUID()
            let end = lifetimes.end(signedInAt: session.createdAt, renewedAt: now)
            let successor = successorToken(of: presented, id: successorID, key: keys[0])
            let won = try await database.writeTransaction { transaction in
                let sql = transaction.sql
                let claimed = try await sql.raw("""
                    UPDATE refresh_tokens SET used_at = \(bind: now), replaced_by_id = \(bind: successorID)
                    WHERE id = \(bind: current.id!) AND used_at IS NULL
                    RETURNING id
                    """).first()
                guard claimed != nil else { return false }
                try await RefreshToken(id: successorID, sessionID: session.id!, tokenHash: Self.hash(successor),
                                       parentID: current.id, now: now, lifetime: end.timeIntervalSince(now)).create(on: transaction)
                session.lastUsedAt = now
                session.expiresAt = end
                try await session.update(on: transaction)
                return true
            }
            if won { return .rotated(session: session, token: successor) }
        }

        // Already rotated, by an earlier request or by the one that just won the race.
        guard let rotated = try await RefreshToken.find(current.id, on: database),
            let usedAt = rotated.usedAt, let successorID = rotated.replacedByID
        else { return .invalid }
        if now.timeIntervalSince(usedAt) <= Self.graceWindow,
            let successor = try await RefreshToken.find(successorID, on: database), successor.usedAt == nil,
            let token = keys.lazy.map({ successorToken(of: presented, id: successorID, key: $0) })
                .first(where: { Self.hash($0) == successor.tokenHash }) {
            return .rotated(session: session, token: token)
        }
        try await revocations.revoke([session.id!], reason: "refresh_token_reuse", on: database, now: now)
        return .reuseDetected(session: session)
    }

    private func successorToken(of parent: String, id: UUID, key: SymmetricKey) -> String {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Data(parent.utf8))
        mac.update(data: withUnsafeBytes(of: id.uuid) { Data($0) })
        return Data(mac.finalize()).base64URLEncodedString()
    }

    /// Tokens are 256-bit random (or derived from such), so an unkeyed hash cannot be reversed by guessing.
    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).hexString
    }
}
