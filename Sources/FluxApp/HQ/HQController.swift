import Fluent
import FluxSecurity
import Foundation
import Leaf
import SQLKit
import Vapor

/// The HQ Command Center: server-rendered pages (a ``PageSite``) behind staff sign-in (the access cookie the
/// sign-in page obtains). Sales sees analytics and signals, engineers tenants, admins and owners all.
struct HQController: Sendable {
    static let version = "0.1.0"
    static let analytics: Set<Role> = [.sales, .admin, .owner]
    static let tenantViewers: Set<Role> = [.engineer, .admin, .owner]
    static let administrators: Set<Role> = [.admin, .owner]

    let identity: Identity
    let security: Hardening
    let rateLimitStore: AppConfig.RateLimitStoreKind
    let prices = ModelPrices.standard

    func register(on root: any RoutesBuilder) {
        let hq = root.grouped("hq-command").grouped(NoStore())
        let site = site
        hq.get(use: site.signInPage)

        site.page(hq, "dashboard", roles: Role.staff, use: dashboard)
        site.page(hq, "dashboard", "conversations", roles: Self.analytics, use: conversations)
        site.page(hq, "dashboard", "conversations", "export.csv", roles: Self.analytics, use: exportConversations)
        site.page(hq, "dashboard", "conversations", ":conversationID", roles: Self.analytics, use: transcript)
        site.page(hq, "signals", roles: Self.analytics, use: signals)
        site.page(hq, "signals", "export.csv", roles: Self.analytics, use: exportSignals)
        site.page(hq, "signals", ":signalID", roles: Self.analytics, use: signal)
        site.page(hq, "users", roles: Self.administrators, use: users)
        site.page(hq, "tenants", roles: Self.tenantViewers, use: tenants)
        site.page(hq, "messages", roles: Self.tenantViewers, use: messages)
        site.page(hq, "audit", roles: Self.administrators, use: audit)
        site.page(hq, "health", roles: Self.administrators, use: health)
        site.page(hq, "live", roles: Self.analytics, streams: true, use: live)

        let api = root.grouped("api", "hq")
        api.secured(.PUT, "signals", ":signalID", "status", roles: Self.analytics, identity: identity, use: changeStatus)
        api.secured(.DELETE, "sessions", ":sessionID", roles: Self.administrators, identity: identity, use: revokeSession)
        api.secured(.PUT, "setup-requests", ":requestID", "status", roles: Self.tenantViewers, identity: identity, use: changeSetupRequest)
    }

    var site: PageSite {
        PageSite(identity: identity, brand: "Flux HQ", root: "/hq-command", signIn: "/hq-command", home: "/hq-command/dashboard",
                 navigation: Self.navigation)
    }

