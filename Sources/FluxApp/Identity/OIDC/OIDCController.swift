import Crypto
import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `GET /api/auth/oidc/<provider>/start` and its callback: the OpenID Connect authorization code flow with PKCE
/// (S256), for each configured provider (``OIDCSettings``: Google, Apple). State, nonce, the PKCE verifier and the
/// provider travel in a short-lived cookie sealed with AES-GCM, so the callback only completes the flow this
/// browser started with this provider. Accounts are linked by the provider's subject, or by a provider-verified
/// email the first time (see ``account(for:email:displayName:request:)`` for an address Flux never verified). A
/// client whose organization has no setup request yet lands on onboarding (`/app/onboarding`), whatever it asked
/// to return to. A browser that lands on a failure gets a page (`account/oidc`); other callers get the JSON error.
struct OIDCController: Sendable {
    static let flowCookie = "oidc"
    static let flowLifetime: TimeInterval = 600

    let identity: Identity
    let oidc: OIDCProvider
    let publicURL: URL
    /// The account pages' site, which renders the relay and failure pages.
    let pages: PageSite

    var settings: OIDCSettings { oidc.settings }
    var provider: String { settings.slug }
    var redirectURI: String { publicURL.appendingPathComponent("api/auth/oidc/\(provider)/callback").absoluteString }

    private struct Flow: Codable {
        /// The provider the flow was started with: a code from another provider's callback is refused (mix-up).
        let provider: String
        let state: String
        let nonce: String
        let verifier: String
        let returnTo: String
        let expiresAt: Date
    }

    @Sendable func start(_ request: Request) async throws -> Response {
        try await answering(request) {
            let discovery: OIDCProvider.Discovery
            do {
                discovery = try await oidc.discovery(client: request.client)
            } catch {
                request.logger.error("OIDC discovery failed", metadata: ["provider": .string(provider), "error": .string(String(describing: error))])
                throw AppError(.badGateway, code: "oidc_unavailable", message: "\(settings.displayName) cannot be reached. Try again later.")
            }
            let returnTo = (try? request.query.get(String.self, at: "returnTo"))
                .flatMap { Sanitize.redirectTarget($0, origin: publicURL) } ?? "/"
            let flow = Flow(provider: provider, state: [UInt8].random(count: 32).base64URL, nonce: [UInt8].random(count: 32).base64URL,
                            verifier: [UInt8].random(count: 32).base64URL, returnTo: returnTo,
                            expiresAt: Date().addingTimeInterval(Self.flowLifetime))
            let challenge = Data(SHA256.hash(data: Data(flow.verifier.utf8))).base64URLEncodedString()
            var authorize = URLComponents(string: discovery.authorization_endpoint)!
            authorize.queryItems = (authorize.queryItems ?? []) + [
                URLQueryItem(name: "response_type", value: "code"),
                URLQueryItem(name: "client_id", value: settings.clientID),
                URLQueryItem(name: "redirect_uri", value: redirectURI),
                URLQueryItem(name: "scope", value: settings.scope),
                URLQueryItem(name: "state", value: flow.state),
                URLQueryItem(name: "nonce", value: flow.nonce),
                URLQueryItem(name: "code_challenge", value: challenge),
                URLQueryItem(name: "code_challenge_method", value: "S256"),
            ] + (settings.responseMode == .query ? [] : [URLQueryItem(name: "response_mode", value: settings.responseMode.rawValue)])
            let response = request.redirect(to: authorize.string!, redirectType: .normal)
            // Lax, not Strict: the provider's redirect back is a cross-site top-level navigation. (A form_post is
            // a cross-site POST, which carries no Lax cookie: see formPostCallback.)
            identity.cookies.set(Self.flowCookie, value: try identity.secretBox.seal(Array(try JSONEncoder().encode(flow))),
                                 maxAge: Int(Self.flowLifetime), sameSite: .lax, on: response, for: request)
            return response
        }
    }

    /// What the provider sent back through the browser.
    struct CallbackFields: Content {
        var code: String?
        var state: String?
        /// Apple's, on the first sign-in only: `{"name":{"firstName","lastName"},"email"}`, unsigned.
        var user: String?
        /// Set by the relay page (``formPostCallback(_:)``) on its same-site POST.
        var relayed: String?
    }

    /// `GET …/callback`, for providers that answer in the query string.
    @Sendable func callback(_ request: Request) async throws -> Response {
        try await answering(request) {
            try await complete(request, CallbackFields(code: request.query[String.self, at: "code"],
                                                       state: request.query[String.self, at: "state"]))
        }
    }

    struct RelayContext: Encodable {
        let action: String
        let fields: CallbackFields
        let narrow = true
    }

