import Fluent
import Foundation
import SQLKit
import Vapor

/// The assistant's background jobs, once a minute: conversations idle for IDLE_ABANDON_MINUTES without a
/// consultation become ABANDONED (with closedAt), and conversations older than RETENTION_DAYS are purged
/// with their events. Each pass is one statement per job, safe on several replicas at once.
final class ConversationHousekeeping: LifecycleHandler, Sendable {
    let idleAbandon: TimeInterval
    let retention: TimeInterval
    private let loop = BackgroundTask()

    init(idleAbandonMinutes: Int, retentionDays: Int) {
        idleAbandon = TimeInterval(idleAbandonMinutes * 60)
        retention = TimeInterval(retentionDays * 86_400)
    }

    struct Pass: Equatable {
        let abandoned: Int
        let purged: Int
    }

    /// One pass of both jobs at `now`.
    func run(on database: any Database, now: Date = Date()) async throws -> Pass {
        let sql = database.sql
        let abandoned = try await sql.raw("""
            UPDATE ai_conversations SET "outcome" = 'ABANDONED', "closedAt" = \(bind: now)
            WHERE "outcome" = 'OPEN' AND "lastMessageAt" < \(bind: now.addingTimeInterval(-idleAbandon))
            RETURNING id
            """).all().count
        let cutoff = now.addingTimeInterval(-retention)
        try await sql.raw("""
            DELETE FROM ai_events WHERE "conversationId" IN (SELECT id FROM ai_conversations WHERE "startedAt" < \(bind: cutoff))
            """).run()
        let purged = try await sql.raw("DELETE FROM ai_conversations WHERE \"startedAt\" < \(bind: cutoff) RETURNING id").all().count
        return Pass(abandoned: abandoned, purged: purged)
    }

    /// Starts the loop (`flux serve` does); it stops at shutdown.
    func start(on application: Application) {
        let logger = application.logger
        loop.repeating(every: .seconds(60)) { [self] in
            do {
                let pass = try await run(on: application.db)
                if pass.purged > 0 { application.conversationRecorder.forget() }
                if pass != Pass(abandoned: 0, purged: 0) {
                    logger.info("conversation housekeeping", metadata: [
                        "abandoned": .stringConvertible(pass.abandoned), "purged": .stringConvertible(pass.purged),
                    ])
                }
            } catch {
                logger.warning("conversation housekeeping failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        await loop.stop()
    }
}

extension Application {
    private struct HousekeepingKey: StorageKey {
        typealias Value = ConversationHousekeeping
    }

    var conversationHousekeeping: ConversationHousekeeping {
        get { storage[HousekeepingKey.self]! }
        set { storage[HousekeepingKey.self] = newValue }
    }
}
