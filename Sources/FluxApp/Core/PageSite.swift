import Foundation
import Leaf
import LeafKit
import Vapor

/// A set of server-rendered pages behind sign-in, as HQ (staff) and the portal (clients) both are: guarded
/// GET pages, rendering through the Leaf templates in ``HQViews`` with the request's CSP nonce, who is
/// signed in and the navigation that person's role may see. Each page is an ``AccessRule`` route, so the
/// authorization matrix test tries every role on it. In a browser a signed-out visit is sent to the
/// sign-in page (with a `next` that can only point inside the site) and a refused one gets a 403 page;
/// other callers get the JSON error.
struct PageSite: Sendable {
    struct NavItem: Encodable, Sendable {
        let title: String
        let href: String
    }

    let identity: Identity
    let brand: String
    /// Every page of the site is under this path.
    let root: String
    let signIn: String
    /// Where a sign-in goes when no (acceptable) `next` is given.
    let home: String
    let navigation: @Sendable (Role) -> [NavItem]

    /// A GET page for `roles`.
    func page(_ builder: any RoutesBuilder, _ path: PathComponent..., roles: Set<Role>, streams: Bool = false,
              use handler: @escaping @Sendable (Request, Principal) async throws -> Response) {
        let route = builder.on(.GET, path) { request -> Response in
            let principal: Principal
            do {
                principal = try await RouteGuardCheck.principal(request, roles: roles, identity: identity)
            } catch let error as AppError where Self.wantsPage(request) {
                if error.status == .unauthorized {
                    return request.redirect(to: signIn + "?next=" + (request.url.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
                }
                guard error.status == .forbidden else { throw error }
                let response = try await render(request, "denied", title: "Not for your role")
                response.status = .forbidden
                return response
            }
            return try await handler(request, principal)
        }
        route.userInfo[AccessRule.userInfoKey] = AccessRule(roles: roles, tenantScoped: false, streams: streams)
    }

    /// The sign-in page (password, then a TOTP code or enrolment), public.
    func signInPage(_ request: Request) async throws -> Response {
        try await render(request, "signin", title: "Sign in", extra: ["next": safeNext(request.query[String.self, at: "next"])])
    }

    static func wantsPage(_ request: Request) -> Bool {
        request.headers.accept.mediaTypes.contains { $0.type == "text" && $0.subType == "html" }
    }

    /// Only a path inside this site may follow the sign-in (never another site).
    func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix(root + "/"), !next.contains("//"), !next.contains("\\") else { return home }
        return next
    }

    /// Renders `template` with the title, nonce, brand, sign-in path, who is signed in and their navigation,
    /// and `body`'s fields (everything a template prints is escaped, by Leaf or by ``TableRowsTag``).
    /// `data` is for a large list built as Leaf values directly, skipping ``leafData(_:)``'s JSON round trip.
    func render(_ request: Request, _ template: String, title: String, principal: Principal? = nil,
                body: (any Encodable)? = nil, extra: [String: String] = [:], data: [String: LeafData] = [:]) async throws -> Response {
        var context: [String: LeafData] = ["title": .string(title), "nonce": .string(request.cspNonce), "brand": .string(brand),
                                           "signIn": .string(signIn), "home": .string(home)]
        context.merge(data) { _, new in new }
        for (key, value) in extra { context[key] = .string(value) }
        if let principal {
            let email = try await User.find(principal.userID, on: request.db)?.email ?? ""
            context["who"] = .string("\(email) (\(principal.role.label))")
            context["nav"] = try Self.leafData(navigation(principal.role))
        }
        if let body, let fields = try Self.leafData(body).dictionary {
            context.merge(fields) { _, new in new }
        }
        let html = try await Self.renderer(for: request).render(path: template, context: context).get()
        let response = Response(status: .ok, body: .init(buffer: html))
        response.headers.contentType = .html
        return response
    }

    /// Parsed templates, kept for the life of the process. Leaf's own cache is switched off in the development
    /// environment (so edited files show at once), but these templates are compiled in and cannot change, so
    /// re-parsing them on every request (about 20 ms a page, measured) would buy nothing.
    /// DefaultLeafCache locks around its own state; Leaf does not mark it Sendable.
    private final class TemplateCache: @unchecked Sendable {
        let cache = DefaultLeafCache()
    }

    private struct TemplateCacheKey: StorageKey {
        typealias Value = TemplateCache
    }

    static func prepare(_ app: Application) {
        app.storage[TemplateCacheKey.self] = TemplateCache()
    }

    private static func renderer(for request: Request) -> LeafRenderer {
        let app = request.application
        return LeafRenderer(configuration: app.leaf.configuration, tags: app.leaf.tags, cache: app.storage[TemplateCacheKey.self]!.cache,
                            sources: app.leaf.sources, eventLoop: request.eventLoop, userInfo: ["application": app, "request": request])
    }

    /// A page's figures as Leaf values, by way of their JSON (every date is already formatted text).
    static func leafData(_ value: some Encodable) throws -> LeafData {
        func convert(_ object: Any) -> LeafData {
            switch object {
            case let text as String: .string(text)
            case let number as NSNumber:
                String(cString: number.objCType) == "c" ? .bool(number.boolValue)
                    : number.doubleValue == number.doubleValue.rounded() && abs(number.doubleValue) < 1e15 ? .int(number.intValue) : .double(number.doubleValue)
            case let list as [Any]: .array(list.map(convert))
            case let map as [String: Any]: .dictionary(map.mapValues(convert))
            default: .trueNil
            }
        }
        return convert(try JSONSerialization.jsonObject(with: JSONEncoder().encode(value), options: .fragmentsAllowed))
    }

    static func time(_ date: Date?) -> String {
        date.map { $0.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeSeparator(.colon)) } ?? ""
    }
}

/// Pages show who is signed in and what they may see: never cached (the shared assets may be).
struct NoStore: AsyncMiddleware {
    func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let response = try await next.respond(to: request)
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return response
    }
}
