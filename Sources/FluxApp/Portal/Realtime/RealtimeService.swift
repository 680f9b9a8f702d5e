import Fluent
import FluxSecurity
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SQLKit
import Vapor

/// `GET /api/portal/realtime`: the portal's WebSocket.
///
/// Authenticated at the upgrade like any API call (`Authorization: Bearer`, or the access cookie a browser
/// sends by itself, which is then accepted only from Flux's own origin or a CORS_ORIGINS one: a cookie alone
/// would let any site open a socket as its visitor). The token never goes in the URL.
///
/// Client commands (JSON text frames): `{"type":"subscribe","threadIds":[…],"after":N}`, `unsubscribe`,
/// `{"type":"typing","threadId":…}`, `{"type":"presence","status":"online"|"away"}` and
/// `{"type":"presence.list","threadId":…}`. Each subscription is authorized again (``authorizeWatching``).
/// Server frames are events `{"id","type","threadId","at","data"}` (message.created, message.edited,
/// message.deleted, message.read, typing), `presence` (like an event, without an `id`: presence is not
/// replayed), `subscribed` (with who is there), `presence.list`, `reset` and `error`.
///
/// Presence is per person (``RealtimePresence``), in memory, and its changes are gathered per conversation and
/// sent at most every ``presenceInterval``: otherwise n people joining a conversation would cost n² frames.
final class RealtimeService: LifecycleHandler, Sendable {
    let hub: RealtimeHub
    private let revocations: SessionRevocations
    private let allowedOrigin: @Sendable (String) -> Bool
    /// `nil` once the application has shut its databases.
    private let database: @Sendable () -> (any Database)?
    private let listener: PostgresListener?
    private let heartbeat = BackgroundTask()
    private let presenceLoop = BackgroundTask()
    /// How often each socket is pinged. One that has not answered a ping by the next is closed: that finds a
    /// vanished client, and finishes closing one cut off as too slow.
    private let pingInterval: TimeAmount
    /// How many sockets are being served (awaited at shutdown), and whether shutdown has begun.
    private let serving = NIOLockedValueBox((open: 0, stopping: false))
    private let logger: Logger

    static let heartbeatInterval: Duration = .seconds(15)
    static let presenceInterval: Duration = .milliseconds(250)
    static let maxThreadsPerSubscribe = 50

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

    /// The answer to `presence.list`: everyone in a conversation, however many.
    struct PeopleList: Encodable {
        let type = "presence.list"
        let threadId: UUID
        let users: [RealtimePresence.Person]
    }

    init(config: AppConfig, app: Application, revocations: SessionRevocations, metrics: HTTPMetrics) {
        let database: @Sendable () -> (any Database)? = { app.databases.database(logger: app.logger, on: app.eventLoopGroup.any()) }
        let postgres = PostgresListener.configuration(for: config.database)
        let hub = RealtimeHub(postgres: postgres != nil, logger: app.logger, metrics: metrics, database: database)
        self.hub = hub
        self.revocations = revocations
        self.database = database
        pingInterval = .seconds(Int64(config.realtimePingSeconds))
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
        // A revoked session's sockets close as the revocation is seen (here, or announced by another replica).
        revocations.observe { sessions in
            Task { await hub.close(sessions: Set(sessions)) }
        }
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
        // The display name only: an address is not shown to the others in a conversation.
        let name = try await User.find(principal.userID, on: request.db)?.displayName ?? ""
        return request.webSocket(maxFrameSize: .init(integerLiteral: 16_384),
                                 shouldUpgrade: { $0.eventLoop.makeSucceededFuture([:]) }) { [self] _, socket in
            // Called on the socket's event loop, where WebSocketKit's state must be set. The ping interval above
            // all: set elsewhere, WebSocketKit marks "waiting for pong" after writing the first ping, the pong can
            // be handled on the loop before that, and the next ping then closes a healthy socket.
            socket.pingInterval = pingInterval
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
            let connection = RealtimeConnection(principal: principal, name: name, socket: socket) { [hub] connection in
                Task { await hub.detach(connection) }
            }
            Task {
                await run(connection, commands: commands)
                serving.withLockedValue { $0.open -= 1 }
            }
        }
    }

    /// Serves one socket until it closes, one command at a time, in the order they came.
    private func run(_ connection: RealtimeConnection, commands: AsyncStream<String>) async {
        await hub.attach(connection)
        for await text in commands {
            await handle(text, from: connection)
        }
        await hub.detach(connection)
    }

