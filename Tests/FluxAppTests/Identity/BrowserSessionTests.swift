@testable import FluxApp
import Foundation
import Testing
import VaporTesting

/// Browser pages sign in with HttpOnly cookies instead of tokens in the body, and then every unsafe request
/// needs a CSRF token bound to the signed-in session.
@Suite struct BrowserSessionTests {
    /// A fresh CSRF pair fetched with `cookies` sent along (so it is bound to their session), merged with them.
    func csrf(_ tester: any TestingApplicationTester, cookies: String) async throws -> HTTPHeaders {
        let response = try await tester.sendRequest(.GET, "/api/csrf", headers: ["Cookie": cookies])
        let token = try response.content.decode(CSRFTokenBody.self).token
        return ["X-CSRF-Token": token, "Cookie": "\(cookies); csrf=\(token)", "Content-Type": "application/json"]
    }

    @Test func cookieSignInBindsCSRFToTheSession() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "browser@example.com")
            let anonymous = try await csrfHeaders(tester)
            let signIn = try await tester.sendRequest(.POST, "/api/auth/login", headers: anonymous) { req in
                try req.content.encode(LoginWithCookies(email: "browser@example.com", password: testPassword, useCookies: true))
            }
            #expect(signIn.status == .ok)
            #expect(!signIn.body.string.contains("accessToken\":\"ey"))
            let access = try #require(signIn.headers.setCookie?["access"])
            let refresh = try #require(signIn.headers.setCookie?["refresh"])
            #expect(access.isHTTPOnly && refresh.isHTTPOnly)
            #expect(refresh.sameSite == .strict)
            let session = "access=\(access.string); refresh=\(refresh.string)"

            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Cookie": session]).status == .ok)
            // An unsafe request on the cookie alone is refused: this is what a cross-site form would send.
            #expect(try await tester.sendRequest(.POST, "/api/auth/logout", headers: ["Cookie": session]).status == .forbidden)
            // The token fetched before signing in is not bound to this session, so it no longer passes.
            var stale = anonymous
            stale.replaceOrAdd(name: .cookie, value: "\(session); csrf=\(anonymous.first(name: "X-CSRF-Token")!)")
            let refused = try await tester.sendRequest(.POST, "/api/auth/logout", headers: stale)
            #expect(errorCode(refused) == "csrf_failed")

            // The cookie refresh rotates both cookies.
            let rotated = try await tester.sendRequest(.POST, "/api/auth/refresh", headers: try await csrf(tester, cookies: session))
            #expect(rotated.status == .ok)
            let newRefresh = try #require(rotated.headers.setCookie?["refresh"])
            #expect(newRefresh.string != refresh.string)
            let newSession = "access=\(try #require(rotated.headers.setCookie?["access"]).string); refresh=\(newRefresh.string)"

            let out = try await tester.sendRequest(.POST, "/api/auth/logout", headers: try await csrf(tester, cookies: newSession))
            #expect(out.status == .noContent)
            #expect(out.headers.setCookie?["access"]?.string == "")
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Cookie": newSession]).status == .unauthorized)
        }
    }

    @Test func overHTTPSTheCookiesAreHostPrefixedAndSecure() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            let tester = try app.testing(method: .running(port: 0))
            _ = try await registerAndSignIn(tester, email: "secure@example.com")
            let https: HTTPHeaders = ["X-Forwarded-Proto": "https"]
            let csrfResponse = try await tester.sendRequest(.GET, "/api/csrf", headers: https)
            let token = try csrfResponse.content.decode(CSRFTokenBody.self).token
            var headers = https
            headers.add(name: "X-CSRF-Token", value: token)
            headers.add(name: .cookie, value: "__Host-csrf=\(token)")
            let signIn = try await tester.sendRequest(.POST, "/api/auth/login", headers: headers) { req in
                try req.content.encode(LoginWithCookies(email: "secure@example.com", password: testPassword, useCookies: true))
            }
            #expect(signIn.status == .ok)
            for name in ["__Host-access", "__Host-refresh"] {
                let cookie = try #require(signIn.headers.setCookie?[name], "\(name)")
                #expect(cookie.isSecure && cookie.isHTTPOnly && cookie.path == "/" && cookie.domain == nil)
            }
        }
    }
}

struct LoginWithCookies: Content {
    let email: String
    let password: String
    let useCookies: Bool
}
