@testable import FluxApp
import Fluent
import SQLKit
import Testing
import VaporTesting

@Suite struct MigrationTests {
    @Test func migrationsCreateTheAuditTableAndRunAgainSafely() async throws {
        try await withFlux { app, _ in
            let sql = try #require(app.db as? any SQLDatabase)
            try await sql.raw("INSERT INTO audit_events (id, occurred_at, action) VALUES (\(bind: UUID()), \(bind: Date()), 'test.kept')").run()
            // Applying again, and each migration's prepare directly, must neither fail nor lose rows.
            try await app.autoMigrate()
            for migration in FluxMigrations.all { try await migration.prepare(on: app.db).get() }
            let count = try await sql.raw("SELECT count(*) AS n FROM audit_events WHERE action = 'test.kept'")
                .first(decodingColumn: "n", as: Int.self)
            #expect(count == 1)
        }
    }
}
