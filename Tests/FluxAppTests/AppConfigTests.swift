@testable import FluxApp
import Crypto
import Foundation
import Testing

@Suite struct AppConfigTests {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
    }

    private func load(_ environment: [String: String]) throws(ConfigError) -> AppConfig {
        try AppConfig.load(from: ["DATA_DIR": directory.url.path].merging(environment) { _, new in new })
    }

    private func problems(_ environment: [String: String]) -> [ConfigError.Problem] {
        do {
            _ = try load(environment)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func emptyEnvironmentGivesDevelopmentDefaultsOnSQLite() throws {
        // MUT
        let config = try load([:])
        // validate
        #expect(config.environment == .development)
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.database == .sqlite(path: directory.url.appendingPathComponent("flux.sqlite").path))
        #expect(config.publicURL.absoluteString == "http://127.0.0.1:8080")
        #expect(config.metricsToken == nil)
    }

    @Test func developmentSecretIsGeneratedOncePrivateAndReused() throws {
        let first = try load([:])
        let file = directory.url.appendingPathComponent("secret").path
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        #expect(first.sessionSecret.value.count >= 64)
        #expect(first.warnings.contains { $0.contains("SESSION_SECRET") })

        let second = try load([:])
        #expect(second.sessionSecret.value == first.sessionSecret.value)
        #expect(second.warnings.isEmpty)
    }

    @Test(arguments: [
        (nil, "is not set"),
        ("too-short-secret", "shorter than 32"),
        (AppConfig.envExamplePlaceholder, "publicly known"),
        ("FLUX_SUPER_SECRET_KEY_2026_ARCHITECTURE", "publicly known"),
        (String(repeating: "ab", count: 24), "too little randomness"),
    ] as [(String?, String)])
    func productionRefusesBadSessionSecret(secret: String?, reason: String) {
        var environment = ["FLUX_ENV": "production"]
        environment["SESSION_SECRET"] = secret
        let found = problems(environment)
        #expect(found.count == 1)
        #expect(found.first?.variable == "SESSION_SECRET")
        #expect(found.first?.message.contains(reason) == true)
        #expect(found.first?.message.contains("openssl rand -base64 48") == true)
        if let secret { #expect(found.first?.message.contains(secret) == false) }
    }

    @Test func securityReviewSettingsHaveDefaultsAndRefuseBadValuesByName() throws {
        let defaults = try load([:])
        #expect(defaults.rateLimitIPv6Prefix == 64 && defaults.invitationsPerDay == 50 && defaults.outboxRetentionDays == 30)
        #expect(defaults.publicUploadQuotaBytes == 2 << 30 && defaults.minimumFreeBytes == 1 << 30)
        let set = try load(["RATE_LIMIT_IPV6_PREFIX": "56", "INVITATIONS_PER_DAY": "5", "PUBLIC_UPLOAD_QUOTA_BYTES": "1000"])
        #expect(set.rateLimitIPv6Prefix == 56 && set.invitationsPerDay == 5 && set.publicUploadQuotaBytes == 1000)
        let refused = problems(["RATE_LIMIT_IPV6_PREFIX": "8", "INVITATIONS_PER_DAY": "0", "OUTBOX_RETENTION_DAYS": "never",
                                "DATA_DIR_MIN_FREE_BYTES": "-1"]).map(\.variable)
        #expect(Set(refused) == ["RATE_LIMIT_IPV6_PREFIX", "INVITATIONS_PER_DAY", "OUTBOX_RETENTION_DAYS", "DATA_DIR_MIN_FREE_BYTES"])
    }

    @Test func portalFileLimitDefaultsTo100MiBAndIsRefusedOrWarnedAboutByName() throws {
        let defaults = try load([:])
        #expect(defaults.portalFileMaxBytes == 100 << 20 && defaults.tenantQuotaBytes == 1 << 30)
        #expect(!defaults.warnings.contains { $0.contains("PORTAL_FILE_MAX_BYTES") })
        #expect(try load(["PORTAL_FILE_MAX_BYTES": "5000"]).portalFileMaxBytes == 5000)
        for bad in ["0", "-5", "100MB", "1.5", String(1 << 41)] {
            #expect(problems(["PORTAL_FILE_MAX_BYTES": bad]).map(\.variable) == ["PORTAL_FILE_MAX_BYTES"], "\(bad)")
        }
        // Larger than what an organization may store: allowed, but no file could ever reach it.
        let unreachable = try load(["PORTAL_FILE_MAX_BYTES": "2000", "TENANT_QUOTA_BYTES": "1000"])
        #expect(unreachable.warnings.contains { $0.contains("PORTAL_FILE_MAX_BYTES") && $0.contains("TENANT_QUOTA_BYTES") })
    }

    @Test func envExamplePlaceholderIsTheOneRefused() throws {
        // The shipped .env.example must carry exactly the value production refuses as public.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try String(contentsOf: root.appendingPathComponent(".env.example"), encoding: .utf8)
        let line = example.split(separator: "\n").first { $0.hasPrefix("SESSION_SECRET=") }
        #expect(line.map { String($0.dropFirst("SESSION_SECRET=".count)) } == AppConfig.envExamplePlaceholder)
    }

    @Test func productionAcceptsStrongSecretAndPostgres() throws {
        let config = try load([
            "FLUX_ENV": "production", "SESSION_SECRET": "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe",
            "DATABASE_URL": "postgres://flux:pw@db.internal:5432/flux", "PORT": "9000", "HOST": "0.0.0.0",
            "PUBLIC_URL": "https://www.example.com", "LOG_LEVEL": "warning",
        ])
        #expect(config.environment == .production)
        #expect(config.database == .postgres(url: SecretValue("postgres://flux:pw@db.internal:5432/flux")))
        #expect(config.port == 9000)
        #expect(config.logLevel == .warning)
        #expect(config.publicURL.host == "www.example.com")
    }

    @Test func unknownEnvironmentIsRefusedAndJudgedAsProduction() {
        // An unknown name must not fall back to the lenient development rules.
        #expect(problems(["FLUX_ENV": "staging"]).map(\.variable) == ["FLUX_ENV", "SESSION_SECRET"])
    }

    @Test(arguments: ["0", "65536", "eighty", "80.5"])
    func invalidPortIsRefused(port: String) {
        #expect(problems(["PORT": port]).map(\.variable) == ["PORT"])
    }

    @Test(arguments: ["mysql://u:hunter2pass@h/db", "postgres:///hunter2pass", "not a url at all hunter2pass", "sqlite:///tmp/hunter2pass"])
    func malformedDatabaseURLIsRefusedWithoutEchoingIt(url: String) {
        let found = problems(["DATABASE_URL": url])
        #expect(found.map(\.variable) == ["DATABASE_URL"])
        #expect(found.allSatisfy { !$0.message.contains("hunter2pass") })
    }

    @Test func unwritableDataDirectoryIsRefused() throws {
        let file = directory.url.appendingPathComponent("a-file")
        #expect(FileManager.default.createFile(atPath: file.path, contents: Data("x".utf8)))
        let found = problems(["DATA_DIR": file.appendingPathComponent("data").path])
        #expect(found.map(\.variable).contains("DATA_DIR"))
        let notADirectory = problems(["DATA_DIR": file.path])
        #expect(notADirectory.first?.message.contains("not a directory") == true)
    }

    @Test func invalidLogLevelAndPublicURLAreRefused() {
        #expect(Set(problems(["LOG_LEVEL": "loud", "PUBLIC_URL": "ftp://x"]).map(\.variable)) == ["LOG_LEVEL", "PUBLIC_URL"])
    }

    @Test func weakMetricsTokenIsRefusedInProduction() {
        let found = problems(["FLUX_ENV": "production", "SESSION_SECRET": "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe",
                              "METRICS_TOKEN": "token"])
        #expect(found.map(\.variable) == ["METRICS_TOKEN"])
    }

    @Test func secretsAreRedactedWhenInterpolated() throws {
        let config = try load(["SESSION_SECRET": "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"])
        #expect(!"\(config)".contains("q4Jm7X1c2ZrV"))
        #expect(!String(reflecting: config).contains("q4Jm7X1c2ZrV"))
    }

    @Test func wildcardCORSWithCredentialsStopsTheBoot() {
        let found = problems(["CORS_ORIGINS": "*"])
        #expect(found.map(\.variable) == ["CORS_ORIGINS"])
        #expect(found.first?.message.contains("credentials") == true)
    }

    @Test func securityListsAreParsedAndChecked() throws {
        let config = try load(["CORS_ORIGINS": "https://www.example.com, http://localhost:3000",
                               "TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8", "CSP_CONNECT_SOURCES": "https://api.example.com"])
        #expect(config.cors?.allows("http://localhost:3000") == true)
        #expect(config.trustedProxies.networks.count == 2)
        #expect(config.connectSources == ["https://api.example.com"])
        #expect(config.rateLimitStore == .memory)
        #expect(Set(problems(["TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal", "RATE_LIMIT_STORE": "redis",
                              "CSP_CONNECT_SOURCES": "https://x.example; script-src *"]).map(\.variable))
                == ["TRUSTED_PROXIES", "RATE_LIMIT_STORE", "CSP_CONNECT_SOURCES"])
    }

    @Test func postgresDefaultsToTheSharedRateLimitStore() throws {
        #expect(try load(["DATABASE_URL": "postgres://flux@db/flux"]).rateLimitStore == .database)
        #expect(try load(["DATABASE_URL": "postgres://flux@db/flux", "RATE_LIMIT_STORE": "memory"]).rateLimitStore == .memory)
    }

    @Test func mailSettingsAreParsedWithoutQuotingTheirPassword() throws {
        let starttls = try #require(try load(["SMTP_URL": "smtp://mailer:p%40ss@mail.example.com", "MAIL_FROM": "Flux <hi@flux.example>"]).smtp)
        #expect(starttls.security == .startTLS && starttls.port == 587 && starttls.host == "mail.example.com")
        #expect(starttls.username == "mailer" && starttls.password?.value == "p@ss")
        let implicit = try #require(try load(["SMTP_URL": "smtps://mail.example.com"]).smtp)
        #expect(implicit.security == .implicitTLS && implicit.port == 465 && implicit.username == nil)
        #expect(try load(["MAIL_FROM": "Flux <hi@flux.example>"]).mailFrom.header == "\"Flux\" <hi@flux.example>")
        let refused = problems(["SMTP_URL": "http://mailer:hunter2secret@mail.example.com", "MAIL_FROM": "not an address",
                                "SMTP_CA_FILE": "/nonexistent/ca.pem"])
        #expect(Set(refused.map(\.variable)) == ["SMTP_URL", "MAIL_FROM"])
        #expect(!refused.contains { $0.message.contains("hunter2secret") })
        #expect(problems(["SMTP_URL": "smtp://mail.example.com", "SMTP_CA_FILE": "/nonexistent/ca.pem"]).map(\.variable) == ["SMTP_CA_FILE"])
    }

    @Test func googleSignInNeedsBothCredentialsAndAnHTTPSIssuer() throws {
        #expect(try load([:]).googleSignIn == nil)
        let google = try #require(try load(["OIDC_GOOGLE_CLIENT_ID": "id", "OIDC_GOOGLE_CLIENT_SECRET": "secret"]).googleSignIn)
        #expect(google.issuer.absoluteString == "https://accounts.google.com")
        #expect(problems(["OIDC_GOOGLE_CLIENT_ID": "id"]).map(\.variable) == ["OIDC_GOOGLE_CLIENT_SECRET"])
        #expect(problems(["OIDC_GOOGLE_CLIENT_ID": "id", "OIDC_GOOGLE_CLIENT_SECRET": "secret",
                          "OIDC_GOOGLE_ISSUER": "http://idp.example.com"]).map(\.variable) == ["OIDC_GOOGLE_ISSUER"])
        #expect(try load(["OIDC_GOOGLE_CLIENT_ID": "id", "OIDC_GOOGLE_CLIENT_SECRET": "secret",
                          "OIDC_GOOGLE_ISSUER": "http://127.0.0.1:9000"]).googleSignIn != nil)
    }

    @Test func appleSignInNeedsEveryVariableAndAP256Key() throws {
        #expect(try load([:]).appleSignIn == nil)
        let key = P256.Signing.PrivateKey()
        let apple = appleSignInEnvironment(key: key)
        func with(_ changes: [String: String?]) -> [String: String] {
            var environment = apple
            for (name, value) in changes { environment[name] = value }
            return environment
        }
        let settings = try #require(try load(apple).appleSignIn)
        #expect(settings.issuer.absoluteString == "https://appleid.apple.com" && settings.slug == "apple")
        #expect(settings.responseMode == .formPost && settings.clientID == "com.example.flux")
        #expect(try load(apple.merging(["OIDC_GOOGLE_CLIENT_ID": "id", "OIDC_GOOGLE_CLIENT_SECRET": "secret"]) { $1 }).signInProviders.map(\.slug)
            == ["google", "apple"])
        // An env file's one line, the PEM's breaks written as \n; or the .p8 file itself.
        #expect(try load(with(["OIDC_APPLE_PRIVATE_KEY": key.pemRepresentation.replacingOccurrences(of: "\n", with: "\\n")])).appleSignIn != nil)
        let file = directory.url.appendingPathComponent("AuthKey_KEY1234567.p8")
        try Data(key.pemRepresentation.utf8).write(to: file)
        #expect(try load(with(["OIDC_APPLE_PRIVATE_KEY": nil, "OIDC_APPLE_PRIVATE_KEY_FILE": file.path])).appleSignIn != nil)

        #expect(problems(with(["OIDC_APPLE_TEAM_ID": nil])).map(\.variable) == ["OIDC_APPLE_TEAM_ID"])
        #expect(problems(["OIDC_APPLE_CLIENT_ID": "com.example.flux"]).map(\.variable).sorted()
            == ["OIDC_APPLE_KEY_ID", "OIDC_APPLE_PRIVATE_KEY", "OIDC_APPLE_TEAM_ID"])
        #expect(problems(with(["OIDC_APPLE_KEY_ID": "key-1"])).map(\.variable) == ["OIDC_APPLE_KEY_ID"])
        #expect(problems(with(["OIDC_APPLE_PRIVATE_KEY_FILE": file.path])).map(\.variable) == ["OIDC_APPLE_PRIVATE_KEY_FILE"])
        #expect(problems(with(["OIDC_APPLE_PRIVATE_KEY": nil, "OIDC_APPLE_PRIVATE_KEY_FILE": "/nonexistent/AuthKey.p8"])).map(\.variable)
            == ["OIDC_APPLE_PRIVATE_KEY_FILE"])
        #expect(problems(with(["OIDC_APPLE_ISSUER": "http://idp.example.com"])).map(\.variable) == ["OIDC_APPLE_ISSUER"])
        #expect(try load(with(["OIDC_APPLE_ISSUER": "http://127.0.0.1:9000"])).appleSignIn != nil)
        // Not a key, or a key of another curve than ES256's: named, never quoted.
        for wrong in ["not a key", P384.Signing.PrivateKey().pemRepresentation] {
            let found = problems(with(["OIDC_APPLE_PRIVATE_KEY": wrong]))
            #expect(found.map(\.variable) == ["OIDC_APPLE_PRIVATE_KEY"])
            #expect(!found.map(\.message).joined().contains(wrong))
        }
    }

    @Test func previousSecretIsCheckedLikeTheCurrentOne() throws {
        let strong = "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"
        let other = "Zk8rT2vN6pQ1wY4mB9cX3jH7fL0sD5gA8eU2iO6nR1tV4yK7qW3zP9x"
        let config = try load(["FLUX_ENV": "production", "SESSION_SECRET": strong, "SESSION_SECRET_PREVIOUS": other])
        #expect(config.previousSessionSecret?.value == other)
        #expect(problems(["FLUX_ENV": "production", "SESSION_SECRET": strong, "SESSION_SECRET_PREVIOUS": strong])
            .map(\.variable) == ["SESSION_SECRET_PREVIOUS"])
        #expect(problems(["FLUX_ENV": "production", "SESSION_SECRET": strong, "SESSION_SECRET_PREVIOUS": "changeme"])
            .map(\.variable) == ["SESSION_SECRET_PREVIOUS"])
    }

    @Test func objectStorageIsOffByDefaultAndOnWithABucket() throws {
        #expect(try load([:]).objectStorage == nil)
        let aws = try #require(try load(["FILES_S3_BUCKET": "flux-files", "FILES_S3_ACCESS_KEY_ID": "AKID",
                                         "FILES_S3_SECRET_ACCESS_KEY": "s3-secret-value", "FILES_S3_REGION": "eu-west-3"]).objectStorage)
        #expect(aws.endpoint.absoluteString == "https://s3.eu-west-3.amazonaws.com" && aws.region == "eu-west-3" && !aws.pathStyle)
        let seaweed = try #require(try load(["FILES_S3_BUCKET": "flux-files", "FILES_S3_ENDPOINT": "http://127.0.0.1:8333",
                                             "FILES_S3_ACCESS_KEY_ID": "AKID", "FILES_S3_SECRET_ACCESS_KEY": "s3-secret-value"]).objectStorage)
        #expect(seaweed.endpoint.absoluteString == "http://127.0.0.1:8333" && seaweed.region == "us-east-1" && seaweed.pathStyle)
        #expect(try load(["FILES_S3_BUCKET": "flux-files", "FILES_S3_ENDPOINT": "https://s3.example.net", "FILES_S3_PATH_STYLE": "false",
                          "FILES_S3_ACCESS_KEY_ID": "AKID", "FILES_S3_SECRET_ACCESS_KEY": "s3-secret-value"]).objectStorage?.pathStyle == false)
    }

    @Test func badObjectStorageSettingsAreRefusedByNameWithoutTheSecret() {
        let secret = "s3-secret-value-never-shown"
        let cases: [([String: String], [String])] = [
            (["FILES_S3_BUCKET": "flux-files"], ["FILES_S3_ACCESS_KEY_ID"]),
            (["FILES_S3_BUCKET": "flux-files", "FILES_S3_ACCESS_KEY_ID": "AKID"], ["FILES_S3_SECRET_ACCESS_KEY"]),
            (["FILES_S3_SECRET_ACCESS_KEY": secret], ["FILES_S3_SECRET_ACCESS_KEY"]),
            (["FILES_S3_BUCKET": "Flux_Files", "FILES_S3_ACCESS_KEY_ID": "AKID", "FILES_S3_SECRET_ACCESS_KEY": secret], ["FILES_S3_BUCKET"]),
            (["FILES_S3_BUCKET": "flux-files", "FILES_S3_ENDPOINT": "ftp://store", "FILES_S3_ACCESS_KEY_ID": "AKID",
              "FILES_S3_SECRET_ACCESS_KEY": secret], ["FILES_S3_ENDPOINT"]),
            (["FILES_S3_BUCKET": "flux-files", "FILES_S3_ENDPOINT": "https://user:pw@store/bucket", "FILES_S3_ACCESS_KEY_ID": "AKID",
              "FILES_S3_SECRET_ACCESS_KEY": secret], ["FILES_S3_ENDPOINT"]),
            (["FILES_S3_BUCKET": "flux-files", "FILES_S3_PATH_STYLE": "sometimes", "FILES_S3_ACCESS_KEY_ID": "AKID",
              "FILES_S3_SECRET_ACCESS_KEY": secret], ["FILES_S3_PATH_STYLE"]),
            (["FILES_S3_BUCKET": "flux-files", "FILES_S3_REGION": "EU West", "FILES_S3_ACCESS_KEY_ID": "AKID",
              "FILES_S3_SECRET_ACCESS_KEY": secret], ["FILES_S3_REGION"]),
        ]
        for (environment, variables) in cases {
            let found = problems(environment)
            #expect(found.map(\.variable) == variables, "\(environment.keys.sorted())")
            #expect(!found.map(\.message).joined().contains(secret))
        }
    }
}
