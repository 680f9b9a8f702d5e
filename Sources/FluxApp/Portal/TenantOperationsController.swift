import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// A tenant's running service as its client sees it: `GET /api/portal/tenant/current/status` and
/// `GET /api/portal/tenant/current/logs` (newest first, by cursor, filtered by direction, text and time).
/// What workers send is ``WorkerProtocolController``'s.
struct TenantOperationsController: Sendable {
    let control: WorkerControl

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
        let staleAfter = Double(control.staleAfter(try await WorkerDesiredState.query(on: request.db).filter(\.$tenantID == principal.tenantID).first()))
        let recent = try await MessageLog.query(on: request.db).filter(\.$tenantID == principal.tenantID)
            .filter(\.$occurredAt >= now.addingTimeInterval(-86_400)).count()
        let last = try await MessageLog.query(on: request.db).filter(\.$tenantID == principal.tenantID).sort(\.$occurredAt, .descending).first()
        return StatusView(
            tenantId: tenant.id!, name: tenant.name, status: tenant.status, phone: tenant.phone, setupRequest: setup.map(PortalController.view),
            config: config.map { ConfigView(templateType: $0.templateType, businessName: $0.businessName, language: $0.language,
                                            openingHours: $0.openingHours) },
            workers: workers.map { WorkerView(name: $0.name, status: $0.status, lastError: $0.lastError, heartbeatAt: $0.heartbeatAt,
                                              stale: $0.staleSince != nil || now.timeIntervalSince($0.heartbeatAt) > staleAfter) },
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
        try await logs(request, tenant: principal.tenantID)
    }

    /// `GET /api/hq/tenants/:tenantID/worker/logs`: the same for staff.
    @Sendable func tenantLogs(_ request: Request, _ access: TenantAccess) async throws -> LogPage {
        try await logs(request, tenant: try await WorkerControlController.organization(access.tenantID, on: request.db))
    }

    func logs(_ request: Request, tenant: UUID) async throws -> LogPage {
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

        var builder = MessageLog.query(on: request.db).filter(\.$tenantID == tenant)
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
