import Crypto
import Fluent
import FluxSecurity
import Foundation
import SQLKit

/// Per-account brute-force defence: after ``freeFailures`` failed logins for one email, each further attempt
/// must wait 1, 2, 4 … seconds, capped at ``maximumDelay``. It slows guessing to a crawl (with the
/// per-address bucket in front), yet never locks an account: the owner, who knows the password, gets in
/// once the short delay has passed, so an attacker cannot keep a victim out. Emails are tracked whether or
/// not an account exists, so the delay itself reveals nothing, and stored only as keyed hashes.
struct LoginThrottle: Sendable {
    static let freeFailures = 5
    static let maximumDelay: TimeInterval = 60
    private let key: SymmetricKey

    init(keys: SecretKeys) {
        key = keys.key(for: "login-throttle")
    }

    func accountKey(_ email: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(email.utf8), using: key).hexString
    }

    static func delay(afterFailures failures: Int) -> TimeInterval {
        guard failures >= freeFailures else { return 0 }
        return min(maximumDelay, pow(2, Double(failures - freeFailures)))
    }

    /// Seconds until `email` may try again, or `nil` when it may try now.
    func retryAfter(_ email: String, on database: any Database, now: Date = Date()) async throws -> Int? {
        guard let row = try await (database as! any SQLDatabase).select()
            .columns("failures", "last_failed_at").from("login_failures")
            .where("account_key", .equal, accountKey(email))
            .first(decoding: Row.self)
        else { return nil }
        let readyAt = row.last_failed_at.addingTimeInterval(Self.delay(afterFailures: row.failures))
        guard readyAt > now else { return nil }
        return Int(readyAt.timeIntervalSince(now).rounded(.up))
    }

    /// Throws `429 rate_limited` with `Retry-After` while `email` must wait.
    func requireReady(_ email: String, on database: any Database) async throws {
        guard let wait = try await retryAfter(email, on: database) else { return }
        throw AppError(.tooManyRequests, code: "rate_limited",
                       message: "Too many failed sign-ins for this account. Try again in \(wait) s.",
                       headers: ["Retry-After": String(wait)])
    }

    func recordFailure(_ email: String, on database: any Database, now: Date = Date()) async throws {
        try await (database as! any SQLDatabase).raw("""
            INSERT INTO login_failures (account_key, failures, last_failed_at) VALUES (\(bind: accountKey(email)), 1, \(bind: now))
            ON CONFLICT (account_key) DO UPDATE SET failures = login_failures.failures + 1, last_failed_at = \(bind: now)
            """).run()
    }

    func recordSuccess(_ email: String, on database: any Database) async throws {
        try await (database as! any SQLDatabase).delete(from: "login_failures")
            .where("account_key", .equal, accountKey(email)).run()
    }

    private struct Row: Decodable {
        let failures: Int
        let last_failed_at: Date
    }
}
