// Serves one trivial POST route twice, in one process: bare on PORT_BARE, behind FluxSecurity's whole
// stack on PORT_HARDENED (headers with a CSP nonce, CORS, a rate limit that never refuses, CSRF checked
// on every request), so bench/security.sh can compare the two with wrk in one run.
// With IN_PROCESS=1 it instead times the stacks in STACKS without a network (InProcess.swift).
import FluxSecurity
import Foundation
import Vapor

let environment = ProcessInfo.processInfo.environment
let secret = "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"

/// An app with the parts of FluxSecurity named in `parts` (headers, cors, ratelimit, csrf) installed as Flux
/// installs them, `POST /submit` answering "ok", and `GET /csrf` handing out a token. The route is async, like
/// Flux's, unless `asyncRoute` is false: an embedded event loop cannot wait for a task.
func makeApp(parts: Set<String>, asyncRoute: Bool = true) async throws -> Application {
    let app = try await Application.make(.production)
    app.logger.logLevel = .error
    app.middleware = Middlewares()
    let hardening = Hardening(secret: secret)
    // Flux's order: headers and CORS outside the error middleware, so error answers carry both. The error
    // middleware is in every app, bare too (any Vapor app has one): only FluxSecurity's parts differ.
    if parts.contains("headers") { app.middleware.use(hardening.headers) }
    if parts.contains("cors") { app.middleware.use(try CORSPolicy(origins: ["https://www.example.com"]).middleware) }
    app.middleware.use(ErrorMiddleware.default(environment: app.environment))
    if parts.contains("ratelimit") {
        app.middleware.use(hardening.rateLimit(RateLimitPolicy(name: "bench", limit: 1_000_000_000, period: 1)))
    }
    let routes = parts.contains("csrf") ? app.grouped(hardening.csrf.middleware) : app
    if asyncRoute {
        routes.post("submit") { _ async in "ok" }
    } else {
        routes.post("submit") { _ in "ok" }
    }
    app.get("csrf") { req in try hardening.csrf.response(for: req) }
    return app
}

/// `"headers,cors"` as a set of part names.
func parts(_ list: String) -> Set<String> {
    Set(list.split(separator: ",").map(String.init))
}

if environment["IN_PROCESS"] != nil {
    try await timeInProcess()
    exit(0)
}

var apps: [Application] = []
for (portVariable, defaultPort, stack) in [("PORT_BARE", 18101, ""), ("PORT_HARDENED", 18102, environment["STACK"] ?? "headers,cors,ratelimit,csrf")] {
    let app = try await makeApp(parts: parts(stack))
    app.http.server.configuration.port = Int(environment[portVariable] ?? "") ?? defaultPort
    try app.server.start()
    apps.append(app)
}
FileHandle.standardOutput.write(Data("ready \(apps.map { String($0.http.server.configuration.port) }.joined(separator: " "))\n".utf8))
// Serve until the script stops the process.
while true { try await Task.sleep(for: .seconds(3600)) }
