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

    let site: PageSite
    let audit: AuditLog
    let revocations: SessionRevocations
    let store: any BlobStore
    let rateLimitStore: AppConfig.RateLimitStoreKind
    let prices = ModelPrices.standard

    static func site(_ identity: Identity) -> PageSite {
        PageSite(identity: identity, brand: "Flux HQ", root: "/hq-command", signIn: "/hq-command", home: "/hq-command/dashboard",
                 navigation: navigation)
    }

    static func navigation(for role: Role) -> [PageSite.NavItem] {
        var items = [PageSite.NavItem(title: "Dashboard", href: "/hq-command/dashboard")]
        if analytics.contains(role) {
            items += [PageSite.NavItem(title: "Conversations", href: "/hq-command/dashboard/conversations"),
                      PageSite.NavItem(title: "Signals", href: "/hq-command/signals")]
        }
        if tenantViewers.contains(role) {
            items += [PageSite.NavItem(title: "Tenants", href: "/hq-command/tenants"), PageSite.NavItem(title: "Workers", href: "/hq-command/workers"),
                      PageSite.NavItem(title: "Messages", href: "/hq-command/messages")]
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
            let summary = try await ConversationAnalytics(database: request.db.sql).summary(.init())
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
        response.headers.contentType = ServerSentEvents.mediaType
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
                        try await writer.write(.buffer(ServerSentEvents.frame("figures", figures)))
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
