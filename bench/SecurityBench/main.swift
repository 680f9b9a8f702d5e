// Serves one trivial POST route twice, in one process: bare on PORT_BARE, behind FluxSecurity's whole
// stack on PORT_HARDENED (headers with a CSP nonce, CORS, a rate limit that never refuses, CSRF checked
// on every request), so bench/security.sh can compare the two with wrk in one run.
import FluxSecurity
import Foundation
import Vapor

let environment = ProcessInfo.processInfo.environment
let secret = "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"

func makeApp(port: Int, hardened: Bool) async throws -> Application {
    let app = try await Application.make(.production)
    app.logger.logLevel = .error
    app.http.server.configuration.port = port
    app.middleware = Middlewares()
    let route: @Sendable (Request) async throws -> String = { _ in "ok" }
    if hardened {
        // STACK picks parts (headers,cors,ratelimit,csrf) to see what each costs; all by default.
        let parts = Set((environment["STACK"] ?? "headers,cors,ratelimit,csrf").split(separator: ",").map(String.init))
        let hardening = Hardening(secret: secret)
        // Flux's order: headers and CORS outside the error middleware, so error answers carry both.
        if parts.contains("headers") { app.middleware.use(hardening.headers) }
        if parts.contains("cors") { app.middleware.use(try CORSPolicy(origins: ["https://www.example.com"]).middleware) }
        app.middleware.use(ErrorMiddleware.default(environment: app.environment))
        if parts.contains("ratelimit") {
            app.middleware.use(hardening.rateLimit(RateLimitPolicy(name: "bench", limit: 1_000_000_000, period: 1)))
        }
        (parts.contains("csrf") ? app.grouped(hardening.csrf.middleware) : app).post("submit", use: route)
        app.get("csrf") { req in try hardening.csrf.response(for: req) }
    } else {
        // Vapor's own error middleware in both apps (any Vapor app has one): only FluxSecurity's parts differ.
        app.middleware.use(ErrorMiddleware.default(environment: app.environment))
        app.post("submit", use: route)
    }
    try app.server.start()
    return app
}

let bare = try await makeApp(port: Int(environment["PORT_BARE"] ?? "") ?? 18101, hardened: false)
let hardened = try await makeApp(port: Int(environment["PORT_HARDENED"] ?? "") ?? 18102, hardened: true)
FileHandle.standardOutput.write(Data("ready \(bare.http.server.configuration.port) \(hardened.http.server.configuration.port)\n".utf8))
// Serve until the script stops the process.
while true { try await Task.sleep(for: .seconds(3600)) }
