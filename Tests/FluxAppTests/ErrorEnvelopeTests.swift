@testable import FluxApp
import Foundation
import SQLKit
import Testing
import VaporTesting

private struct Greeting: Content {
    let name: String
    let count: Int
}

private struct LeakyFailure: Error, CustomStringConvertible {
    var description: String { "SELECT password_hash FROM users at /srv/flux/Sources/Secret.swift:42" }
}

/// Routes only the tests register, to drive the real middleware with bodies and failures.
private func testRoutes(_ app: any RoutesBuilder) throws {
    app.post("test", "greeting") { req in try req.content.decode(Greeting.self).name }
    app.get("test", "crash") { _ -> String in throw LeakyFailure() }
    app.get("test", "unavailable") { _ -> String in throw Abort(.serviceUnavailable, reason: "pool exhausted at 10.0.0.7:5432") }
    app.get("test", "shed") { _ -> String in throw PasswordHasher.busy }
    app.get("test", "down") { _ -> String in throw AppError(.serviceUnavailable, code: "down", message: "Not now.") }
    // Text with NUL straight to the database, as a lookup no input check guards would send it.
    app.get("test", "nul") { req -> String in
        _ = try await (req.db as! any SQLDatabase).raw("SELECT \(bind: "a\u{0}b") AS text").all()
        return "stored"
    }
}

