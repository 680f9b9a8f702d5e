import Testing
import VaporTesting
@testable import FluxSecurity

@Suite struct CORSPolicyTests {
    @Test func wildcardWithCredentialsIsRefused() {
        #expect(throws: CORSPolicy.InvalidConfiguration.self) { try CORSPolicy(origins: ["*"], allowCredentials: true) }
        #expect(throws: CORSPolicy.InvalidConfiguration.self) { try CORSPolicy(origins: ["https://a.example", "*"], allowCredentials: false) }
        #expect(throws: CORSPolicy.InvalidConfiguration.self) { try CORSPolicy(origins: ["https://a.example/path"]) }
        #expect(throws: Never.self) { try CORSPolicy(origins: ["*"], allowCredentials: false) }
    }

    private func configure(_ app: Application) throws {
        app.middleware.use(try CORSPolicy(origins: ["https://www.example.com", "http://localhost:3000"]).middleware)
        app.post("api", "thing") { _ in "ok" }
    }

    @Test func allowedPreflightIsAnswered() async throws {
        try await withBareApp(configure) { app async throws in
            let res = try await app.testing().sendRequest(.OPTIONS, "/api/thing", headers: [
                "Origin": "https://www.example.com", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-csrf-token",
            ])
            #expect(res.status == .noContent)
            #expect(res.headers.first(name: .accessControlAllowOrigin) == "https://www.example.com")
            #expect(res.headers.first(name: .accessControlAllowCredentials) == "true")
            #expect(res.headers.first(name: .accessControlAllowMethods)?.contains("POST") == true)
            #expect(res.headers.first(name: .accessControlAllowHeaders)?.contains("X-CSRF-Token") == true)
            #expect(res.headers.first(name: .vary) == "Origin")
        }
    }

    @Test func disallowedOriginGetsNoCORSHeaders() async throws {
        try await withBareApp(configure) { app async throws in
            for method in [HTTPMethod.OPTIONS, .POST] {
                let res = try await app.testing().sendRequest(method, "/api/thing", headers: [
                    "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
                ])
                #expect(res.headers.first(name: .accessControlAllowOrigin) == nil)
                #expect(res.headers.first(name: .accessControlAllowCredentials) == nil)
            }
        }
    }

    @Test func allowedSimpleRequestEchoesTheOrigin() async throws {
        try await withBareApp(configure) { app async throws in
            let res = try await app.testing().sendRequest(.POST, "/api/thing", headers: ["Origin": "http://localhost:3000"])
            #expect(res.status == .ok)
            #expect(res.headers.first(name: .accessControlAllowOrigin) == "http://localhost:3000")
            // The page's script may read the request id and what the rate limit says.
            #expect(res.headers.first(name: "Access-Control-Expose-Headers") == "X-Request-Id, Retry-After, RateLimit, RateLimit-Policy")
        }
    }

    @Test func anAllowedOriginsFieldsReplaceTheRoutesAndVaryIsAdded() async throws {
        try await withBareApp({ app in
            app.middleware.use(try CORSPolicy(origins: ["https://www.example.com"]).middleware)
            app.get("own") { _ in
                Response(headers: ["Access-Control-Allow-Origin": "https://evil.example", "Vary": "Accept-Encoding"])
            }
        }) { app async throws in
            let headers = try await app.testing().sendRequest(.GET, "/own", headers: ["Origin": "https://www.example.com"]).headers
            #expect(headers[canonicalForm: "Access-Control-Allow-Origin"] == ["https://www.example.com"])
            #expect(headers[canonicalForm: "Access-Control-Allow-Credentials"] == ["true"])
            #expect(headers[canonicalForm: "Access-Control-Expose-Headers"].count == 4)
            #expect(headers[canonicalForm: "Vary"] == ["Accept-Encoding", "Origin"])
        }
    }

    @Test func withoutCredentialsNoCredentialsFieldIsSent() async throws {
        try await withBareApp({ app in
            app.middleware.use(try CORSPolicy(origins: ["*"], allowCredentials: false).middleware)
            app.get("open") { _ in "ok" }
        }) { app async throws in
            let headers = try await app.testing().sendRequest(.GET, "/open", headers: ["Origin": "https://any.example"]).headers
            #expect(headers.first(name: "Access-Control-Allow-Origin") == "*")
            #expect(headers.first(name: "Access-Control-Allow-Credentials") == nil)
            #expect(headers.first(name: "Access-Control-Expose-Headers") != nil)
        }
    }
}
