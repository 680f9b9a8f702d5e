import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// The FluxAI dashboard's figures for one filter, from three statements: one aggregate pass over the filtered
/// conversations grouped by stage, outcome and industry (every KPI, the funnel and the industries come from
/// its few dozen groups), the per-day counts of the chart's month, and the fifty latest by `startedAt`.
/// Sums are cast to BIGINT: PostgreSQL sums BIGINT columns as NUMERIC.
struct ConversationAnalytics: Sendable {
    struct Filter: Sendable, Encodable {
        var from: Date?
        var to: Date?
        var outcome: AiConversation.Outcome?
        var industry: String?
        var locale: String?

        static let dayFormat = Date.ISO8601FormatStyle().year().month().day()

        /// From the query string (`from`, `to` as YYYY-MM-DD, `outcome`, `industry`, `locale`); bad values → 400.
        init(_ request: Request) throws {
            struct Query: Decodable {
                let from, to, outcome, industry, locale: String?
            }
            let query = try request.query.decode(Query.self)
            func nonEmpty(_ value: String?) -> String? { value.flatMap { $0.isEmpty ? nil : $0 } }
            var errors = FieldErrors()
            func day(_ name: String, _ text: String?) -> Date? {
                guard let text = nonEmpty(text) else { return nil }
                let parsed = try? Date(text, strategy: Self.dayFormat)
                errors.check(name, parsed != nil, "must be a date as YYYY-MM-DD")
                return parsed
            }
            from = day("from", query.from)
            // Through the end of the `to` day.
            to = day("to", query.to)?.addingTimeInterval(86_400)
            outcome = nonEmpty(query.outcome).flatMap(AiConversation.Outcome.init(rawValue:))
            errors.check("outcome", nonEmpty(query.outcome) == nil || outcome != nil, "must be OPEN, CONSULTATION or ABANDONED")
            industry = nonEmpty(query.industry)
            errors.check("industry", industry.map { $0 == "none" || IndustryDetector.industries.contains($0) } ?? true,
                         "must be one of \(IndustryDetector.industries.sorted().joined(separator: ", ")) or none")
            locale = nonEmpty(query.locale)
            errors.check("locale", locale.map(ChatController.locales.contains) ?? true, "must be one of it, en, es, fr, de")
            try errors.throwIfAny()
        }

        init() {}

        var sql: SQLQueryString {
            var clause: SQLQueryString = "WHERE 1 = 1"
            if let from { clause = "\(clause) AND \"startedAt\" >= \(bind: from)" }
            if let to { clause = "\(clause) AND \"startedAt\" < \(bind: to)" }
            if let outcome { clause = "\(clause) AND outcome = \(bind: outcome.rawValue)" }
            if let industry {
                clause = industry == "none" ? "\(clause) AND \"industryLabel\" IS NULL" : "\(clause) AND \"industryLabel\" = \(bind: industry)"
            }
            if let locale { clause = "\(clause) AND locale = \(bind: locale)" }
            return clause
        }

        /// The same filter as a query string, for the CSV link.
        var queryString: String {
            var items: [URLQueryItem] = []
            if let from { items.append(.init(name: "from", value: from.formatted(Self.dayFormat))) }
            if let to { items.append(.init(name: "to", value: to.addingTimeInterval(-86_400).formatted(Self.dayFormat))) }
            if let outcome { items.append(.init(name: "outcome", value: outcome.rawValue)) }
            if let industry { items.append(.init(name: "industry", value: industry)) }
            if let locale { items.append(.init(name: "locale", value: locale)) }
            var components = URLComponents()
            components.queryItems = items
            return items.isEmpty ? "" : components.percentEncodedQuery ?? ""
        }
    }

    struct Group: Decodable {
        let funnelStage: String
        let outcome: String
        let industryLabel: String?
        let conversations: Int
        let messages: Int
        let tools: Int
    }

    struct Day: Decodable {
        let day: Int
        let conversations: Int
    }

    struct Summary: Sendable, Encodable, Equatable {
        var total = 0
        var consultations = 0
        var messages = 0
        var tools = 0
        var stages: [String: Int] = [:]
        var industries: [String: Int] = [:]
        /// Conversations that ended in a consultation, per industry.
        var industryConsultations: [String: Int] = [:]
        var days: [Int: Int] = [:]

