import Fluent
import Vapor

/// The account pages every person uses, client or staff, under `/account`: signing up, in and back in (a forgotten
/// password, the mailed links), and, signed in, their settings, devices and privacy. Templates are
/// `Resources/Views/account/*.leaf`, the script is `Resources/Public/account.js`, the words come from the message
/// catalogue (`account.*`). Every form posts to the same JSON API as any other client; the links' tokens stay in the
/// URL fragment, which browsers never send to a server or in a Referer.
struct AccountPages: Sendable {
    let identity: Identity

    /// The pages signed-in people reach; signed-out visits go to the sign-in page and come back after it.
    var site: PageSite {
        PageSite(identity: identity, brand: "Flux", root: "/account", signIn: "/account/sign-in", home: "/account/settings",
                 navigation: { _ in [] })
    }

    private func locale(_ request: Request) -> String { Messages.locale(for: request) }

    private func title(_ key: String, _ request: Request) -> String {
        Messages.shared.text(key, locale: locale(request))
    }

    /// The page shown after a sign-in when no `next` says otherwise: HQ for staff, the portal for clients.
    static func home(for role: Role) -> String {
        role.isStaff ? "/hq-command" : "/app"
    }

    /// `GET /account`: where a signed-in person belongs; signed out, the sign-in page.
    @Sendable func start(_ request: Request) async throws -> Response {
        guard let principal = try await identity.authenticate(request) else { return request.redirect(to: "/account/sign-in") }
        return request.redirect(to: Self.home(for: principal.role))
    }

