import Fluent
import FluentPostgresDriver
import FluentSQLiteDriver
import SQLKit
import Vapor
import NIOCore

/// Connects Fluent to the configured database and tunes it.
enum DatabaseSetup {
    static func use(_ location: AppConfig.DatabaseLocation, on app: Application) throws(ConfigError) {
        switch location {
        case .sqlite(let path):
            app.databases.use(.sqlite(.file(path), connectionPoolTimeout: .seconds(5)), as: .sqlite)
            app.lifecycle.use(SQLiteTuning())
        case .postgres(let url):
            var configuration: SQLPostgresConfiguration
            do {
                configuration = try SQLPostgresConfiguration(url: url.value)
            } catch {
                // The driver's message may quote the URL, password included, so it is not passed on.
                throw ConfigError(problems: [.init(variable: "DATABASE_URL", message: "is not a valid PostgreSQL URL")])
            }
            // Fail a connection attempt quickly so a missing database is reported, not waited on.
            configuration.coreConfiguration.options.connectTimeout = .seconds(3)
            app.databases.use(
                .postgres(configuration: configuration, maxConnectionsPerEventLoop: 4,
                          connectionPoolTimeout: .seconds(5), encodingContext: .default, decodingContext: .default),
                as: .psql
            )
        }
    }
}

/// SQLite settings applied to each pooled connection at boot (Fluent keeps one per event loop for life):
/// WAL lets readers run beside the writer, and a 5 s busy timeout replaces SQLiteNIO's endless busy loop
/// with a bounded, sleeping wait. A failure is logged, not thrown, so `flux doctor` can still report on a
/// database it cannot open.
struct SQLiteTuning: LifecycleHandler {
    func willBootAsync(_ application: Application) async {
        for eventLoop in application.eventLoopGroup.makeIterator() {
            guard let sql = application.databases.database(logger: application.logger, on: eventLoop) as? any SQLDatabase
            else { continue }
            do {
                try await sql.raw("PRAGMA journal_mode=WAL").run()
                try await sql.raw("PRAGMA busy_timeout=5000").run()
                try await sql.raw("PRAGMA synchronous=NORMAL").run()
            } catch {
                application.logger.warning("SQLite tuning failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }
}

extension Database {
    /// A transaction that writes. On PostgreSQL it is Fluent's transaction. On SQLite, Fluent begins a
    /// deferred transaction, which takes the write lock only at its first write: one that reads first and
    /// then writes fails at once with "database is locked" when another connection wrote meanwhile (its
    /// snapshot is stale, so the busy timeout never applies), which under load turned sign-ups into 500s.
    /// So on SQLite the first statement is a write that changes nothing, and the transaction waits for the
    /// write lock (up to the busy timeout) before it reads anything.
    func writeTransaction<T: Sendable>(_ closure: @escaping @Sendable (any Database) async throws -> T) async throws -> T {
        guard !inTransaction, let sql = self as? any SQLDatabase, sql.dialect.name == "sqlite" else {
            return try await transaction(closure)
        }
        return try await transaction { transaction in
            try await transaction.sql.raw("DELETE FROM _fluent_migrations WHERE 0").run()
            return try await closure(transaction)
        }
    }
}
