import Fluent
import FluxSecurity
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import SQLKit
import Vapor

/// Fans real-time events out to this process's sockets.
///
/// Publishing stores the event, then: on SQLite (one process) hands it to ``receive(_:)``; on PostgreSQL
/// sends `NOTIFY flux_realtime`, which every replica's listener (this one's included) hands to ``receive(_:)``.
/// Events are delivered in number order: one that arrives ahead of a missing number makes the hub read the
/// gap from the table first, so a notice lost while a listener reconnects costs a query, never an event.
actor RealtimeHub {
    static let channel = "flux_realtime"
    /// Any number: the advisory lock that orders publications on PostgreSQL.
    static let publishLock: Int64 = 0x466C_7578_5254
    /// Marks a presence notice on the channel (an event's notice starts with its number).
    static let presencePrefix = "presence "
    /// A resuming client gets at most this many missed events; beyond, it is told to reload.
    static let maxBacklog = 1_000
    static let retention: TimeInterval = 7 * 86_400
    /// Presence another replica has not refreshed for this long belongs to a replica that stopped: it is
    /// dropped and announced.
    static let presenceTimeout: TimeInterval = 60

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    nonisolated let postgres: Bool
    private let metrics: HTTPMetrics
    /// `nil` once the application has shut its databases (a socket may still be closing then).
    nonisolated let database: @Sendable () -> (any Database)?
    nonisolated let logger: Logger
    /// The newest event fanned out; `nil` until the first subscription has read where the log stands.
    private var last: Int64?
    private var connections: [UUID: RealtimeConnection] = [:]
    private var subscribers: [UUID: Set<UUID>] = [:]
    var subscriptions: [UUID: Set<UUID>] = [:]
    /// Each socket's status, `online` or `away`, the same in all its conversations.
    var statuses: [UUID: String] = [:]
    var presence = RealtimePresence(replica: UUID())

    init(postgres: Bool, logger: Logger, metrics: HTTPMetrics, database: @escaping @Sendable () -> (any Database)?) {
        self.postgres = postgres
        self.metrics = metrics
        self.logger = logger
        self.database = database
    }

    /// A PostgreSQL notice from any replica.
    func receive(notice: String) async {
        if notice.hasPrefix(Self.presencePrefix) {
            if let decoded = try? JSONDecoder().decode(RealtimePresence.Notice.self, from: Data(notice.utf8.dropFirst(Self.presencePrefix.utf8.count))) {
                presence.apply(decoded, now: Date())
            }
            return
        }
        let parts = notice.split(separator: " ", maxSplits: 2)
        if parts.count == 3, let id = Int64(parts[0]), let thread = UUID(uuidString: String(parts[1])) {
            await receive(RealtimeEvent(id: id, threadID: thread, frame: ByteBuffer(string: String(parts[2]))))
        } else {
            await catchUp()
        }
    }

    func receive(_ event: RealtimeEvent) async {
        guard let last else { return }
        if event.id == last + 1 {
            deliver(event)
        } else if event.id > last {
            await catchUp()
        }
    }

    /// Reads where the log stands, once, at the first subscription: nothing is delivered before anyone
    /// subscribes, and `flux serve` migrates after boot, so at boot the log may not exist yet.
    private func synchronize() async {
        guard last == nil, let sql = database() as? any SQLDatabase else { return }
        do {
            last = try await sql.raw("SELECT COALESCE(MAX(id), 0) AS id FROM realtime_events")
                .first(decodingColumn: "id", as: Int64.self) ?? 0
        } catch {
            logger.warning("real-time log unreadable", metadata: ["error": .string(String(describing: error))])
        }
    }

    /// Delivers, in order, every stored event after the last one delivered.
    private func catchUp() async {
        guard let from = last, let sql = database() as? any SQLDatabase else { return }
        do {
            let rows = try await sql.raw("""
                SELECT id, thread_id, type, data, created_at FROM realtime_events WHERE id > \(bind: from) ORDER BY id LIMIT 10000
                """).all(decoding: RealtimeEvent.Row.self)
            // Another catch-up may have run while this one read: deliver only what is still new.
            for row in rows where row.id > last ?? .max { deliver(RealtimeEvent(row)) }
        } catch {
            logger.warning("real-time catch-up failed", metadata: ["error": .string(String(describing: error))])
        }
    }

    /// Hands `event` to every subscribed socket.
    private func deliver(_ event: RealtimeEvent) {
        last = event.id
        fanOut(event.frame, id: event.id, thread: event.threadID)
    }

    /// Hands `frame` to every socket subscribed to `thread`; the fan-out time recorded is from here until the
    /// last of them has written it.
    func fanOut(_ frame: ByteBuffer, id: Int64?, thread: UUID) {
        let targets = (subscribers[thread] ?? []).compactMap { connections[$0] }
        guard !targets.isEmpty else { return }
        let started = ContinuousClock.now
        // A handful of loops: a linear search beats hashing each of a thousand sockets' loop.
        var groups: [(loop: any EventLoop, connections: [RealtimeConnection])] = []
        for connection in targets {
            if let index = groups.firstIndex(where: { $0.loop === connection.eventLoop }) {
                groups[index].connections.append(connection)
            } else {
                groups.append((connection.eventLoop, [connection]))
            }
        }
        let loopsPending = NIOLockedValueBox(groups.count)
        // One task per event loop, which then writes to each of its sockets directly: handing each write to its
        // loop separately costs a cross-thread wake-up per socket. Each loop counts its own sockets' completions
        // (they all complete on it), so the shared count is taken once per loop.
        for (loop, connections) in groups {
            let socketsPending = NIOLoopBoundBox.makeEmptyBox(valueType: Int.self, eventLoop: loop)
            let written: @Sendable () -> Void = { [metrics] in
                let left = (socketsPending.value ?? connections.count) - 1
                socketsPending.value = left
                guard left == 0 else { return }
                if loopsPending.withLockedValue({ $0 -= 1; return $0 }) == 0 {
                    metrics.realtimeFanOut(took: ContinuousClock.now - started)
                }
            }
            loop.execute {
                for connection in connections { connection.receive(frame, id: id, written: written) }
            }
        }
    }

    // MARK: - Sockets

    func attach(_ connection: RealtimeConnection) {
        connections[connection.id] = connection
        statuses[connection.id] = "online"
    }

    var connectionCount: Int { connections.count }

    /// On PostgreSQL, whether the listener is connected, so notices from other replicas arrive.
    private(set) var isListening = false

    /// The PostgreSQL listener connected or lost its connection; once back, what was missed meanwhile is
    /// delivered.
    func listener(connected: Bool) async {
        isListening = connected
        if connected { await catchUp() }
    }

    func threads(of connection: RealtimeConnection) -> Set<UUID> {
        subscriptions[connection.id] ?? []
    }

    struct Subscribed: Encodable {
        let type = "subscribed"
        let threadIds: [UUID]
        /// The newest event number now: where a client that has none yet resumes from.
        let last: Int64
        /// Who is in these conversations (this socket included).
        let presence: [RealtimePresence.Room]
    }

    struct Reset: Encodable {
        let type = "reset"
        let message = "Too much was missed to replay; reload the conversations."
    }

    /// Subscribes `connection` to `threads`, sending first who is there and the events after `after` it
    /// missed (or a `reset` when there are more than ``maxBacklog`` or they are no longer kept). Live frames
    /// that arrive meanwhile are held and follow the backlog.
    func subscribe(_ connection: RealtimeConnection, to threads: [UUID], after: Int64?) async throws {
        guard connections[connection.id] != nil else { return }
        await synchronize()
        guard let status = statuses[connection.id] else { return }
        connection.beginCatchUp()
        let joined = threads.filter { !(subscriptions[connection.id]?.contains($0) ?? false) }
        for thread in joined {
            subscribers[thread, default: []].insert(connection.id)
            subscriptions[connection.id, default: []].insert(thread)
            presence.adjust(thread, user: connection.principal.userID, name: connection.name, by: Self.delta(status, 1), now: Date())
        }
        let subscribed = Subscribed(threadIds: threads, last: last ?? 0, presence: threads.map { presence.room($0) })
        var frames: [ByteBuffer] = []
        var sent = Set<Int64>()
        do {
            var backlog: [RealtimeEvent.Row] = []
            var reset = false
            if let after {
                guard let sql = database() as? any SQLDatabase else { throw CancellationError() }
                backlog = try await sql.raw("""
                    SELECT id, thread_id, type, data, created_at FROM realtime_events
                    WHERE thread_id IN (\(SQLList(threads.map { SQLBind($0) }))) AND id > \(bind: after) ORDER BY id LIMIT \(unsafeRaw: String(Self.maxBacklog + 1))
                    """).all(decoding: RealtimeEvent.Row.self)
                // Everything before the oldest event kept is gone; with none kept, everything up to the last.
                let oldest = try await sql.raw("SELECT MIN(id) AS id FROM realtime_events").first(decodingColumn: "id", as: Int64?.self) ?? nil
                reset = backlog.count > Self.maxBacklog || after < (oldest ?? ((last ?? 0) + 1)) - 1
            }
            frames.append(ByteBuffer(data: try Self.encoder.encode(subscribed)))
            if reset {
                frames.append(ByteBuffer(data: try Self.encoder.encode(Reset())))
            } else {
                for row in backlog {
                    frames.append(RealtimeEvent(row).frame)
                    sent.insert(row.id)
                }
            }
        } catch {
            unsubscribe(connection, from: Set(joined))
            connection.endCatchUp(sending: [], skipping: [])
            throw error
        }
        connection.endCatchUp(sending: frames, skipping: sent)
    }

    /// Stops `connection`'s subscriptions to `threads`; returns those it had.
    @discardableResult
    func unsubscribe(_ connection: RealtimeConnection, from threads: Set<UUID>) -> Set<UUID> {
        let had = (subscriptions[connection.id] ?? []).intersection(threads)
        let status = statuses[connection.id] ?? "online"
        for thread in had {
            subscribers[thread]?.remove(connection.id)
            if subscribers[thread]?.isEmpty == true { subscribers[thread] = nil }
            presence.adjust(thread, user: connection.principal.userID, name: connection.name, by: Self.delta(status, -1), now: Date())
        }
        subscriptions[connection.id]?.subtract(had)
        return had
    }

    /// Forgets a closed socket (its presence ends).
    func detach(_ connection: RealtimeConnection) {
        unsubscribe(connection, from: subscriptions[connection.id] ?? [])
        subscriptions[connection.id] = nil
        connections[connection.id] = nil
        statuses[connection.id] = nil
    }

    func allConnections() -> [RealtimeConnection] {
        Array(connections.values)
    }

    /// Closes the sockets of `sessions` (revoked here or on another replica).
    func close(sessions: Set<UUID>) {
        for connection in connections.values where sessions.contains(connection.principal.sessionID) {
            connection.close(code: RealtimeConnection.sessionEnded)
        }
    }
}