    /// `POST …/callback`, for `form_post` providers (Apple). Their POST arrives from the provider's site, so the Lax
    /// flow cookie is not sent with it and no CSRF pair can be: the route is exempt from the CSRF check, and this
    /// first POST changes nothing. It answers a page whose form (submitted by its script, or by a click without
    /// script) posts the same fields back here, marked `relayed`; that POST comes from this site, carries the flow
    /// cookie and is checked exactly like a query callback. A forged POST, relayed or not, still needs the state of
    /// a flow the victim's browser started, so it cannot sign anyone in to the attacker's account.
    @Sendable func formPostCallback(_ request: Request) async throws -> Response {
        try await answering(request) {
            let fields = (try? request.content.decode(CallbackFields.self, as: .urlEncodedForm)) ?? CallbackFields()
            guard fields.relayed == "1" else {
                guard [fields.code, fields.state].allSatisfy({ ($0?.utf8.count ?? 0) <= 2048 }), (fields.user?.utf8.count ?? 0) <= 4096 else {
                    try await refuse(request, "oidc_denied", "oversized answer")
                }
                let relay = CallbackFields(code: fields.code, state: fields.state, user: fields.user, relayed: "1")
                let title = Messages.shared.text("account.oidc.relayTitle", locale: Messages.locale(for: request))
                let response = try await pages.render(request, "account/oidc-relay", title: title, script: "oidc-relay",
                                                      body: RelayContext(action: request.url.path, fields: relay))
                response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
                return response
            }
            return try await complete(request, fields)
        }
    }

    /// Runs `body`; a failure clears the flow cookie (a flow is tried once) and, in a browser, becomes a page.
    private func answering(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as AppError {
            let cleared = Response()
            identity.cookies.set(Self.flowCookie, value: "", maxAge: 0, on: cleared, for: request)
            let clearing = cleared.headers[.setCookie].map { ("Set-Cookie", $0) }
            guard PageSite.wantsPage(request) else {
                var headers = error.headers
                headers.add(contentsOf: clearing)
                throw AppError(error.status, code: error.code, message: error.message, fields: error.fields, headers: headers)
            }
            let locale = Messages.locale(for: request)
            let response = try await pages.render(request, "account/oidc-failed", title: Messages.shared.text("account.oidc.failedTitle", locale: locale),
                                                  body: FailureContext(provider: settings.displayName, code: error.code,
                                                                       mfaRequired: error.code == "mfa_required"))
            response.status = error.status
            response.headers.add(contentsOf: clearing)
            response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
            return response
        }
    }

    struct FailureContext: Encodable {
        let provider: String
        let code: String
        let mfaRequired: Bool
        let narrow = true
    }

    private func refuse(_ request: Request, _ code: String, _ reason: String) async throws -> Never {
        try await identity.audit.record("oidc.failure", actor: nil, tenant: nil, metadata: ["provider": provider, "reason": reason], request: request)
        throw AppError(.unauthorized, code: code, message: "\(settings.displayName) sign-in failed (\(reason)). Start again.")
    }

    private struct TokenAnswer: Content {
        let id_token: String
    }

    private struct TokenRequest: Encodable {
        let grant_type = "authorization_code"
        let code: String
        let redirect_uri: String
        let client_id: String
        let client_secret: String
        let code_verifier: String
    }

    /// The checks every callback passes, whichever way it came: the flow this browser started with this provider,
    /// its state, then the code exchanged (with the PKCE verifier) for an ID token ``OIDCProvider`` verifies.
    private func complete(_ request: Request, _ fields: CallbackFields) async throws -> Response {
        guard let sealed = identity.cookies.read(Self.flowCookie, from: request),
            let opened = try? identity.secretBox.open(sealed),
            let flow = try? JSONDecoder().decode(Flow.self, from: Data(opened)), flow.expiresAt > Date()
        else { try await refuse(request, "oidc_flow_missing", "no sign-in in progress in this browser") }
        guard flow.provider == provider else { try await refuse(request, "oidc_flow_missing", "the sign-in in progress is with another provider") }
        guard let state = fields.state, ConstantTimeComparison.equals(state, flow.state) else {
            try await refuse(request, "oidc_state_mismatch", "state mismatch")
        }
        guard let code = fields.code, !code.isEmpty, code.utf8.count <= 2048 else {
            try await refuse(request, "oidc_denied", "no authorization code")
        }

        let claims: IDTokenClaims
        do {
            let discovery = try await oidc.discovery(client: request.client)
            let secret = try await oidc.clientSecret()
            let answer = try await request.client.post(URI(string: discovery.token_endpoint)) { exchange in
                try exchange.content.encode(TokenRequest(code: code, redirect_uri: redirectURI, client_id: settings.clientID,
                                                         client_secret: secret, code_verifier: flow.verifier),
                                            as: .urlEncodedForm)
            }
            guard answer.status == .ok else { throw OIDCFailure(reason: "token endpoint answered \(answer.status.code)") }
            claims = try await oidc.verify(idToken: try answer.content.decode(TokenAnswer.self).id_token, nonce: flow.nonce,
                                           client: request.client)
        } catch let failure as OIDCFailure {
            try await refuse(request, "oidc_token_rejected", failure.reason)
        }

        let email = EmailAddress.normalized(claims.email!)!
        let displayName = TextInput.name(claims.name) ?? AppleUser.name(fields.user)
        let (user, linking) = try await account(for: claims, email: email, displayName: displayName, request: request)
        guard let membership = try await Membership.query(on: request.db).filter(\.$userID == user.id!).sort(\.$createdAt).first() else {
            try await refuse(request, "oidc_no_membership", "account without an organization")
        }
        if try await MultiFactor(identity: identity).hasAnyFactor(user.id!, on: request.db) || Role.requiringMFA.contains(membership.role) {
            try await refuse(request, "mfa_required", "this account signs in with its password and a code")
        }
        try await identity.audit.record(linking == .created ? "oidc.account_created" : "oidc.login", actor: user.id, tenant: membership.tenantID,
                                        target: email, metadata: ["provider": provider], request: request)
        let response = try await identity.startSession(userID: user.id!, tenantID: membership.tenantID, role: membership.role,
                                                       cookies: true, request: request)
        // A browser flow ends on a page, not on JSON: the session cookies ride on the redirect.
        response.status = .seeOther
        response.body = .empty
        response.headers.remove(name: .contentType)
        let setUp = try await SetupRequest.exists(for: membership.tenantID, on: request.db)
        let onboarding = !membership.role.isStaff && !setUp
        response.headers.replaceOrAdd(name: .location, value: onboarding ? "/app/onboarding" : flow.returnTo)
        identity.cookies.set(Self.flowCookie, value: "", maxAge: 0, on: response, for: request)
        return response
    }