    private func handle(_ text: String, from connection: RealtimeConnection) async {
        guard connection.admit() else {
            return connection.send(json: Failure("rate_limited", "Too many commands; slow down."))
        }
        guard let command = try? JSONDecoder().decode(Command.self, from: Data(text.utf8)) else {
            return connection.send(json: Failure("invalid_input", "Send a JSON command as a text frame."))
        }
        guard let db = database() else { return }
        do {
            switch command.type {
            case "subscribe":
                try await subscribe(connection, to: command.threadIds ?? [], after: command.after, on: db)
            case "unsubscribe":
                await hub.unsubscribe(connection, from: Set(command.threadIds ?? []))
            case "typing":
                guard let thread = await subscribed(connection, to: command.threadId, "Subscribe to a conversation before typing in it.") else { return }
                if connection.admitTyping(in: thread) {
                    struct Typing: Encodable, Sendable { let userId: UUID }
                    try await hub.publish(.typing, thread: thread, data: Typing(userId: connection.principal.userID), on: db)
                }
            case "presence":
                guard let status = command.status, ["online", "away"].contains(status) else {
                    return connection.send(json: Failure("invalid_input", "status must be online or away."))
                }
                await hub.setStatus(connection, status)
            case "presence.list":
                guard let thread = await subscribed(connection, to: command.threadId, "Subscribe to a conversation before listing who is in it.") else { return }
                connection.send(json: PeopleList(threadId: thread, users: await hub.people(in: thread)))
            default:
                connection.send(json: Failure("unknown_command", "Commands are subscribe, unsubscribe, typing, presence and presence.list."))
            }
        } catch let error as AppError {
            connection.send(json: Failure(error.code, error.message))
        } catch {
            logger.warning("real-time command failed", metadata: ["type": .string(command.type), "error": .string(String(describing: error))])
            connection.send(json: Failure("internal", "The command failed; try again."))
        }
    }

    /// `thread` when `connection` is subscribed to it; otherwise answers the client and returns `nil`.
    private func subscribed(_ connection: RealtimeConnection, to thread: UUID?, _ message: String) async -> UUID? {
        guard let thread, await hub.threads(of: connection).contains(thread) else {
            connection.send(json: Failure("not_subscribed", message))
            return nil
        }
        return thread
    }

    /// Authorizes every conversation again, then subscribes: all of them or, if any is refused, none.
    private func subscribe(_ connection: RealtimeConnection, to requested: [UUID], after: Int64?, on db: any Database) async throws {
        let threadIDs = Array(Set(requested))
        guard (1...Self.maxThreadsPerSubscribe).contains(threadIDs.count), (after ?? 0) >= 0 else {
            throw AppError.invalidInput("Name 1 to \(Self.maxThreadsPerSubscribe) conversations, and after ≥ 0.")
        }
        guard try await revocations.isActive(connection.principal.sessionID, on: db) else {
            connection.close(code: RealtimeConnection.sessionEnded)
            return
        }
        try await Self.authorizeWatching(threadIDs, by: connection.principal, on: db)
        try await hub.subscribe(connection, to: threadIDs, after: after)
    }

    /// Who may watch a conversation live: the one place that decides it, for every subscription. Throws
    /// `not_found` (as the REST API does) unless `principal` may see every one of `threadIDs`.
    static func authorizeWatching(_ threadIDs: [UUID], by principal: Principal, on db: any Database) async throws {
        let threads = try await ChatThread.query(on: db).filter(\.$id ~~ threadIDs).all()
        var visible = 0
        for thread in threads where try await ThreadAccess.canSee(thread, principal, on: db) { visible += 1 }
        guard visible == threadIDs.count else { throw ThreadAccess.notFound }
    }

    // MARK: - Upkeep

    /// Closes sockets whose session ended (expired, or a revocation notice was lost), tells the other replicas
    /// this one's whole presence and drops that of replicas that stopped telling theirs, and drops events past
    /// retention.
    func upkeep(now: Date = Date()) async {
        guard let db = database() else { return }
        do {
            for connection in await hub.allConnections() where !(try await revocations.isActive(connection.principal.sessionID, on: db, now: now)) {
                connection.close(code: RealtimeConnection.sessionEnded)
            }
            await hub.expirePresence(before: now.addingTimeInterval(-RealtimeHub.presenceTimeout))
            await hub.flushPresence(refreshing: true)
            try await db.sql.raw("DELETE FROM realtime_events WHERE created_at < \(bind: now.addingTimeInterval(-RealtimeHub.retention))").run()
        } catch {
            logger.warning("real-time upkeep failed", metadata: ["error": .string(String(describing: error))])
        }
    }

    func didBootAsync(_ application: Application) async throws {
        listener?.start(logger: application.logger)
        heartbeat.repeating(every: Self.heartbeatInterval, firstAfter: Self.heartbeatInterval) { [self] in await upkeep() }
        presenceLoop.repeating(every: Self.presenceInterval) { [hub] in await hub.flushPresence() }
    }

    /// Closes every socket and waits (up to 5 seconds) for them to finish, so the other replicas hear this
    /// one's presence end before the databases close.
    func shutdownAsync(_ application: Application) async {
        await heartbeat.stop()
        serving.withLockedValue { $0.stopping = true }
        for connection in await hub.allConnections() {
            connection.close(code: .goingAway)
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while serving.withLockedValue({ $0.open }) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await presenceLoop.stop()
        await hub.flushPresence()
        await listener?.stop()
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
