import Fluent
import Foundation
import NIOConcurrencyHelpers
import SQLKit
import Vapor

/// Answers "is this session still live?" for every authenticated request without a database read each time:
/// a small per-replica cache, which a revocation clears at once.
///
/// Several replicas on PostgreSQL: a revocation also sends `NOTIFY flux_session_revoked` with the session
/// ids, and every replica LISTENs (``PostgresListener``, started by ``IdentityLifecycle``) and marks them revoked as the notice arrives,
/// within milliseconds. A replica whose listening connection drops forgets its whole cache, since it may
/// have missed notices, and reads from the database until it is listening again; and no entry is trusted
/// longer than ``timeToLive``, which bounds the damage of any notice lost in between. On SQLite there is one
/// process, so clearing its own cache is enough.
final class SessionRevocations: Sendable {
    static let channel = "flux_session_revoked"
    let timeToLive: TimeInterval
    private let capacity: Int
    private let state = NIOLockedValueBox(State())
    /// False while a PostgreSQL replica is not listening for revocations: nothing is cached then.
    private let listening: NIOLockedValueBox<Bool>
    /// Told of every revocation seen here (the portal's real-time service closes those sessions' sockets).
    private let observers = NIOLockedValueBox<[@Sendable ([UUID]) -> Void]>([])

    private struct State {
        var entries: [UUID: Entry] = [:]
        /// Counts revocation notices: a database read that overlapped one may be stale and is not cached.
        var generation = 0
    }

    private struct Entry {
        let active: Bool
        let sessionExpiresAt: Date
        let checkedAt: Date
    }

    init(timeToLive: TimeInterval = 30, capacity: Int = 50_000, needsListener: Bool) {
        self.timeToLive = timeToLive
        self.capacity = capacity
        listening = NIOLockedValueBox(!needsListener)
    }

    /// Whether session `id` is neither revoked nor expired.
    func isActive(_ id: UUID, on database: any Database, now: Date = Date()) async throws -> Bool {
        let (cached, generation) = state.withLockedValue { ($0.entries[id], $0.generation) }
        if let cached, now.timeIntervalSince(cached.checkedAt) < timeToLive {
            return cached.active && cached.sessionExpiresAt > now
        }
        guard let session = try await AuthSession.find(id, on: database) else { return false }
        let entry = Entry(active: session.revokedAt == nil, sessionExpiresAt: session.expiresAt, checkedAt: now)
        if listening.withLockedValue({ $0 }) {
            state.withLockedValue { state in
                guard state.generation == generation else { return }
                // Bounded: when full, start over rather than keep an eviction order on the hot path.
                if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
                state.entries[id] = entry
            }
        }
        return entry.active && entry.sessionExpiresAt > now
    }

    /// Revokes `ids` in the database, here and on every other replica.
    func revoke(_ ids: [UUID], reason: String, on database: any Database, now: Date = Date()) async throws {
        guard !ids.isEmpty else { return }
        try await AuthSession.query(on: database)
            .filter(\.$id ~~ ids)
            .filter(\.$revokedAt == nil)
            .set(\.$revokedAt, to: now)
            .set(\.$revokedReason, to: reason)
            .update()
        forget(ids)
        if let sql = database as? any SQLDatabase, sql.dialect.name == "postgresql" {
            // NOTIFY payloads are limited to 8000 bytes: 200 ids of 37 bytes each stay well inside.
            for chunk in stride(from: 0, to: ids.count, by: 200) {
                let payload = ids[chunk..<min(chunk + 200, ids.count)].map(\.uuidString).joined(separator: ",")
                try await sql.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: payload))").run()
            }
        }
    }

    /// Drops what is cached about `ids` (a revocation seen here or announced by another replica), and tells
    /// the observers.
    func forget(_ ids: some Sequence<UUID>) {
        let ids = Array(ids)
        state.withLockedValue { state in
            state.generation += 1
            for id in ids { state.entries.removeValue(forKey: id) }
        }
        for observer in observers.withLockedValue({ $0 }) { observer(ids) }
    }

    /// Calls `observer` with the ids of every session revoked from now on, here or on another replica.
    func observe(_ observer: @escaping @Sendable ([UUID]) -> Void) {
        observers.withLockedValue { $0.append(observer) }
    }

    func setListening(_ value: Bool) {
        listening.withLockedValue { $0 = value }
        if !value {
            state.withLockedValue { state in
                state.generation += 1
                state.entries.removeAll()
            }
        }
    }
}
