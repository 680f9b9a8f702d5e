@testable import FluxApp
import FluxSecurity
import Foundation
import SQLKit
import Testing
import VaporTesting

@Suite struct SecurityWiringTests {
    @Test func csrfEndpointIssuesTokenAndCookie() async throws {
        try await withFlux { app, _ in
            let res = try await app.testing().sendRequest(.GET, "/api/csrf")
            #expect(res.status == .ok)
            let body = try res.content.decode(CSRFTokenBody.self)
            #expect(res.headers.setCookie?["csrf"]?.string == body.token)
            #expect(res.headers.first(name: "RateLimit-Policy") == "\"csrf\";q=60;w=60")
        }
    }

    @Test func everyUnsafeRouteRequiresCSRF() async throws {
        try await withFlux(routes: { routes in
            routes.post("test", "submit") { _ in "ok" }
            routes.delete("test", "thing", ":id") { _ in "ok" }
        }) { app, _ in
            let tester = try app.testing()
            let unsafe = app.routes.all.filter { ![.GET, .HEAD, .OPTIONS].contains($0.method) }
            #expect(unsafe.count >= 2)
            for route in unsafe {
                let path = "/" + route.path.map { $0.description.hasPrefix(":") ? "x" : $0.description }.joined(separator: "/")
                let res = try await tester.sendRequest(route.method, path, headers: ["Cookie": "session=1"])
                #expect(res.status == .forbidden, "\(route.method) \(path)")
                #expect(res.body.string.contains("csrf_failed"))
            }
            let ok = try await tester.sendRequest(.POST, "/test/submit", headers: try await csrfHeaders(tester))
            #expect(ok.status == .ok)
        }
    }

    /// Apple's form_post answer comes from Apple's site and can carry no token: its callback is the one route the CSRF
    /// check skips, and a POST to it without the flow cookie signs no one in, whatever cookies come along.
    @Test func onlyAppleCallbackSkipsCSRFAndItOnlyRelays() async throws {
        try await withFlux(environment: appleSignInEnvironment()) { app, _ in
            let tester = try app.testing()
            func name(_ route: Route) -> String { "\(route.method) /" + route.path.map(\.description).joined(separator: "/") }
            let exempt = app.routes.all.filter { $0.userInfo[CSRFProtection.exemptRouteKey] != nil }
            #expect(exempt.map(name) == ["POST /api/auth/oidc/apple/callback"])
            for route in app.routes.all where ![.GET, .HEAD, .OPTIONS].contains(route.method) && !exempt.contains(where: { $0 === route }) {
                let path = "/" + route.path.map { $0.description.hasPrefix(":") ? "x" : $0.description }.joined(separator: "/")
                let res = try await tester.sendRequest(route.method, path, headers: ["Cookie": "session=1"])
                #expect(res.status == .forbidden, "\(name(route))")
            }

            let form: HTTPHeaders = ["Cookie": "session=1", "Content-Type": "application/x-www-form-urlencoded"]
            let relay = try await tester.sendRequest(.POST, "/api/auth/oidc/apple/callback", headers: form,
                                                     body: ByteBuffer(string: "code=the-code&state=the-state"))
            #expect(relay.status == .ok)
            #expect(relay.body.string.contains(#"<input type="hidden" name="relayed" value="1">"#))
            #expect(relay.headers.setCookie?["access"] == nil)
            let relayed = try await tester.sendRequest(.POST, "/api/auth/oidc/apple/callback", headers: form,
                                                       body: ByteBuffer(string: "code=the-code&state=the-state&relayed=1"))
            #expect(relayed.status == .unauthorized)
            #expect(relayed.body.string.contains("oidc_flow_missing"))
        }
    }

    @Test func securityHeadersOnSuccessAndErrorResponses() async throws {
        try await withFlux { app, _ in
            for path in ["/api/health", "/api/nope"] {
                let res = try await app.testing().sendRequest(.GET, path)
                #expect(res.headers.first(name: "Content-Security-Policy")?.contains("frame-ancestors 'none'") == true, "\(path)")
                #expect(res.headers.first(name: "X-Content-Type-Options") == "nosniff")
            }
        }
    }

    @Test func rateLimitedRouteAnswers429Envelope() async throws {
        try await withFlux { app, _ in
            let tester = try app.testing(method: .running(port: 0))
            // The bucket refills one token a second while the loop runs, so count until the first refusal.
            var successes = 0
            var res = try await tester.sendRequest(.GET, "/api/csrf")
            while res.status == .ok, successes < 200 {
                successes += 1
                res = try await tester.sendRequest(.GET, "/api/csrf")
            }
            #expect(successes >= 60 && successes < 200)
            #expect(res.status == .tooManyRequests)
            #expect(res.body.string.contains(#""code":"rate_limited""#))
            #expect(res.headers.first(name: .retryAfter) == "1")
        }
    }

