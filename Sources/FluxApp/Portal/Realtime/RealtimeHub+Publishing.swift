import Fluent
import Foundation
import SQLKit

/// Publishing: an event is stored, then handed to every replica (``RealtimeHub``).
extension RealtimeHub {
    /// Stores an event about `thread` and announces it to every replica.
    nonisolated func publish(_ kind: RealtimeEvent.Kind, thread: UUID, data: some Encodable & Sendable, on database: any Database) async throws {
        let json = String(decoding: try Self.encoder.encode(data), as: UTF8.self)
        let now = Date()
        @Sendable func insert(_ sql: any SQLDatabase) async throws -> RealtimeEvent {
            let id = try await sql.raw("""
                INSERT INTO realtime_events (thread_id, type, data, created_at)
                VALUES (\(bind: thread), \(bind: kind.rawValue), \(bind: json), \(bind: now)) RETURNING id
                """).first(decodingColumn: "id", as: Int64.self)!
            return RealtimeEvent(id: id, threadID: thread, type: kind.rawValue, at: now, data: json)
        }
        if postgres {
            try await database.writeTransaction { transaction in
                let sql = transaction.sql
                try await sql.raw("SELECT pg_advisory_xact_lock(\(bind: Self.publishLock))").run()
                let event = try await insert(sql)
                try await sql.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: event.notice))").run()
            }
        } else {
            await receive(try await insert(database.sql))
        }
    }

    /// ``publish(_:thread:data:on:)`` for callers whose own work is already done (the message is stored): a
    /// failure is logged, and clients catch up from the REST API.
    nonisolated func announce(_ kind: RealtimeEvent.Kind, thread: UUID, data: some Encodable & Sendable, on database: any Database) async {
        do {
            try await publish(kind, thread: thread, data: data, on: database)
        } catch {
            logger.warning("real-time event not published", metadata: ["type": .string(kind.rawValue), "error": .string(String(describing: error))])
        }
    }
}
