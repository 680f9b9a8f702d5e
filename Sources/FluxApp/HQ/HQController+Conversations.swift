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

    /// A funnel stage: how many conversations are at it now, how many got at least this far, and the share of
    /// those that went no further.
    struct FunnelRow: Encodable {
        let label: String
        let count: Int
        let percent, reached, lost: String
    }

    /// An industry's conversations and how many of them became consultations.
    struct IndustryRow: Encodable {
        let label: String
        let count, consultations: Int
        let conversion: String
    }

    /// A date range one click away, keeping the other filters.
    struct Preset: Encodable {
        let label, href: String
        let current: Bool
    }

    /// Today, the last 7 and 30 days and the quarter so far (UTC days, as the filter reads them).
    static func presets(_ filter: ConversationAnalytics.Filter, now: Date = Date()) -> [Preset] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let today = calendar.startOfDay(for: now)
        let month = calendar.component(.month, from: today)
        let quarter = calendar.date(from: DateComponents(year: calendar.component(.year, from: today), month: (month - 1) / 3 * 3 + 1, day: 1))!
        let ranges: [(String, Date)] = [("Today", today), ("7 days", today.addingTimeInterval(-6 * 86_400)),
                                        ("30 days", today.addingTimeInterval(-29 * 86_400)), ("Quarter", quarter)]
        return ranges.map { label, from in
            var preset = filter
            preset.from = from
            preset.to = today.addingTimeInterval(86_400)
            return Preset(label: label, href: "/hq-command/dashboard/conversations?" + preset.queryString,
                          current: filter.from == from && filter.to == preset.to)
        }
    }

    @Sendable func conversations(_ request: Request, _ principal: Principal) async throws -> Response {
        let filter = try ConversationAnalytics.Filter(request)
        let analytics = ConversationAnalytics(database: request.db.sql)
        async let summaryResult = analytics.summary(filter)
        async let recentResult = analytics.recent(filter)
        let (summary, recent) = try await (summaryResult, recentResult)

        let stages = AiConversation.FunnelStage.allCases
        let counts = stages.map { summary.stages[$0.rawValue] ?? 0 }
        let funnel = stages.indices.map { index in
            let reached = counts[index...].reduce(0, +), next = counts[(index + 1)...].reduce(0, +)
            return FunnelRow(label: stages[index].rawValue.capitalized, count: counts[index],
                             percent: Self.percent(summary.total == 0 ? 0 : Double(counts[index]) / Double(summary.total)), reached: String(reached),
                             lost: index == stages.count - 1 ? "—" : Self.percent(reached == 0 ? 0 : Double(reached - next) / Double(reached)))
        }
        let industries = summary.industries.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { industry, count in
            IndustryRow(label: industry, count: count, consultations: summary.industryConsultations[industry] ?? 0,
                        conversion: Self.percent(Double(summary.industryConsultations[industry] ?? 0) / Double(count)))
        }
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
            let started, industry, stage, outcome, outcomeClass, locale: String
            let messages: Int
        }
        struct FilterView: Encodable {
            let from, to, outcome, industry, locale: String
        }
        struct Body: Encodable {
            let filter: FilterView
            let presets: [Preset]
            let outcomes, industries, locales: [String]
            let exportQuery: String
            let kpis: KPIs
            let funnel: [FunnelRow]
            let byIndustry: [IndustryRow]
            let charts: [BarChart]
            let recent: [Row]
        }
        let body = Body(
            filter: FilterView(from: filter.from?.formatted(ConversationAnalytics.Filter.dayFormat) ?? "",
                               to: filter.to.map { $0.addingTimeInterval(-86_400).formatted(ConversationAnalytics.Filter.dayFormat) } ?? "",
                               outcome: filter.outcome?.rawValue ?? "", industry: filter.industry ?? "", locale: filter.locale ?? ""),
            presets: Self.presets(filter),
            outcomes: AiConversation.Outcome.allCases.map(\.rawValue), industries: IndustryDetector.industries.sorted() + ["none"],
            locales: ChatController.locales.sorted(), exportQuery: filter.queryString.isEmpty ? "" : "?" + filter.queryString,
            kpis: KPIs(total: summary.total, conversion: Self.percent(summary.conversionRate),
                       messages: String(format: "%.1f", summary.averageMessages), tools: String(format: "%.1f", summary.averageTools),
                       allConversations: filter.queryString.isEmpty ? String(summary.total) : "…",
                       allConsultations: filter.queryString.isEmpty ? String(summary.consultations) : "…"),
            funnel: funnel, byIndustry: industries,
            charts: [BarChart(id: "days-chart", title: "Conversations per day", labelHeading: "Day", rows: days)],
            recent: recent.map { Row(id: $0.id, started: PageSite.time($0.startedAt), industry: $0.industryLabel ?? "Not yet known",
                                     stage: $0.funnelStage.capitalized, outcome: $0.outcome.capitalized, outcomeClass: Self.outcomeClass($0.outcome),
                                     locale: Self.localeNames[$0.locale] ?? $0.locale, messages: $0.messageCount) })
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
            let sessionId, started, locale, pageUrl, industry, stage, outcome, outcomeClass, savings: String
        }
        struct TicketView: Encodable {
            let id: UUID
            let name, company, status: String
        }
        struct Body: Encodable {
            let conversation: ConversationView
            let ticket: TicketView?
            let turns: [TranscriptTurn]
            let hasTurns: Bool
            let totalCost, totalTokens: String
        }
        let costs = events.map { prices.cost(model: $0.model, at: $0.createdAt, tokensIn: $0.tokensIn, cachedTokens: $0.cachedTokens,
                                             tokensOut: $0.tokensOut) }
        let turns = TranscriptTurn.turns(events, costs: costs)
        let tokens = events.reduce((0, 0, 0)) { ($0.0 + ($1.tokensIn ?? 0), $0.1 + ($1.tokensOut ?? 0), $0.2 + ($1.cachedTokens ?? 0)) }
        let body = Body(
            conversation: ConversationView(
                sessionId: conversation.sessionID, started: PageSite.time(conversation.startedAt),
                locale: Self.localeNames[conversation.locale] ?? conversation.locale, pageUrl: conversation.pageURL ?? "—",
                industry: conversation.industryLabel ?? "Not yet known", stage: conversation.funnelStage.rawValue.capitalized,
                outcome: conversation.outcome.rawValue.capitalized, outcomeClass: Self.outcomeClass(conversation.outcome.rawValue),
                savings: conversation.estimatedSavingsPercent.map { "\($0) % at \(conversation.productionVolume ?? 0) t/day" } ?? "—"),
            ticket: ticket.map { TicketView(id: $0.id!, name: $0.name, company: $0.company, status: $0.status.rawValue.capitalized) },
            turns: turns, hasTurns: !turns.isEmpty,
            totalCost: Self.money(costs.compactMap { $0 }.reduce(0, +)),
            totalTokens: "\(tokens.0) in / \(tokens.1) out / \(tokens.2) cached")
        return try await site.render(request, "hq/transcript", title: "Conversation", principal: principal, body: body)
    }

    static let localeNames = ["en": "English", "it": "Italian", "es": "Spanish", "fr": "French", "de": "German"]

    static func outcomeClass(_ outcome: String) -> String {
        switch outcome {
        case "CONSULTATION": "good"
        case "ABANDONED": "bad"
        default: "info"
        }
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
