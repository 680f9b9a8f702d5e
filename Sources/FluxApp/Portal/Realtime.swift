import Fluent
import FluxSecurity
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import SQLKit
import Vapor

/// One real-time event: its number, its conversation and the frame every subscriber receives, encoded once.
///
/// Numbers are the `realtime_events` row ids, and they are handed out in commit order (SQLite has one writer;
/// on PostgreSQL each publication holds a transaction-scoped advisory lock from its insert to its commit), so
/// "everything after N" is a complete answer: a client that reconnects with the last number it saw misses nothing.
struct RealtimeEvent: Sendable {
    enum Kind: String, Sendable {
        case messageCreated = "message.created"
        case messageEdited = "message.edited"
        case messageDeleted = "message.deleted"
        case messageRead = "message.read"
        case typing
        case presence
    }

    let id: Int64
    let threadID: UUID
    let frame: ByteBuffer

    /// `type` is a ``Kind`` name and `data` JSON this process encoded, so plain concatenation makes valid JSON.
    init(id: Int64, threadID: UUID, type: String, at: Date, data: String) {
        self.id = id
        self.threadID = threadID
        frame = ByteBuffer(string: #"{"at":"\#(at.formatted(.iso8601))","data":\#(data),"id":\#(id),"threadId":"\#(threadID.uuidString)","type":"\#(type)"}"#)
    }

    init(id: Int64, threadID: UUID, frame: ByteBuffer) {
        self.id = id
        self.threadID = threadID
        self.frame = frame
    }

    struct Row: Decodable {
        let id: Int64
        let thread_id: UUID
        let type: String
        let data: String
        let created_at: Date
    }

    init(_ row: Row) {
        self.init(id: row.id, threadID: row.thread_id, type: row.type, at: row.created_at, data: row.data)
    }

    /// What a PostgreSQL notice carries: the event itself when it fits in NOTIFY's 8000 bytes, else only its
    /// number (listeners then read it from the table).
    var notice: String {
        frame.readableBytes < 7_500 ? "\(id) \(threadID.uuidString) \(String(buffer: frame))" : "\(id)"
    }
}

/// One open socket: who it is, and the frames written to it but not yet taken by the client.
final class RealtimeConnection: Sendable {
    let id = UUID()
    let principal: Principal
    let socket: WebSocket
    /// The socket's event loop, read once: the hub groups every fan-out by it.
    let eventLoop: any EventLoop
    private let state = NIOLockedValueBox(State())
    /// Called once when the connection is cut off: the hub stops fanning out to it at once, before the
    /// socket has finished closing.
    private let cutOff: @Sendable (RealtimeConnection) -> Void

    private struct State {
        var pendingBytes = 0
        /// Subscriptions whose backlog is being read: live events wait here meanwhile, so none overtakes it.
        var catchingUp = 0
        var held: [RealtimeEvent] = []
        var cut = false
        var tokens = Double(RealtimeConnection.commands.limit)
        var refilled = Date()
        var lastTyping: [UUID: ContinuousClock.Instant] = [:]
    }

    /// Frames a client may leave unread before it is cut off as too slow (the others never wait for it).
    static let maxPendingBytes = 1 << 20
    static let maxHeldEvents = 10_000
    /// Client commands: a burst of 20, then 5 a second (FluxSecurity's token bucket, kept per socket).
    static let commands = RateLimitPolicy(name: "realtime-commands", limit: 20, period: 4)
    /// Close code for a client cut off for not reading (an application code, 4000–4999).
    static let tooSlow = WebSocketErrorCode.unknown(4008)
    /// Close code for a socket whose session was revoked or expired.
    static let sessionEnded = WebSocketErrorCode.unknown(4401)

    init(principal: Principal, socket: WebSocket, cutOff: @escaping @Sendable (RealtimeConnection) -> Void) {
        self.principal = principal
        self.socket = socket
        eventLoop = socket.eventLoop
        self.cutOff = cutOff
    }

