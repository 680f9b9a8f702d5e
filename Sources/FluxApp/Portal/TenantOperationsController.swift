import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// A tenant's running service as its client sees it, and as its workers report it.
/// - Workers (an API key of the tenant, never a person): `POST /api/portal/worker/heartbeat`
///   `{name, status, lastError?}` and `POST /api/portal/worker/message-logs` `{entries: […]}`; the tenant is the
///   key's, so a worker can only ever write its own tenant's rows. Log entries with an `externalId` already
///   stored are skipped, so a worker may resend a batch after a timeout.
/// - Clients: `GET /api/portal/tenant/current/status` and `GET /api/portal/tenant/current/logs` (newest first,
///   by cursor, filtered by direction, text and time).
struct TenantOperationsController: Sendable {
    let keys: APIKeys

    static let workerStatuses: Set<String> = ["starting", "running", "degraded", "stopped"]
    static let maxEntries = 500

    // MARK: - Workers

    struct HeartbeatBody: Content {
        let name: String
        let status: String
        let lastError: String?
    }

    @Sendable func heartbeat(_ request: Request) async throws -> HTTPStatus {
        let key = try await keys.authenticate(request, scope: .heartbeat)
        let body = try request.content.decode(HeartbeatBody.self)
        var errors = FieldErrors()
        errors.check("name", TextInput.isToken(body.name), "must be 1 to 100 letters, digits, - or _")
        errors.check("status", Self.workerStatuses.contains(body.status), "must be one of \(Self.workerStatuses.sorted().joined(separator: ", "))")
        errors.check("lastError", (body.lastError ?? "").count <= 2000, "must be at most 2000 characters")
        try errors.throwIfAny()
        let worker = try await WorkerProcess.query(on: request.db).filter(\.$tenantID == key.tenantID).filter(\.$name == body.name).first()
            ?? WorkerProcess()
        worker.tenantID = key.tenantID
        worker.name = body.name
        worker.status = body.status
        worker.lastError = body.lastError.map(TextInput.multiline)
        worker.heartbeatAt = Date()
        try await worker.save(on: request.db)
        return .noContent
    }

    struct LogEntry: Content {
        let direction: String
        let from: String
        let to: String
        let text: String
        let externalId: String?
        /// ISO 8601, with or without fractional seconds.
        let occurredAt: String
    }

    struct LogBatch: Content {
        let entries: [LogEntry]
    }

    struct Accepted: Content {
        let received: Int
        let stored: Int
    }

    @Sendable func messageLogs(_ request: Request) async throws -> Response {
        let key = try await keys.authenticate(request, scope: .logsWrite)
        let batch = try request.content.decode(LogBatch.self)
        var errors = FieldErrors()
        errors.check("entries", (1...Self.maxEntries).contains(batch.entries.count), "must hold 1 to \(Self.maxEntries) entries")
        let latest = Date().addingTimeInterval(300)
        for (index, entry) in batch.entries.enumerated() {
            let field = "entries[\(index)]"
            errors.check(field + ".direction", MessageLog.Direction(rawValue: entry.direction) != nil, "must be inbound or outbound")
            errors.check(field + ".from", (1...320).contains(entry.from.count), "must be 1 to 320 characters")
            errors.check(field + ".to", (1...320).contains(entry.to.count), "must be 1 to 320 characters")
            errors.check(field + ".text", entry.text.count <= 4000, "must be at most 4000 characters")
            errors.check(field + ".externalId", entry.externalId.map { (1...200).contains($0.count) } ?? true, "must be 1 to 200 characters")
            errors.check(field + ".occurredAt", TextInput.instant(entry.occurredAt).map { $0 <= latest } ?? false,
                         "must be an ISO 8601 time, not in the future")
        }
        try errors.throwIfAny()
        let sql = request.db.sql
        let insert = sql.insert(into: MessageLog.schema)
            .columns("id", "tenant_id", "direction", "from_address", "to_address", "text", "external_id", "occurred_at")
        for entry in batch.entries {
            insert.values([SQLBind(UUID()), SQLBind(key.tenantID), SQLBind(entry.direction), SQLBind(TextInput.line(entry.from)),
                           SQLBind(TextInput.line(entry.to)), SQLBind(TextInput.multiline(entry.text)), SQLBind(entry.externalId),
                           SQLBind(TextInput.instant(entry.occurredAt)!)])
        }
        // Only rows actually inserted come back: a resent entry (same externalId) is skipped, not counted.
        let stored = try await insert.ignoringConflicts(with: ["tenant_id", "external_id"]).returning("id").all().count
        return try await Accepted(received: batch.entries.count, stored: stored).encodeResponse(status: .accepted, for: request)
    }

    // MARK: - Clients

    struct WorkerView: Content {
        let name: String
        let status: String
        let lastError: String?
        let heartbeatAt: Date
        let stale: Bool
    }

    struct ConfigView: Content {
        let templateType: String
        let businessName: String
        let language: String
        let openingHours: String
    }

    struct StatusView: Content {
        let tenantId: UUID
        let name: String
        let status: String
        let phone: String?
        let setupRequest: PortalController.SetupRequestView?
        let config: ConfigView?
        let workers: [WorkerView]
        let messagesLast24h: Int
        let lastMessageAt: Date?
    }

