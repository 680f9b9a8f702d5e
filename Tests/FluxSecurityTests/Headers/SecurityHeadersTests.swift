import Foundation
import NIOCore
import Testing
import VaporTesting
@testable import FluxSecurity

@Suite struct SecurityHeadersTests {
    @Test func everyResponseCarriesTheStrictHeadersAndAFreshNonce() async throws {
        let headers = SecurityHeadersMiddleware(connectSources: ["https://api.example.com"])
        try await withBareApp({ app in
            app.middleware.use(headers, at: .beginning)
            app.get("page") { req in req.cspNonce }
        }) { app async throws in
            let first = try await app.testing().sendRequest(.GET, "/page")
            let second = try await app.testing().sendRequest(.GET, "/page")
            let nonce = first.body.string
            #expect(nonce.count >= 22)
            #expect(nonce != second.body.string)
            let csp = try #require(first.headers.first(name: "Content-Security-Policy"))
            #expect(csp == "default-src 'self'; script-src 'self' 'nonce-\(nonce)'; style-src 'self' 'nonce-\(nonce)'; img-src 'self' data:; connect-src 'self' https://api.example.com; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
            #expect(!csp.contains("unsafe-inline"))
            #expect(first.headers.first(name: "X-Frame-Options") == "DENY")
            #expect(first.headers.first(name: "X-Content-Type-Options") == "nosniff")
            #expect(first.headers.first(name: "Referrer-Policy") == "strict-origin-when-cross-origin")
            #expect(first.headers.first(name: "Permissions-Policy") == "camera=(), microphone=(), geolocation=()")
            #expect(first.headers.first(name: "Cross-Origin-Opener-Policy") == "same-origin")
            #expect(first.headers.first(name: "Cross-Origin-Resource-Policy") == "same-origin")
            #expect(first.headers.first(name: "Strict-Transport-Security") == nil)
            for name in ["Content-Security-Policy", "X-Frame-Options", "Cross-Origin-Resource-Policy"] {
                #expect(first.headers[canonicalForm: name].count == 1, "\(name) once")
            }
        }
    }

    /// The same policy, with 128 fresh bits in both places.
    @Test func aResponseNoPageAskedANonceForStillGetsAFreshOne() async throws {
        let headers = SecurityHeadersMiddleware(connectSources: ["https://api.example.com"])
        try await withBareApp({ app in
            app.middleware.use(headers, at: .beginning)
            app.get("data") { _ in "{}" }
        }) { app async throws in
            var nonces: [String] = []
            for _ in 0..<2 {
                let csp = try #require(try await app.testing().sendRequest(.GET, "/data").headers.first(name: "Content-Security-Policy"))
                let match = try #require(csp.firstMatch(of: /script-src 'self' 'nonce-([A-Za-z0-9_-]{22})'; style-src 'self' 'nonce-([^']+)'/))
                #expect(match.1 == match.2)
                #expect(csp == headers.contentSecurityPolicy(nonce: String(match.1)))
                #expect(Base64URL.decode(match.1)?.count == 16)
                nonces.append(String(match.1))
            }
            #expect(nonces[0] != nonces[1])
        }
    }

    @Test func errorResponsesCarryTheHeadersToo() async throws {
        try await withBareApp({ app in app.middleware.use(SecurityHeadersMiddleware(), at: .beginning) }) { app async throws in
            let res = try await app.testing().sendRequest(.GET, "/missing")
            #expect(res.status == .notFound)
            #expect(res.headers.first(name: "X-Frame-Options") == "DENY")
        }
    }

    @Test func aRoutesOwnPolicyIsKept() async throws {
        try await withBareApp({ app in
            app.middleware.use(SecurityHeadersMiddleware(), at: .beginning)
            app.get("file") { _ in Response(headers: ["Content-Security-Policy": "sandbox"]) }
        }) { app async throws in
            #expect(try await app.testing().sendRequest(.GET, "/file").headers[canonicalForm: "Content-Security-Policy"] == ["sandbox"])
        }
    }