private func envelope(_ res: TestingHTTPResponse) throws -> (code: String, message: String, fields: [String: String]?) {
    #expect(res.headers.contentType == .json)
    let json = try JSONSerialization.jsonObject(with: Data(buffer: res.body)) as? [String: Any]
    let error = try #require(json?["error"] as? [String: Any])
    return (try #require(error["code"] as? String), try #require(error["message"] as? String), error["fields"] as? [String: String])
}

@Suite struct ErrorEnvelopeTests {
    @Test func unknownPathIs404Envelope() async throws {
        try await withFlux { app, _ in
            try await app.testing().test(.GET, "/api/nothing-here") { res async throws in
                #expect(res.status == .notFound)
                #expect(try envelope(res).code == "not_found")
            }
        }
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        try await withFlux { app, _ in
            try await app.testing().test(.DELETE, "/api/health") { res async throws in
                #expect(res.status == .methodNotAllowed)
                #expect(res.headers.first(name: .allow) == "GET")
                #expect(try envelope(res).code == "method_not_allowed")
            }
        }
    }

    @Test func oversizedJSONBodyIs413() async throws {
        try await withFlux(routes: testRoutes) { app, _ in
            let big = #"{"name":""# + String(repeating: "x", count: 1_048_577) + #"","count":1}"#
            let live = try app.testing(method: .running(port: 0))
            try await live.test(.POST, "/test/greeting", headers: try await csrfHeaders(live),
                                body: ByteBuffer(string: big)) { res async throws in
                #expect(res.status == .payloadTooLarge)
                #expect(try envelope(res).code == "payload_too_large")
            }
        }
    }

    @Test func malformedJSONIs400() async throws {
        try await withFlux(routes: testRoutes) { app, _ in
            let tester = try app.testing()
            try await tester.test(.POST, "/test/greeting", headers: try await csrfHeaders(tester),
                                  body: ByteBuffer(string: #"{"name": "Ada", "#)) { res async throws in
                #expect(res.status == .badRequest)
                #expect(try envelope(res).code == "malformed_json")
            }
        }
    }

    @Test func missingAndMistypedFieldsAreNamed() async throws {
        try await withFlux(routes: testRoutes) { app, _ in
            let tester = try app.testing()
            let headers = try await csrfHeaders(tester)
            try await tester.test(.POST, "/test/greeting", headers: headers,
                                  body: ByteBuffer(string: #"{"count": 2}"#)) { res async throws in
                #expect(res.status == .badRequest)
                let body = try envelope(res)
                #expect(body.code == "invalid_body")
                #expect(body.fields == ["name": "is required"])
            }
            try await tester.test(.POST, "/test/greeting", headers: headers,
                                  body: ByteBuffer(string: #"{"name": "Ada", "count": "two"}"#)) { res async throws in
                #expect(res.status == .badRequest)
                #expect(try envelope(res).fields?.keys.sorted() == ["count"])
            }
        }
    }

    @Test func internalErrorHidesDetailsOutsideDevelopment() async throws {
        try await withFlux(routes: testRoutes) { app, _ in
            try await app.testing().test(.GET, "/test/crash") { res async throws in
                #expect(res.status == .internalServerError)
                let body = try envelope(res)
                #expect(body.code == "internal_error")
                #expect(!body.message.contains("SELECT"))
                #expect(!body.message.contains("/srv/flux"))
            }
        }
    }

    @Test func serverSideAbortKeepsItsStatusButNotItsReason() async throws {
        try await withFlux(routes: testRoutes) { app, _ in
            try await app.testing().test(.GET, "/test/unavailable") { res async throws in
                #expect(res.status == .serviceUnavailable)
                let body = try envelope(res)
                #expect(body.code == "unavailable")
                #expect(!body.message.contains("10.0.0.7"))
            }
        }
    }

    @Test func internalErrorIsExplainedInDevelopment() async throws {
        try await withFlux(environment: ["FLUX_ENV": "development"], routes: testRoutes) { app, _ in
            try await app.testing().test(.GET, "/test/crash") { res async throws in
                #expect(res.status == .internalServerError)
                #expect(try envelope(res).message.contains("SELECT password_hash"))
            }
        }
    }
    /// Found by the API fuzzer on PostgreSQL: a NUL in the message-log search answered 500 (PostgreSQL text
    /// cannot hold it). Lookups that take raw text refuse control characters on every database.
    @Test func controlCharactersInSearchesAndLookupsAre400() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let client = try await mintSignedIn(app, role: .clientAdmin)
            let owner = try await mintSignedIn(app, role: .owner)
            let logs = try await tester.sendRequest(.GET, "/api/portal/tenant/current/logs?q=a%00b", headers: client.bearer)
            #expect(logs.status == .badRequest && errorCode(logs) == "invalid_input")
            let audit = try await tester.sendRequest(.GET, "/api/admin/audit?action=login%00", headers: owner.bearer)
            #expect(audit.status == .badRequest && errorCode(audit) == "invalid_input")
            let login = try await tester.sendRequest(.POST, "/api/auth/login", headers: try await csrfHeaders(tester)) { req in
                try req.content.encode(["email": "someone\u{0}@example.com", "password": "whatever it is"])
            }
            #expect(login.status == .badRequest && errorCode(login) == "invalid_input")
            // The HQ page's filter with a NUL matches nothing (it is not dropped, which would list everything).
            try await AuditLog.write("probe.listed", actor: nil, tenant: nil, target: nil, metadata: nil, ipHash: nil, userAgent: nil,
                                     requestID: nil, on: app.db)
            let page = try await tester.sendRequest(.GET, "/hq-command/audit?action=probe.listed%00", headers: owner.bearer)
            #expect(page.status == .ok)
            #expect(!String(buffer: page.body).contains("probe.listed</"))
            let unfiltered = try await tester.sendRequest(.GET, "/hq-command/audit", headers: owner.bearer)
            #expect(String(buffer: unfiltered.body).contains("probe.listed</"))
        }
    }

    /// The safety net for any other path: PostgreSQL's refusal of such text is the client's 400, not a 500.
    @Test func textTheDatabaseCannotHoldIsA400() async throws {
        try await withFlux(routes: testRoutes) { app, _ async throws in
            let response = try await app.testing().sendRequest(.GET, "/test/nul")
            if TestDatabase.serverURL != nil {
                #expect(response.status == .badRequest)
                #expect(errorCode(response) == "invalid_text")
            } else {
                #expect(response.status == .ok, "SQLite holds NUL")
            }
        }
    }

    @Test func onlyALoadShedIsLoggedAsAWarningAmong503s() async throws {
        try await withFlux(routes: testRoutes) { app, _ in
            func logged(_ path: String) async throws -> [(level: String?, message: String?)] {
                let requestID = "shed-\(UUID().uuidString)"
                let res = try await app.testing().sendRequest(.GET, path, headers: ["X-Request-Id": requestID])
                #expect(res.status == .serviceUnavailable)
                return LogCapture.shared.entries(forRequestID: requestID)
                    .filter { $0["message"] as? String != "request" }
                    .map { ($0["level"] as? String, $0["message"] as? String) }
            }
            let shed = try await logged("/test/shed")
            #expect(shed.count == 1 && shed.first?.level == "warning" && shed.first?.message == "request shed")
            // Another 503 from Flux is a failure, whatever its status says.
            let down = try await logged("/test/down")
            #expect(down.count == 1 && down.first?.level == "error" && down.first?.message == "request failed")
        }
    }
}
