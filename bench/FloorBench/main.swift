// Vapor's own floor for issue 5's ratio: a bare Vapor app (no Flux code, no FluxSecurity, only Vapor's error
// middleware) serving an answer shaped like /api/health/live's and a route that does nothing but one one-row
// SQLite read (Fluent, SQLite file, raw SQL on one table by primary key: simpler than /api/auth/me's join) and
// encodes it. bench/auth.sh compares the two: /me, which makes a heavier read and authenticates too, cannot
// keep more of its plain route than this.
import Fluent
import FluentSQLiteDriver
import Foundation
import Vapor

struct Plain: Content {
    let ok: Bool
    let ts: Date
}

struct Row: Content {
    let email: String
    let display_name: String?
}

let environment = ProcessInfo.processInfo.environment
let app = try await Application.make(.production)
app.logger.logLevel = .error
app.http.server.configuration.port = Int(environment["PORT"] ?? "") ?? 18103
app.middleware = Middlewares()
app.middleware.use(ErrorMiddleware.default(environment: app.environment))
let path = environment["DB_PATH"] ?? FileManager.default.temporaryDirectory.appendingPathComponent("floor-bench.sqlite").path
app.databases.use(.sqlite(.file(path)), as: .sqlite)
let sql = app.db as! any SQLDatabase
try await sql.raw("DROP TABLE IF EXISTS users").run()
try await sql.raw("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL, display_name TEXT)").run()
let ids = (0..<1000).map { _ in UUID() }
for (index, id) in ids.enumerated() {
    try await sql.raw("INSERT INTO users (id, email, display_name) VALUES (\(bind: id), \(bind: "user\(index)@example.com"), \(bind: "User \(index)"))").run()
}
let id = ids[500]
app.get("plain") { _ in Plain(ok: true, ts: Date()) }
app.get("read") { request async throws -> Row in
    guard let row = try await (request.db as! any SQLDatabase)
        .raw("SELECT email, display_name FROM users WHERE id = \(bind: id)").first(decoding: Row.self)
    else { throw Abort(.notFound) }
    return row
}
try await app.startup()
FileHandle.standardOutput.write(Data("ready\n".utf8))
while true { try await Task.sleep(for: .seconds(3600)) }