    enum Linking {
        case linked
        case created
        /// An account whose address Flux never proved: the provider's proof won it (see ``account(for:email:displayName:request:)``).
        case claimedUnverified
    }

    /// The linked account; else the account with this provider-verified email, linked now; else a new client
    /// account named `displayName`.
    ///
    /// Anyone can register an address without owning it, so an account whose address Flux has not verified is
    /// not trusted to be the provider user's: the provider's proof wins it, and everything the registrant set
    /// up is taken away first (password, second factor, every session with its refresh tokens, pending
    /// one-time links). An account whose address Flux verified is linked as it is.
    private func account(for claims: IDTokenClaims, email: String, displayName: String?, request: Request) async throws -> (User, Linking) {
        let database = request.db
        if let link = try await ExternalIdentity.query(on: database)
            .filter(\.$provider == provider).filter(\.$subject == claims.sub.value).first(),
            let user = try await User.find(link.userID, on: database) {
            return (user, .linked)
        }
        let subject = claims.sub.value
        if let user = try await User.query(on: database).filter(\.$email == email).first() {
            let claimed = user.emailVerifiedAt == nil
            let sessions = try await database.writeTransaction { transaction -> [UUID] in
                var sessions: [UUID] = []
                if claimed {
                    user.passwordHash = nil
                    user.passwordChangedAt = Date()
                    user.emailVerifiedAt = Date()
                    try await user.update(on: transaction)
                    try await MultiFactor(identity: identity).disable(user.id!, on: transaction)
                    try await OneTimeTokens.voidAll(purpose: nil, userID: user.id!, on: transaction)
                    sessions = try await AuthSession.query(on: transaction)
                        .filter(\.$userID == user.id!).filter(\.$revokedAt == nil).all(\.$id)
                }
                try await ExternalIdentity(provider: provider, subject: subject, userID: user.id!).create(on: transaction)
                return sessions
            }
            guard claimed else { return (user, .linked) }
            try await identity.revocations.revoke(sessions, reason: "account_claimed_by_provider", on: database)
            try await identity.audit.record("oidc.unverified_account_claimed", actor: user.id, tenant: nil, target: email,
                                            metadata: ["provider": provider, "sessionsEnded": String(sessions.count)],
                                            request: request)
            return (user, .claimedUnverified)
        }
        let (user, _) = try await Accounts(passwords: identity.passwords).createClient(
            email: email, passwordHash: nil, displayName: displayName, organization: email, on: database
        ) { user, transaction in
            user.emailVerifiedAt = Date()
            try await user.update(on: transaction)
            try await ExternalIdentity(provider: provider, subject: subject, userID: user.id!).create(on: transaction)
        }
        return (user, .created)
    }
}

/// The `user` field Apple posts on a person's first sign-in: the name they chose to share. Unsigned, so it is only
/// ever a display name for a new account (the email comes from the verified ID token).
enum AppleUser {
    private struct Posted: Decodable {
        struct Name: Decodable {
            let firstName: String?
            let lastName: String?
        }

        let name: Name?
    }

    static func name(_ posted: String?) -> String? {
        guard let posted, let name = try? JSONDecoder().decode(Posted.self, from: Data(posted.utf8)).name else { return nil }
        return TextInput.name([name.firstName, name.lastName].compactMap { $0 }.joined(separator: " "))
    }
}
