import Fluent
import FluxSecurity
import Foundation
import Leaf
import SQLKit
import Vapor

/// FluxAI analytics: the conversations dashboard, one transcript, and the CSV export.
extension HQController {
    struct CountRow: Encodable {
        let label: String
        let count: Int
        var percent: String = ""
    }

    @Sendable func conversations(_ request: Request, _ principal: Principal) async throws -> Response {
        let filter = try ConversationAnalytics.Filter(request)
        let analytics = ConversationAnalytics(database: request.db.sql)
        async let summaryResult = analytics.summary(filter)
        async let recentResult = analytics.recent(filter)
        let (summary, recent) = try await (summaryResult, recentResult)

        let funnel = AiConversation.FunnelStage.allCases.map { stage in
            let count = summary.stages[stage.rawValue] ?? 0
            return CountRow(label: stage.rawValue, count: count, percent: Self.percent(summary.total == 0 ? 0 : Double(count) / Double(summary.total)))
        }
        let industries = summary.industries.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(5).map { CountRow(label: $0.key, count: $0.value) }
        let days = summary.days.keys.sorted().suffix(31).map { day in
            (Date(timeIntervalSince1970: Double(day) * 86_400).formatted(ConversationAnalytics.Filter.dayFormat), summary.days[day] ?? 0)
        }
        struct KPIs: Encodable {
            let total: Int
            let conversion, messages, tools: String
            /// The live line's starting figures: the summary's own when unfiltered, else filled by the first live event.
            let allConversations, allConsultations: String
        }
        struct Row: Encodable {
            let id: UUID
            let started, industry, stage, outcome, locale: String
            let messages: Int
        }
        struct FilterView: Encodable {
            let from, to, outcome, industry, locale: String
        }
        struct Body: Encodable {
            let filter: FilterView
            let outcomes, industries, locales: [String]
            let exportQuery: String
            let kpis: KPIs
            let funnel: [CountRow]
            let topIndustries: [CountRow]
            let charts: [BarChart]
            let recent: [Row]
        }
        let body = Body(
            filter: FilterView(from: filter.from?.formatted(ConversationAnalytics.Filter.dayFormat) ?? "",
                               to: filter.to.map { $0.addingTimeInterval(-86_400).formatted(ConversationAnalytics.Filter.dayFormat) } ?? "",
                               outcome: filter.outcome?.rawValue ?? "", industry: filter.industry ?? "", locale: filter.locale ?? ""),
            outcomes: AiConversation.Outcome.allCases.map(\.rawValue), industries: IndustryDetector.industries.sorted() + ["none"],
            locales: ChatController.locales.sorted(), exportQuery: filter.queryString.isEmpty ? "" : "?" + filter.queryString,
            kpis: KPIs(total: summary.total, conversion: Self.percent(summary.conversionRate),
                       messages: String(format: "%.1f", summary.averageMessages), tools: String(format: "%.1f", summary.averageTools),
                       allConversations: filter.queryString.isEmpty ? String(summary.total) : "…",
                       allConsultations: filter.queryString.isEmpty ? String(summary.consultations) : "…"),
            funnel: funnel, topIndustries: Array(industries),
            charts: [BarChart(id: "funnel-chart", title: "Funnel", labelHeading: "Stage", rows: funnel.map { ($0.label, $0.count) }),
                     BarChart(id: "days-chart", title: "Conversations per day", labelHeading: "Day", rows: days),
                     BarChart(id: "industries-chart", title: "Top industries", labelHeading: "Industry", rows: industries.map { ($0.label, $0.count) })],
            recent: recent.map { Row(id: $0.id, started: PageSite.time($0.startedAt), industry: $0.industryLabel ?? "none", stage: $0.funnelStage,
                                     outcome: $0.outcome, locale: $0.locale, messages: $0.messageCount) })
        return try await site.render(request, "hq/conversations", title: "FluxAI Conversations", principal: principal, body: body)
    }

