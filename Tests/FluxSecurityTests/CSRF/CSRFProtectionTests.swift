import Crypto
import Foundation
import Testing
import VaporTesting
@testable import FluxSecurity

@Suite struct CSRFProtectionTests {
    let protection = CSRFProtection(keys: testKeys) { $0.headers.first(name: "X-Test-Session") }

    private func configure(_ app: Application) throws {
        app.get("csrf") { req in try protection.response(for: req) }
        app.grouped(protection.middleware).post("submit") { _ in "accepted" }
    }

    /// A token pair from GET /csrf, optionally with a session.
    private func fetchToken(_ app: Application, session: String? = nil) async throws -> (token: String, cookie: String, expiresAt: String) {
        var headers = HTTPHeaders()
        if let session { headers.add(name: "X-Test-Session", value: session) }
        let res = try await app.testing().sendRequest(.GET, "/csrf", headers: headers)
        #expect(res.status == .ok)
        #expect(res.headers.first(name: .cacheControl) == "no-store")
        let json = try JSONSerialization.jsonObject(with: Data(buffer: res.body)) as! [String: String]
        let cookie = try #require(res.headers.setCookie?["csrf"])
        #expect(cookie.isHTTPOnly)
        #expect(cookie.sameSite == .strict)
        return (json["token"]!, cookie.string, json["expiresAt"]!)
    }

    private func post(_ app: Application, header: String?, cookie: String?, extra: HTTPHeaders = [:]) async throws -> HTTPStatus {
        var headers = extra
        if let header { headers.add(name: "X-CSRF-Token", value: header) }
        if let cookie { headers.add(name: .cookie, value: "csrf=\(cookie)") }
        return try await app.testing().sendRequest(.POST, "/submit", headers: headers).status
    }

    @Test func matchingFreshPairIsAccepted() async throws {
        try await withBareApp(configure) { app async throws in
            let before = Date()
            let pair = try await fetchToken(app)
            let after = Date()
            #expect(pair.token == pair.cookie)
            // An hour from when the token was issued, whenever that was during the request (the text has whole
            // seconds); a wall-clock tolerance instead failed on a loaded machine.
            let expiresAt = try Date(pair.expiresAt, strategy: .iso8601)
            #expect(expiresAt >= before.addingTimeInterval(3600 - 1) && expiresAt <= after.addingTimeInterval(3600))
            #expect(try await post(app, header: pair.token, cookie: pair.cookie) == .ok)
        }
    }

    /// Every tab of a browser shares the cookie: a second fetch hands back the token the cookie holds, so one tab's
    /// fetch cannot invalidate the token another is about to send. Another session, or a token near its end, gets a
    /// new one.
    @Test func aValidCookieIsHandedBackNotReplaced() async throws {
        try await withBareApp(configure) { app async throws in
            let first = try await fetchToken(app, session: "s1")
            var headers: HTTPHeaders = ["X-Test-Session": "s1", "Cookie": "csrf=\(first.cookie)"]
            let again = try await app.testing().sendRequest(.GET, "/csrf", headers: headers)
            let token = try JSONSerialization.jsonObject(with: Data(buffer: again.body)) as! [String: String]
            #expect(token["token"] == first.token)
            #expect(token["expiresAt"] == first.expiresAt)

            headers.replaceOrAdd(name: "X-Test-Session", value: "s2")
            let otherSession = try await app.testing().sendRequest(.GET, "/csrf", headers: headers)
            let fresh = try JSONSerialization.jsonObject(with: Data(buffer: otherSession.body)) as! [String: String]
            #expect(fresh["token"] != first.token)

            // Past half its lifetime the token is replaced, so a page never holds one about to expire.
            let late = try protection.response(for: Request(application: app, method: .GET, url: "/csrf",
                                                            headers: ["X-Test-Session": "s1", "Cookie": "csrf=\(first.cookie)"],
                                                            on: app.eventLoopGroup.any()),
                                               now: Date().addingTimeInterval(protection.lifetime / 2 + 5))
            let replaced = try JSONSerialization.jsonObject(with: Data(buffer: late.body.buffer!)) as! [String: String]
            #expect(replaced["token"] != first.token)
        }
    }

    @Test func missingHeaderOrCookieIsRefused403() async throws {
        try await withBareApp(configure) { app async throws in
            let pair = try await fetchToken(app)
            #expect(try await post(app, header: nil, cookie: pair.cookie) == .forbidden)
            #expect(try await post(app, header: pair.token, cookie: nil) == .forbidden)
            #expect(try await post(app, header: nil, cookie: nil) == .forbidden)
        }
    }

