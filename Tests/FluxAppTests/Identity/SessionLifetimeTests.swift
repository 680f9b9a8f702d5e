@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

/// Sessions last while they are used, never past their absolute end, and a sign-in from a device and network the
/// account has never used tells its owner.
@Suite struct SessionLifetimeTests {
    func refresh(_ tester: any TestingApplicationTester, _ token: String) async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/auth/refresh", headers: try await csrfHeaders(tester)) { req in
            try req.content.encode(["refreshToken": token])
        }
    }

    struct Ends: Decodable {
        let expiresAt: Date
        let idleExpiresAt: Date
        let absoluteExpiresAt: Date
    }

    @Test func eachRenewalSlidesTheIdleEndUpToTheAbsoluteOne() async throws {
        try await withFlux(environment: ["ACCESS_TOKEN_SECONDS": "60", "SESSION_IDLE_DAYS": "7", "SESSION_ABSOLUTE_DAYS": "10"]) { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "slide@example.com")
            let session = try #require(try await AuthSession.find(account.sessionID, on: app.db))
            // setup: the sign-in was five days ago and last renewed then
            let signedIn = Date().addingTimeInterval(-5 * 86_400)
            session.createdAt = signedIn
            session.expiresAt = signedIn.addingTimeInterval(7 * 86_400)
            try await session.update(on: app.db)

            // MUT
            let renewed = try await refresh(tester, account.refreshToken)
            #expect(renewed.status == .ok)
            let pair = try renewed.content.decode(TokenPair.self)
            #expect(pair.expiresIn == 60)

            // Seven days from now would be twelve after the sign-in: the absolute end (ten days) wins.
            let info = try await tester.sendRequest(.GET, "/api/auth/token-info", headers: ["Authorization": "Bearer \(pair.accessToken)"])
            let ends = try info.content.decode(Ends.self, using: { let d = JSONDecoder(); d.dateDecodingStrategy = .iso8601; return d }())
            let absolute = signedIn.addingTimeInterval(10 * 86_400)
            #expect(abs(ends.absoluteExpiresAt.timeIntervalSince(absolute)) < 2)
            #expect(abs(ends.idleExpiresAt.timeIntervalSince(absolute)) < 2)
            #expect(ends.expiresAt.timeIntervalSinceNow <= 61)
            let stored = try #require(try await AuthSession.find(account.sessionID, on: app.db))
            #expect(abs(stored.expiresAt.timeIntervalSince(absolute)) < 2)

            // Past the absolute end the refresh token is refused, however recently it was used.
            stored.createdAt = Date().addingTimeInterval(-11 * 86_400)
            stored.expiresAt = Date().addingTimeInterval(-60)
            try await stored.update(on: app.db)
            #expect(try await refresh(tester, pair.refreshToken).status == .unauthorized)
        }
    }

    @Test func aRenewalWellInsideTheLimitsMovesTheIdleEnd() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "idle@example.com")
            let session = try #require(try await AuthSession.find(account.sessionID, on: app.db))
            session.expiresAt = Date().addingTimeInterval(86_400)
            try await session.update(on: app.db)
            #expect(try await refresh(tester, account.refreshToken).status == .ok)
            let renewed = try #require(try await AuthSession.find(account.sessionID, on: app.db))
            #expect(abs(renewed.expiresAt.timeIntervalSinceNow - 7 * 86_400) < 5)
        }
    }

    @Test func aSignInFromAnUnseenDeviceAndNetworkMailsTheOwner() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            // Over a real socket: the network is the trusted proxy's X-Forwarded-For, which needs a peer address.
            let tester = try app.testing(method: .running(port: 0))
            _ = try await registerAndSignIn(tester, email: "traveller@example.com")
            func signIn(_ agent: String, from address: String) async throws {
                let answer = try await login(tester, email: "traveller@example.com",
                                             headers: ["User-Agent": agent, "X-Forwarded-For": address])
                #expect(answer.status == .ok)
            }
            let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
            func notices() async throws -> Int {
                try await OutboxMessage.query(on: app.db).filter(\.$kind == "new-device").count()
            }
            // The account's first sign-in (registerAndSignIn's) has nothing to compare with: no notice.
            #expect(try await notices() == 0)
            // Firefox on Linux from a new address: neither seen before.
            try await signIn(firefox, from: "203.0.113.7")
            #expect(try await notices() == 1)
            // A known device on a new network, and a new device on a known network, are the owner's ordinary life.
            try await signIn(firefox, from: "198.51.100.20")
            try await signIn(safari, from: "203.0.113.7")
            #expect(try await notices() == 1)
            // Safari on iPadOS from yet another network: the owner hears of it, and the audit log records it.
            try await signIn(safari.replacingOccurrences(of: "iPhone", with: "iPad"), from: "192.0.2.99")
            #expect(try await notices() == 2)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "login.new_device").count() == 2)
        }
    }
}