    /// Where a sign-in goes next: a path on this site only (never another origin), else `/account`.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), !next.contains("\n") else { return "/account" }
        return next
    }

    struct SignInContext: Encodable {
        let next: String
        /// The browser holds a refresh cookie: the page first tries to renew the session (``PageSite/canResume(_:)``).
        let resume: Bool
        /// "Continue with Google", "Continue with Apple": one per configured provider.
        let providers: [SignInButton]?
        let narrow = true
    }

    @Sendable func signIn(_ request: Request) async throws -> Response {
        let next = Self.safeNext(request.query[String.self, at: "next"])
        return try await site.render(request, "account/sign-in", title: title("account.signIn.title", request), script: "account",
                                     body: SignInContext(next: next, resume: site.canResume(request),
                                                         providers: SignInButton.all(identity.signInProviders, next: next)))
    }

    struct FormContext: Encodable {
        let narrow = true
    }

    @Sendable func signUp(_ request: Request) async throws -> Response {
        try await site.render(request, "account/sign-up", title: title("account.signUp.title", request), script: "account", body: FormContext())
    }

    @Sendable func forgotPassword(_ request: Request) async throws -> Response {
        try await site.render(request, "account/forgot-password", title: title("account.forgot.title", request), script: "account", body: FormContext())
    }

    /// The page a mailed link opens: it posts the fragment's token to `endpoint` and, signed in by it, moves on.
    struct LinkContext: Encodable {
        let kind, endpoint: String
        /// The catalogue keys of the page's words for this kind of link.
        let intro, submit, done, deadText: String
        /// The reset and owner set-up links ask for the new password.
        let choosesPassword: Bool
        let narrow = true

        init(kind: String, endpoint: String) {
            self.kind = kind
            self.endpoint = endpoint
            intro = "account.link.intro.\(kind)"
            submit = "account.link.submit.\(kind)"
            done = "account.link.done.\(kind)"
            deadText = "account.link.deadText.\(kind)"
            choosesPassword = kind == "reset" || kind == "setup"
        }
    }

    /// The handler of a page a link opens (`verify` and `reset` mailed at sign-up and on request, `email` mailed to a
    /// new address, `setup` logged at boot while there is no staff account), titled by the catalogue's `titleKey`.
    func link(_ kind: String, titleKey: String, endpoint: String) -> @Sendable (Request) async throws -> Response {
        { request in
            try await site.render(request, "account/link", title: title(titleKey, request), script: "account",
                                  body: LinkContext(kind: kind, endpoint: endpoint))
        }
    }

    /// What the signed-in pages share: whose account it is, the tab shown, and the way back to their work.
    struct SignedInContext<Page: Encodable>: Encodable {
        let tab: String
        let email: String
        let name: String
        let role: String
        let home: String
        let page: Page
    }

    private func render<Page: Encodable>(_ request: Request, _ principal: Principal, tab: String, page: Page) async throws -> Response {
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AppError.notFound("No such account.") }
        return try await site.render(request, "account/\(tab)", title: title("account.\(tab).title", request), script: "account", body: SignedInContext(
            tab: tab, email: user.email, name: user.displayName ?? "", role: principal.role.label,
            home: Self.home(for: principal.role), page: page))
    }

    struct Settings: Encodable {
        let hasPassword: Bool
        let mfaEnabled: Bool
        /// Staff roles must keep a second factor: the page offers no way to turn it off.
        let mfaRequired: Bool
        let emailVerified: Bool
        let passkeys: [PasskeyRow]
        /// Whether this browser's page may offer to add a passkey: the relying party must be this page's host.
        let passkeysHere: Bool
        /// Where this page works with passkeys, when it is not here.
        let passkeysAt: String
    }

    struct PasskeyRow: Encodable {
        let id: String
        let name: String
        let createdAt: String
        let lastUsedAt: String?
        let backedUp: Bool
        let flagged: Bool
    }

    @Sendable func settings(_ request: Request, _ principal: Principal) async throws -> Response {
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AppError.notFound("No such account.") }
        let mfa = try await MultiFactor(identity: identity).isEnabled(principal.userID, on: request.db)
        let iso = Date.ISO8601FormatStyle()
        let passkeys = try await PasskeyController(identity: identity).list(request, principal).map {
            PasskeyRow(id: $0.id.uuidString, name: $0.name, createdAt: $0.createdAt.formatted(iso), lastUsedAt: $0.lastUsedAt?.formatted(iso),
                       backedUp: $0.backedUp, flagged: $0.flagged)
        }
        // A passkey made while a required role holds only passkeys keeps the rule: the app may then be turned off.
        let required = Role.requiringMFA.contains(principal.role) && !passkeys.contains { !$0.flagged }
        return try await render(request, principal, tab: "settings", page: Settings(
            hasPassword: user.passwordHash != nil, mfaEnabled: mfa, mfaRequired: required,
            emailVerified: user.emailVerifiedAt != nil, passkeys: passkeys,
            passkeysHere: request.headers.first(name: .host).map { Self.hostName($0) == identity.passkeys.relyingParty.id
                || Self.hostName($0).hasSuffix("." + identity.passkeys.relyingParty.id) } ?? false,
            passkeysAt: (identity.passkeys.relyingParty.origins.first ?? "") + "/account/settings"))
    }

    /// `example.com` of a Host header `example.com:8080` (or `[::1]:8080`).
    static func hostName(_ host: String) -> String {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") { return String(host[host.index(after: host.startIndex)..<close]) }
        return String(host.split(separator: ":", maxSplits: 1).first ?? "").lowercased()
    }

    struct Device: Encodable {
        let id: String
        let label: String
        let createdAt: String
        let lastUsedAt: String
        let expiresAt: String
        let absoluteExpiresAt: String
        let knownNetwork: Bool
        let current: Bool
    }

    struct Devices: Encodable {
        let devices: [Device]
        let others: Int
    }

    @Sendable func devices(_ request: Request, _ principal: Principal) async throws -> Response {
        let sessions = try await AuthController(identity: identity).sessions(request, principal)
        let iso = Date.ISO8601FormatStyle()
        let devices = sessions.map {
            Device(id: $0.id.uuidString, label: $0.deviceLabel, createdAt: $0.createdAt.formatted(iso),
                   lastUsedAt: $0.lastUsedAt.formatted(iso), expiresAt: $0.expiresAt.formatted(iso),
                   absoluteExpiresAt: $0.absoluteExpiresAt.formatted(iso), knownNetwork: $0.knownNetwork, current: $0.current)
        }
        return try await render(request, principal, tab: "devices", page: Devices(devices: devices, others: devices.count { !$0.current }))
    }

    struct Privacy: Encodable {
        let hasPassword: Bool
    }

    @Sendable func privacy(_ request: Request, _ principal: Principal) async throws -> Response {
        guard let user = try await User.find(principal.userID, on: request.db) else { throw AppError.notFound("No such account.") }
        return try await render(request, principal, tab: "privacy", page: Privacy(hasPassword: user.passwordHash != nil))
    }
}
