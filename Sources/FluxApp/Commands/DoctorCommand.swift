import AsyncHTTPClient
import Fluent
import SQLKit
import Vapor
import NIOCore

/// `flux doctor`: checks what a deploy needs before it takes traffic: configuration, the database answering,
/// migrations applied, the data directory private and writable with free space, a TLS proxy's headers
/// believed, and (as warnings) the mail server reachable over verified TLS and accepting the login, and the
/// model service answering with the configured model; the S3 bucket, when configured, reachable, accepting the
/// credentials and writable (the variable at fault named). Secrets are reported only as
/// set / missing / weak. Exits non-zero when any check fails.
struct DoctorCommand: AsyncCommand {
    struct Signature: CommandSignature {}

    struct Failed: ReportedFailure {
        let count: Int
        var description: String { "flux doctor: \(count) check(s) failed" }
    }

    let help = "Checks configuration, database, migrations and the data directory; exits non-zero on failure."
    let config: AppConfig

    func run(using context: CommandContext, signature: Signature) async throws {
        var report = DoctorReport()
        report.configuration(config)

        let app = context.application
        switch await DatabaseProbe.ping(app.db, timeout: .seconds(3)) {
        case .up(let latency):
            report.pass("database", "reachable (\(Int(latency / .milliseconds(1))) ms)")
            report.migrations(pending: await pendingMigrations(app))
            if let uploads = try? await UploadCapacity(config: config).status(on: app.db) {
                report.uploads(uploads)
            }
            if let objects = try? await StoredObjects.missing(on: app.db, store: app.blobStore) {
                report.objects(checked: objects.checked, missing: objects.missing)
            }
        case .down(let reason):
            report.fail("database", "unreachable: \(Self.redacted(reason, config))")
        }
        report.dataDirectory(config.dataDirectory)
        report.disk(config.dataDirectory)
        switch await Self.storageCheck(config, store: app.blobStore) {
        case .success(let text): report.pass("storage", text)
        case .failure(let problem): report.fail("storage", problem.text)
        }
        await modelService(&report, client: app.http.client.shared)
        if let smtp = config.smtp {
            do {
                try await SMTPMailClient(settings: smtp, group: app.eventLoopGroup, heloName: config.publicURL.host ?? "localhost").probe()
                report.pass("mail", "SMTP \(smtp.host):\(smtp.port) answers; TLS verified\(smtp.username == nil ? "" : ", login accepted")")
            } catch {
                // A warning, not a failure: the unit runs doctor before every start, and a mail outage must not
                // keep the site down (the outbox holds mail until the server is back).
                report.warn("mail", "SMTP \(smtp.host):\(smtp.port): \(String(describing: error)); mail waits in the outbox")
            }
        } else {
            report.pass("mail", "no SMTP_URL: messages are written to \(config.dataDirectory.path)/mail")
        }

        context.console.output(report.text.consoleText())
        if report.failures > 0 { throw Failed(count: report.failures) }
    }

    /// The configured model service: `GET {OPENAI_BASE_URL}/models` with the key, and whether the model is
    /// offered. Warnings only: without it FluxAI answers gracefully, so it must not keep a deploy down.
    private func modelService(_ report: inout DoctorReport, client: HTTPClient) async {
        guard let settings = config.openAI else {
            report.pass("model", "no OPENAI_API_KEY: FluxAI runs the offline assistant")
            return
        }
        let host = settings.baseURL.host ?? "?"
        var request = HTTPClientRequest(url: settings.baseURL.appendingPathComponent("models").absoluteString)
        request.headers.add(name: "Authorization", value: "Bearer \(settings.apiKey.value)")
        do {
            let response = try await client.execute(request, timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 1024 * 1024)
            switch response.status.code {
            case 200:
                struct Models: Decodable {
                    struct Model: Decodable { let id: String }
                    let data: [Model]
                }
                let offered = (try? JSONDecoder().decode(Models.self, from: body))?.data.map(\.id) ?? []
                if offered.contains(settings.model) {
                    report.pass("model", "\(settings.model) offered by \(host)")
                } else {
                    report.warn("model", "\(settings.model) is not among the \(offered.count) models \(host) lists; set OPENAI_MODEL")
                }
            case 401, 403:
                report.warn("model", "the service refused the key (\(response.status.code)); FluxAI will give its graceful answer")
            default:
                report.warn("model", "the service answered \(response.status.code); FluxAI will give its graceful answer")
            }
        } catch {
            report.warn("model", "unreachable at \(host): \(error); FluxAI will give its graceful answer")
        }
    }