    @Test func fieldErrorsBecomeA400EnvelopeAndOneWarning() async throws {
        try await withFlux(routes: { routes in
            routes.get("test", "validate") { req -> String in
                var errors = FieldErrors()
                errors.check("name", (req.query[String.self, at: "name"] ?? "").count <= 5, "must be at most 5 characters")
                errors.check("email", false, "must be an email address")
                try errors.throwIfAny()
                return "ok"
            }
        }) { app, _ in
            let requestID = "validate-\(UUID().uuidString)"
            let res = try await app.testing().sendRequest(.GET, "/test/validate?name=secret-value-too-long",
                                                         headers: ["X-Request-Id": requestID])
            #expect(res.status == .badRequest)
            let json = try JSONSerialization.jsonObject(with: Data(buffer: res.body)) as! [String: [String: Any]]
            #expect(json["error"]?["code"] as? String == "invalid_input")
            #expect(json["error"]?["fields"] as? [String: String] == ["name": "must be at most 5 characters", "email": "must be an email address"])
            let warnings = LogCapture.shared.entries(forRequestID: requestID).filter { $0["level"] as? String == "warning" }
            #expect(warnings.count == 1)
            #expect(warnings.first?["fields"] as? [String] == ["email", "name"])
            #expect(!LogCapture.shared.all.contains { $0.contains("secret-value-too-long") })
        }
    }

    struct Signup: Content, Validatable {
        let email: String
        let name: String

        static func validations(_ validations: inout Validations) {
            validations.add("email", as: String.self, is: .email)
            validations.add("name", as: String.self, is: .count(1...5))
        }
    }

    @Test func vaporValidationsBecomeTheSameEnvelope() async throws {
        try await withFlux(routes: { routes in
            routes.get("test", "signup") { req -> String in
                try Signup.validate(query: req)
                return "ok"
            }
        }) { app, _ in
            let res = try await app.testing().sendRequest(.GET, "/test/signup?email=nope&name=toolongname")
            #expect(res.status == .badRequest)
            let json = try JSONSerialization.jsonObject(with: Data(buffer: res.body)) as! [String: [String: Any]]
            #expect(json["error"]?["code"] as? String == "invalid_input")
            #expect((json["error"]?["fields"] as? [String: String])?.keys.sorted() == ["email", "name"])
        }
    }

    @Test func configuredCORSOriginIsServedErrorAnswersIncluded() async throws {
        try await withFlux(environment: ["CORS_ORIGINS": "https://www.example.com"]) { app, _ in
            let res = try await app.testing().sendRequest(.OPTIONS, "/api/csrf", headers: [
                "Origin": "https://www.example.com", "Access-Control-Request-Method": "GET",
            ])
            #expect(res.status == .noContent)
            #expect(res.headers.first(name: .accessControlAllowOrigin) == "https://www.example.com")

            // A cross-origin form post without its CSRF pair is refused; the site's script must still be able
            // to read why, so the refusal carries the CORS headers too.
            let refused = try await app.testing().sendRequest(.POST, "/api/consultation", headers: [
                "Origin": "https://www.example.com", "Content-Type": "application/json",
            ])
            #expect(refused.status == .forbidden)
            #expect(refused.headers.first(name: .accessControlAllowOrigin) == "https://www.example.com")
            #expect(refused.headers.first(name: .accessControlAllowCredentials) == "true")
            let missing = try await app.testing().sendRequest(.GET, "/api/no-such-thing", headers: ["Origin": "https://www.example.com"])
            #expect(missing.status == .notFound)
            #expect(missing.headers.first(name: .accessControlAllowOrigin) == "https://www.example.com")
        }
    }
}

@Suite struct SQLRateLimitStoreTests {
    let policy = RateLimitPolicy.perMinute(5, name: "sql-test")

