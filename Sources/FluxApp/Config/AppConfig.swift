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

    public var environment: Environment
    public var sessionSecret: SecretValue
    /// The secret before the last rotation: what it signed (CSRF tokens, later access tokens) stays valid
    /// until it expires.
    public var previousSessionSecret: SecretValue?
    public var database: DatabaseLocation
    public var publicURL: URL
    public var host: String
    public var port: Int
    public var dataDirectory: URL
    public var logLevel: Logger.Level
    public var metricsToken: SecretValue?
    /// Cross-origin readers; `nil` when CORS_ORIGINS is empty (same-origin only).
    public var cors: CORSPolicy?
    public var trustedProxies: TrustedProxies
    public var rateLimitStore: RateLimitStoreKind
    /// Extra `connect-src` origins for the Content-Security-Policy.
    public var connectSources: [String]
    /// The mail server (SMTP_URL, SMTP_CA_FILE); `nil` writes mail to DATA_DIR/mail instead.
    public var smtp: SMTPSettings?
    /// Google sign-in (or any OpenID Connect provider at OIDC_GOOGLE_ISSUER); `nil` when not configured.
    public var googleSignIn: OIDCSettings?
    /// Who hears of each consultation request (NOTIFY_EMAIL); `nil` stores tickets without mailing anyone.
    var notifyEmail: MailAddress?
    /// Minutes without a message after which an open FluxAI conversation is ABANDONED (IDLE_ABANDON_MINUTES).
    public var idleAbandonMinutes: Int
    /// The largest public upload in bytes (UPLOAD_MAX_BYTES).
    public var uploadMaxBytes: Int
    /// What one client organization may store in the portal, in bytes (TENANT_QUOTA_BYTES).
    public var tenantQuotaBytes: Int
    /// Days FluxAI conversations are kept (RETENTION_DAYS).
    public var retentionDays: Int
    /// FluxAI's online model (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_TIMEOUT_SECONDS); `nil`
    /// runs the offline assistant.
    public var openAI: OpenAISettings?
    /// The sender of every message (MAIL_FROM).
    var mailFrom: MailAddress
    /// Connection deadlines and caps (HTTP_HEADER_TIMEOUT, HTTP_IDLE_TIMEOUT, HTTP_BODY_MIN_RATE,
    /// HTTP_MAX_CONNECTIONS_PER_ADDRESS, HTTP_MAX_CONNECTIONS).
    public var connections = ConnectionLimits()
    /// Seconds between pings on each portal socket; one not answered by the next ping closes it (REALTIME_PING_SECONDS).
    public var realtimePingSeconds = 20
    /// Things worth an operator's attention that do not stop the boot (logged once logging is up).
    public var warnings: [String]
    /// Invitations one client organization may send in 24 hours (INVITATIONS_PER_DAY).
    public var invitationsPerDay = 50
    /// Days a sent message's row (recipient, kind, status, times; never its body) stays in the outbox
    /// (OUTBOX_RETENTION_DAYS).
    public var outboxRetentionDays = 30
    /// What all public uploads together may hold, in bytes (PUBLIC_UPLOAD_QUOTA_BYTES).
    public var publicUploadQuotaBytes = 2 * 1024 * 1024 * 1024
    /// Free space DATA_DIR's file system keeps: uploads that would go below it are refused (DATA_DIR_MIN_FREE_BYTES).
    public var minimumFreeBytes = 1024 * 1024 * 1024
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

    /// An outside service's address: https, or plain http on loopback only (test servers).
    private static func serviceURL(_ text: String) -> URL? {
        guard let url = URL(string: text), let host = url.host else { return nil }
        return url.scheme == "https" || (url.scheme == "http" && ["127.0.0.1", "localhost", "::1"].contains(host)) ? url : nil
    }

    private static func list(_ raw: String?) -> [String] {
        (raw ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Reads and validates `environment`. In development and testing a missing SESSION_SECRET is generated
    /// once into DATA_DIR/secret (mode 0600); in production every problem is collected and thrown together.
    public static func load(from environment: [String: String]) throws(ConfigError) -> AppConfig {
        var problems: [ConfigError.Problem] = []
        var warnings: [String] = []
        func problem(_ variable: String, _ message: String) {
            problems.append(.init(variable: variable, message: message))
        }
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }

        let env: Environment
        if let raw = value("FLUX_ENV") {
            if let parsed = Environment(rawValue: raw.lowercased()) {
                env = parsed
            } else {
                problem("FLUX_ENV", "must be one of \(Environment.allCases.map(\.rawValue).joined(separator: ", "))")
                env = .production
            }
        } else {
            env = .development
        }

        let host = value("HOST") ?? "127.0.0.1"
        var port = 8080
        if let raw = value("PORT") {
            if let parsed = Int(raw), (1...65_535).contains(parsed) {
                port = parsed
            } else {
                problem("PORT", "must be a whole number from 1 to 65535")
            }
        }

        var logLevel: Logger.Level = .info
        if let raw = value("LOG_LEVEL") {
            if let parsed = Logger.Level(rawValue: raw.lowercased()) {
                logLevel = max(parsed, .debug)
                // At trace, Vapor logs every request head whole: share-link tokens in the path, Authorization
                // and cookies in the headers.
                if parsed == .trace { warnings.append("LOG_LEVEL=trace is logged as debug: trace would write secrets from each request.") }
            } else {
                problem("LOG_LEVEL", "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        var publicURL = URL(string: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)")!
        if let raw = value("PUBLIC_URL") {
            if let parsed = URL(string: raw), ["http", "https"].contains(parsed.scheme?.lowercased()), parsed.host != nil {
                publicURL = parsed
            } else {
                problem("PUBLIC_URL", "must be an absolute http:// or https:// URL")
            }
        }

        let dataDirectory = URL(fileURLWithPath: value("DATA_DIR") ?? "data", isDirectory: true).standardizedFileURL
        let dataDirectoryUsable: Bool
        do {
            try DataDirectory.prepare(dataDirectory)
            dataDirectoryUsable = true
        } catch {
            problem("DATA_DIR", "(\(dataDirectory.path)) is not a writable directory: \(error.reason)")
            dataDirectoryUsable = false
        }

        var database = DatabaseLocation.sqlite(path: dataDirectory.appendingPathComponent("flux.sqlite").path)
        if let raw = value("DATABASE_URL") {
            if let parsed = URLComponents(string: raw), ["postgres", "postgresql"].contains(parsed.scheme?.lowercased()),
                let dbHost = parsed.host, !dbHost.isEmpty
            {
                database = .postgres(url: SecretValue(raw))
            } else {
                problem("DATABASE_URL", "must be a postgres:// or postgresql:// URL with a host (unset it to use SQLite)")
            }
        }

        var sessionSecret = SecretValue("")
        let verdict = secretStrength.evaluate(value("SESSION_SECRET"))
        switch (env, verdict) {
        case (_, .strong):
            sessionSecret = SecretValue(value("SESSION_SECRET")!)
        case (.production, _):
            problem("SESSION_SECRET", "\(verdict.explanation). \(secretAdvice)")
        case (_, .missing):
            if dataDirectoryUsable {
                do {
                    let (secret, created) = try DataDirectory.developmentSecret(in: dataDirectory)
                    sessionSecret = SecretValue(secret)
                    if created {
                        warnings.append("SESSION_SECRET is not set: generated a development secret in \(dataDirectory.path)/secret (mode 0600). Set SESSION_SECRET in production.")
                    }
                } catch {
                    problem("SESSION_SECRET", "is not set and no development secret could be written to DATA_DIR: \(error.reason)")
                }
            }
        case (_, _):
            sessionSecret = SecretValue(value("SESSION_SECRET")!)
            warnings.append("SESSION_SECRET \(verdict.explanation); production would refuse it. \(secretAdvice)")
        }

        var previousSessionSecret: SecretValue?
        if let raw = value("SESSION_SECRET_PREVIOUS") {
            let previousVerdict = secretStrength.evaluate(raw)
            if raw == sessionSecret.value {
                problem("SESSION_SECRET_PREVIOUS", "equals SESSION_SECRET; it must be the secret before the rotation")
            } else if previousVerdict.isAcceptable || env != .production {
                previousSessionSecret = SecretValue(raw)
            } else {
                problem("SESSION_SECRET_PREVIOUS", "\(previousVerdict.explanation)")
            }
        }

        var metricsToken: SecretValue?
        if let raw = value("METRICS_TOKEN") {
            let tokenVerdict = secretStrength.evaluate(raw)
            if tokenVerdict.isAcceptable || env != .production {
                metricsToken = SecretValue(raw)
                if !tokenVerdict.isAcceptable { warnings.append("METRICS_TOKEN \(tokenVerdict.explanation).") }
            } else {
                problem("METRICS_TOKEN", "\(tokenVerdict.explanation). Generate one with: openssl rand -hex 32")
            }
        } else if env == .production {
            warnings.append("METRICS_TOKEN is not set: in production /metrics answers nobody without it.")
        }

        var cors: CORSPolicy?
        let origins = list(value("CORS_ORIGINS"))
        if !origins.isEmpty {
            do {
                cors = try CORSPolicy(origins: origins, allowCredentials: true)
            } catch {
                problem("CORS_ORIGINS", "is invalid: \(error.description)")
            }
        }

        var trustedProxies = TrustedProxies()
        switch TrustedProxies.parse(value("TRUSTED_PROXIES") ?? "") {
        case .success(let parsed): trustedProxies = parsed
        case .failure(let invalid): problem("TRUSTED_PROXIES", "has \"\(invalid.entry)\", which is not an address or CIDR")
        }

        // One process can count alone; replicas on one PostgreSQL must share their buckets.
        var rateLimitStore = RateLimitStoreKind.memory
        if case .postgres = database { rateLimitStore = .database }
        if let raw = value("RATE_LIMIT_STORE") {
            if let parsed = RateLimitStoreKind(rawValue: raw.lowercased()) {
                rateLimitStore = parsed
            } else {
                problem("RATE_LIMIT_STORE", "must be memory or database")
            }
        }

        let connectSources = list(value("CSP_CONNECT_SOURCES"))
        for source in connectSources where URLComponents(string: source)?.scheme.map({ ["https", "wss"].contains($0) }) != true
            || source.contains(";") || source.contains("'")
        {
            problem("CSP_CONNECT_SOURCES", "has \"\(source)\"; each entry must be an https:// or wss:// origin")
        }

        var smtp: SMTPSettings?
        if let raw = value("SMTP_URL") {
            if let parsed = SMTPSettings(url: raw, caFile: value("SMTP_CA_FILE")) {
                smtp = parsed
                if let caFile = parsed.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                    problem("SMTP_CA_FILE", "names a file that cannot be read")
                }
            } else {
                // The URL carries the password, so it is never quoted back.
                problem("SMTP_URL", "must be smtp://[user:password@]host[:port] (STARTTLS) or smtps://… (TLS)")
            }
        } else if env == .production {
            warnings.append("SMTP_URL is not set: mail is written to DATA_DIR/mail instead of being sent.")
        }
        let defaultSender = MailAddress(name: "Flux", address: "no-reply@\(publicURL.host ?? "")")
            ?? MailAddress(name: "Flux", address: "no-reply@localhost.localdomain")!
        var mailFrom = defaultSender
        if let raw = value("MAIL_FROM") {
            if let parsed = MailAddress(parsing: raw) { mailFrom = parsed } else { problem("MAIL_FROM", "must be an email address, optionally as Name <address>") }
        }

        var notifyEmail: MailAddress?
        if let raw = value("NOTIFY_EMAIL") {
            notifyEmail = MailAddress(parsing: raw)
            if notifyEmail == nil { problem("NOTIFY_EMAIL", "must be an email address, optionally as Name <address>") }
        } else if env == .production {
            warnings.append("NOTIFY_EMAIL is not set: consultation requests become tickets, but nobody is mailed.")
        }

        func whole(_ name: String, default fallback: Int, in range: ClosedRange<Int>) -> Int {
            guard let raw = value(name) else { return fallback }
            guard let parsed = Int(raw), range.contains(parsed) else {
                problem(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
                return fallback
            }
            return parsed
        }
        func positive(_ name: String, default fallback: Int, maximum: Int) -> Int {
            whole(name, default: fallback, in: 1...maximum)
        }
        let idleAbandonMinutes = positive("IDLE_ABANDON_MINUTES", default: 30, maximum: 10_080)
        let retentionDays = positive("RETENTION_DAYS", default: 365, maximum: 3_650)
        let uploadMaxBytes = positive("UPLOAD_MAX_BYTES", default: 25 * 1024 * 1024, maximum: 4 * 1024 * 1024 * 1024)
        let tenantQuotaBytes = positive("TENANT_QUOTA_BYTES", default: 1024 * 1024 * 1024, maximum: 1 << 40)

        var googleSignIn: OIDCSettings?
        switch (value("OIDC_GOOGLE_CLIENT_ID"), value("OIDC_GOOGLE_CLIENT_SECRET")) {
        case let (clientID?, clientSecret?):
            let issuerText = value("OIDC_GOOGLE_ISSUER") ?? "https://accounts.google.com"
            if let issuer = Self.serviceURL(issuerText) {
                googleSignIn = OIDCSettings(issuer: issuer, clientID: clientID, clientSecret: SecretValue(clientSecret))
            } else {
                problem("OIDC_GOOGLE_ISSUER", "must be an https:// URL (http:// only on loopback, for tests)")
            }
        case (nil, nil):
            break
        case (nil, _):
            problem("OIDC_GOOGLE_CLIENT_ID", "must be set with OIDC_GOOGLE_CLIENT_SECRET")
        case (_, nil):
            problem("OIDC_GOOGLE_CLIENT_SECRET", "must be set with OIDC_GOOGLE_CLIENT_ID")
        }

        var openAI: OpenAISettings?
        let openAITimeout = positive("OPENAI_TIMEOUT_SECONDS", default: 30, maximum: 600)
        let realtimePingSeconds = positive("REALTIME_PING_SECONDS", default: 20, maximum: 3_600)
        if let apiKey = value("OPENAI_API_KEY") {
            let baseText = value("OPENAI_BASE_URL") ?? "https://api.openai.com/v1"
            if let base = Self.serviceURL(baseText) {
                openAI = OpenAISettings(baseURL: base, apiKey: SecretValue(apiKey), model: value("OPENAI_MODEL") ?? "gpt-4o-mini",
                                        timeout: .seconds(Int64(openAITimeout)))
            } else {
                problem("OPENAI_BASE_URL", "must be an https:// URL (http:// only on loopback, for tests)")
            }
        } else if env == .production {
            warnings.append("OPENAI_API_KEY is not set: FluxAI runs the offline assistant.")
        }

        let invitationsPerDay = positive("INVITATIONS_PER_DAY", default: 50, maximum: 100_000)
        let outboxRetentionDays = positive("OUTBOX_RETENTION_DAYS", default: 30, maximum: 3_650)
        let publicUploadQuotaBytes = positive("PUBLIC_UPLOAD_QUOTA_BYTES", default: 2 * 1024 * 1024 * 1024, maximum: 1 << 50)
        let minimumFreeBytes = positive("DATA_DIR_MIN_FREE_BYTES", default: 1024 * 1024 * 1024, maximum: 1 << 50)
        let rateLimitIPv6Prefix = whole("RATE_LIMIT_IPV6_PREFIX", default: 64, in: 16...128)
        let connections = ConnectionLimits.load(value: value, problem: problem)

        guard problems.isEmpty else { throw ConfigError(problems: problems) }
        var config = AppConfig(
            environment: env, sessionSecret: sessionSecret, previousSessionSecret: previousSessionSecret, database: database, publicURL: publicURL, host: host,
            port: port, dataDirectory: dataDirectory, logLevel: logLevel, metricsToken: metricsToken, cors: cors,
            trustedProxies: trustedProxies, rateLimitStore: rateLimitStore, connectSources: connectSources,
            smtp: smtp, googleSignIn: googleSignIn, notifyEmail: notifyEmail, idleAbandonMinutes: idleAbandonMinutes,
            uploadMaxBytes: uploadMaxBytes, tenantQuotaBytes: tenantQuotaBytes, retentionDays: retentionDays, openAI: openAI, mailFrom: mailFrom, connections: connections,
            warnings: warnings
        )
        config.invitationsPerDay = invitationsPerDay
        config.outboxRetentionDays = outboxRetentionDays
        config.publicUploadQuotaBytes = publicUploadQuotaBytes
        config.minimumFreeBytes = minimumFreeBytes
        config.rateLimitIPv6Prefix = rateLimitIPv6Prefix
        config.realtimePingSeconds = realtimePingSeconds
        return config
    }
}
