import FluxSecurity
import Foundation
import JWT
import Vapor

/// The identity services one Flux process shares: built once in `configure`, handed to the controllers and
/// route guards that need them.
struct Identity: Sendable {
    let passwords: PasswordHasher
    let accessTokens: AccessTokens
    let refreshTokens: RefreshTokenRotation
    let secretBox: SecretBox
    let revocations: SessionRevocations
    /// Password attempts per email.
    let throttle: LoginThrottle
    /// Second-factor attempts per account, apart from passwords: only a passed second factor clears it.
    let mfaThrottle: LoginThrottle
    let secrets: [SecretKeys]
    let audit: AuditLog
    let cookies: CookiePolicy
    let security: Hardening
    let links: AccountLinks
    let lifetimes: SessionLifetimes
    /// The configured OpenID Connect providers (Google, Apple), whose buttons the sign-in pages show.
    let signInProviders: [OIDCSettings]
    /// Passkey ceremonies for this site's relying party.
    let passkeys: Passkeys

    static let accessCookie = "access"
    static let refreshCookie = "refresh"

    init(config: AppConfig, app: Application, security: Hardening) async {
        let secrets = [SecretKeys(secret: config.sessionSecret.value)]
            + (config.previousSessionSecret.map { [SecretKeys(secret: $0.value)] } ?? [])
        passwords = PasswordHasher()
        var issuer = config.publicURL.absoluteString
        while issuer.hasSuffix("/") { issuer.removeLast() }
        lifetimes = config.sessions
        accessTokens = await AccessTokens(keys: app.jwt.keys, secrets: secrets, issuer: issuer, lifetime: config.sessions.accessToken)
        refreshTokens = RefreshTokenRotation(secrets: secrets, lifetimes: config.sessions)
        secretBox = SecretBox(secrets: secrets)
        if case .postgres = config.database {
            revocations = SessionRevocations(needsListener: true)
        } else {
            revocations = SessionRevocations(needsListener: false)
        }
        self.secrets = secrets
        throttle = LoginThrottle(secrets: secrets, purpose: "login-throttle",
                                 waitMessage: "Too many failed sign-ins for this account.")
        mfaThrottle = LoginThrottle(secrets: secrets, purpose: "mfa-throttle",
                                    waitMessage: "Too many wrong codes for this account.")
        audit = AuditLog(security: security)
        cookies = security.cookies
        self.security = security
        links = AccountLinks(publicURL: config.publicURL)
        signInProviders = config.signInProviders
        passkeys = Passkeys(relyingParty: config.relyingParty, relyingPartyName: "Flux")
    }

    /// The signed-in caller, from `Authorization: Bearer` or else the access cookie; `nil` when there is no
    /// valid token or its session has been revoked.
    func authenticate(_ request: Request) async throws -> Principal? {
        guard let token = request.headers.bearerToken ?? cookies.read(Self.accessCookie, from: request),
            let claims = await accessTokens.verify(token),
            let userID = UUID(uuidString: claims.sub.value),
            try await revocations.isActive(claims.sid, on: request.db)
        else { return nil }
        return Principal(userID: userID, sessionID: claims.sid, tenantID: claims.tid, role: claims.role, claims: claims)
    }
}

/// Who is calling, as an access token proved it. Handlers receive one only from a route guard.
struct Principal: Sendable {
    let userID: UUID
    let sessionID: UUID
    let tenantID: UUID
    let role: Role
    let claims: AccessClaims
}

/// Starts and stops the revocation listener on PostgreSQL: a replica caches session checks only while it
/// is listening, and a revocation another replica announces clears that session here.
struct IdentityLifecycle: LifecycleHandler {
    let listener: PostgresListener?

    init(identity: Identity, database: AppConfig.DatabaseLocation) {
        listener = PostgresListener.configuration(for: database).map { configuration in
            PostgresListener(channel: SessionRevocations.channel, configuration: configuration,
                             listening: { [revocations = identity.revocations] in revocations.setListening($0) },
                             notice: { [revocations = identity.revocations] payload in
                                 revocations.forget(payload.split(separator: ",").compactMap { UUID(uuidString: String($0)) })
                             })
        }
    }

    /// Returns at once: until the connection is listening, ``SessionRevocations`` caches nothing and asks
    /// the database on every request, so a slow or absent PostgreSQL delays neither boot nor correctness.
    func didBootAsync(_ application: Application) async throws {
        listener?.start(logger: application.logger)
    }

    func shutdownAsync(_ application: Application) async {
        await listener?.stop()
    }
}

extension Application {
    private struct IdentityKey: StorageKey {
        typealias Value = Identity
    }

    /// The identity services `configure` built (commands and tests reach them here).
    var identity: Identity {
        get { storage[IdentityKey.self]! }
        set { storage[IdentityKey.self] = newValue }
    }
}
