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
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let guarded = guardedRoutes(app)
            #expect(guarded.count >= 10)
            var mistakes: [String] = []
            for role in Role.allCases {
                // An allowed caller of a live stream would wait on it forever; the browser test reads it.
                for entry in guarded where !(entry.rule.streams && entry.rule.roles.contains(role)) {
                    // A fresh member per request: logout and role changes must not spoil the next check.
                    let member = try await mintSignedIn(app, role: role)
                    let path = entry.path(tenant: member.tenantID, user: member.userID)
                    let response = try await tester.sendRequest(entry.route.method, path, headers: member.bearer) { req in
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
