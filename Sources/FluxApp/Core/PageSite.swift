import Foundation
import LeafKit
import Vapor

/// A set of server-rendered pages behind sign-in, as HQ (staff) and the portal (clients) both are: guarded
/// GET pages, rendering the Leaf templates of `Resources/Views` (``PageTemplates``) with the request's CSP nonce,
/// who is signed in and the navigation that person's role may see. Each page is an ``AccessRule`` route, so the
/// authorization matrix test tries every role on it. In a browser a signed-out visit is sent to the
/// sign-in page (with a `next` that can only point inside the site) and a refused one gets a 403 page;
/// other callers get the JSON error.
struct PageSite: Sendable {
    struct NavItem: Encodable, Sendable {
        let title: String
        let href: String
        /// A count beside the title (unread items), when there is something to count.
        var badge: Int? = nil
    }

    let identity: Identity
    let brand: String
    /// Every page of the site is under this path.
    let root: String
    let signIn: String
    /// Where a sign-in goes when no (acceptable) `next` is given.
    let home: String
    let navigation: @Sendable (Role) -> [NavItem]
    /// Counts shown beside navigation items, by their `href` (such as unread messages), for the signed-in person.
    var badges: (@Sendable (Request, Principal) async throws -> [String: Int])? = nil

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

    struct SignInContext: Encodable {
        let next: String
        /// The browser holds a refresh cookie: the page first tries to renew the session (``canResume(_:)``).
        let resume: Bool
        /// "Continue with …" for each configured sign-in provider.
        let providers: [SignInButton]?
    }

    /// The sign-in page (password, then a TOTP code or enrolment, or a configured provider), public.
    func signInPage(_ request: Request) async throws -> Response {
        let next = safeNext(request.query[String.self, at: "next"])
        return try await render(request, "signin", title: "Sign in", script: "signin",
                                body: SignInContext(next: next, resume: canResume(request),
                                                    providers: SignInButton.all(identity.signInProviders, next: next)))
    }

    /// Whether a sign-in page should first try to renew the session: the browser still holds a refresh cookie, so a
    /// page visited after the short access token ran out (a bookmark, a new tab, a tab that slept) need not ask for
    /// the password while the session lives.
    func canResume(_ request: Request) -> Bool {
        identity.cookies.read(Identity.refreshCookie, from: request) != nil
    }

    static func wantsPage(_ request: Request) -> Bool {
        request.headers.accept.mediaTypes.contains { $0.type == "text" && $0.subType == "html" }
    }

    /// Only a path inside this site may follow the sign-in (never another site).
    func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix(root + "/"), !next.contains("//"), !next.contains("\\") else { return home }
        return next
    }

    /// Renders `template` with the title, nonce, brand, locale, sign-in path, who is signed in and their navigation,
    /// and `body`'s fields (everything a template prints is escaped, by Leaf or by ``TableRowsTag``).
    /// `data` is for a large list built as Leaf values directly, which Leaf's encoder takes as they are. `script` names
    /// the page's own script in `Resources/Public` (without `.js`), loaded after `flux.js`.
    func render(_ request: Request, _ template: String, title: String, principal: Principal? = nil, script: String? = nil,
                body: (any Encodable)? = nil, data: [String: LeafData] = [:]) async throws -> Response {
        var who: String?
        var nav: [NavItem]?
        if let principal {
            let email = try await User.find(principal.userID, on: request.db)?.email ?? ""
            who = "\(email) (\(principal.role.label))"
            let counts = try await badges?(request, principal) ?? [:]
            nav = navigation(principal.role).map { item in
                var item = item
                item.badge = counts[item.href].flatMap { $0 > 0 ? $0 : nil }
                return item
            }
        }
        let context = Context(title: title, nonce: request.cspNonce, brand: brand, signIn: signIn, home: home,
                              locale: Messages.locale(for: request), script: script, who: who,
                              nav: nav, body: body, data: data)
        let response = try await request.view.render(template, context).encodeResponse(for: request)
        Messages.remember(request, on: response)
        return response
    }

    /// What every page's template is given: the site's fields, then the page's own (`data`, then `body`, which win).
    private struct Context: Encodable {
        let title, nonce, brand, signIn, home, locale: String
        let script, who: String?
        let nav: [NavItem]?
        let body: (any Encodable)?
        let data: [String: LeafData]

        struct Key: CodingKey, ExpressibleByStringLiteral {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init(stringLiteral value: String) { stringValue = value }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(title, forKey: "title")
            try container.encode(nonce, forKey: "nonce")
            try container.encode(brand, forKey: "brand")
            try container.encode(signIn, forKey: "signIn")
            try container.encode(home, forKey: "home")
            try container.encode(locale, forKey: "locale")
            try container.encodeIfPresent(script, forKey: "script")
            try container.encodeIfPresent(who, forKey: "who")
            try container.encodeIfPresent(nav, forKey: "nav")
            for (key, value) in data {
                try container.encode(LeafValue(leafData: value), forKey: Key(stringValue: key))
            }
            // Into the same container, so that the body's fields sit beside the site's.
            try body?.encode(to: encoder)
        }
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
