import Crypto
import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `GET /api/auth/oidc/google/start` and `…/callback`: the OpenID Connect authorization code flow with PKCE
/// (S256). State, nonce and the PKCE verifier travel in a short-lived cookie sealed with AES-GCM, so the
/// callback only completes the flow this browser started. Accounts are linked by the provider's subject, or
/// by a provider-verified email the first time (see ``account(for:email:request:)`` for an address Flux never
/// verified). A client whose organization has no setup request yet lands on
/// onboarding (`/app/onboarding`), whatever it asked to return to.
struct OIDCController: Sendable {
    static let provider = "google"
    static let flowCookie = "oidc"
    static let flowLifetime: TimeInterval = 600

    let identity: Identity
    let oidc: OIDCProvider
    let publicURL: URL

    var redirectURI: String { publicURL.appendingPathComponent("api/auth/oidc/google/callback").absoluteString }

    private struct Flow: Codable {
        let state: String
        let nonce: String
        let verifier: String
        let returnTo: String
        let expiresAt: Date
    }

    @Sendable func start(_ request: Request) async throws -> Response {
        let discovery: OIDCProvider.Discovery
        do {
            discovery = try await oidc.discovery(client: request.client)
        } catch {
            request.logger.error("OIDC discovery failed", metadata: ["error": .string(String(describing: error))])
            throw AppError(.badGateway, code: "oidc_unavailable", message: "The sign-in provider cannot be reached. Try again later.")
        }
        let returnTo = (try? request.query.get(String.self, at: "returnTo"))
            .flatMap { Sanitize.redirectTarget($0, origin: publicURL) } ?? "/"
        let flow = Flow(state: [UInt8].random(count: 32).base64URL, nonce: [UInt8].random(count: 32).base64URL,
                        verifier: [UInt8].random(count: 32).base64URL, returnTo: returnTo,
                        expiresAt: Date().addingTimeInterval(Self.flowLifetime))
        let challenge = Data(SHA256.hash(data: Data(flow.verifier.utf8))).base64URLEncodedString()
        var authorize = URLComponents(string: discovery.authorization_endpoint)!
        authorize.queryItems = (authorize.queryItems ?? []) + [
            URLQueryItem(name: "response_type", value: "code"),
            URLQueryItem(name: "client_id", value: oidc.settings.clientID),
            URLQueryItem(name: "redirect_uri", value: redirectURI),
            URLQueryItem(name: "scope", value: "openid email profile"),
            URLQueryItem(name: "state", value: flow.state),
            URLQueryItem(name: "nonce", value: flow.nonce),
            URLQueryItem(name: "code_challenge", value: challenge),
            URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        let response = request.redirect(to: authorize.string!, redirectType: .normal)
        // Lax, not Strict: the provider's redirect back is a cross-site top-level navigation.
        identity.cookies.set(Self.flowCookie, value: try identity.secretBox.seal(Array(try JSONEncoder().encode(flow))),
                             maxAge: Int(Self.flowLifetime), sameSite: .lax, on: response, for: request)
        return response
    }

    private struct TokenAnswer: Content {
        let id_token: String
    }

    private struct TokenRequest: Content {
        let grant_type = "authorization_code"
        let code: String
        let redirect_uri: String
        let client_id: String
        let client_secret: String
        let code_verifier: String
    }

    @Sendable func callback(_ request: Request) async throws -> Response {
        // The flow can be used once: whatever happens next, its cookie is gone.
        func refuse(_ code: String, _ reason: String) async throws -> Never {
            try await identity.audit.record("oidc.failure", actor: nil, tenant: nil, metadata: ["reason": reason], request: request)
            throw AppError(.unauthorized, code: code, message: "Google sign-in failed (\(reason)). Start again.")
        }
        guard let sealed = identity.cookies.read(Self.flowCookie, from: request),
            let opened = try? identity.secretBox.open(sealed),
            let flow = try? JSONDecoder().decode(Flow.self, from: Data(opened)), flow.expiresAt > Date()
        else { try await refuse("oidc_flow_missing", "no sign-in in progress in this browser") }
        guard let state = try? request.query.get(String.self, at: "state"), ConstantTimeComparison.equals(state, flow.state) else {
            try await refuse("oidc_state_mismatch", "state mismatch")
        }
        guard let code = try? request.query.get(String.self, at: "code"), !code.isEmpty, code.utf8.count <= 2048 else {
            try await refuse("oidc_denied", "no authorization code")
        }

        let claims: IDTokenClaims
        do {
            let discovery = try await oidc.discovery(client: request.client)
            let answer = try await request.client.post(URI(string: discovery.token_endpoint)) { exchange in
                try exchange.content.encode(TokenRequest(code: code, redirect_uri: redirectURI, client_id: oidc.settings.clientID,
                                                         client_secret: oidc.settings.clientSecret.value, code_verifier: flow.verifier),
                                            as: .urlEncodedForm)
            }
            guard answer.status == .ok else { throw OIDCFailure(reason: "token endpoint answered \(answer.status.code)") }
            claims = try await oidc.verify(idToken: try answer.content.decode(TokenAnswer.self).id_token, nonce: flow.nonce,
                                           client: request.client)
        } catch let failure as OIDCFailure {
            try await refuse("oidc_token_rejected", failure.reason)
        }

        let email = EmailAddress.normalized(claims.email!)!
        let (user, linking) = try await account(for: claims, email: email, request: request)
        guard let membership = try await Membership.query(on: request.db).filter(\.$userID == user.id!).sort(\.$createdAt).first() else {
            try await refuse("oidc_no_membership", "account without an organization")
        }
        if try await MultiFactor(identity: identity).isEnabled(user.id!, on: request.db) || Role.requiringMFA.contains(membership.role) {
            try await refuse("mfa_required", "this account signs in with its password and a code")
        }
        try await identity.audit.record(linking == .created ? "oidc.account_created" : "oidc.login", actor: user.id, tenant: membership.tenantID,
                                        target: email, request: request)
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
        /// An account whose address Flux never proved: the provider's proof won it (see ``account(for:email:request:)``).
        case claimedUnverified
    }

    /// The linked account; else the account with this provider-verified email, linked now; else a new client
    /// account.
    ///
    /// Anyone can register an address without owning it, so an account whose address Flux has not verified is
    /// not trusted to be the provider user's: the provider's proof wins it, and everything the registrant set
    /// up is taken away first (password, second factor, every session with its refresh tokens, pending
    /// one-time links). An account whose address Flux verified is linked as it is.
    private func account(for claims: IDTokenClaims, email: String, request: Request) async throws -> (User, Linking) {
        let database = request.db
        if let link = try await ExternalIdentity.query(on: database)
            .filter(\.$provider == Self.provider).filter(\.$subject == claims.sub.value).first(),
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
                try await ExternalIdentity(provider: Self.provider, subject: subject, userID: user.id!).create(on: transaction)
                return sessions
            }
            guard claimed else { return (user, .linked) }
            try await identity.revocations.revoke(sessions, reason: "account_claimed_by_provider", on: database)
            try await identity.audit.record("oidc.unverified_account_claimed", actor: user.id, tenant: nil, target: email,
                                            metadata: ["provider": Self.provider, "sessionsEnded": String(sessions.count)],
                                            request: request)
            return (user, .claimedUnverified)
        }
        let (user, _) = try await Accounts(passwords: identity.passwords).createClient(
            email: email, passwordHash: nil, displayName: TextInput.name(claims.name), organization: email, on: database
        ) { user, transaction in
            user.emailVerifiedAt = Date()
            try await user.update(on: transaction)
            try await ExternalIdentity(provider: Self.provider, subject: subject, userID: user.id!).create(on: transaction)
        }
        return (user, .created)
    }
}
