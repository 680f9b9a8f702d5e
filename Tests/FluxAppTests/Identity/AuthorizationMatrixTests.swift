@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

/// Walks the route table: every route that carries an ``AccessRule`` is tried by every role, and every
/// tenant-scoped route by a client of another tenant. A route added later is covered without a new test.
@Suite struct AuthorizationMatrixTests {
    struct Guarded {
        let route: Route
        let rule: AccessRule

        func path(tenant: UUID, user: UUID) -> String {
            "/" + route.path.map { component -> String in
                switch component {
                case .parameter("tenantID"): tenant.uuidString
                case .parameter("userID"): user.uuidString
                case .parameter: UUID().uuidString
                default: component.description
                }
            }.joined(separator: "/")
        }
    }

    func guardedRoutes(_ app: Application) -> [Guarded] {
        app.routes.all.compactMap { route in
            (route.userInfo[AccessRule.userInfoKey] as? AccessRule).map { Guarded(route: route, rule: $0) }
        }
    }

    @Test func eachRoleIsRefusedEveryRouteOutsideItsTable() async throws {
        // Each role's requests come from an address of its own (through a trusted proxy): all roles together send
        // more than one address's per-minute allowance for the account routes.
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            let tester = try app.testing(method: .running(port: 0))
            let guarded = guardedRoutes(app)
            #expect(guarded.count >= 10)
            var mistakes: [String] = []
            for (index, role) in Role.allCases.enumerated() {
                // An allowed caller of a live stream would wait on it forever; the browser test reads it.
                for entry in guarded where !(entry.rule.streams && entry.rule.roles.contains(role)) {
                    // A fresh member per request: logout and role changes must not spoil the next check.
                    let member = try await mintSignedIn(app, role: role)
                    let path = entry.path(tenant: member.tenantID, user: member.userID)
                    var headers = member.bearer
                    headers.add(name: "X-Forwarded-For", value: "198.51.100.\(index + 1)")
                    let response = try await tester.sendRequest(entry.route.method, path, headers: headers) { req in
                        try req.content.encode(["role": role.rawValue])
                    }
                    let refused = response.status == .forbidden && errorCode(response) == "forbidden"
                    if entry.rule.roles.contains(role) == refused {
                        mistakes.append("\(role.rawValue) \(entry.route.method) \(path): \(response.status.code)")
                    }
                    if !entry.rule.roles.contains(role), response.status != .forbidden {
                        mistakes.append("\(role.rawValue) not refused on \(entry.route.method) \(path)")
                    }
                }
            }
            #expect(mistakes.isEmpty, "\(mistakes)")
        }
    }

    /// What each staff role may reach, spelled out: a route that lets a staff role in without being listed
    /// here fails this test, so sales cannot drift into client data again.
    /// Every staff role: its own account and the tenant it belongs to.
    static let ownAccount: Set<String> = [
        "DELETE /api/account",
        "DELETE /api/auth/sessions/:sessionID",
        "GET /account/devices",
        "GET /account/privacy",
        "GET /account/settings",
        "GET /api/account/export",
        "GET /api/auth/me",
        "GET /api/auth/passkeys",
        "GET /api/auth/sessions",
        "GET /api/auth/token-info",
        "GET /api/auth/verify",
        "GET /api/tenants/:tenantID",
        "GET /hq-command/dashboard",
        "DELETE /api/auth/passkeys/:passkeyID",
        "PATCH /api/auth/me",
        "PATCH /api/auth/passkeys/:passkeyID",
        "POST /api/auth/passkeys",
        "POST /api/auth/passkeys/registration/options",
        "POST /api/auth/email",
        "POST /api/auth/email/verify/resend",
        "POST /api/auth/logout",
        "POST /api/auth/logout-all",
        "POST /api/auth/logout-others",
        "POST /api/auth/mfa/recovery-codes",
        "POST /api/auth/mfa/totp/disable",
        "POST /api/auth/password",
    ]
    /// Engineers, admins and owners: clients' messaging, files and setup, their API keys and workers.
    static let clientWork: Set<String> = [
        "DELETE /api/hq/api-keys/:keyID",
        "GET /api/hq/tenants/:tenantID/worker",
        "GET /api/hq/tenants/:tenantID/worker/logs",
        "GET /api/hq/workers",
        "GET /hq-command/workers",
        "GET /hq-command/workers/:tenantID",
        "POST /api/hq/tenants/:tenantID/worker/commands",
        "PUT /api/hq/tenants/:tenantID/worker/config",
        "PUT /api/hq/tenants/:tenantID/worker/settings",
        "DELETE /api/portal/messages/:messageID",
        "GET /api/hq/tenants/:tenantID/api-keys",
        "GET /api/portal/conversations",
        "GET /api/portal/conversations/:threadID",
        "GET /api/portal/conversations/:threadID/messages",
        "GET /api/portal/messages/:messageID/attachment",
        "GET /api/portal/notifications",
        "GET /api/portal/notifications/settings",
        "GET /api/portal/realtime",
        "GET /api/tenants/:tenantID/files",
        "GET /api/tenants/:tenantID/files/:fileID/content",
        "GET /hq-command/messages",
        "GET /hq-command/tenants",
        "PATCH /api/portal/messages/:messageID",
        "POST /api/hq/api-keys/:keyID/rotate",
        "POST /api/hq/tenants/:tenantID/api-keys",
        "POST /api/portal/conversations",
        "POST /api/portal/conversations/:threadID/messages",
        "POST /api/portal/conversations/:threadID/read",
        "POST /api/portal/notifications/read",
        "PUT /api/hq/setup-requests/:requestID/status",
        "PUT /api/portal/notifications/settings",
    ]
    /// Sales, admins and owners: FluxAI analytics, the signals and the live view.
    static let analytics: Set<String> = [
        "GET /hq-command/dashboard/conversations",
        "GET /hq-command/dashboard/conversations/:conversationID",
        "GET /hq-command/dashboard/conversations/export.csv",
        "GET /hq-command/live",
        "GET /hq-command/signals",
        "GET /hq-command/signals/:signalID",
        "GET /hq-command/signals/export.csv",
        "PUT /api/hq/signals/:signalID/status",
    ]
    /// Admins and owners: staff, audit, health, privacy erasure and client memberships.
    static let administration: Set<String> = [
        "DELETE /api/hq/sessions/:sessionID",
        "DELETE /api/tenants/:tenantID/members/:userID",
        "GET /api/admin/audit",
        "GET /api/tenants/:tenantID/export",
        "GET /api/tenants/:tenantID/members",
        "GET /hq-command/audit",
        "GET /hq-command/health",
        "GET /hq-command/users",
        "POST /api/admin/privacy/erase",
        "PUT /api/tenants/:tenantID/members/:userID/role",
    ]
    static let staffTable: [Role: Set<String>] = [
        .owner: ownAccount.union(clientWork).union(analytics).union(administration),
        .admin: ownAccount.union(clientWork).union(analytics).union(administration),
        .engineer: ownAccount.union(clientWork),
        .sales: ownAccount.union(analytics),
    ]

    @Test func eachStaffRoleReachesExactlyItsListedRoutes() async throws {
        try await withFlux { app, _ async throws in
            let guarded = guardedRoutes(app)
            for role in Role.staff.sorted(by: { $0.rawValue < $1.rawValue }) {
                let reached = Set(guarded.filter { $0.rule.roles.contains(role) }
                    .map { "\($0.route.method.rawValue) /\($0.route.path.map(\.description).joined(separator: "/"))" })
                let listed = Self.staffTable[role] ?? []
                #expect(reached == listed, "\(role.rawValue): not listed \(reached.subtracting(listed).sorted()), listed but not reached \(listed.subtracting(reached).sorted())")
            }
            // Whatever else the table says, sales never reaches a client's messages, files or live channel.
            let sales = guarded.filter { $0.rule.roles.contains(.sales) }.map { $0.route.path.map(\.description).joined(separator: "/") }
            #expect(!sales.contains { $0.hasPrefix("api/portal/") || $0.contains("files") || $0.hasPrefix("api/tenants/:tenantID/export") },
                    "\(sales)")
        }
    }

    @Test func aClientOfTenantAIsRefusedEveryTenantScopedRouteOfTenantB() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let scoped = guardedRoutes(app).filter(\.rule.tenantScoped)
            #expect(scoped.count >= 3)
            let tenantB = try await mintSignedIn(app, role: .clientAdmin)
            let operatorTenant = try await Accounts.operatorTenant(on: app.db).id!
            var leaks: [String] = []
            for role in Role.client {
                for entry in scoped {
                    let intruder = try await mintSignedIn(app, role: role)
                    for target in [tenantB.tenantID, operatorTenant] {
                        let path = entry.path(tenant: target, user: tenantB.userID)
                        let response = try await tester.sendRequest(entry.route.method, path, headers: intruder.bearer) { req in
                            try req.content.encode(["role": "client_member"])
                        }
                        if entry.rule.roles.contains(role), response.status != .notFound {
                            leaks.append("\(role.rawValue) \(entry.route.method) \(path): \(response.status.code)")
                        }
                        if response.status.code < 400 { leaks.append("\(role.rawValue) reached \(path)") }
                    }
                }
            }
            #expect(leaks.isEmpty, "\(leaks)")
            // Tenant B's admin is untouched by all of it.
            let member = try #require(try await Membership.query(on: app.db).filter(\.$userID == tenantB.userID).first())
            #expect(member.role == .clientAdmin)
        }
    }

    @Test func unauthenticatedCallsGet401OnEveryGuardedRoute() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            for entry in guardedRoutes(app) {
                let path = entry.path(tenant: UUID(), user: UUID())
                // With a valid CSRF pair, so it is the guard, not the CSRF check, that answers.
                let headers = entry.route.method == .GET ? [:] : try await csrfHeaders(tester)
                let response = try await tester.sendRequest(entry.route.method, path, headers: headers)
                #expect(response.status == .unauthorized, "\(entry.route.method) \(path)")
                #expect(response.headers.first(name: "WWW-Authenticate") == "Bearer")
            }
        }
    }

    @Test func clientAdminChangesAMemberRoleAndTheMemberIsSignedOut() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let members = try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/members", headers: admin.bearer)
            #expect(try members.content.decode([MemberBody].self).count == 2)
            let promote = try await tester.sendRequest(.PUT, "/api/tenants/\(admin.tenantID)/members/\(member.userID)/role",
                                                       headers: admin.bearer) { req in
                try req.content.encode(["role": "client_admin"])
            }
            #expect(promote.status == .ok)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: member.bearer).status == .unauthorized)
            let staffRole = try await tester.sendRequest(.PUT, "/api/tenants/\(admin.tenantID)/members/\(member.userID)/role",
                                                         headers: admin.bearer) { req in
                try req.content.encode(["role": "owner"])
            }
            #expect(staffRole.status == .badRequest)
            let audit = try #require(try await AuditEvent.query(on: app.db).filter(\.$action == "member.role_changed").first())
            #expect(audit.actorID == admin.userID)
            #expect(audit.metadata?.contains("client_member") == true)
        }
    }
}

struct MemberBody: Decodable {
    let userId: UUID
    let role: String
}
