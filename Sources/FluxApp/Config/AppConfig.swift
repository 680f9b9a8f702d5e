import FluxSecurity
import Foundation
import Logging
import NIOCore

/// Every environment variable Flux reads, parsed and validated once at boot, before anything listens.
public struct AppConfig: Sendable {
    public enum Environment: String, Sendable, CaseIterable {
        case development, production, testing
    }

    public enum DatabaseLocation: Sendable, Equatable {
        case sqlite(path: String)
        case postgres(url: SecretValue)

        public static func == (lhs: Self, rhs: Self) -> Bool {
            switch (lhs, rhs) {
            case let (.sqlite(a), .sqlite(b)): a == b
            case let (.postgres(a), .postgres(b)): a.value == b.value
            default: false
            }
        }
    }

    public var environment = Environment.development
    public var sessionSecret = SecretValue("")
    /// The secret before the last rotation: what it signed (CSRF tokens, later access tokens) stays valid
    /// until it expires.
    public var previousSessionSecret: SecretValue?
    public var database = DatabaseLocation.sqlite(path: "data/flux.sqlite")
    public var publicURL = URL(string: "http://127.0.0.1:8080")!
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = URL(fileURLWithPath: "data", isDirectory: true)
    public var logLevel = Logger.Level.info
    public var metricsToken: SecretValue?
    /// Cross-origin readers; `nil` when CORS_ORIGINS is empty (same-origin only).
    public var cors: CORSPolicy?
    public var trustedProxies = TrustedProxies()
    public var rateLimitStore = RateLimitStoreKind.memory
    /// Extra `connect-src` origins for the Content-Security-Policy.
    public var connectSources: [String] = []
    /// The mail server (SMTP_URL, SMTP_CA_FILE); `nil` writes mail to DATA_DIR/mail instead.
    public var smtp: SMTPSettings?
    /// Google sign-in (or any OpenID Connect provider at OIDC_GOOGLE_ISSUER); `nil` when not configured.
    public var googleSignIn: OIDCSettings?
    /// Sign in with Apple (OIDC_APPLE_*); `nil` when not configured.
    public var appleSignIn: OIDCSettings?
    /// The configured sign-in providers, in the order their buttons are shown.
    public var signInProviders: [OIDCSettings] { [googleSignIn, appleSignIn].compactMap { $0 } }
    /// Who passkeys belong to (WEBAUTHN_RP_ID, PUBLIC_URL's host by default) and the exact origins that may use them.
    var relyingParty = RelyingParty(id: "localhost", origins: ["http://localhost:8080"])
    /// Who hears of each consultation request (NOTIFY_EMAIL); `nil` stores tickets without mailing anyone.
    var notifyEmail: MailAddress?
    /// How long sign-ins last (ACCESS_TOKEN_SECONDS, SESSION_IDLE_DAYS, SESSION_ABSOLUTE_DAYS).
    public var sessions = SessionLifetimes()
    /// Minutes without a message after which an open FluxAI conversation is ABANDONED (IDLE_ABANDON_MINUTES).
    public var idleAbandonMinutes = 30
    /// The largest public upload in bytes (UPLOAD_MAX_BYTES).
    public var uploadMaxBytes = 25 * 1024 * 1024
    /// What one client organization may store in the portal, in bytes (TENANT_QUOTA_BYTES).
    public var tenantQuotaBytes = 1024 * 1024 * 1024
    /// The largest single file of the portal's files, in bytes (PORTAL_FILE_MAX_BYTES).
    public var portalFileMaxBytes = 100 * 1024 * 1024
    /// Days FluxAI conversations are kept (RETENTION_DAYS).
    public var retentionDays = 365
    /// FluxAI's online model (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_TIMEOUT_SECONDS); `nil`
    /// runs the offline assistant.
    public var openAI: OpenAISettings?
    /// The sender of every message (MAIL_FROM).
    var mailFrom = MailAddress(name: "Flux", address: "no-reply@localhost.localdomain")!
    /// Connection deadlines and caps (HTTP_HEADER_TIMEOUT, HTTP_IDLE_TIMEOUT, HTTP_BODY_MIN_RATE,
    /// HTTP_MAX_CONNECTIONS_PER_ADDRESS, HTTP_MAX_CONNECTIONS).
    public var connections = ConnectionLimits()
    /// Seconds between pings on each portal socket; one not answered by the next ping closes it (REALTIME_PING_SECONDS).
    public var realtimePingSeconds = 20
    /// Seconds without a heartbeat before a worker is stale, unless staff set another per organization (WORKER_STALE_SECONDS).
    public var workerStaleSeconds = 120
    /// Days a worker's message logs are kept, unless staff set another per organization (MESSAGE_LOG_RETENTION_DAYS).
    public var messageLogRetentionDays = 90
    /// Things worth an operator's attention that do not stop the boot (logged once logging is up).
    public var warnings: [String] = []
    /// Invitations one client organization may send in 24 hours (INVITATIONS_PER_DAY).
    public var invitationsPerDay = 50
    /// Days a sent message's row (recipient, kind, status, times; never its body) stays in the outbox
    /// (OUTBOX_RETENTION_DAYS).
    public var outboxRetentionDays = 30
    /// What all public uploads together may hold, in bytes (PUBLIC_UPLOAD_QUOTA_BYTES).
    public var publicUploadQuotaBytes = 2 * 1024 * 1024 * 1024
    /// Free space DATA_DIR's file system keeps: uploads that would go below it are refused (DATA_DIR_MIN_FREE_BYTES).
    public var minimumFreeBytes = 1024 * 1024 * 1024
    /// Where stored files go: an S3-compatible bucket (FILES_S3_*), or `nil` for DATA_DIR.
    public var objectStorage: S3Settings?
    /// The prefix length that names one IPv6 client for rate limits (RATE_LIMIT_IPV6_PREFIX): a host
    /// usually holds a whole /64 and can rotate addresses inside it.
    public var rateLimitIPv6Prefix = 64

