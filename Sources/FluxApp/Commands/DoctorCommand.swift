import Fluent
import SQLKit
import Vapor
import NIOCore

/// `flux doctor`: checks what a deploy needs before it takes traffic: configuration, the database answering,
/// migrations applied, the data directory private and writable, a TLS proxy's headers believed, and (as a
/// warning) the mail server reachable over verified TLS and accepting the login. Secrets are reported only as
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
        case .down(let reason):
            report.fail("database", "unreachable: \(Self.redacted(reason, config))")
        }
        report.dataDirectory(config.dataDirectory)
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
