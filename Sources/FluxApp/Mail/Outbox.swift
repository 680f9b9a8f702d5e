import Fluent
import NIOConcurrencyHelpers
import Foundation
import SQLKit
import Vapor

enum Outbox {
    static let maximumAttempts = 16

    /// Queues `message` on `database`: pass the transaction that writes the event the message is about.
    static func enqueue(_ message: MailMessage, kind: String, on database: any Database, now: Date = Date()) async throws {
        let row = OutboxMessage()
        row.id = UUID()
        row.kind = kind
        row.recipient = message.to.address
        row.payload = String(decoding: try JSONEncoder().encode(message), as: UTF8.self)
        row.status = "pending"
        row.attempts = 0
        row.createdAt = now
        row.nextAttemptAt = now
        try await row.create(on: database)
    }

    struct Backlog {
        let pending: Int
        let oldestPendingAge: TimeInterval
        let failed: Int
    }

    /// What waits and what was given up on, for /metrics.
    static func backlog(on database: any Database, now: Date = Date()) async throws -> Backlog {
        let pending = try await OutboxMessage.query(on: database).filter(\.$status == "pending").count()
        let oldest = try await OutboxMessage.query(on: database).filter(\.$status == "pending").sort(\.$createdAt).first()
        let failed = try await OutboxMessage.query(on: database).filter(\.$status == "failed").count()
        return Backlog(pending: pending, oldestPendingAge: oldest.map { now.timeIntervalSince($0.createdAt) } ?? 0, failed: failed)
    }

    /// After `attempts` failures: 2 s, 4 s, 8 s … capped at an hour.
    static func backoff(afterAttempts attempts: Int) -> TimeInterval {
        min(3600, pow(2, Double(min(attempts, 12))))
    }
}

extension Application {
    private struct OutboxWorkerKey: StorageKey {
        typealias Value = OutboxWorker
    }

    var outboxWorker: OutboxWorker {
        get { storage[OutboxWorkerKey.self]! }
        set { storage[OutboxWorkerKey.self] = newValue }
    }
}