    @Test func aRoutesOwnFieldIsKeptAndTheOthersAreStillAdded() async throws {
        try await withBareApp({ app in
            app.middleware.use(SecurityHeadersMiddleware(), at: .beginning)
            app.get("embed") { _ in Response(headers: ["x-frame-options": "SAMEORIGIN"]) }
        }) { app async throws in
            let headers = try await app.testing().sendRequest(.GET, "/embed").headers
            #expect(headers[canonicalForm: "X-Frame-Options"] == ["SAMEORIGIN"])
            #expect(headers.first(name: "Content-Security-Policy")?.hasPrefix("default-src 'self'") == true)
            #expect(headers[canonicalForm: "X-Content-Type-Options"] == ["nosniff"])
            #expect(headers[canonicalForm: "Cross-Origin-Opener-Policy"] == ["same-origin"])
        }
    }

    @Test func aMiddlewareFurtherOutSeesTheHeaders() async throws {
        struct Observer: AsyncMiddleware {
            func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
                let response = try await next.respond(to: request)
                response.headers.replaceOrAdd(name: "X-Seen-Frame-Options", value: response.headers.first(name: "X-Frame-Options") ?? "none")
                return response
            }
        }
        try await withBareApp({ app in
            app.middleware.use(Observer(), at: .beginning)
            app.middleware.use(SecurityHeadersMiddleware())
            app.get("page") { _ in "ok" }
        }) { app async throws in
            #expect(try await app.testing().sendRequest(.GET, "/page").headers.first(name: "X-Seen-Frame-Options") == "DENY")
        }
    }

    @Test func hstsOnlyWhenATrustedProxySaysHTTPS() async throws {
        let trusted = TrustedProxies([CIDR("127.0.0.0/8")!])
        for (proxies, proto, expected) in [(trusted, "https", true), (trusted, "http", false), (TrustedProxies(), "https", false)] {
            try await withBareApp({ app in
                app.middleware.use(SecurityHeadersMiddleware(trustedProxies: proxies), at: .beginning)
                app.get("page") { _ in "ok" }
            }) { app async throws in
                let res = try await app.testing(method: .running(port: 0)).sendRequest(.GET, "/page", headers: ["X-Forwarded-Proto": proto])
                #expect((res.headers.first(name: "Strict-Transport-Security") == "max-age=63072000; includeSubDomains") == expected)
            }
        }
    }

    @Test func cookiesAreHostPrefixedAndSecureOnlyOverHTTPS() async throws {
        let trusted = TrustedProxies([CIDR("127.0.0.1")!])
        let cookies = CookiePolicy(trustedProxies: trusted)
        try await withBareApp({ app in
            app.get("set") { req in
                let response = Response(status: .ok)
                cookies.set("sid", value: "v", maxAge: 60, on: response, for: req)
                return response
            }
        }) { app async throws in
            let live = try app.testing(method: .running(port: 0))
            let https = try await live.sendRequest(.GET, "/set", headers: ["X-Forwarded-Proto": "https"])
            let secure = try #require(https.headers.setCookie?["__Host-sid"])
            #expect(secure.isSecure && secure.isHTTPOnly && secure.path == "/" && secure.domain == nil)
            #expect(secure.sameSite == .lax)
            let http = try await live.sendRequest(.GET, "/set")
            let plain = try #require(http.headers.setCookie?["sid"])
            #expect(!plain.isSecure && plain.isHTTPOnly)
        }
    }

    @Test func aCookieIsReadFromAnyCookieHeaderWithoutItsQuotes() async throws {
        let cookies = CookiePolicy()
        try await withBareApp({ _ in }) { app async throws in
            func read(_ headers: HTTPHeaders) -> String? {
                cookies.read("csrf", from: Request(application: app, headers: headers, on: app.eventLoopGroup.any()))
            }
            #expect(read(["Cookie": "csrf=abc"]) == "abc")
            #expect(read(["Cookie": "csrf=\"abc\""]) == "abc")
            // A name that only starts or ends like the wanted one is another cookie.
            #expect(read(["Cookie": "xcsrf=no; csrfx=no;  csrf=yes"]) == "yes")
            #expect(read(HTTPHeaders([("Cookie", "a=1"), ("Cookie", "csrf=second")])) == "second")
            #expect(read(["Cookie": "csrf="]) == "")
            #expect(read(["cOOKIE": "csrf=any-case"]) == "any-case")
            // Fields whose names only look like Cookie are not read.
            #expect(read(["Set-Cookie": "csrf=no", "Cookies": "csrf=no", "Cookie2": "csrf=no", "COOKIe\u{0}": "csrf=no"]) == nil)
            #expect(read(["Cookie": "other=1"]) == nil)
            #expect(read([:]) == nil)
        }
    }
}
