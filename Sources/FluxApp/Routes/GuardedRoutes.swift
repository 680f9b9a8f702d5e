import FluxSecurity
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

/// The route-table file that declared a route (`FluxApp/Routes/routes+portal.swift`), kept on the route so a
/// test can hold that every route is listed in the route table.
enum RouteDeclaration {
    static let userInfoKey = "flux.declared-in"
}

/// A caller who passed a tenant-scoped guard: `tenantID` is the tenant the route names, and either the
/// caller's own or, for staff, any tenant.
struct TenantAccess: Sendable {
    let principal: Principal
    let tenantID: UUID
}

/// The route table's builder: every registration says who may call it (``open(_:_:body:use:)`` for anyone,
/// ``signedIn(_:_:roles:use:)`` or ``tenant(_:_:roles:body:use:)`` for a guard), so a route cannot be added
/// without deciding. It holds the authenticator and the rate limiter once for the whole table.
struct GuardedRoutes {
    let builder: any RoutesBuilder
    let identity: Identity

    /// The routes under `path`.
    func grouped(_ path: PathComponent...) -> GuardedRoutes {
        GuardedRoutes(builder: builder.grouped(path), identity: identity)
    }

    /// The routes behind `middleware` (``NoStore`` for pages, say).
    func grouped(_ middleware: any Middleware) -> GuardedRoutes {
        GuardedRoutes(builder: builder.grouped(middleware), identity: identity)
    }

    /// The routes limited per client address by `policy`.
    func limited(_ policy: RateLimitPolicy) -> GuardedRoutes {
        grouped(identity.security.rateLimit(policy))
    }

    /// A route anyone may call; whatever it checks, it checks itself (a token in the body, a signature).
    @discardableResult
    func open<Response: AsyncResponseEncodable>(
        _ method: HTTPMethod, _ path: PathComponent..., body: HTTPBodyStreamStrategy = .collect, declaredIn file: String = #fileID,
        use handler: @escaping @Sendable (Request) async throws -> Response
    ) -> Route {
        let route = builder.on(method, path, body: body, use: handler)
        route.userInfo[RouteDeclaration.userInfoKey] = file
        return route
    }

    /// A POST that another site's page makes as a top-level navigation (an identity provider's `form_post` answer),
    /// so it can carry no CSRF token: anyone may call it, the CSRF check skips it (``CSRFProtection/exemptRouteKey``,
    /// with `why`), and its handler must act on nothing but what it verifies itself. `SecurityWiringTests` lists the
    /// routes allowed to be declared this way.
    @discardableResult
    func crossSitePost<Response: AsyncResponseEncodable>(
        _ path: PathComponent..., why: String, declaredIn file: String = #fileID,
        use handler: @escaping @Sendable (Request) async throws -> Response
    ) -> Route {
        let route = builder.on(.POST, path, use: handler)
        route.userInfo[RouteDeclaration.userInfoKey] = file
        route.userInfo[CSRFProtection.exemptRouteKey] = why
        return route
    }

    /// A route that only a signed-in caller with one of `roles` reaches; the handler gets the ``Principal``
    /// from the guard and has no other way to the caller.
    @discardableResult
    func signedIn<Response: AsyncResponseEncodable>(
        _ method: HTTPMethod, _ path: PathComponent..., roles: Set<Role>, declaredIn file: String = #fileID,
        use handler: @escaping @Sendable (Request, Principal) async throws -> Response
    ) -> Route {
        let identity = identity
        let route = builder.on(method, path) { request in
            try await handler(request, try await RouteGuardCheck.principal(request, roles: roles, identity: identity))
        }
        route.userInfo[AccessRule.userInfoKey] = AccessRule(roles: roles, tenantScoped: false)
        route.userInfo[RouteDeclaration.userInfoKey] = file
        return route
    }

    /// A route under `/…/:tenantID/…` that a client reaches only for its own tenant (staff with one of
    /// `roles` reach any tenant). Another tenant's id answers 404, as if it did not exist.
    @discardableResult
    func tenant<Response: AsyncResponseEncodable>(
        _ method: HTTPMethod, _ path: PathComponent..., roles: Set<Role>, body: HTTPBodyStreamStrategy = .collect,
        declaredIn file: String = #fileID, use handler: @escaping @Sendable (Request, TenantAccess) async throws -> Response
    ) -> Route {
        precondition(path.contains(.parameter("tenantID")), "a tenant-scoped route names :tenantID")
        let identity = identity
        let route = builder.on(method, path, body: body) { request in
            let principal = try await RouteGuardCheck.principal(request, roles: roles, identity: identity)
            guard let tenantID = request.parameters.get("tenantID", as: UUID.self),
                principal.role.isStaff || tenantID == principal.tenantID
            else { throw AppError.notFound("No such tenant.") }
            return try await handler(request, TenantAccess(principal: principal, tenantID: tenantID))
        }
        route.userInfo[AccessRule.userInfoKey] = AccessRule(roles: roles, tenantScoped: true)
        route.userInfo[RouteDeclaration.userInfoKey] = file
        return route
    }

    /// A page of `site` for `roles`: a signed-out browser is sent to the site's sign-in page, a refused one
    /// gets a 403 page (``PageSite``).
    func page(_ site: PageSite, _ path: PathComponent..., roles: Set<Role>, streams: Bool = false, declaredIn file: String = #fileID,
              use handler: @escaping @Sendable (Request, Principal) async throws -> Response) {
        let declaring = DeclaringRoutes(builder: builder.grouped(path), file: file)
        site.page(declaring, roles: roles, streams: streams, use: handler)
    }
}

enum RouteGuardCheck {
    static func principal(_ request: Request, roles: Set<Role>, identity: Identity) async throws -> Principal {
        guard let principal = try await identity.authenticate(request) else {
            throw AppError(.unauthorized, code: "unauthenticated", message: "Sign in to continue.",
                           headers: ["WWW-Authenticate": "Bearer"])
        }
        guard roles.contains(principal.role) else {
            throw AppError.forbidden("Your role does not allow this.")
        }
        return principal
    }
}

/// Marks each route added through it as declared in `file` (for pages, which ``PageSite`` registers).
private struct DeclaringRoutes: RoutesBuilder {
    let builder: any RoutesBuilder
    let file: String

    func add(_ route: Route) {
        route.userInfo[RouteDeclaration.userInfoKey] = file
        builder.add(route)
    }
}
