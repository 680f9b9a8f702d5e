import Crypto
import Fluent
import FluxSecurity
import Foundation
import SQLKit

/// Per-account brute-force defence for a secret (a password, a second-factor code): after ``freeFailures``
/// failed attempts, each further attempt must wait 1, 2, 4 … seconds, capped at ``maximumDelay``. It slows
/// guessing to a crawl (with the per-address bucket in front), yet never locks an account: the owner, who
/// knows the secret, gets in once the short delay has passed, so an attacker cannot keep a victim out.
///
/// An attempt is counted *before* its secret is checked (``claimAttempt(_:on:now:)``), and only a success
/// takes the count back (``clear(_:on:)``). The claim is a compare-and-set on the count, so concurrent
/// guesses cannot share one allowance: 32 parallel wrong passwords yield at most ``freeFailures`` answers
/// that looked at a password, the rest wait. Subjects (emails, account ids) are tracked whether or not an
/// account exists, so the delay reveals nothing, and stored only as keyed hashes under a key for this
/// throttle's purpose alone; hashes under the previous `SESSION_SECRET` are still found during a rotation.
struct LoginThrottle: Sendable {
    static let freeFailures = 5
    static let maximumDelay: TimeInterval = 60
    /// Concurrent claims that lose the compare-and-set re-read the count this many times before waiting.
    private static let claimRetries = 4

    private let keys: [SymmetricKey]
    private let waitMessage: String

    /// `secrets`: the current secret first, then the previous one; `purpose` separates throttles (a login
    /// email can never count against an account's second factor).
    init(secrets: [SecretKeys], purpose: String, waitMessage: String) {
        keys = secrets.map { $0.key(for: purpose) }
        self.waitMessage = waitMessage
    }

    func accountKey(_ subject: String) -> String { accountKeys(subject)[0] }

    private func accountKeys(_ subject: String) -> [String] {
        keys.map { HMAC<SHA256>.authenticationCode(for: Data(subject.utf8), using: $0).hexString }
    }

    static func delay(afterFailures failures: Int) -> TimeInterval {
        guard failures >= freeFailures else { return 0 }
        return min(maximumDelay, pow(2, Double(failures - freeFailures)))
    }

    private struct Row: Decodable {
        let account_key: String
        let failures: Int
        let last_failed_at: Date

        var readyAt: Date { last_failed_at.addingTimeInterval(LoginThrottle.delay(afterFailures: failures)) }
    }

    /// The row counting `subject`: under the current key, else under the previous secret's.
    private func row(_ subject: String, on sql: any SQLDatabase) async throws -> Row? {
        let candidates = accountKeys(subject)
        let rows = try await sql.select().columns("account_key", "failures", "last_failed_at").from("login_failures")
            .where("account_key", .in, candidates).all(decoding: Row.self)
        return candidates.lazy.compactMap { key in rows.first { $0.account_key == key } }.first
    }

    /// Seconds until `subject` may try again, or `nil` when it may try now.
    func retryAfter(_ subject: String, on database: any Database, now: Date = Date()) async throws -> Int? {
        guard let row = try await row(subject, on: database.sql), row.readyAt > now else { return nil }
        return Int(row.readyAt.timeIntervalSince(now).rounded(.up))
    }

    /// Counts one attempt for `subject` and returns the count including it; throws `429 rate_limited` with
    /// `Retry-After` while `subject` must wait, or when concurrent attempts took the allowance first.
    @discardableResult
    func claimAttempt(_ subject: String, on database: any Database, now: Date = Date()) async throws -> Int {
        let sql = database.sql
        for _ in 0...Self.claimRetries {
            guard let row = try await row(subject, on: sql) else {
                struct Claimed: Decodable { let failures: Int }
                if let claimed = try await sql.raw("""
                    INSERT INTO login_failures (account_key, failures, last_failed_at) VALUES (\(bind: accountKey(subject)), 1, \(bind: now))
                    ON CONFLICT (account_key) DO NOTHING RETURNING failures
                    """).first(decoding: Claimed.self) {
                    return claimed.failures
                }
                continue
            }
            guard row.readyAt <= now else { throw wait(Int(row.readyAt.timeIntervalSince(now).rounded(.up))) }
            let claimed = try await sql.raw("""
                UPDATE login_failures SET failures = \(bind: row.failures + 1), last_failed_at = \(bind: now)
                WHERE account_key = \(bind: row.account_key) AND failures = \(bind: row.failures)
                RETURNING account_key
                """).first()
            if claimed != nil { return row.failures + 1 }
        }
        throw wait(1)
    }

    /// A success: the count for `subject` starts again from zero.
    func clear(_ subject: String, on database: any Database) async throws {
        try await database.sql.delete(from: "login_failures")
            .where("account_key", .in, accountKeys(subject)).run()
    }

    private func wait(_ seconds: Int) -> AppError {
        let seconds = max(1, seconds)
        return AppError(.tooManyRequests, code: "rate_limited", message: "\(waitMessage) Try again in \(seconds) s.",
                        headers: ["Retry-After": String(seconds)])
    }
}
