import Vapor

/// Which roles may call a route, and whether it is scoped to the tenant named by its `:tenantID` parameter.
/// Stored on the route itself, so the tests can walk the route table and try every role against every rule.
struct AccessRule: Sendable {
    static let userInfoKey = "flux.access-rule"
    let roles: Set<Role>
    let tenantScoped: Bool
    /// Answers an allowed caller with an endless event stream (the authorization matrix only checks refusals).
    var streams = false
}

/// A caller who passed a tenant-scoped guard: `tenantID` is the tenant the route names, and either the
/// caller's own or, for staff, any tenant.
struct TenantAccess: Sendable {
    let principal: Principal
    let tenantID: UUID
}

extension RoutesBuilder {
    /// Registers a route that only a signed-in caller with one of `roles` reaches; the handler gets the
    /// ``Principal`` from the guard and has no other way to the caller.
    @discardableResult
    func secured<Response: AsyncResponseEncodable>(
        _ method: HTTPMethod, _ path: PathComponent..., roles: Set<Role>, identity: Identity,
        use handler: @escaping @Sendable (Request, Principal) async throws -> Response
    ) -> Route {
        let route = on(method, path) { request in
            try await handler(request, try await RouteGuardCheck.principal(request, roles: roles, identity: identity))
        }
        route.userInfo[AccessRule.userInfoKey] = AccessRule(roles: roles, tenantScoped: false)
        return route
    }

    /// Registers a route under `/…/:tenantID/…` that a client reaches only for its own tenant (staff with
    /// one of `roles` reach any tenant). Another tenant's id answers 404, as if it did not exist.
    @discardableResult
    func tenantScoped<Response: AsyncResponseEncodable>(
        _ method: HTTPMethod, _ path: PathComponent..., roles: Set<Role>, identity: Identity, body: HTTPBodyStreamStrategy = .collect,
        use handler: @escaping @Sendable (Request, TenantAccess) async throws -> Response
    ) -> Route {
        precondition(path.contains(.parameter("tenantID")), "a tenant-scoped route names :tenantID")
        let route = on(method, path, body: body) { request in
            let principal = try await RouteGuardCheck.principal(request, roles: roles, identity: identity)
            guard let tenantID = request.parameters.get("tenantID", as: UUID.self),
                principal.role.isStaff || tenantID == principal.tenantID
            else { throw AppError(.notFound, code: "not_found", message: "No such tenant.") }
            return try await handler(request, TenantAccess(principal: principal, tenantID: tenantID))
        }
        route.userInfo[AccessRule.userInfoKey] = AccessRule(roles: roles, tenantScoped: true)
        return route
    }
}

enum RouteGuardCheck {
    static func principal(_ request: Request, roles: Set<Role>, identity: Identity) async throws -> Principal {
        guard let principal = try await identity.authenticate(request) else {
            throw AppError(.unauthorized, code: "unauthenticated", message: "Sign in to continue.",
                           headers: ["WWW-Authenticate": "Bearer"])
        }
        guard roles.contains(principal.role) else {
            throw AppError(.forbidden, code: "forbidden", message: "Your role does not allow this.")
        }
        return principal
    }
}
