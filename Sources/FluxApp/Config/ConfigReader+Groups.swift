import FluxSecurity
import Foundation
import Logging

/// One parser per group of variables that share a concern; each writes what it read into the configuration.
extension ConfigReader {
    /// FLUX_ENV, HOST, PORT, LOG_LEVEL and PUBLIC_URL.
    func readServer(into config: inout AppConfig) {
        if let raw = value("FLUX_ENV") {
            if let parsed = AppConfig.Environment(rawValue: raw.lowercased()) {
                config.environment = parsed
            } else {
                problem("FLUX_ENV", "must be one of \(AppConfig.Environment.allCases.map(\.rawValue).joined(separator: ", "))")
                config.environment = .production
            }
        }
        config.host = value("HOST") ?? "127.0.0.1"
        config.port = whole("PORT", default: 8080, in: 1...65_535)
        if let raw = value("LOG_LEVEL") {
            if let parsed = Logger.Level(rawValue: raw.lowercased()) {
                config.logLevel = max(parsed, .debug)
                // At trace, Vapor logs every request head whole: share-link tokens in the path, Authorization
                // and cookies in the headers.
                if parsed == .trace { warn("LOG_LEVEL=trace is logged as debug: trace would write secrets from each request.") }
            } else {
                problem("LOG_LEVEL", "must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        config.publicURL = URL(string: "http://\(config.host.contains(":") ? "[\(config.host)]" : config.host):\(config.port)")!
        if let raw = value("PUBLIC_URL") {
            if let parsed = URL(string: raw), ["http", "https"].contains(parsed.scheme?.lowercased()), parsed.host != nil {
                config.publicURL = parsed
            } else {
                problem("PUBLIC_URL", "must be an absolute http:// or https:// URL")
            }
        }
    }

    /// DATA_DIR (created if missing) and DATABASE_URL; whether DATA_DIR can be written.
    func readStorage(into config: inout AppConfig) -> Bool {
        config.dataDirectory = URL(fileURLWithPath: value("DATA_DIR") ?? "data", isDirectory: true).standardizedFileURL
        var usable = true
        do {
            try DataDirectory.prepare(config.dataDirectory)
        } catch {
            problem("DATA_DIR", "(\(config.dataDirectory.path)) is not a writable directory: \(error.reason)")
            usable = false
        }
        config.database = .sqlite(path: config.dataDirectory.appendingPathComponent("flux.sqlite").path)
        if let raw = value("DATABASE_URL") {
            if let parsed = URLComponents(string: raw), ["postgres", "postgresql"].contains(parsed.scheme?.lowercased()),
                let host = parsed.host, !host.isEmpty
            {
                config.database = .postgres(url: SecretValue(raw))
            } else {
                problem("DATABASE_URL", "must be a postgres:// or postgresql:// URL with a host (unset it to use SQLite)")
            }
        }
        return usable
    }

    /// SESSION_SECRET (generated into DATA_DIR outside production), SESSION_SECRET_PREVIOUS and METRICS_TOKEN.
    func readSecrets(into config: inout AppConfig, dataDirectoryUsable: Bool) {
        let strength = AppConfig.secretStrength
        let verdict = strength.evaluate(value("SESSION_SECRET"))
        switch (config.environment, verdict) {
        case (_, .strong):
            config.sessionSecret = SecretValue(value("SESSION_SECRET")!)
        case (.production, _):
            problem("SESSION_SECRET", "\(verdict.explanation). \(AppConfig.secretAdvice)")
        case (_, .missing):
            guard dataDirectoryUsable else { break }
            do {
                let (secret, created) = try DataDirectory.developmentSecret(in: config.dataDirectory)
                config.sessionSecret = SecretValue(secret)
                if created {
                    warn("SESSION_SECRET is not set: generated a development secret in \(config.dataDirectory.path)/secret (mode 0600). Set SESSION_SECRET in production.")
                }
            } catch {
                problem("SESSION_SECRET", "is not set and no development secret could be written to DATA_DIR: \(error.reason)")
            }
        case (_, _):
            config.sessionSecret = SecretValue(value("SESSION_SECRET")!)
            warn("SESSION_SECRET \(verdict.explanation); production would refuse it. \(AppConfig.secretAdvice)")
        }

        if let raw = value("SESSION_SECRET_PREVIOUS") {
            let previous = strength.evaluate(raw)
            if raw == config.sessionSecret.value {
                problem("SESSION_SECRET_PREVIOUS", "equals SESSION_SECRET; it must be the secret before the rotation")
            } else if previous.isAcceptable || config.environment != .production {
                config.previousSessionSecret = SecretValue(raw)
            } else {
                problem("SESSION_SECRET_PREVIOUS", "\(previous.explanation)")
            }
        }

        if let raw = value("METRICS_TOKEN") {
            let token = strength.evaluate(raw)
            if token.isAcceptable || config.environment != .production {
                config.metricsToken = SecretValue(raw)
                if !token.isAcceptable { warn("METRICS_TOKEN \(token.explanation).") }
            } else {
                problem("METRICS_TOKEN", "\(token.explanation). Generate one with: openssl rand -hex 32")
            }
        } else if config.environment == .production {
            warn("METRICS_TOKEN is not set: in production /metrics answers nobody without it.")
        }
    }

    /// CORS_ORIGINS, TRUSTED_PROXIES, RATE_LIMIT_STORE, RATE_LIMIT_IPV6_PREFIX and CSP_CONNECT_SOURCES.
    func readWebSecurity(into config: inout AppConfig) {
        let origins = list("CORS_ORIGINS")
        if !origins.isEmpty {
            do {
                config.cors = try CORSPolicy(origins: origins, allowCredentials: true)
            } catch {
                problem("CORS_ORIGINS", "is invalid: \(error.description)")
            }
        }
        switch TrustedProxies.parse(value("TRUSTED_PROXIES") ?? "") {
        case .success(let parsed): config.trustedProxies = parsed
        case .failure(let invalid): problem("TRUSTED_PROXIES", "has \"\(invalid.entry)\", which is not an address or CIDR")
        }
        // One process can count alone; replicas on one PostgreSQL must share their buckets.
        if case .postgres = config.database { config.rateLimitStore = .database }
        if let raw = value("RATE_LIMIT_STORE") {
            if let parsed = AppConfig.RateLimitStoreKind(rawValue: raw.lowercased()) {
                config.rateLimitStore = parsed
            } else {
                problem("RATE_LIMIT_STORE", "must be memory or database")
            }
        }
        config.rateLimitIPv6Prefix = whole("RATE_LIMIT_IPV6_PREFIX", default: 64, in: 16...128)
        config.connectSources = list("CSP_CONNECT_SOURCES")
        for source in config.connectSources where URLComponents(string: source)?.scheme.map({ ["https", "wss"].contains($0) }) != true
            || source.contains(";") || source.contains("'")
        {
            problem("CSP_CONNECT_SOURCES", "has \"\(source)\"; each entry must be an https:// or wss:// origin")
        }
    }

    /// SMTP_URL, SMTP_CA_FILE, MAIL_FROM and NOTIFY_EMAIL.
    func readMail(into config: inout AppConfig) {
        let production = config.environment == .production
        if let raw = value("SMTP_URL") {
            if let parsed = SMTPSettings(url: raw, caFile: value("SMTP_CA_FILE")) {
                config.smtp = parsed
                if let caFile = parsed.caFile, !FileManager.default.isReadableFile(atPath: caFile) {
                    problem("SMTP_CA_FILE", "names a file that cannot be read")
                }
            } else {
                // The URL carries the password, so it is never quoted back.
                problem("SMTP_URL", "must be smtp://[user:password@]host[:port] (STARTTLS) or smtps://… (TLS)")
            }
        } else if production {
            warn("SMTP_URL is not set: mail is written to DATA_DIR/mail instead of being sent.")
        }
        if let sender = MailAddress(name: "Flux", address: "no-reply@\(config.publicURL.host ?? "")") { config.mailFrom = sender }
        if let raw = value("MAIL_FROM") {
            if let parsed = MailAddress(parsing: raw) { config.mailFrom = parsed } else { problem("MAIL_FROM", "must be an email address, optionally as Name <address>") }
        }
        if let raw = value("NOTIFY_EMAIL") {
            config.notifyEmail = MailAddress(parsing: raw)
            if config.notifyEmail == nil { problem("NOTIFY_EMAIL", "must be an email address, optionally as Name <address>") }
        } else if production {
            warn("NOTIFY_EMAIL is not set: consultation requests become tickets, but nobody is mailed.")
        }
    }

    /// The sign-in providers (ConfigReader+SignIn) and FluxAI's online model (OPENAI_*).
    func readIntegrations(into config: inout AppConfig) {
        readSignInProviders(into: &config)

        let timeout = positive("OPENAI_TIMEOUT_SECONDS", default: 30, maximum: 600)
        if let apiKey = value("OPENAI_API_KEY") {
            if let base = Self.serviceURL(value("OPENAI_BASE_URL") ?? "https://api.openai.com/v1") {
                config.openAI = OpenAISettings(baseURL: base, apiKey: SecretValue(apiKey), model: value("OPENAI_MODEL") ?? "gpt-4o-mini",
                                               timeout: .seconds(Int64(timeout)))
            } else {
                problem("OPENAI_BASE_URL", "must be an https:// URL (http:// only on loopback, for tests)")
            }
        } else if config.environment == .production {
            warn("OPENAI_API_KEY is not set: FluxAI runs the offline assistant.")
        }
    }

    /// FILES_S3_BUCKET (which turns S3-compatible storage on), FILES_S3_ENDPOINT, FILES_S3_REGION,
    /// FILES_S3_ACCESS_KEY_ID, FILES_S3_SECRET_ACCESS_KEY and FILES_S3_PATH_STYLE.
    func readObjectStorage(into config: inout AppConfig) {
        let names = ["FILES_S3_ENDPOINT", "FILES_S3_REGION", "FILES_S3_ACCESS_KEY_ID", "FILES_S3_SECRET_ACCESS_KEY", "FILES_S3_PATH_STYLE"]
        guard let bucket = value("FILES_S3_BUCKET") else {
            for name in names where value(name) != nil {
                problem(name, "is set but FILES_S3_BUCKET is not; set the bucket to store files in S3, or unset \(name)")
            }
            return
        }
        guard S3Settings.isValidBucket(bucket) else {
            problem("FILES_S3_BUCKET", "must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens")
            return
        }
        let region = value("FILES_S3_REGION") ?? "us-east-1"
        guard region.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }),
            var endpoint = URL(string: "https://s3.\(region).amazonaws.com")
        else {
            problem("FILES_S3_REGION", "must be a region name such as us-east-1")
            return
        }
        if let raw = value("FILES_S3_ENDPOINT") {
            if let parsed = URLComponents(string: raw), ["http", "https"].contains(parsed.scheme?.lowercased()), let host = parsed.host, !host.isEmpty,
                parsed.user == nil, parsed.password == nil, parsed.query == nil, ["", "/"].contains(parsed.path), let url = parsed.url
            {
                endpoint = url
                if parsed.scheme?.lowercased() == "http", !["127.0.0.1", "localhost", "::1"].contains(host), config.environment == .production {
                    warn("FILES_S3_ENDPOINT is plain http://: stored files cross the network unencrypted.")
                }
            } else {
                problem("FILES_S3_ENDPOINT", "must be an http:// or https:// URL of the service, without a path or credentials")
            }
        }
        var pathStyle = value("FILES_S3_ENDPOINT") != nil
        if let raw = value("FILES_S3_PATH_STYLE") {
            switch raw.lowercased() {
            case "true", "1", "yes": pathStyle = true
            case "false", "0", "no": pathStyle = false
            default: problem("FILES_S3_PATH_STYLE", "must be true or false")
            }
        }
        if !pathStyle, bucket.contains(".") {
            problem("FILES_S3_PATH_STYLE", "must be true for a bucket name with dots (it cannot be a TLS host name)")
        }
        guard let accessKeyID = value("FILES_S3_ACCESS_KEY_ID") else {
            problem("FILES_S3_ACCESS_KEY_ID", "must be set with FILES_S3_BUCKET")
            return
        }
        guard let secret = value("FILES_S3_SECRET_ACCESS_KEY") else {
            problem("FILES_S3_SECRET_ACCESS_KEY", "must be set with FILES_S3_BUCKET")
            return
        }
        config.objectStorage = S3Settings(endpoint: endpoint, bucket: bucket, region: region, accessKeyID: accessKeyID,
                                          secretAccessKey: SecretValue(secret), pathStyle: pathStyle)
    }
}
