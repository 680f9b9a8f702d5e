import Fluent
import FluxSecurity
import Foundation
import Leaf
import SQLKit
import Vapor

/// The Signal Hub: consultation requests and FluxAI hand-offs as tickets, their status and their export.
extension HQController {
    @Sendable func signals(_ request: Request, _ principal: Principal) async throws -> Response {
        let statusText = request.query[String.self, at: "status"].flatMap { $0.isEmpty ? nil : $0 }
        let status = statusText.flatMap(OperationsSignal.Status.init(rawValue:))
        if statusText != nil, status == nil {
            throw AppError.invalidFields(["status": "must be one of \(OperationsSignal.Status.allCases.map(\.rawValue).joined(separator: ", "))"])
        }
        var query = OperationsSignal.query(on: request.db).sort(\.$createdAt, .descending).limit(200)
        if let status { query = query.filter(\.$status == status) }
        let tickets = try await query.all()
        let links = try await conversationIDs(for: tickets, on: request.db)
        struct Row: Encodable {
            let id: UUID
            let created, name, company, email, status: String
            let conversationId: UUID?
        }
        struct Body: Encodable {
            let statuses: [String]
            let status: String
            let tickets: [Row]
        }
        let body = Body(statuses: OperationsSignal.Status.allCases.map(\.rawValue), status: status?.rawValue ?? "",
                        tickets: tickets.map { Row(id: $0.id!, created: PageSite.time($0.createdAt), name: $0.name, company: $0.company, email: $0.email,
                                                   status: $0.status.rawValue, conversationId: links[$0.id!]) })
        return try await site.render(request, "hq/signals", title: "Signals", principal: principal, body: body)
    }

    private func conversationIDs(for tickets: [OperationsSignal], on database: any Database) async throws -> [UUID: UUID] {
        let ids = tickets.compactMap(\.id)
        guard !ids.isEmpty else { return [:] }
        let conversations = try await AiConversation.query(on: database).filter(\.$signalID ~~ ids).all()
        return Dictionary(conversations.compactMap { conversation in conversation.signalID.map { ($0, conversation.id!) } }) { first, _ in first }
    }

    @Sendable func signal(_ request: Request, _ principal: Principal) async throws -> Response {
        guard let id = request.parameters.get("signalID", as: UUID.self), let ticket = try await OperationsSignal.find(id, on: request.db) else {
            throw AppError.notFound("No such ticket.")
        }
        let conversationID = try await conversationIDs(for: [ticket], on: request.db)[id]
        let history = try await AuditEvent.query(on: request.db).filter(\.$target == "signal:" + id.uuidString).sort(\.$occurredAt).all()
        func strings(_ json: String) -> String {
            ((try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []).joined(separator: "; ")
        }
        struct TicketView: Encodable {
            let id: UUID
            let created, name, company, email, phone, preferredContact, timeframe, message, pageUrl, insights, topics, status: String
            let conversationId: UUID?
        }
        struct HistoryRow: Encodable {
            let time, action, detail: String
        }
        struct Body: Encodable {
            let ticket: TicketView
            let statuses: [String]
            let history: [HistoryRow]
        }
        let body = Body(
            ticket: TicketView(id: id, created: PageSite.time(ticket.createdAt), name: ticket.name, company: ticket.company, email: ticket.email,
                               phone: ticket.phone ?? "", preferredContact: ticket.preferredContact.rawValue, timeframe: ticket.timeframe ?? "",
                               message: ticket.message ?? "", pageUrl: ticket.pageURL ?? "", insights: strings(ticket.conversationInsights),
                               topics: strings(ticket.suggestedTopics), status: ticket.status.rawValue, conversationId: conversationID),
            statuses: OperationsSignal.Status.allCases.map(\.rawValue),
            history: history.map { HistoryRow(time: PageSite.time($0.occurredAt), action: $0.action, detail: $0.metadata ?? "") })
        return try await site.render(request, "hq/signal", title: "Ticket", principal: principal, body: body)
    }

    struct StatusBody: Content {
        let status: String
    }

    /// `PUT /api/hq/signals/:signalID/status` `{status}`: moves a ticket along, audited as its history.
    @Sendable func changeStatus(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let body = try request.content.decode(StatusBody.self)
        guard let status = OperationsSignal.Status(rawValue: body.status) else {
            throw AppError.invalidFields(["status": "must be one of \(OperationsSignal.Status.allCases.map(\.rawValue).joined(separator: ", "))"])
        }
        guard let id = request.parameters.get("signalID", as: UUID.self), let ticket = try await OperationsSignal.find(id, on: request.db) else {
            throw AppError.notFound("No such ticket.")
        }
        let previous = ticket.status
        ticket.status = status
        ticket.updatedAt = Date()
        try await ticket.update(on: request.db)
        try await audit.record("signal.status_changed", actor: principal.userID, tenant: principal.tenantID, target: "signal:" + id.uuidString,
                                        metadata: ["from": previous.rawValue, "to": status.rawValue], request: request)
        return .noContent
    }

    @Sendable func exportSignals(_ request: Request, _ principal: Principal) async throws -> Response {
        let tickets = try await OperationsSignal.query(on: request.db).sort(\.$createdAt, .descending).limit(100_000).all()
        var csv = CSV(header: ["id", "createdAt", "status", "name", "company", "email", "phone", "preferredContact", "timeframe", "message",
                               "pageUrl", "sessionId"])
        for ticket in tickets {
            csv.append([ticket.id!.uuidString, PageSite.time(ticket.createdAt), ticket.status.rawValue, ticket.name, ticket.company, ticket.email,
                        ticket.phone ?? "", ticket.preferredContact.rawValue, ticket.timeframe ?? "", ticket.message ?? "", ticket.pageURL ?? "",
                        ticket.sessionID ?? ""])
        }
        return csv.response(filename: "signals.csv")
    }
}
