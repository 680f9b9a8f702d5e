import FluxSecurity
import Foundation
import NIOConcurrencyHelpers
import SQLKit

/// Rate-limit buckets in the application database, so every replica spends from the same bucket. Each
/// request is one INSERT … ON CONFLICT DO UPDATE … RETURNING: the refill, the decision and the write happen
/// in a single atomic statement, with no read-then-write race between replicas.
final class SQLRateLimitStore: RateLimitStore {
    private let databaseProvider: @Sendable () -> any SQLDatabase
    private let calls = NIOLockedValueBox(0)
    /// Full buckets are worth nothing; they are deleted every this many requests.
    private let purgeInterval = 1_000

    /// - Parameter database: a database handle per call (Fluent's handles are bound to one event loop).
    init(database: @escaping @Sendable () -> any SQLDatabase) {
        databaseProvider = database
    }

    private struct Row: Decodable {
        let tokens: Double
        let allowed: Int
    }

    func consume(key: String, policy: RateLimitPolicy, now: Date) async throws -> RateLimitDecision {
        let database = databaseProvider()
        let capacity = Double(policy.limit)
        let rate = policy.refillRate
        let nowSeconds = now.timeIntervalSince1970
        let sqlite = database.dialect.name == "sqlite"
        let least = sqlite ? "min" : "LEAST"
        let greatest = sqlite ? "max" : "GREATEST"
        // The bucket refilled up to now; SQLite spells LEAST and GREATEST as two-argument min() and max().
        // Elapsed time is never negative and the bucket's clock never goes back: a replica whose clock is
        // behind can neither drain a bucket (negative refill) nor set it up for an extra refill later.
        let elapsed: SQLQueryString = "\(unsafeRaw: greatest)(0, \(bind: nowSeconds) - rate_limit_buckets.updated_at)"
        let r: SQLQueryString = "\(unsafeRaw: least)(\(bind: capacity), rate_limit_buckets.tokens + \(elapsed) * \(bind: rate))"
        let spent: SQLQueryString = "CASE WHEN \(r) >= 1 THEN \(r) - 1 ELSE \(r) END"
        let statement: SQLQueryString = """
            INSERT INTO rate_limit_buckets (key, tokens, updated_at, full_at, allowed)
            VALUES (\(bind: key), \(bind: capacity - 1), \(bind: nowSeconds), \(bind: nowSeconds + 1 / rate), 1)
            ON CONFLICT (key) DO UPDATE SET
                tokens = \(spent),
                allowed = CASE WHEN \(r) >= 1 THEN 1 ELSE 0 END,
                updated_at = \(unsafeRaw: greatest)(rate_limit_buckets.updated_at, \(bind: nowSeconds)),
                full_at = \(unsafeRaw: greatest)(rate_limit_buckets.updated_at, \(bind: nowSeconds)) + (\(bind: capacity) - (\(spent))) / \(bind: rate)
            RETURNING tokens, allowed
            """
        guard let row = try await database.raw(statement).first(decoding: Row.self) else {
            throw SQLRateLimitStoreError.noRow
        }
        try await purgeIfDue(database, now: nowSeconds)
        return RateLimitDecision.after(tokens: row.tokens, allowed: row.allowed == 1, policy: policy)
    }

    private func purgeIfDue(_ database: any SQLDatabase, now: Double) async throws {
        let due = calls.withLockedValue { count in
            count += 1
            return count % purgeInterval == 0
        }
        if due { try await database.raw("DELETE FROM rate_limit_buckets WHERE full_at < \(bind: now)").run() }
    }
}

enum SQLRateLimitStoreError: Error {
    case noRow
}
