import Fluent
import FluxSecurity
import Foundation
import NIOConcurrencyHelpers
import SQLKit
import Vapor

/// `GET /api/portal/realtime`: the portal's WebSocket.
///
/// Authenticated at the upgrade like any API call (`Authorization: Bearer`, or the access cookie a browser
/// sends by itself, which is then accepted only from Flux's own origin or a CORS_ORIGINS one: a cookie alone
/// would let any site open a socket as its visitor). The token never goes in the URL.
///
/// Client commands (JSON text frames): `{"type":"subscribe","threadIds":[…],"after":N}`, `unsubscribe`,
/// `{"type":"typing","threadId":…}`, `{"type":"presence","status":"online"|"away"}`. Each subscription is
/// authorized again (the session is still live, the caller may see each conversation). Server frames are
/// events `{"id","type","threadId","at","data"}` (message.created, message.edited, message.deleted,
/// message.read, typing, presence), `subscribed` (with the current presence), `reset` and `error`.
///
/// Presence changes are gathered per conversation and sent as one `presence` event listing them, at most
/// every ``presenceInterval``: otherwise n people joining a conversation would cost n² frames (at 1,000
/// sockets, half a million, enough to bury the clients' answers to pings).
final class RealtimeService: LifecycleHandler, Sendable {
    let hub: RealtimeHub
    private let identity: Identity
    private let security: Hardening
    private let allowedOrigin: @Sendable (String) -> Bool
    /// `nil` once the application has shut its databases.
    private let database: @Sendable () -> (any Database)?
    private let listener: PostgresListener?
    private let heartbeat = BackgroundTask()
    private let presenceLoop = BackgroundTask()
    private let pendingPresence = NIOLockedValueBox<[UUID: [PresenceView]]>([:])
    /// How many sockets are being served (awaited at shutdown), and whether shutdown has begun.
    private let serving = NIOLockedValueBox((open: 0, stopping: false))
    private let logger: Logger

    static let heartbeatInterval: Duration = .seconds(15)
    static let presenceInterval: Duration = .milliseconds(250)
    static let maxThreadsPerSubscribe = 50

    struct PresenceView: Codable, Sendable {
        let threadId: UUID
        let userId: UUID
        /// One person may be connected several times; they are offline once every connection is.
        let connectionId: UUID
        let status: String
    }

    /// The data of a `presence` event: the changes since the last one, oldest first.
    struct PresenceChanges: Codable, Sendable {
        let changes: [PresenceView]
    }

    struct Command: Decodable {
        let type: String
        let threadIds: [UUID]?
        let threadId: UUID?
        let after: Int64?
        let status: String?
    }

    /// The API's error body, marked as a frame.
    struct Failure: Encodable {
        let type = "error"
        let error: ErrorEnvelope.Body

        init(_ code: String, _ message: String) {
            error = ErrorEnvelope.Body(code: code, message: message, fields: nil)
        }
    }

    init(config: AppConfig, app: Application, identity: Identity, security: Hardening, metrics: HTTPMetrics) {
        let database: @Sendable () -> (any Database)? = { app.databases.database(logger: app.logger, on: app.eventLoopGroup.any()) }
        let postgres = PostgresListener.configuration(for: config.database)
        let hub = RealtimeHub(postgres: postgres != nil, logger: app.logger, metrics: metrics, database: database)
        self.hub = hub
        self.identity = identity
        self.security = security
        self.database = database
        logger = app.logger
        let own = CORSPolicy.canonicalOrigin(config.publicURL.absoluteString)
        allowedOrigin = { [cors = config.cors] origin in
            CORSPolicy.canonicalOrigin(origin) == own || (cors?.allows(origin) ?? false)
        }
        listener = postgres.map { configuration in
            PostgresListener(channel: RealtimeHub.channel, configuration: configuration,
                             listening: { await hub.listener(connected: $0) },
                             notice: { await hub.receive(notice: $0) })
        }
    }

    func register(on root: any RoutesBuilder) {
        root.grouped("api", "portal").grouped(security.rateLimit(RateLimits.account))
            .secured(.GET, "realtime", roles: Role.client.union(Role.clientDataStaff), identity: identity, use: upgrade)
    }

