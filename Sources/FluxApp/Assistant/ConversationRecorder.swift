import Fluent
import Foundation
import NIOConcurrencyHelpers
import SQLKit
import Vapor

/// What a chat turn needs to know of its conversation to answer.
struct ConversationState: Sendable {
    let id: UUID
    var locale: String
    var industry: String?
    var stage: AiConversation.FunnelStage
    var productionVolume: Double?
    var estimatedSavingsPercent: Double?

    mutating func advance(to next: AiConversation.FunnelStage) {
        if next.rank > stage.rank { stage = next }
    }
}

/// One answered turn, as it will be written.
struct TurnRecord: Sendable {
    let sessionID: String
    let state: ConversationState
    let visitorIP: String
    let pageURL: String?
    let at: Date
    let toolCalls: Int
    let events: [AiEvent]
}

/// Keeps FluxAI's recording off the visitor's wait: a turn is queued in memory and a writer puts everything
/// queued into the database every ``interval`` in one transaction (one upsert per conversation, the events in
/// multi-row inserts), so a turn pays for a queue append, and the database for one commit per batch however
/// busy the chat is. Conversation state is cached per process, so a returning visitor's turn reads nothing.
///
/// Writes are relative (counts added, the stage only raised, the first industry kept), so replicas that
/// each cache the same conversation cannot undo one another's turns. A turn is in the database within
/// ``interval`` of its answer; code that reads conversations right after a turn (linking a consultation,
/// erasing a visitor) calls ``flush(on:)`` first. A crash loses at most that interval's turns, and a write
/// that fails is logged and counted, never retried into a loop: the chat itself never waits on it.
final class ConversationRecorder: LifecycleHandler, Sendable {
    static let interval: Duration = .milliseconds(25)
    /// Above this many cached conversations the cache starts over (each entry is about 200 bytes).
    static let cacheLimit = 50_000

    private let cache = NIOLockedValueBox<[String: ConversationState]>([:])
    private let pending = NIOLockedValueBox<[TurnRecord]>([])
    /// One flush at a time, so a batch is never written twice or out of order.
    private let writing = AsyncSemaphore()
    private let loop = BackgroundTask()
    let metrics: HTTPMetrics

    init(metrics: HTTPMetrics) {
        self.metrics = metrics
    }

    /// The conversation's state: from the cache, else the database; `nil` for a new conversation.
    func state(of sessionID: String, on database: any Database) async throws -> ConversationState? {
        if let cached = cache.withLockedValue({ $0[sessionID] }) { return cached }
        guard let row = try await AiConversation.query(on: database).filter(\.$sessionID == sessionID).first() else { return nil }
        let state = ConversationState(id: row.id!, locale: row.locale, industry: row.industryLabel, stage: row.funnelStage,
                                      productionVolume: row.productionVolume, estimatedSavingsPercent: row.estimatedSavingsPercent)
        remember(sessionID, state)
        return state
    }

    /// Queues a turn; it is written within ``interval``.
    func record(_ turn: TurnRecord) {
        remember(turn.sessionID, turn.state)
        pending.withLockedValue { $0.append(turn) }
    }

    /// Forgets cached conversations (after an erasure or a purge deleted them).
    func forget(_ sessionIDs: [String]? = nil) {
        cache.withLockedValue { cache in
            if let sessionIDs { for id in sessionIDs { cache[id] = nil } } else { cache.removeAll() }
        }
    }

    private func remember(_ sessionID: String, _ state: ConversationState) {
        cache.withLockedValue { cache in
            if cache.count >= Self.cacheLimit, cache[sessionID] == nil { cache.removeAll(keepingCapacity: true) }
            cache[sessionID] = state
        }
    }

