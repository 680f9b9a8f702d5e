import Fluent
import NIOConcurrencyHelpers
import Foundation
import SQLKit
import Vapor

/// Delivers the outbox in the background: every second it claims up to ten due messages with one atomic
/// statement (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so replicas never take the same row), sends each, and
/// marks it sent, or schedules a retry with exponential backoff. A claim lapses after 2 minutes, so a
/// replica that dies mid-send leaves its messages to the others; the price is that such a message may go
/// out twice, which is why a claim is only taken right before sending. Each message is marked sent right
/// after the server accepted it, so a retry never repeats a delivered one.
///
/// A message's body carries one-time links (password resets, invitations): once it is sent, or given up
/// on, only its recipient, kind, status and times are kept, and those rows go after ``retention``, so
/// neither the database nor a backup of it holds a usable token.
final class OutboxWorker: LifecycleHandler, Sendable {
    private let client: any MailClient
    private let from: MailAddress
    private let interval: Duration
    private let retention: TimeInterval
    private let loop = BackgroundTask()
    private let lastPurge = NIOLockedValueBox(Date.distantPast)

    init(client: any MailClient, from: MailAddress, retentionDays: Int = 30, interval: Duration = .seconds(1)) {
        self.client = client
        self.from = from
        self.interval = interval
        retention = TimeInterval(retentionDays) * 86_400
    }

    /// Starts the background loop (`flux serve` does, after migrations); it stops at shutdown.
    func start(on application: Application) {
        let logger = application.logger
        loop.repeating(every: interval) { [self] in
            do {
                _ = try await deliverDue(on: application.db, logger: logger)
                try await purgeIfDue(on: application.db)
            } catch {
                logger.warning("outbox pass failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        await loop.stop()
    }

    private struct Claimed: Decodable {
        let id: UUID
        let payload: String
        let attempts: Int
    }

    /// One pass: claims and sends what is due; returns how many were delivered.
    func deliverDue(on database: any Database, logger: Logger, now: Date = Date()) async throws -> Int {
        let sql = database.sql
        let skipLocked: SQLQueryString = sql.dialect.name == "postgresql" ? " FOR UPDATE SKIP LOCKED" : ""
        let claimed = try await sql.raw("""
            UPDATE outbox_messages SET claimed_until = \(bind: now.addingTimeInterval(120))
            WHERE id IN (
                SELECT id FROM outbox_messages
                WHERE status = 'pending' AND next_attempt_at <= \(bind: now)
                    AND (claimed_until IS NULL OR claimed_until < \(bind: now))
                ORDER BY next_attempt_at LIMIT 10\(skipLocked)
            )
            RETURNING id, payload, attempts
            """).all(decoding: Claimed.self)
        var delivered = 0
        for row in claimed {
            do {
                let message = try JSONDecoder().decode(MailMessage.self, from: Data(row.payload.utf8))
                try await client.send(message, from: from, messageID: "\(row.id.uuidString.lowercased())@flux")
                try await sql.raw("""
                    UPDATE outbox_messages SET status = 'sent', sent_at = \(bind: Date()), attempts = \(bind: row.attempts + 1),
                        claimed_until = NULL, last_error = NULL, payload = ''
                    WHERE id = \(bind: row.id)
                    """).run()
                delivered += 1
            } catch {
                let attempts = row.attempts + 1
                let status = attempts >= Outbox.maximumAttempts ? "failed" : "pending"
                let reason = String(String(describing: error).prefix(300))
                try await sql.raw("""
                    UPDATE outbox_messages SET status = \(bind: status), attempts = \(bind: attempts),
                        next_attempt_at = \(bind: now.addingTimeInterval(Outbox.backoff(afterAttempts: attempts))),
                        claimed_until = NULL, last_error = \(bind: reason),
                        payload = CASE WHEN \(bind: status) = 'failed' THEN '' ELSE payload END
                    WHERE id = \(bind: row.id)
                    """).run()
                logger.warning("mail delivery failed; will retry", metadata: [
                    "outbox_id": .string(row.id.uuidString), "attempts": .stringConvertible(attempts), "error": .string(reason),
                ])
            }
        }
        return delivered
    }

    /// Deletes sent and given-up rows older than the retention (each row keeps only its metadata by then).
    func purge(on database: any Database, now: Date = Date()) async throws {
        try await database.sql.delete(from: "outbox_messages")
            .where("status", .in, ["sent", "failed"]).where("created_at", .lessThan, now.addingTimeInterval(-retention)).run()
    }

    /// ``purge(on:now:)`` at most every ten minutes: the delivery pass runs every second.
    private func purgeIfDue(on database: any Database, now: Date = Date()) async throws {
        let due = lastPurge.withLockedValue { last in
            guard now.timeIntervalSince(last) >= 600 else { return false }
            last = now
            return true
        }
        if due { try await purge(on: database, now: now) }
    }
}
