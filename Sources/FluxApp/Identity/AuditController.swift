import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `GET /api/admin/audit`: the audit trail, newest first, filtered and paginated; owners and admins only.
struct AuditController: Sendable {

    struct Filters: Content {
        let action: String?
        let actorId: UUID?
        let tenantId: UUID?
        let from: String?
        let to: String?
        let page: Int?
        let per: Int?
    }

    struct EventView: Content {
        let id: UUID
        let occurredAt: Date
        let action: String
        let actorId: UUID?
        let tenantId: UUID?
        let target: String?
        let ipHash: String?
        let userAgent: String?
        let requestId: String?
        let metadata: String?
    }

    struct Page: Content {
        let items: [EventView]
        let page: Int
        let per: Int
        let total: Int
    }

    @Sendable func list(_ request: Request, _ principal: Principal) async throws -> Page {
        let filters = try request.query.decode(Filters.self)
        let page = filters.page ?? 1
        let per = filters.per ?? 50
        var errors = FieldErrors()
        errors.check("page", (1...100_000).contains(page), "must be between 1 and 100000")
        errors.check("per", (1...200).contains(per), "must be between 1 and 200")
        errors.check("action", TextInput.isSearchText(filters.action), "must be at most 100 characters, without control characters")
        let from = filters.from.flatMap(TextInput.instant)
        let to = filters.to.flatMap(TextInput.instant)
        errors.check("from", filters.from == nil || from != nil, "must be an ISO 8601 date-time")
        errors.check("to", filters.to == nil || to != nil, "must be an ISO 8601 date-time")
        try errors.throwIfAny()
        var query = AuditEvent.query(on: request.db)
        if let action = filters.action { query = query.filter(\.$action == action) }
        if let actor = filters.actorId { query = query.filter(\.$actorID == actor) }
        if let tenant = filters.tenantId { query = query.filter(\.$tenantID == tenant) }
        if let from { query = query.filter(\.$occurredAt >= from) }
        if let to { query = query.filter(\.$occurredAt < to) }
        let total = try await query.copy().count()
        let events = try await query.sort(\.$occurredAt, .descending).range(((page - 1) * per)..<(page * per)).all()
        return Page(items: events.map {
            EventView(id: $0.id!, occurredAt: $0.occurredAt, action: $0.action, actorId: $0.actorID, tenantId: $0.tenantID,
                      target: $0.target, ipHash: $0.ipHash, userAgent: $0.userAgent, requestId: $0.requestID, metadata: $0.metadata)
        }, page: page, per: per, total: total)
    }
}