    @Sendable func status(_ request: Request, _ principal: Principal) async throws -> StatusView {
        guard let tenant = try await Tenant.find(principal.tenantID, on: request.db) else {
            throw AppError.notFound("No such tenant.")
        }
        let now = Date()
        let setup = try await SetupRequest.query(on: request.db).filter(\.$tenantID == principal.tenantID).sort(\.$createdAt, .descending).first()
        let config = try await TenantConfig.query(on: request.db).filter(\.$tenantID == principal.tenantID).first()
        let workers = try await WorkerProcess.query(on: request.db).filter(\.$tenantID == principal.tenantID).sort(\.$name).all()
        let recent = try await MessageLog.query(on: request.db).filter(\.$tenantID == principal.tenantID)
            .filter(\.$occurredAt >= now.addingTimeInterval(-86_400)).count()
        let last = try await MessageLog.query(on: request.db).filter(\.$tenantID == principal.tenantID).sort(\.$occurredAt, .descending).first()
        return StatusView(
            tenantId: tenant.id!, name: tenant.name, status: tenant.status, phone: tenant.phone, setupRequest: setup.map(PortalController.view),
            config: config.map { ConfigView(templateType: $0.templateType, businessName: $0.businessName, language: $0.language,
                                            openingHours: $0.openingHours) },
            workers: workers.map { WorkerView(name: $0.name, status: $0.status, lastError: $0.lastError, heartbeatAt: $0.heartbeatAt,
                                              stale: now.timeIntervalSince($0.heartbeatAt) > WorkerProcess.staleAfter) },
            messagesLast24h: recent, lastMessageAt: last?.occurredAt)
    }

    struct LogView: Content {
        let id: UUID
        let direction: MessageLog.Direction
        let from: String
        let to: String
        let text: String
        let externalId: String?
        let occurredAt: Date
    }

    struct LogPage: Content {
        let entries: [LogView]
        /// Pass as `cursor` for the next (older) page; `nil` on the last page.
        let nextCursor: String?
    }

    /// A page position: the last entry's time and id, so rows written meanwhile neither repeat nor vanish.
    struct Cursor {
        let time: Date
        let id: UUID

        var text: String {
            Data("\(time.timeIntervalSince1970.bitPattern)|\(id.uuidString)".utf8).base64URLEncodedString()
        }

        init(time: Date, id: UUID) {
            self.time = time
            self.id = id
        }

        init?(_ text: String) {
            guard text.count <= 200, let data = Data(base64URLEncoded: text) else { return nil }
            let parts = String(decoding: data, as: UTF8.self).split(separator: "|")
            guard parts.count == 2, let bits = UInt64(parts[0]), let id = UUID(uuidString: String(parts[1])) else { return nil }
            time = Date(timeIntervalSince1970: Double(bitPattern: bits))
            self.id = id
        }
    }

    @Sendable func logs(_ request: Request, _ principal: Principal) async throws -> LogPage {
        struct Query: Decodable {
            let limit: Int?
            let cursor: String?
            let direction: String?
            let q: String?
            let from: String?
            let to: String?
        }
        let query = try request.query.decode(Query.self)
        let limit = query.limit ?? 50
        let cursor = query.cursor.flatMap(Cursor.init)
        var errors = FieldErrors()
        errors.check("limit", (1...200).contains(limit), "must be 1 to 200")
        errors.check("cursor", query.cursor == nil || cursor != nil, "must be a nextCursor from an earlier page")
        errors.check("direction", query.direction.map { MessageLog.Direction(rawValue: $0) != nil } ?? true, "must be inbound or outbound")
        errors.check("q", TextInput.isSearchText(query.q), "must be at most 100 characters, without control characters")
        let from = query.from.flatMap(TextInput.instant), to = query.to.flatMap(TextInput.instant)
        errors.check("from", query.from == nil || from != nil, "must be an ISO 8601 time")
        errors.check("to", query.to == nil || to != nil, "must be an ISO 8601 time")
        try errors.throwIfAny()

        var builder = MessageLog.query(on: request.db).filter(\.$tenantID == principal.tenantID)
        if let direction = query.direction.flatMap(MessageLog.Direction.init(rawValue:)) { builder = builder.filter(\.$direction == direction) }
        if let text = query.q, !text.isEmpty { builder = builder.filter(\.$text, .custom("LIKE"), "%" + Self.likeEscaped(text) + "%") }
        if let from { builder = builder.filter(\.$occurredAt >= from) }
        if let to { builder = builder.filter(\.$occurredAt < to) }
        if let cursor {
            // Times come back from the database through Double conversions that may move them by an ulp, so
            // "the same time" means within a microsecond (PostgreSQL keeps no more than that anyway).
            let (before, after) = (cursor.time.addingTimeInterval(-1e-6), cursor.time.addingTimeInterval(1e-6))
            builder = builder.group(.or) { older in
                older.filter(\.$occurredAt < before)
                older.group(.and) { same in
                    same.filter(\.$occurredAt >= before)
                    same.filter(\.$occurredAt <= after)
                    same.filter(\.$id < cursor.id)
                }
            }
        }
        let rows = try await builder.sort(\.$occurredAt, .descending).sort(\.$id, .descending).limit(limit + 1).all()
        let page = rows.prefix(limit)
        return LogPage(
            entries: page.map { LogView(id: $0.id!, direction: $0.direction, from: $0.from, to: $0.to, text: $0.text, externalId: $0.externalID,
                                        occurredAt: $0.occurredAt) },
            nextCursor: rows.count > limit ? page.last.map { Cursor(time: $0.occurredAt, id: $0.id!).text } : nil)
    }

    /// `%` and `_` match literally (LIKE's wildcards); SQLite and PostgreSQL both take `\` as the escape
    /// here only with ESCAPE, so they are dropped instead: a search for them would match too much, never too little.
    static func likeEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "_", with: "")
    }
}