    @Test func concurrentRequestsSpendExactlyTheLimit() async throws {
        try await withFlux { app, _ in
            let store = SQLRateLimitStore(database: { app.db as! any SQLDatabase })
            let now = Date()
            let allowed = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<40 { group.addTask { try await store.consume(key: "shared", policy: policy, now: now).allowed } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(allowed == 5)
            let refused = try await store.consume(key: "shared", policy: policy, now: now)
            #expect(refused.retryAfter > 11.9 && refused.retryAfter <= 12)
            #expect(try await store.consume(key: "other", policy: policy, now: now).remaining == 4)
        }
    }

    @Test func agreesWithTheMemoryStoreToTheToken() async throws {
        try await withFlux { app, _ in
            let sql = SQLRateLimitStore(database: { app.db as! any SQLDatabase })
            let memory = MemoryRateLimitStore()
            let start = Date(timeIntervalSince1970: 2_000_000)
            for offset in [0.0, 0, 0, 1, 2, 2, 2, 2, 5, 13, 14, 30, 31, 31, 31, 31, 31, 95] {
                let now = start.addingTimeInterval(offset)
                let expected = try await memory.consume(key: "k", policy: policy, now: now)
                let actual = try await sql.consume(key: "k", policy: policy, now: now)
                #expect(actual.allowed == expected.allowed, "at +\(offset) s")
                #expect(actual.remaining == expected.remaining, "at +\(offset) s")
                #expect(abs(actual.retryAfter - expected.retryAfter) < 0.001, "at +\(offset) s")
            }
        }
    }

    @Test func aReplicaWhoseClockIsBehindNeitherDrainsNorRefills() async throws {
        try await withFlux { app, _ in
            let store = SQLRateLimitStore(database: { app.db as! any SQLDatabase })
            let now = Date(timeIntervalSince1970: 3_000_000)
            for _ in 0..<3 { _ = try await store.consume(key: "skew", policy: policy, now: now) }
            // A replica 10 minutes behind: one token spent, no negative refill.
            let behind = try await store.consume(key: "skew", policy: policy, now: now.addingTimeInterval(-600))
            #expect(behind.allowed && behind.remaining == 1)
            // Back on time: nothing was refilled by the skew either.
            let onTime = try await store.consume(key: "skew", policy: policy, now: now)
            #expect(onTime.allowed && onTime.remaining == 0)
            #expect(try await store.consume(key: "skew", policy: policy, now: now).allowed == false)
        }
    }

    @Test func databaseStoreIsUsedWhenConfigured() async throws {
        try await withFlux(environment: ["RATE_LIMIT_STORE": "database"]) { app, _ in
            _ = try await app.testing().sendRequest(.GET, "/api/csrf")
            let sql = app.db as! any SQLDatabase
            let rows = try await sql.raw("SELECT count(*) AS n FROM rate_limit_buckets WHERE key LIKE 'csrf|%'")
                .first(decodingColumn: "n", as: Int.self)
            #expect(rows == 1)
        }
    }
}

@Suite struct SecretRotationTests {
    @Test func shareLinksAndRefreshSuccessorsSurviveARotation() async throws {
        try await withFlux(environment: ["SESSION_SECRET": Self.old]) { app, config async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let files = PortalFilesTests()
            let file = try await files.upload(tester, admin, PortalFilesTests.pdf, filename: "brochure.pdf").content.decode(PortalFilesTests.FileView.self)
            let link = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/files/\(file.id)/shares", headers: admin.bearer) { req in
                try req.content.encode(["expiresInHours": 24])
            }.content.decode(PortalFilesController.ShareView.self)
            let path = String(link.url[link.url.range(of: "/api/shared/")!.lowerBound...])
            // A refresh rotated under the old secret, whose double submit arrives after the rotation.
            let rotatedOnce = try await app.identity.refreshTokens.rotate(admin.refreshToken, on: app.db, revocations: app.identity.revocations)
            guard case .rotated(_, let successor) = rotatedOnce else { Issue.record("no rotation"); return }
            var rotated = config
            rotated.sessionSecret = SecretValue(Self.new)
            rotated.previousSessionSecret = SecretValue(Self.old)
            try await withAnotherInstance(rotated) { other in
                #expect(try await other.testing().sendRequest(.GET, path).status == .ok)
                let retried = try await other.identity.refreshTokens.rotate(admin.refreshToken, on: other.db, revocations: other.identity.revocations)
                guard case .rotated(_, let again) = retried else { Issue.record("the double submit was refused: \(retried)"); return }
                #expect(again == successor)
            }
        }
    }

    static let old = "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"
    static let new = "Zk8rT2vN6pQ1wY4mB9cX3jH7fL0sD5gA8eU2iO6nR1tV4yK7qW3zP9x"

    private static func routes(_ routes: any RoutesBuilder) throws {
        routes.post("test", "submit") { _ in "ok" }
    }

    @Test func csrfTokensFromTheOldSecretSurviveARotatedRestartUntilTheyExpire() async throws {
        let dataDirectory = try TemporaryDirectory()
        var headers = HTTPHeaders()
        // Before the rotation: a visitor gets a token.
        try await withFlux(environment: ["SESSION_SECRET": Self.old, "DATA_DIR": dataDirectory.url.path], routes: Self.routes) { app, _ async throws in
            headers = try await csrfHeaders(try app.testing())
        }
        // Restarted with the new secret and the old one as previous: the token still works, new ones use the new key.
        try await withFlux(environment: ["SESSION_SECRET": Self.new, "SESSION_SECRET_PREVIOUS": Self.old,
                                         "DATA_DIR": dataDirectory.url.path], routes: Self.routes) { app, _ async throws in
            let tester = try app.testing()
            #expect(try await tester.sendRequest(.POST, "/test/submit", headers: headers).status == .ok)
            let fresh = try await csrfHeaders(tester)
            #expect(fresh.first(name: "X-CSRF-Token") != headers.first(name: "X-CSRF-Token"))
            #expect(try await tester.sendRequest(.POST, "/test/submit", headers: fresh).status == .ok)
        }
        // Once the previous secret is dropped, the old token is refused.
        try await withFlux(environment: ["SESSION_SECRET": Self.new, "DATA_DIR": dataDirectory.url.path], routes: Self.routes) { app, _ async throws in
            #expect(try await app.testing().sendRequest(.POST, "/test/submit", headers: headers).status == .forbidden)
        }
    }
}