    @Test func onlyTheRouteMarkedExemptSkipsTheCheck() async throws {
        func configure(_ app: Application) {
            let group = app.grouped(protection.middleware)
            group.post("provider-answer") { _ in "relayed" }.userInfo[CSRFProtection.exemptRouteKey] = "an identity provider's form_post"
            group.post("provider-answer", "other") { _ in "accepted" }
        }
        try await withBareApp(configure) { app async throws in
            let cookie: HTTPHeaders = ["Cookie": "session=1"]
            #expect(try await app.testing().sendRequest(.POST, "/provider-answer", headers: cookie).status == .ok)
            #expect(try await app.testing().sendRequest(.POST, "/provider-answer/other", headers: cookie).status == .forbidden)
        }
    }

    @Test func twoValidButDifferentTokensAreRefused() async throws {
        try await withBareApp(configure) { app async throws in
            let first = try await fetchToken(app)
            let second = try await fetchToken(app)
            #expect(first.token != second.token)
            #expect(try await post(app, header: first.token, cookie: second.cookie) == .forbidden)
        }
    }

    @Test func tamperedTokenIsRefused() async throws {
        try await withBareApp(configure) { app async throws in
            var bytes = Array(try await fetchToken(app).token)
            bytes[10] = bytes[10] == "A" ? "B" : "A"
            let forged = String(bytes)
            #expect(try await post(app, header: forged, cookie: forged) == .forbidden)
        }
    }

    @Test func tokenSignedWithAnotherSecretIsRefused() async throws {
        let other = CSRFProtection(keys: SecretKeys(secret: "another-secret-another-secret-another-9x"))
        try await withBareApp(configure) { app async throws in
            let request = Request(application: app, on: app.eventLoopGroup.any())
            let foreign = other.issue(for: request).token
            #expect(try await post(app, header: foreign, cookie: foreign) == .forbidden)
        }
    }

    @Test func expiredTokenIsRefused() async throws {
        try await withBareApp(configure) { app async throws in
            let request = Request(application: app, on: app.eventLoopGroup.any())
            let old = protection.issue(for: request, now: Date().addingTimeInterval(-3601)).token
            #expect(try await post(app, header: old, cookie: old) == .forbidden)
            let fresh = protection.issue(for: request, now: Date().addingTimeInterval(-3500)).token
            #expect(try await post(app, header: fresh, cookie: fresh) == .ok)
        }
    }

    @Test func tokenIsBoundToTheSession() async throws {
        try await withBareApp(configure) { app async throws in
            let pair = try await fetchToken(app, session: "session-a")
            #expect(try await post(app, header: pair.token, cookie: pair.cookie, extra: ["X-Test-Session": "session-a"]) == .ok)
            #expect(try await post(app, header: pair.token, cookie: pair.cookie, extra: ["X-Test-Session": "session-b"]) == .forbidden)
            #expect(try await post(app, header: pair.token, cookie: pair.cookie) == .forbidden)
        }
    }

    @Test func bearerOnlyRequestsAreExemptButNotWithACookie() async throws {
        try await withBareApp(configure) { app async throws in
            #expect(try await post(app, header: nil, cookie: nil, extra: ["Authorization": "Bearer abc"]) == .ok)
            var withCookie: HTTPHeaders = ["Authorization": "Bearer abc"]
            withCookie.add(name: .cookie, value: "session=1")
            #expect(try await post(app, header: nil, cookie: nil, extra: withCookie) == .forbidden)
        }
    }

    @Test(arguments: [
        "", "x", String(repeating: "A", count: 76), String(repeating: "A", count: 100_000), "!!!!not-base64!!!!",
        "ðŸ’¥ðŸ’¥ðŸ’¥", "é" + String(repeating: "A", count: 74), String(repeating: "_", count: 76), "AQ", "\u{0}\u{1}",
    ])
    func garbageTokensGetACleanRefusal(garbage: String) async throws {
        try await withBareApp(configure) { app async throws in
            var headers = HTTPHeaders()
            headers.add(name: "X-CSRF-Token", value: garbage)
            headers.add(name: .cookie, value: "csrf=\(garbage)")
            let res = try await app.testing().sendRequest(.POST, "/submit", headers: headers)
            #expect(res.status == .forbidden)
        }
    }

    @Test func safeMethodsAreNotChecked() async throws {
        try await withBareApp({ app in app.grouped(protection.middleware).get("page") { _ in "ok" } }) { app async throws in
            #expect(try await app.testing().sendRequest(.GET, "/page").status == .ok)
        }
    }
}