    @Sendable func transcript(_ request: Request, _ principal: Principal) async throws -> Response {
        guard let id = request.parameters.get("conversationID", as: UUID.self) else {
            throw AppError.notFound("No such conversation.")
        }
        // The conversation and its events are read side by side (on PostgreSQL, two connections at once).
        async let found = AiConversation.find(id, on: request.db)
        async let rows = request.db.sql.raw("""
            SELECT type, "payloadJson", "toolName", "latencyMs", "tokensIn", "tokensOut", "cachedTokens", model, "createdAt"
            FROM ai_events WHERE "conversationId" = \(bind: id) ORDER BY "createdAt" LIMIT 2000
            """).all()
        guard let conversation = try await found else { throw AppError.notFound("No such conversation.") }
        let events = try await rows.map(TranscriptEvent.init)
        var ticket: OperationsSignal?
        if let signalID = conversation.signalID { ticket = try await OperationsSignal.find(signalID, on: request.db) }
        struct ConversationView: Encodable {
            let sessionId, started, locale, pageUrl, industry, stage, outcome, savings: String
        }
        struct TicketView: Encodable {
            let id: UUID
            let name, company, status: String
        }
        struct Body: Encodable {
            let conversation: ConversationView
            let ticket: TicketView?
            let totalCost: String
        }
        let costs = events.map { prices.cost(model: $0.model, at: $0.createdAt, tokensIn: $0.tokensIn, cachedTokens: $0.cachedTokens,
                                             tokensOut: $0.tokensOut) }
        let table: [LeafData] = zip(events, costs).map { event, cost in
            .dictionary(["class": .string(event.type), "cells": .array([
                .string(PageSite.time(event.createdAt)), .string(event.type), .string(event.toolName ?? ""),
                .dictionary(["text": .string(event.payloadJson), "class": "payload"]), .string(event.latencyMs.map { "\($0) ms" } ?? ""),
                .string(event.tokensIn.map { "\($0) / \(event.tokensOut ?? 0) / \(event.cachedTokens ?? 0)" } ?? ""),
                .string(Self.money(cost)),
            ])])
        }
        let body = Body(
            conversation: ConversationView(
                sessionId: conversation.sessionID, started: PageSite.time(conversation.startedAt), locale: conversation.locale,
                pageUrl: conversation.pageURL ?? "", industry: conversation.industryLabel ?? "none", stage: conversation.funnelStage.rawValue,
                outcome: conversation.outcome.rawValue,
                savings: conversation.estimatedSavingsPercent.map { "\($0) % at \(conversation.productionVolume ?? 0) t/day" } ?? ""),
            ticket: ticket.map { TicketView(id: $0.id!, name: $0.name, company: $0.company, status: $0.status.rawValue) },
            totalCost: Self.money(costs.compactMap { $0 }.reduce(0, +)))
        return try await site.render(request, "hq/transcript", title: "Conversation", principal: principal, body: body,
                                     data: ["events": .array(table)])
    }

    @Sendable func exportConversations(_ request: Request, _ principal: Principal) async throws -> Response {
        let filter = try ConversationAnalytics.Filter(request)
        let rows = try await request.db.sql.raw("""
            SELECT id, "sessionId", "startedAt", "lastMessageAt", "closedAt", locale, "pageUrl", "industryLabel", "funnelStage", outcome,
                "messageCount", "toolCallCount", "estimatedSavingsPercent", "productionVolume", "signalId"
            FROM ai_conversations \(filter.sql) ORDER BY "startedAt" DESC LIMIT 100000
            """).all()
        var csv = CSV(header: ["id", "sessionId", "startedAt", "lastMessageAt", "closedAt", "locale", "pageUrl", "industryLabel", "funnelStage",
                               "outcome", "messageCount", "toolCallCount", "estimatedSavingsPercent", "productionVolume", "signalId"])
        for row in rows {
            csv.append([
                try row.decode(column: "id", as: UUID.self).uuidString, try row.decode(column: "sessionId", as: String.self),
                PageSite.time(try row.decode(column: "startedAt", as: Date.self)), PageSite.time(try row.decode(column: "lastMessageAt", as: Date.self)),
                PageSite.time(try row.decode(column: "closedAt", as: Date?.self)), try row.decode(column: "locale", as: String.self),
                try row.decode(column: "pageUrl", as: String?.self) ?? "", try row.decode(column: "industryLabel", as: String?.self) ?? "",
                try row.decode(column: "funnelStage", as: String.self), try row.decode(column: "outcome", as: String.self),
                String(try row.decode(column: "messageCount", as: Int.self)), String(try row.decode(column: "toolCallCount", as: Int.self)),
                (try row.decode(column: "estimatedSavingsPercent", as: Double?.self)).map { String($0) } ?? "",
                (try row.decode(column: "productionVolume", as: Double?.self)).map { String($0) } ?? "",
                (try row.decode(column: "signalId", as: UUID?.self))?.uuidString ?? "",
            ])
        }
        return csv.response(filename: "fluxai-conversations.csv")
    }
}

/// One event of a transcript, read through SQLKit into plain values column by column: decoding Fluent models (by
/// reflection), and then SQLKit's Codable row decoder, were most of this page's time.
private struct TranscriptEvent {
    let type: String
    let payloadJson: String
    let toolName: String?
    let latencyMs, tokensIn, tokensOut, cachedTokens: Int?
    let model: String?
    let createdAt: Date

    init(_ row: any SQLRow) throws {
        type = try row.decode(column: "type", as: String.self)
        payloadJson = try row.decode(column: "payloadJson", as: String.self)
        toolName = try row.decode(column: "toolName", as: String?.self)
        latencyMs = try row.decode(column: "latencyMs", as: Int?.self)
        tokensIn = try row.decode(column: "tokensIn", as: Int?.self)
        tokensOut = try row.decode(column: "tokensOut", as: Int?.self)
        cachedTokens = try row.decode(column: "cachedTokens", as: Int?.self)
        model = try row.decode(column: "model", as: String?.self)
        createdAt = try row.decode(column: "createdAt", as: Date.self)
    }
}