        var conversionRate: Double { total == 0 ? 0 : Double(consultations) / Double(total) }
        var averageMessages: Double { total == 0 ? 0 : Double(messages) / Double(total) }
        var averageTools: Double { total == 0 ? 0 : Double(tools) / Double(total) }
    }

    struct Recent: Decodable, Encodable, Sendable {
        let id: UUID
        let startedAt: Date
        let industryLabel: String?
        let funnelStage: String
        let outcome: String
        let messageCount: Int
        let locale: String
    }

    let database: any SQLDatabase

    /// Days since 1970-01-01 (UTC) of `startedAt`, as each database computes it cheaply (PostgreSQL's
    /// `extract(epoch …)` is NUMERIC arithmetic and cost more than the scan it ran on).
    private var dayExpression: String {
        database.dialect.name == "sqlite" ? #"CAST("startedAt" / 86400 AS INTEGER)"#
            : #"("startedAt" AT TIME ZONE 'UTC')::date - DATE '1970-01-01'"#
    }

    /// How many days the per-day chart shows, ending with the filter's last day (or today).
    static let chartDays = 31

    func summary(_ filter: Filter, now: Date = Date()) async throws -> Summary {
        // Grouped by the columns the covering index `ai_conversations_dashboard_idx` starts with, so SQLite
        // reads the groups in index order (no sort) from the index alone (no table rows).
        let groups = try await groups(filter)
        var summary = Summary()
        for group in groups {
            summary.total += group.conversations
            summary.messages += group.messages
            summary.tools += group.tools
            if group.outcome == AiConversation.Outcome.consultation.rawValue { summary.consultations += group.conversations }
            summary.stages[group.funnelStage, default: 0] += group.conversations
            if let industry = group.industryLabel {
                summary.industries[industry, default: 0] += group.conversations
                if group.outcome == AiConversation.Outcome.consultation.rawValue { summary.industryConsultations[industry, default: 0] += group.conversations }
            }
        }
        // The chart's days only: the day arithmetic runs on a month of rows, found through the startedAt index.
        var window = filter
        let end = filter.to ?? now
        window.from = max(filter.from ?? .distantPast, end.addingTimeInterval(-Double(Self.chartDays) * 86_400))
        let days = try await database.raw("""
            SELECT \(unsafeRaw: dayExpression) AS day, count(*) AS conversations FROM ai_conversations \(window.sql) GROUP BY 1
            """).all(decoding: Day.self)
        for day in days { summary.days[day.day] = day.conversations }
        return summary
    }

    /// On PostgreSQL the grouped pass is cheapest as one in-order read of the covering index (17.5 ms at 100k
    /// conversations on the bench machine, steady), but the planner, costing random reads as on a spinning
    /// disk and counting on idle cores, picks a parallel sequential scan and hash instead (25 to 36 ms). The
    /// statement runs in a transaction of its own with those two costs set for it alone.
    private func groups(_ filter: Filter) async throws -> [Group] {
        let statement: SQLQueryString = """
            SELECT "funnelStage", outcome, "industryLabel", count(*) AS conversations,
                CAST(sum("messageCount") AS BIGINT) AS messages, CAST(sum("toolCallCount") AS BIGINT) AS tools
            FROM ai_conversations \(filter.sql)
            GROUP BY "funnelStage", outcome, "industryLabel"
            """
        guard database.dialect.name == "postgresql", let fluent = database as? any Database else {
            return try await database.raw(statement).all(decoding: Group.self)
        }
        return try await fluent.transaction { transaction in
            let sql = transaction.sql
            try await sql.raw("SET LOCAL random_page_cost = 1.1").run()
            try await sql.raw("SET LOCAL max_parallel_workers_per_gather = 0").run()
            return try await sql.raw(statement).all(decoding: Group.self)
        }
    }

    func recent(_ filter: Filter, limit: Int = 50) async throws -> [Recent] {
        try await database.raw("""
            SELECT id, "startedAt", "industryLabel", "funnelStage", outcome, "messageCount", locale
            FROM ai_conversations \(filter.sql) ORDER BY "startedAt" DESC LIMIT \(unsafeRaw: String(limit))
            """).all(decoding: Recent.self)
    }
}