    @Sendable func upgrade(_ request: Request, _ principal: Principal) async throws -> Response {
        if request.headers.bearerToken == nil {
            guard let origin = request.headers.first(name: .origin), allowedOrigin(origin) else {
                throw AppError(.forbidden, code: "origin_refused", message: "This page's origin may not open the portal's socket.")
            }
        }
        guard request.headers[.upgrade].contains(where: { $0.lowercased() == "websocket" }) else {
            throw AppError(.upgradeRequired, code: "upgrade_required", message: "This address takes WebSocket connections only.",
                           headers: ["Upgrade": "websocket"])
        }
        return request.webSocket(maxFrameSize: .init(integerLiteral: 16_384),
                                 shouldUpgrade: { $0.eventLoop.makeSucceededFuture([:]) }) { [self] _, socket in
            // Called on the socket's event loop, where its callbacks must be set.
            let (commands, input) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(64))
            socket.onText { _, text in input.yield(text) }
            // Commands are JSON text; a binary frame gets the same answer as text that is not JSON.
            socket.onBinary { _, _ in input.yield("") }
            socket.onClose.whenComplete { _ in input.finish() }
            let started: Bool = serving.withLockedValue { serving in
                guard !serving.stopping else { return false }
                serving.open += 1
                return true
            }
            guard started else { return socket.close(code: .goingAway, promise: nil) }
            Task {
                await run(socket, principal, commands: commands)
                serving.withLockedValue { $0.open -= 1 }
            }
        }
    }

    /// Serves one socket until it closes, one command at a time, in the order they came.
    private func run(_ socket: WebSocket, _ principal: Principal, commands: AsyncStream<String>) async {
        // Pings find a vanished client (and finish closing a socket cut off as too slow) within 40 seconds.
        socket.pingInterval = .seconds(20)
        let connection = RealtimeConnection(principal: principal, socket: socket) { [self] connection in
            Task { await leave(connection, threads: await hub.detach(connection)) }
        }
        await hub.attach(connection)
        for await text in commands {
            await handle(text, from: connection)
        }
        let threads = await hub.detach(connection)
        await leave(connection, threads: threads)
    }

    private func handle(_ text: String, from connection: RealtimeConnection) async {
        guard connection.admit() else {
            return connection.write(json: Failure("rate_limited", "Too many commands; slow down."))
        }
        guard let command = try? JSONDecoder().decode(Command.self, from: Data(text.utf8)) else {
            return connection.write(json: Failure("invalid_input", "Send a JSON command as a text frame."))
        }
        guard let db = database() else { return }
        do {
            switch command.type {
            case "subscribe":
                try await subscribe(connection, to: command.threadIds ?? [], after: command.after, on: db)
            case "unsubscribe":
                let threads = await hub.unsubscribe(connection, from: Set(command.threadIds ?? []))
                await leave(connection, threads: threads)
            case "typing":
                guard let thread = command.threadId, await hub.threads(of: connection).contains(thread) else {
                    return connection.write(json: Failure("not_subscribed", "Subscribe to a conversation before typing in it."))
                }
                if connection.admitTyping(in: thread) {
                    struct Typing: Encodable, Sendable { let userId: UUID }
                    try await hub.publish(.typing, thread: thread, data: Typing(userId: connection.principal.userID), on: db)
                }
            case "presence":
                guard let status = command.status, ["online", "away"].contains(status) else {
                    return connection.write(json: Failure("invalid_input", "status must be online or away."))
                }
                try await announce(connection, status: status, in: await hub.threads(of: connection), on: db)
            default:
                connection.write(json: Failure("unknown_command", "Commands are subscribe, unsubscribe, typing and presence."))
            }
        } catch let error as AppError {
            connection.write(json: Failure(error.code, error.message))
        } catch {
            logger.warning("real-time command failed", metadata: ["type": .string(command.type), "error": .string(String(describing: error))])
            connection.write(json: Failure("internal", "The command failed; try again."))
        }
    }

    /// Authorizes every conversation again, then subscribes: all of them or, if any is refused, none.
    private func subscribe(_ connection: RealtimeConnection, to requested: [UUID], after: Int64?, on db: any Database) async throws {
        let threadIDs = Array(Set(requested))
        guard (1...Self.maxThreadsPerSubscribe).contains(threadIDs.count), (after ?? 0) >= 0 else {
            throw AppError(.badRequest, code: "invalid_input", message: "Name 1 to \(Self.maxThreadsPerSubscribe) conversations, and after ≥ 0.")
        }
        let principal = connection.principal
        guard try await identity.revocations.isActive(principal.sessionID, on: db) else {
            connection.socket.close(code: RealtimeConnection.sessionEnded, promise: nil)
            return
        }
        let threads = try await ChatThread.query(on: db).filter(\.$id ~~ threadIDs).all()
        var visible = 0
        for thread in threads where try await MessagingController.canSee(thread, principal, on: db) { visible += 1 }
        guard visible == threadIDs.count else { throw MessagingController.notFound }
        let sql = db as! any SQLDatabase
        let cutoff = Date().addingTimeInterval(-RealtimeHub.presenceTimeout)
        try await hub.subscribe(connection, to: threadIDs, after: after) {
            try await sql.raw("""
                SELECT thread_id, user_id, connection_id, status FROM realtime_presence
                WHERE thread_id IN (\(SQLList(threadIDs.map { SQLBind($0) }))) AND seen_at > \(bind: cutoff)
                """).all(decoding: PresenceRow.self).map(\.view)
        }
        try await announce(connection, status: "online", in: Set(threadIDs), on: db)
    }

    private struct PresenceRow: Decodable {
        let thread_id: UUID
        let user_id: UUID
        let connection_id: UUID
        let status: String

        var view: PresenceView { PresenceView(threadId: thread_id, userId: user_id, connectionId: connection_id, status: status) }
    }

    /// Records `connection` as `status` in `threads` and tells their subscribers.
    private func announce(_ connection: RealtimeConnection, status: String, in threads: Set<UUID>, on db: any Database) async throws {
        let sql = db as! any SQLDatabase
        let now = Date()
        for thread in threads {
            try await sql.raw("""
                INSERT INTO realtime_presence (connection_id, thread_id, user_id, status, seen_at)
                VALUES (\(bind: connection.id), \(bind: thread), \(bind: connection.principal.userID), \(bind: status), \(bind: now))
                ON CONFLICT (connection_id, thread_id) DO UPDATE SET status = excluded.status, seen_at = excluded.seen_at
                """).run()
            queue(PresenceView(threadId: thread, userId: connection.principal.userID, connectionId: connection.id, status: status))
        }
    }

    private func queue(_ change: PresenceView) {
        pendingPresence.withLockedValue { $0[change.threadId, default: []].append(change) }
    }

    /// Publishes the presence changes gathered since the last call, one event per conversation.
    func flushPresence() async {
        let pending = pendingPresence.withLockedValue { pending in
            defer { pending.removeAll() }
            return pending
        }
        guard !pending.isEmpty, let db = database() else { return }
        for (thread, changes) in pending {
            await hub.announce(.presence, thread: thread, data: PresenceChanges(changes: changes), on: db)
        }
    }

    /// `connection` has left `threads` (unsubscribed or closed): its presence there ends.
    private func leave(_ connection: RealtimeConnection, threads: Set<UUID>) async {
        guard !threads.isEmpty, let db = database() else { return }
        do {
            try await (db as! any SQLDatabase).raw("""
                DELETE FROM realtime_presence WHERE connection_id = \(bind: connection.id)
                AND thread_id IN (\(SQLList(threads.map { SQLBind($0) })))
                """).run()
        } catch {
            logger.warning("presence not cleared", metadata: ["error": .string(String(describing: error))])
        }
        for thread in threads {
            queue(PresenceView(threadId: thread, userId: connection.principal.userID, connectionId: connection.id, status: "offline"))
        }
    }

    // MARK: - Upkeep

    /// Closes sockets whose session ended, keeps this replica's presence fresh, announces offline the
    /// connections of a replica that stopped refreshing (it crashed), and drops events past retention.
    func upkeep(now: Date = Date()) async {
        guard let db = database() else { return }
        let sql = db as! any SQLDatabase
        do {
            let connections = await hub.allConnections()
            for connection in connections where !(try await identity.revocations.isActive(connection.principal.sessionID, on: db, now: now)) {
                connection.socket.close(code: RealtimeConnection.sessionEnded, promise: nil)
            }
            for start in stride(from: 0, to: connections.count, by: 500) {
                let ids = connections[start..<min(start + 500, connections.count)].map { SQLBind($0.id) }
                try await sql.raw("UPDATE realtime_presence SET seen_at = \(bind: now) WHERE connection_id IN (\(SQLList(ids)))").run()
            }
            let stale = try await sql.raw("""
                DELETE FROM realtime_presence WHERE seen_at < \(bind: now.addingTimeInterval(-RealtimeHub.presenceTimeout))
                RETURNING thread_id, user_id, connection_id, status
                """).all(decoding: PresenceRow.self)
            for row in stale {
                queue(PresenceView(threadId: row.thread_id, userId: row.user_id, connectionId: row.connection_id, status: "offline"))
            }
            try await sql.raw("DELETE FROM realtime_events WHERE created_at < \(bind: now.addingTimeInterval(-RealtimeHub.retention))").run()
        } catch {
            logger.warning("real-time upkeep failed", metadata: ["error": .string(String(describing: error))])
        }
    }

    func didBootAsync(_ application: Application) async throws {
        listener?.start(logger: application.logger)
        heartbeat.repeating(every: Self.heartbeatInterval, firstAfter: Self.heartbeatInterval) { [self] in await upkeep() }
        presenceLoop.repeating(every: Self.presenceInterval) { [self] in await flushPresence() }
    }

    /// Closes every socket and waits (up to 5 seconds) for their last presence updates, before the
    /// databases close.
    func shutdownAsync(_ application: Application) async {
        await heartbeat.stop()
        await listener?.stop()
        serving.withLockedValue { $0.stopping = true }
        for connection in await hub.allConnections() {
            connection.socket.close(code: .goingAway, promise: nil)
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while serving.withLockedValue({ $0.open }) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await presenceLoop.stop()
        await flushPresence()
    }
}

extension Application {
    private struct RealtimeKey: StorageKey {
        typealias Value = RealtimeService
    }

    /// The portal's real-time service (`configure` builds it; tests reach it here).
    var realtime: RealtimeService {
        get { storage[RealtimeKey.self]! }
        set { storage[RealtimeKey.self] = newValue }
    }
}