    static func navigation(for role: Role) -> [PageSite.NavItem] {
        var items = [PageSite.NavItem(title: "Dashboard", href: "/hq-command/dashboard")]
        if analytics.contains(role) {
            items += [PageSite.NavItem(title: "Conversations", href: "/hq-command/dashboard/conversations"),
                      PageSite.NavItem(title: "Signals", href: "/hq-command/signals")]
        }
        if tenantViewers.contains(role) {
            items += [PageSite.NavItem(title: "Tenants", href: "/hq-command/tenants"), PageSite.NavItem(title: "Messages", href: "/hq-command/messages")]
        }
        if administrators.contains(role) {
            items += [PageSite.NavItem(title: "Users", href: "/hq-command/users"), PageSite.NavItem(title: "Audit", href: "/hq-command/audit"),
                      PageSite.NavItem(title: "Health", href: "/hq-command/health")]
        }
        return items
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f %%", value * 100) }

    static func money(_ value: Decimal?) -> String {
        guard let value else { return "" }
        return "$" + NSDecimalNumber(decimal: value).stringValue
    }

    // MARK: - Dashboard and FluxAI analytics

    struct Tile: Encodable {
        let title: String
        let value: String
        let note: String
        let href: String
        var live: String?
    }

    @Sendable func dashboard(_ request: Request, _ principal: Principal) async throws -> Response {
        var tiles: [Tile] = []
        if Self.analytics.contains(principal.role) {
            let summary = try await ConversationAnalytics(database: request.db as! any SQLDatabase).summary(.init())
            tiles.append(Tile(title: "FluxAI Conversations", value: String(summary.total),
                              note: "conversion \(Self.percent(summary.conversionRate))", href: "/hq-command/dashboard/conversations",
                              live: "conversations"))
            let open = try await OperationsSignal.query(on: request.db).filter(\.$status == .new).count()
            tiles.append(Tile(title: "Signals", value: String(open), note: "new tickets", href: "/hq-command/signals", live: "newTickets"))
        }
        if Self.tenantViewers.contains(principal.role) {
            let count = try await Tenant.query(on: request.db).filter(\.$kind == .client).count()
            tiles.append(Tile(title: "Tenants", value: String(count), note: "client organizations", href: "/hq-command/tenants"))
        }
        if Self.administrators.contains(principal.role) {
            tiles.append(Tile(title: "Users", value: String(try await User.query(on: request.db).count()), note: "accounts", href: "/hq-command/users"))
            tiles.append(Tile(title: "Audit", value: String(try await AuditEvent.query(on: request.db).count()), note: "events", href: "/hq-command/audit"))
            tiles.append(Tile(title: "Health", value: "", note: "database, outbox, version", href: "/hq-command/health"))
        }
        struct Body: Encodable { let tiles: [Tile] }
        return try await site.render(request, "hq/dashboard", title: "Dashboard", principal: principal, body: Body(tiles: tiles))
    }

    struct CountRow: Encodable {
        let label: String
        let count: Int
        var percent: String = ""
    }

    @Sendable func conversations(_ request: Request, _ principal: Principal) async throws -> Response {
        let filter = try ConversationAnalytics.Filter(request)
        let analytics = ConversationAnalytics(database: request.db as! any SQLDatabase)
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
            throw AppError(.notFound, code: "not_found", message: "No such conversation.")
        }
        // The conversation and its events are read side by side (on PostgreSQL, two connections at once).
        async let found = AiConversation.find(id, on: request.db)
        // Read through SQLKit into plain values, column by column: decoding Fluent models (by reflection) was a third of
        // this page's time, and SQLKit's Codable row decoder a fifth of what remained.
        struct EventRow {
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
        async let rows = (request.db as! any SQLDatabase).raw("""
            SELECT type, "payloadJson", "toolName", "latencyMs", "tokensIn", "tokensOut", "cachedTokens", model, "createdAt"
            FROM ai_events WHERE "conversationId" = \(bind: id) ORDER BY "createdAt" LIMIT 2000
            """).all()
        guard let conversation = try await found else { throw AppError(.notFound, code: "not_found", message: "No such conversation.") }
        let events = try await rows.map(EventRow.init)
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
        let rows = try await (request.db as! any SQLDatabase).raw("""
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

    // MARK: - Signal Hub

    @Sendable func signals(_ request: Request, _ principal: Principal) async throws -> Response {
        let statusText = request.query[String.self, at: "status"].flatMap { $0.isEmpty ? nil : $0 }
        let status = statusText.flatMap(OperationsSignal.Status.init(rawValue:))
        if statusText != nil, status == nil {
            throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.",
                           fields: ["status": "must be one of \(OperationsSignal.Status.allCases.map(\.rawValue).joined(separator: ", "))"])
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
            throw AppError(.notFound, code: "not_found", message: "No such ticket.")
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
            throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.",
                           fields: ["status": "must be one of \(OperationsSignal.Status.allCases.map(\.rawValue).joined(separator: ", "))"])
        }
        guard let id = request.parameters.get("signalID", as: UUID.self), let ticket = try await OperationsSignal.find(id, on: request.db) else {
            throw AppError(.notFound, code: "not_found", message: "No such ticket.")
        }
        let previous = ticket.status
        ticket.status = status
        ticket.updatedAt = Date()
        try await ticket.update(on: request.db)
        try await identity.audit.record("signal.status_changed", actor: principal.userID, tenant: principal.tenantID, target: "signal:" + id.uuidString,
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

    // MARK: - People, tenants, audit, health

    @Sendable func users(_ request: Request, _ principal: Principal) async throws -> Response {
        let users = try await User.query(on: request.db).sort(\.$createdAt, .descending).limit(500).all()
        let memberships = try await Membership.query(on: request.db).filter(\.$userID ~~ users.compactMap(\.id)).all()
        let tenants = Dictionary(try await Tenant.query(on: request.db).all().map { ($0.id!, $0.name) }) { first, _ in first }
        let byUser = Dictionary(grouping: memberships, by: \.userID)
        let emails = Dictionary(users.map { ($0.id!, $0.email) }) { first, _ in first }
        let sessions = try await AuthSession.query(on: request.db).filter(\.$revokedAt == nil).filter(\.$expiresAt > Date())
            .sort(\.$lastUsedAt, .descending).limit(500).all()
        struct UserRow: Encodable {
            let email, name, role, tenant, created: String
        }
        struct SessionRow: Encodable {
            let id: UUID
            let email, device, role, lastUsed: String
        }
        struct Body: Encodable {
            let users: [UserRow]
            let sessions: [SessionRow]
        }
        let body = Body(
            users: users.map { user in
                let membership = byUser[user.id!]?.first
                return UserRow(email: user.email, name: user.displayName ?? "", role: membership?.role.rawValue ?? "",
                               tenant: membership.flatMap { tenants[$0.tenantID] } ?? "", created: PageSite.time(user.createdAt))
            },
            sessions: sessions.map { SessionRow(id: $0.id!, email: emails[$0.userID] ?? "", device: $0.deviceLabel, role: $0.role.rawValue,
                                                lastUsed: PageSite.time($0.lastUsedAt)) })
        return try await site.render(request, "hq/users", title: "Users and sessions", principal: principal, body: body)
    }

    /// `DELETE /api/hq/sessions/:sessionID`: ends anyone's session (audited).
    @Sendable func revokeSession(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        guard let id = request.parameters.get("sessionID", as: UUID.self), let session = try await AuthSession.find(id, on: request.db) else {
            throw AppError(.notFound, code: "not_found", message: "No such session.")
        }
        try await identity.revocations.revoke([id], reason: "revoked_by_staff", on: request.db)
        try await identity.audit.record("session.revoked_by_staff", actor: principal.userID, tenant: session.tenantID,
                                        target: id.uuidString, request: request)
        return .noContent
    }

    /// Engineers answer clients here: choose an organization (`?tenantId=`), then one of its conversations.
    @Sendable func messages(_ request: Request, _ principal: Principal) async throws -> Response {
        let chosen = request.query[UUID.self, at: "tenantId"]
        let clients = try await Tenant.query(on: request.db).filter(\.$kind == .client).sort(\.$name).limit(500).all()
        return try await PortalPages.conversations(request, principal, site: site, tenantID: clients.first { $0.id == chosen }?.id,
                                                   page: "/hq-command/messages", tenants: clients.map {
            PortalPages.TenantLink(name: $0.name, href: "/hq-command/messages?tenantId=\($0.id!)", current: $0.id == chosen)
        })
    }

    @Sendable func tenants(_ request: Request, _ principal: Principal) async throws -> Response {
        let tenants = try await Tenant.query(on: request.db).sort(\.$createdAt, .descending).limit(500).all()
        let counts = Dictionary(grouping: try await Membership.query(on: request.db).all(), by: \.tenantID).mapValues(\.count)
        struct Row: Encodable {
            let name, kind, status, created: String
            let members: Int
        }
        struct SetupRow: Encodable {
            let id: UUID
            let tenant, templateType, contactNumber, status, created: String
            let next: [String]
        }
        struct Body: Encodable {
            let tenants: [Row]
            let requests: [SetupRow]
        }
        let names = Dictionary(tenants.map { ($0.id!, $0.name) }) { first, _ in first }
        let open = try await SetupRequest.query(on: request.db).filter(\.$status ~~ [.pending, .approved]).sort(\.$createdAt).limit(200).all()
        let body = Body(
            tenants: tenants.map {
                Row(name: $0.name, kind: $0.kind.rawValue, status: $0.status, created: PageSite.time($0.createdAt), members: counts[$0.id!] ?? 0)
            },
            requests: open.map {
                SetupRow(id: $0.id!, tenant: names[$0.tenantID] ?? "", templateType: $0.templateType, contactNumber: $0.contactNumber,
                         status: $0.status.rawValue, created: PageSite.time($0.createdAt),
                         next: (Self.setupTransitions[$0.status] ?? []).map(\.rawValue).sorted())
            })
        return try await site.render(request, "hq/tenants", title: "Tenants", principal: principal, body: body)
    }

    @Sendable func audit(_ request: Request, _ principal: Principal) async throws -> Response {
        let action = request.query[String.self, at: "action"].map { String($0.prefix(100)) } ?? ""
        var query = AuditEvent.query(on: request.db).sort(\.$occurredAt, .descending).limit(200)
        if !action.isEmpty { query = query.filter(\.$action == action) }
        // No stored action has a control character, and PostgreSQL would refuse a NUL: such a filter matches nothing.
        let events = TextInput.hasControlCharacters(action) ? [] : try await query.all()
        let actors = try await User.query(on: request.db).filter(\.$id ~~ events.compactMap(\.actorID)).all()
        let emails = Dictionary(actors.map { ($0.id!, $0.email) }) { first, _ in first }
        struct Row: Encodable {
            let time, action, actor, target, userAgent: String
        }
        struct Body: Encodable {
            let action: String
            let events: [Row]
        }
        let body = Body(action: action, events: events.map {
            Row(time: PageSite.time($0.occurredAt), action: $0.action, actor: $0.actorID.flatMap { emails[$0] } ?? "", target: $0.target ?? "",
                userAgent: $0.userAgent ?? "")
        })
        return try await site.render(request, "hq/audit", title: "Audit log", principal: principal, body: body)
    }

    @Sendable func health(_ request: Request, _ principal: Principal) async throws -> Response {
        let probe = await DatabaseProbe.ping(request.db, timeout: HealthController.databaseTimeout)
        let backlog = try? await Outbox.backlog(on: request.db)
        struct HealthView: Encodable {
            let database, latency, outboxPending, outboxOldest, outboxFailed, rateLimitStore, version: String
        }
        struct Body: Encodable { let health: HealthView }
        let (state, latency): (String, String) = switch probe {
        case .up(let took): ("up", "\(took / .microseconds(1)) µs")
        case .down: ("down", "")
        }
        let body = Body(health: HealthView(
            database: state, latency: latency, outboxPending: backlog.map { String($0.pending) } ?? "unknown",
            outboxOldest: backlog.map { "\(Int($0.oldestPendingAge)) s" } ?? "unknown", outboxFailed: backlog.map { String($0.failed) } ?? "unknown",
            rateLimitStore: rateLimitStore.rawValue, version: Self.version))
        return try await site.render(request, "hq/health", title: "Health", principal: principal, body: body)
    }

    // MARK: - Live updates

    struct LiveFigures: Encodable, Equatable {
        let conversations: Int
        let consultations: Int
        let newTickets: Int
    }

    /// `GET /hq-command/live`: server-sent events with the dashboards' headline figures, sent when they
    /// change (checked every 2 s), a comment every 20 s to keep proxies from closing the stream, and an end
    /// after 10 minutes (EventSource reconnects on its own, so a revoked session stops getting figures).
    @Sendable func live(_ request: Request, _ principal: Principal) async throws -> Response {
        let response = Response(status: .ok)
        response.headers.contentType = ChatController.eventStream
        response.headers.replaceOrAdd(name: "X-Accel-Buffering", value: "no")
        let database = request.db
        response.body = .init(asyncStream: { writer in
            var last: LiveFigures?
            let until = ContinuousClock.now + .seconds(600)
            var tick = 0
            do {
                while ContinuousClock.now < until {
                    // Three indexed counts, not the dashboard's aggregate: this runs every 2 s for every open page.
                    let figures = LiveFigures(
                        conversations: try await AiConversation.query(on: database).count(),
                        consultations: try await AiConversation.query(on: database).filter(\.$outcome == .consultation).count(),
                        newTickets: try await OperationsSignal.query(on: database).filter(\.$status == .new).count())
                    if figures != last {
                        try await writer.write(.buffer(ChatController.event("figures", figures)))
                        last = figures
                    } else if tick % 10 == 0 {
                        try await writer.write(.buffer(ByteBuffer(string: ": still here\n\n")))
                    }
                    tick += 1
                    try await Task.sleep(for: .seconds(2))
                }
                try await writer.write(.end)
            } catch {
                try? await writer.write(.end)
            }
        })
        return response
    }
}