    private func cut() {
        socket.close(code: Self.tooSlow, promise: nil)
        cutOff(self)
    }

    /// Sends `event` now, or holds it while a backlog is read; `written` runs once this socket is done with
    /// it (written to the kernel, held, or dropped). Called on the socket's event loop, `written` runs there too.
    func receive(_ event: RealtimeEvent, written: (@Sendable () -> Void)? = nil) {
        enum Route { case send, held, cutNow, gone }
        let route: Route = state.withLockedValue { state in
            guard !state.cut else { return .gone }
            guard state.catchingUp > 0 else { return .send }
            guard state.held.count < Self.maxHeldEvents else {
                state.cut = true
                return .cutNow
            }
            state.held.append(event)
            return .held
        }
        switch route {
        case .send: return write(event.frame, written: written)
        case .cutNow: cut()
        case .held, .gone: break
        }
        written?()
    }

    func write(_ frame: ByteBuffer, written: (@Sendable () -> Void)? = nil) {
        let size = frame.readableBytes
        let verdict: Bool? = state.withLockedValue { state in
            guard !state.cut else { return nil }
            state.pendingBytes += size
            if state.pendingBytes > Self.maxPendingBytes { state.cut = true }
            return !state.cut
        }
        switch verdict {
        case .none: written?()
        case .some(false):
            cut()
            written?()
        case .some(true):
            let promise = eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenComplete { [state] _ in
                state.withLockedValue { $0.pendingBytes -= size }
                written?()
            }
            socket.send(frame, opcode: .text, promise: promise)
        }
    }

    func write(json: some Encodable) {
        guard let data = try? RealtimeHub.encoder.encode(json) else { return }
        write(ByteBuffer(data: data))
    }

    func beginCatchUp() {
        state.withLockedValue { $0.catchingUp += 1 }
    }

    /// Sends `first`, then the live events held meanwhile that `first` did not already contain.
    func endCatchUp(sending first: [ByteBuffer], skipping sent: Set<Int64>) {
        let held: [RealtimeEvent] = state.withLockedValue { state in
            state.catchingUp -= 1
            guard state.catchingUp == 0 else { return [] }
            defer { state.held.removeAll() }
            return state.held
        }
        for frame in first { write(frame) }
        for event in held where !sent.contains(event.id) { write(event.frame) }
    }

    /// Takes one token for a client command; `false` when the client is sending too fast.
    func admit(now: Date = Date()) -> Bool {
        state.withLockedValue { state in
            let (decision, tokens) = RateLimitDecision.consume(tokens: state.tokens, updated: state.refilled, now: now, policy: Self.commands)
            state.tokens = tokens
            state.refilled = now
            return decision.allowed
        }
    }

    /// Typing notices go out at most once every 2 seconds per conversation.
    func admitTyping(in thread: UUID, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLockedValue { state in
            if let last = state.lastTyping[thread], now - last < .seconds(2) { return false }
            state.lastTyping[thread] = now
            return true
        }
    }
}

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
    /// A resuming client gets at most this many missed events; beyond, it is told to reload.
    static let maxBacklog = 1_000
    static let retention: TimeInterval = 7 * 86_400
    /// A presence row not refreshed for this long belongs to a replica that stopped: it is removed and
    /// announced offline.
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
    private let database: @Sendable () -> (any Database)?
    private let logger: Logger
    /// The newest event fanned out; `nil` until the first subscription has read where the log stands.
    private var last: Int64?
    private var connections: [UUID: RealtimeConnection] = [:]
    private var subscribers: [UUID: Set<UUID>] = [:]
    private var subscriptions: [UUID: Set<UUID>] = [:]

    init(postgres: Bool, logger: Logger, metrics: HTTPMetrics, database: @escaping @Sendable () -> (any Database)?) {
        self.postgres = postgres
        self.metrics = metrics
        self.logger = logger
        self.database = database
    }