    public enum RateLimitStoreKind: String, Sendable, CaseIterable {
        case memory, database
    }

    /// The placeholder shipped in `.env.example`: public, so it must never pass as a real secret.
    public static let envExamplePlaceholder = "replace-with-output-of-openssl-rand-base64-48"
    /// Secrets published by the systems Flux replaces, refused for the same reason.
    static let publishedSecrets: Set<String> = [envExamplePlaceholder, "FLUX_SUPER_SECRET_KEY_2026_ARCHITECTURE"]
    static let secretStrength = SecretStrength(minimumLength: 32, knownPublic: publishedSecrets)
    static let secretAdvice = "Generate one with: openssl rand -base64 48"

    /// Reads and validates `environment`. In development and testing a missing SESSION_SECRET is generated
    /// once into DATA_DIR/secret (mode 0600); in production every problem is collected and thrown together.
    public static func load(from environment: [String: String]) throws(ConfigError) -> AppConfig {
        let reader = ConfigReader(environment)
        var config = AppConfig()
        reader.readServer(into: &config)
        let dataDirectoryUsable = reader.readStorage(into: &config)
        reader.readSecrets(into: &config, dataDirectoryUsable: dataDirectoryUsable)
        reader.readWebSecurity(into: &config)
        reader.readMail(into: &config)
        reader.readIntegrations(into: &config)
        reader.readObjectStorage(into: &config)
        config.sessions = SessionLifetimes(
            accessToken: TimeInterval(reader.whole("ACCESS_TOKEN_SECONDS", default: 900, in: 30...3_600)),
            idle: TimeInterval(reader.positive("SESSION_IDLE_DAYS", default: 7, maximum: 365) * 86_400),
            absolute: TimeInterval(reader.positive("SESSION_ABSOLUTE_DAYS", default: 30, maximum: 3_650) * 86_400))
        if config.sessions.absolute < config.sessions.idle {
            reader.problem("SESSION_ABSOLUTE_DAYS", "must be at least SESSION_IDLE_DAYS")
        }
        config.idleAbandonMinutes = reader.positive("IDLE_ABANDON_MINUTES", default: 30, maximum: 10_080)
        config.retentionDays = reader.positive("RETENTION_DAYS", default: 365, maximum: 3_650)
        config.uploadMaxBytes = reader.positive("UPLOAD_MAX_BYTES", default: 25 * 1024 * 1024, maximum: 4 * 1024 * 1024 * 1024)
        config.tenantQuotaBytes = reader.positive("TENANT_QUOTA_BYTES", default: 1024 * 1024 * 1024, maximum: 1 << 40)
        config.portalFileMaxBytes = reader.positive("PORTAL_FILE_MAX_BYTES", default: 100 * 1024 * 1024, maximum: 1 << 40)
        if config.portalFileMaxBytes > config.tenantQuotaBytes {
            reader.warn("PORTAL_FILE_MAX_BYTES (\(config.portalFileMaxBytes)) is over TENANT_QUOTA_BYTES (\(config.tenantQuotaBytes)): no organization can store a file that large")
        }
        config.realtimePingSeconds = reader.positive("REALTIME_PING_SECONDS", default: 20, maximum: 3_600)
        config.workerStaleSeconds = reader.whole("WORKER_STALE_SECONDS", default: 120, in: WorkerSettings.staleSeconds)
        config.messageLogRetentionDays = reader.whole("MESSAGE_LOG_RETENTION_DAYS", default: 90, in: WorkerSettings.retentionDays)
        config.invitationsPerDay = reader.positive("INVITATIONS_PER_DAY", default: 50, maximum: 100_000)
        config.outboxRetentionDays = reader.positive("OUTBOX_RETENTION_DAYS", default: 30, maximum: 3_650)
        config.publicUploadQuotaBytes = reader.positive("PUBLIC_UPLOAD_QUOTA_BYTES", default: 2 * 1024 * 1024 * 1024, maximum: 1 << 50)
        config.minimumFreeBytes = reader.positive("DATA_DIR_MIN_FREE_BYTES", default: 1024 * 1024 * 1024, maximum: 1 << 50)
        config.connections = ConnectionLimits.load(value: reader.value, problem: reader.problem)
        guard reader.problems.isEmpty else { throw ConfigError(problems: reader.problems) }
        config.warnings = reader.warnings
        return config
    }
}
