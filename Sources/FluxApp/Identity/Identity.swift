import FluentPostgresDriver
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
    let throttle: LoginThrottle
    let audit: AuditLog
    let cookies: CookiePolicy
    let security: Hardening
    let links: AccountLinks

    static let accessCookie = "access"
    static let refreshCookie = "refresh"

    init(config: AppConfig, app: Application, security: Hardening) async {
        let secrets = [SecretKeys(secret: config.sessionSecret.value)]
            + (config.previousSessionSecret.map { [SecretKeys(secret: $0.value)] } ?? [])
        passwords = PasswordHasher()
        var issuer = config.publicURL.absoluteString
        while issuer.hasSuffix("/") { issuer.removeLast() }
        accessTokens = await AccessTokens(keys: app.jwt.keys, secrets: secrets, issuer: issuer)
        refreshTokens = RefreshTokenRotation(keys: secrets[0])
        secretBox = SecretBox(secrets: secrets)
        if case .postgres = config.database {
            revocations = SessionRevocations(needsListener: true)
        } else {
            revocations = SessionRevocations(needsListener: false)
        }
        throttle = LoginThrottle(keys: secrets[0])
        audit = AuditLog(security: security)
        cookies = security.cookies
        self.security = security
        links = AccountLinks(publicURL: config.publicURL)
    }

    /// The signed-in caller, from `Authorization: Bearer` or else the access cookie; `nil` when there is no
    /// valid token or its session has been revoked.
    func authenticate(_ request: Request) async throws -> Principal? {
        guard let token = request.headers.bearerAuthorization?.token ?? cookies.read(Self.accessCookie, from: request),
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

/// Starts and stops the revocation listener on PostgreSQL.
struct IdentityLifecycle: LifecycleHandler {
    let identity: Identity
    let listener: RevocationListener?

    init(identity: Identity, database: AppConfig.DatabaseLocation) {
        self.identity = identity
        if case .postgres(let url) = database, var configuration = try? SQLPostgresConfiguration(url: url.value).coreConfiguration {
            configuration.options.connectTimeout = .seconds(3)
            listener = RevocationListener(revocations: identity.revocations, configuration: configuration)
        } else {
            listener = nil
        }
    }

    func didBootAsync(_ application: Application) async throws {
        try await listener?.didBootAsync(application)
    }

    func shutdownAsync(_ application: Application) async {
        await listener?.shutdownAsync(application)
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
