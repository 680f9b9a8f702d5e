@testable import FluxApp
import FluentPostgresDriver
import Foundation
import Testing
import VaporTesting

/// Builds Flux through the real `configure` with a private data directory and a private database:
/// a fresh SQLite file, or, when FLUX_TEST_DATABASE_URL names a PostgreSQL server, a fresh database on it.
func withFlux(
    environment extra: [String: String] = [:],
    routes: (any RoutesBuilder) throws -> Void = { _ in },
    _ test: (Application, AppConfig) async throws -> Void
) async throws {
    _ = LogCapture.shared
    let dataDirectory = try TemporaryDirectory()
    let database = try await TestDatabase.fresh()
    var environment = ["FLUX_ENV": "testing", "DATA_DIR": dataDirectory.url.path, "LOG_LEVEL": "debug"]
    if let url = database?.url { environment["DATABASE_URL"] = url }
    environment.merge(extra) { _, new in new }

    let config = try AppConfig.load(from: environment)
    let app = try await Application.make(.testing)
    do {
        try await configure(app, config)
        try routes(app.rootRoutes)
        try await app.autoMigrate()
        try await test(app, config)
    } catch {
        try? await app.asyncShutdown()
        try? await database?.drop()
        throw error
    }
    try await app.asyncShutdown()
    try await database?.drop()
}

/// A directory removed when the value is released.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("flux-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A throwaway PostgreSQL database for one test, on the server named by FLUX_TEST_DATABASE_URL.
struct TestDatabase {
    let url: String
    private let name: String
    private let server: String

    static var serverURL: String? {
        ProcessInfo.processInfo.environment["FLUX_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func fresh() async throws -> TestDatabase? {
        guard let server = serverURL else { return nil }
        let name = "flux_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        try await execute("CREATE DATABASE \(name)", on: server)
        var components = URLComponents(string: server)!
        components.path = "/\(name)"
        return TestDatabase(url: components.string!, name: name, server: server)
    }

    func drop() async throws {
        try await Self.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", on: server)
    }

    /// Runs one statement over its own connection (CREATE/DROP DATABASE cannot run inside a transaction).
    private static func execute(_ statement: String, on server: String) async throws {
        let configuration = try SQLPostgresConfiguration(url: server).coreConfiguration
        let connection = try await PostgresConnection.connect(
            configuration: configuration, id: 1, logger: Logger(label: "flux.test.postgres"))
        do {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: Logger(label: "flux.test.postgres"))
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

/// Headers carrying a fresh CSRF token pair (cookie and X-CSRF-Token), fetched from `GET /api/csrf`.
func csrfHeaders(_ tester: any TestingApplicationTester, json: Bool = true) async throws -> HTTPHeaders {
    let response = try await tester.sendRequest(.GET, "/api/csrf")
    let token = try response.content.decode(CSRFTokenBody.self).token
    let cookie = try #require(response.headers.setCookie?["csrf"])
    var headers: HTTPHeaders = ["X-CSRF-Token": token, "Cookie": "csrf=\(cookie.string)"]
    if json { headers.contentType = .json }
    return headers
}

struct CSRFTokenBody: Decodable {
    let token: String
    let expiresAt: String
}

/// Another Flux instance on the same database and data directory as a running test's, built from `config`
/// (a replica, or the same deployment after a configuration change); shut down when `body` returns.
func withAnotherInstance(_ config: AppConfig, _ body: (Application) async throws -> Void) async throws {
    let app = try await Application.make(.testing)
    do {
        try await configure(app, config)
        try await app.asyncBoot()
        try await body(app)
    } catch {
        try? await app.asyncShutdown()
        throw error
    }
    try await app.asyncShutdown()
}

/// `GET /api/health` once the database probe has answered within its 500 ms: on a test machine running
/// dozens of suites at once a ping can miss that bound, which says nothing about what the caller checks
/// (uploads, storage). A database that stays down is still returned as such after ten tries.
func readiness(_ tester: any TestingApplicationTester) async throws -> TestingHTTPResponse {
    var response = try await tester.sendRequest(.GET, "/api/health")
    for _ in 0..<9 where response.body.string.contains(#""db":"down""#) {
        try await Task.sleep(for: .milliseconds(300))
        response = try await tester.sendRequest(.GET, "/api/health")
    }
    return response
}