    // MARK: - Publishing

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
                let sql = transaction as! any SQLDatabase
                try await sql.raw("SELECT pg_advisory_xact_lock(\(bind: Self.publishLock))").run()
                let event = try await insert(sql)
                try await sql.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: event.notice))").run()
            }
        } else {
            await receive(try await insert(database as! any SQLDatabase))
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

    /// A PostgreSQL notice from any replica.
    func receive(notice: String) async {
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

    /// Hands `event` to every subscribed socket; the fan-out time recorded is from here until the last of
    /// them has written it.
    private func deliver(_ event: RealtimeEvent) {
        last = event.id
        let targets = (subscribers[event.threadID] ?? []).compactMap { connections[$0] }
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
        // One task per event loop, which then writes to each of its sockets directly: handing each write to
        // its loop separately costs a cross-thread wake-up per socket, most of a 1,000-socket fan-out. Each
        // loop counts its own sockets' completions (they all complete on it), so the shared count is taken
        // once per loop, not once per socket.
        for (loop, connections) in groups {
            loop.execute { [metrics] in
                let socketsPending = NIOLoopBoundBox(connections.count, eventLoop: loop)
                let written: @Sendable () -> Void = {
                    socketsPending.value -= 1
                    guard socketsPending.value == 0 else { return }
                    if loopsPending.withLockedValue({ $0 -= 1; return $0 }) == 0 {
                        metrics.realtimeFanOut(took: ContinuousClock.now - started)
                    }
                }
                for connection in connections { connection.receive(event, written: written) }
            }
        }
    }

    // MARK: - Sockets

    func attach(_ connection: RealtimeConnection) {
        connections[connection.id] = connection
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
        /// Who else is connected to these conversations.
        let presence: [RealtimeService.PresenceView]
    }

    struct Reset: Encodable {
        let type = "reset"
        let message = "Too much was missed to replay; reload the conversations."
    }

    /// Subscribes `connection` to `threads`, sending first the events after `after` it missed (or a `reset`
    /// when there are more than ``maxBacklog`` or they are no longer kept). Live events that arrive meanwhile
    /// are held and follow the backlog.
    func subscribe(_ connection: RealtimeConnection, to threads: [UUID], after: Int64?,
                   presence: @Sendable () async throws -> [RealtimeService.PresenceView]) async throws {
        guard connections[connection.id] != nil else { return }
        await synchronize()
        connection.beginCatchUp()
        for thread in threads {
            subscribers[thread, default: []].insert(connection.id)
            subscriptions[connection.id, default: []].insert(thread)
        }
        var frames: [ByteBuffer] = []
        var sent = Set<Int64>()
        do {
            let others = try await presence()
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
            frames.append(ByteBuffer(data: try Self.encoder.encode(Subscribed(threadIds: threads, last: last ?? 0, presence: others))))
            if reset {
                frames.append(ByteBuffer(data: try Self.encoder.encode(Reset())))
            } else {
                for row in backlog {
                    frames.append(RealtimeEvent(row).frame)
                    sent.insert(row.id)
                }
            }
        } catch {
            connection.endCatchUp(sending: [], skipping: [])
            throw error
        }
        connection.endCatchUp(sending: frames, skipping: sent)
    }

    /// Stops `connection`'s subscriptions to `threads`; returns those it had.
    @discardableResult
    func unsubscribe(_ connection: RealtimeConnection, from threads: Set<UUID>) -> Set<UUID> {
        let had = (subscriptions[connection.id] ?? []).intersection(threads)
        for thread in had {
            subscribers[thread]?.remove(connection.id)
            if subscribers[thread]?.isEmpty == true { subscribers[thread] = nil }
        }
        subscriptions[connection.id]?.subtract(had)
        return had
    }

    /// Forgets a closed socket; returns the conversations it was in.
    func detach(_ connection: RealtimeConnection) -> Set<UUID> {
        let had = unsubscribe(connection, from: subscriptions[connection.id] ?? [])
        subscriptions[connection.id] = nil
        connections[connection.id] = nil
        return had
    }

    func allConnections() -> [RealtimeConnection] {
        Array(connections.values)
    }
}