    /// Writes everything queued so far, now.
    func flush(on database: any Database, logger: Logger) async {
        await writing.wait()
        defer { writing.signal() }
        let batch = pending.withLockedValue { pending in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        let started = ContinuousClock.now
        do {
            try await Self.write(batch, on: database)
        } catch {
            metrics.telemetryFailed()
            logger.warning("FluxAI telemetry batch not recorded; the visitors had their answers",
                           metadata: ["turns": .stringConvertible(batch.count), "error": .string(String(describing: error))])
        }
        metrics.telemetryStep("flush", took: ContinuousClock.now - started)
    }

    static func write(_ batch: [TurnRecord], on database: any Database) async throws {
        // Several turns of one conversation in a batch become one upsert.
        let (order, merged) = batch.reduce(into: ([String](), [String: (first: TurnRecord, last: TurnRecord, toolCalls: Int, messages: Int)]())) {
            result, turn in
            if let seen = result.1[turn.sessionID] {
                result.1[turn.sessionID] = (seen.first, turn, seen.toolCalls + turn.toolCalls, seen.messages + 2)
            } else {
                result.0.append(turn.sessionID)
                result.1[turn.sessionID] = (turn, turn, turn.toolCalls, 2)
            }
        }
        try await database.writeTransaction { transaction in
            let sql = transaction.sql
            var ids: [String: UUID] = [:]
            for sessionID in order {
                let entry = merged[sessionID]!
                let state = entry.last.state
                // RETURNING the row's id: a conversation another replica created first keeps its id, and
                // the events follow it.
                let row = try await sql.raw("""
                    INSERT INTO ai_conversations (id, "sessionId", "visitorIp", locale, "pageUrl", "industryLabel", "funnelStage",
                        outcome, "messageCount", "toolCallCount", "estimatedSavingsPercent", "productionVolume", "startedAt", "lastMessageAt")
                    VALUES (\(bind: state.id), \(bind: sessionID), \(bind: entry.first.visitorIP), \(bind: state.locale),
                        \(bind: entry.first.pageURL), \(bind: state.industry), \(bind: state.stage.rawValue), 'OPEN', \(bind: entry.messages),
                        \(bind: entry.toolCalls), \(bind: state.estimatedSavingsPercent), \(bind: state.productionVolume),
                        \(bind: entry.first.at), \(bind: entry.last.at))
                    ON CONFLICT ("sessionId") DO UPDATE SET
                        locale = excluded.locale,
                        "industryLabel" = COALESCE(ai_conversations."industryLabel", excluded."industryLabel"),
                        "funnelStage" = CASE WHEN \(unsafeRaw: rank("excluded.\"funnelStage\"")) > \(unsafeRaw: rank("ai_conversations.\"funnelStage\""))
                            THEN excluded."funnelStage" ELSE ai_conversations."funnelStage" END,
                        "messageCount" = ai_conversations."messageCount" + excluded."messageCount",
                        "toolCallCount" = ai_conversations."toolCallCount" + excluded."toolCallCount",
                        "estimatedSavingsPercent" = COALESCE(excluded."estimatedSavingsPercent", ai_conversations."estimatedSavingsPercent"),
                        "productionVolume" = COALESCE(excluded."productionVolume", ai_conversations."productionVolume"),
                        "lastMessageAt" = excluded."lastMessageAt"
                    RETURNING id
                    """).first()
                ids[sessionID] = try row?.decode(column: "id", as: UUID.self) ?? state.id
            }
            var events: [AiEvent] = []
            for turn in batch {
                for event in turn.events {
                    event.conversationID = ids[turn.sessionID] ?? event.conversationID
                    events.append(event)
                }
            }
            try await insert(events, on: sql)
        }
    }

    /// The stage's place in the funnel, as SQL.
    private static func rank(_ column: String) -> String {
        "(CASE \(column) " + AiConversation.FunnelStage.allCases.map { "WHEN '\($0.rawValue)' THEN \($0.rank)" }.joined(separator: " ") + " END)"
    }

    static let eventColumns = ["id", "conversationId", "type", "payloadJson", "toolName", "latencyMs", "tokensIn", "tokensOut",
                               "cachedTokens", "model", "createdAt"]

    /// Events in multi-row INSERTs of 1,000 (well under either database's limit on parameters).
    static func insert(_ events: [AiEvent], on sql: any SQLDatabase) async throws {
        for start in stride(from: 0, to: events.count, by: 1000) {
            let insert = sql.insert(into: AiEvent.schema).columns(eventColumns)
            for event in events[start..<min(start + 1000, events.count)] {
                insert.values([SQLBind(event.id!), SQLBind(event.conversationID), SQLBind(event.type.rawValue), SQLBind(event.payloadJSON),
                               SQLBind(event.toolName), SQLBind(event.latencyMs), SQLBind(event.tokensIn), SQLBind(event.tokensOut),
                               SQLBind(event.cachedTokens), SQLBind(event.model), SQLBind(event.createdAt)])
            }
            try await insert.run()
        }
    }

    /// The writer runs from boot; at shutdown it stops and writes what is left.
    func didBootAsync(_ application: Application) async throws {
        let logger = application.logger
        loop.start { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.interval)
                // Most ticks find nothing to write: they skip making a database handle, which is not free.
                guard pending.withLockedValue({ !$0.isEmpty }) else { continue }
                await flush(on: application.db, logger: logger)
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        await loop.stop()
        await flush(on: application.db, logger: application.logger)
    }
}

/// A one-permit async semaphore: waiters queue instead of blocking a thread.
final class AsyncSemaphore: Sendable {
    private let state = NIOLockedValueBox<(free: Bool, waiters: [CheckedContinuation<Void, Never>])>((true, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLockedValue { state in
                if state.free {
                    state.free = false
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func signal() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.free = true
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

extension Application {
    private struct RecorderKey: StorageKey {
        typealias Value = ConversationRecorder
    }

    var conversationRecorder: ConversationRecorder {
        get { storage[RecorderKey.self]! }
        set { storage[RecorderKey.self] = newValue }
    }
}
