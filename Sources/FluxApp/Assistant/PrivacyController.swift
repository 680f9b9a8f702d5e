import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// `POST /api/admin/privacy/erase` `{sessionId | visitorHash}`: erases every conversation of one visitor with
/// its events, and the session reference on any ticket it led to; audited with the counts. Owners and admins.
struct PrivacyController: Sendable {
    let audit: AuditLog

    struct Body: Content {
        let sessionId: String?
        let visitorHash: String?
    }

    struct Erased: Content {
        let conversations: Int
        let events: Int
        let ticketsUnlinked: Int
    }

    @Sendable func erase(_ request: Request, _ principal: Principal) async throws -> Erased {
        let body = try request.content.decode(Body.self)
        var errors = FieldErrors()
        errors.check("sessionId", (body.sessionId == nil) != (body.visitorHash == nil), "give exactly one of sessionId and visitorHash")
        errors.check("sessionId", body.sessionId.map(TextInput.isToken) ?? true, "must be 1 to 100 letters, digits, - or _")
        errors.check("visitorHash", body.visitorHash.map(TextInput.isToken) ?? true, "must be the visitor's 32-character hash")
        try errors.throwIfAny()

        let recorder = request.application.conversationRecorder
        await recorder.flush(on: request.db, logger: request.logger)
        let erased = try await request.db.writeTransaction { transaction -> Erased in
            var query = AiConversation.query(on: transaction)
            if let session = body.sessionId { query = query.filter(\.$sessionID == session) }
            if let visitor = body.visitorHash { query = query.filter(\.$visitorIP == visitor) }
            let conversations = try await query.all()
            let ids = conversations.compactMap(\.id)
            let sessions = conversations.map(\.sessionID) + (body.sessionId.map { [$0] } ?? [])
            let events = ids.isEmpty ? 0 : try await AiEvent.query(on: transaction).filter(\.$conversationID ~~ ids).count()
            if !ids.isEmpty {
                try await AiEvent.query(on: transaction).filter(\.$conversationID ~~ ids).delete()
                try await AiConversation.query(on: transaction).filter(\.$id ~~ ids).delete()
            }
            let tickets = try await OperationsSignal.query(on: transaction).filter(\.$sessionID ~~ sessions).all()
            for ticket in tickets {
                ticket.sessionID = nil
                try await ticket.update(on: transaction)
            }
            return Erased(conversations: ids.count, events: events, ticketsUnlinked: tickets.count)
        }
        // What this process remembers of them goes too, so a later chat starts from nothing.
        recorder.forget(body.visitorHash == nil ? body.sessionId.map { [$0] } : nil)
        try await audit.record("privacy.erased", actor: principal.userID, tenant: principal.tenantID,
                               target: body.sessionId.map { "session:" + $0 } ?? "visitor:" + (body.visitorHash ?? ""),
                               metadata: ["conversations": String(erased.conversations), "events": String(erased.events),
                                          "ticketsUnlinked": String(erased.ticketsUnlinked)], request: request)
        return erased
    }
}