    struct StorageProblem: Error {
        let text: String
    }

    /// The bucket: writes, reads back and removes a small object under `doctor/`; a failure names the variable
    /// to look at, from S3's error code, and never holds the secret. The local directory is checked with
    /// DATA_DIR above.
    static func storageCheck(_ config: AppConfig, store: any BlobStore) async -> Result<String, StorageProblem> {
        guard let settings = config.objectStorage else { return .success("files under DATA_DIR (FILES_S3_BUCKET is not set)") }
        let key = "doctor/\(UUID().uuidString)"
        let probe = ByteBuffer(string: "flux doctor")
        let place = "bucket \(settings.bucket) at \(settings.endpoint.host ?? "?")"
        do {
            try await store.checkReachable(within: .seconds(5))
            try await store.put(key, chunks: BlobChunks(AsyncThrowingStream { $0.yield(probe); $0.finish() }))
            guard try await store.head(key)?.size == Int64(probe.readableBytes) else {
                throw BlobStoreError.unavailable("the object written was not read back")
            }
            try await store.delete(key)
            return .success("\(place): reachable, credentials accepted, writable")
        } catch {
            let reason = (error as? BlobStoreError).map { if case .unavailable(let why) = $0 { why } else { "object not found" } } ?? "\(error)"
            return .failure(StorageProblem(text: "\(place): \(reason); check \(culprit(reason))"))
        }
    }

    /// The variable an S3 failure points at.
    static func culprit(_ reason: String) -> String {
        if reason.contains("NoSuchBucket") { return "FILES_S3_BUCKET" }
        if reason.contains("SignatureDoesNotMatch") { return "FILES_S3_SECRET_ACCESS_KEY" }
        if reason.contains("InvalidAccessKeyId") || reason.contains("AccessDenied") { return "FILES_S3_ACCESS_KEY_ID (and its permissions on the bucket)" }
        if reason.contains("did not answer") { return "FILES_S3_ENDPOINT" }
        if reason.contains("PermanentRedirect") || reason.contains("AuthorizationHeaderMalformed") { return "FILES_S3_REGION" }
        return "FILES_S3_ENDPOINT, FILES_S3_BUCKET and the credentials"
    }

    /// Names of registered migrations the database has not recorded; read-only, so doctor never changes
    /// the database it inspects.
    private func pendingMigrations(_ app: Application) async -> Result<[String], any Error> {
        do {
            guard let sql = app.db as? any SQLDatabase else { return .success([]) }
            let catalogue: SQLQueryString = sql.dialect.name == "sqlite"
                ? "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_fluent_migrations'"
                : "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_fluent_migrations'"
            let tableCount = try await sql.raw(catalogue).first(decodingColumn: "n", as: Int.self) ?? 0
            let applied = tableCount == 0 ? [] : Set(try await sql.select().column("name").from("_fluent_migrations")
                .all(decodingColumn: "name", as: String.self))
            return .success(FluxMigrations.all.map(\.name).filter { !applied.contains($0) })
        } catch {
            return .failure(error)
        }
    }

    /// A driver error may echo the connection string; never let the password through.
    static func redacted(_ text: String, _ config: AppConfig) -> String {
        guard case .postgres(let url) = config.database, let password = URLComponents(string: url.value)?.password,
            !password.isEmpty
        else { return text }
        return text.replacingOccurrences(of: password, with: "<redacted>")
    }
}
