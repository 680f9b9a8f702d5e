@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct SessionTests {
    func refresh(_ tester: any TestingApplicationTester, _ token: String) async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/auth/refresh", headers: try await csrfHeaders(tester)) { req in
            try req.content.encode(["refreshToken": token])
        }
    }

    @Test func refreshRotatesAndTheSuccessorWorks() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "rotate@example.com")
            let first = try await refresh(tester, account.refreshToken)
            #expect(first.status == .ok)
            let pair = try first.content.decode(TokenPair.self)
            #expect(pair.refreshToken != account.refreshToken)
            #expect(pair.sessionId == account.sessionID)
            #expect(pair.expiresIn == 900)
            #expect(try await refresh(tester, pair.refreshToken).status == .ok)
            let stored = try await RefreshToken.query(on: app.db).all()
            #expect(!stored.contains { $0.tokenHash == account.refreshToken || $0.tokenHash == pair.refreshToken })
        }
    }

    @Test func refreshReuseRevokesWholeFamily() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "reuse@example.com")
            let second = try await refresh(tester, account.refreshToken).content.decode(TokenPair.self)
            let third = try await refresh(tester, second.refreshToken).content.decode(TokenPair.self)
            // The first token again: its successor is already spent, so this is a replay, not a double submit.
            let replay = try await refresh(tester, account.refreshToken)
            #expect(replay.status == .unauthorized)
            #expect(errorCode(replay) == "invalid_refresh_token")
            // The whole family is dead: the newest refresh token and every access token of the session.
            #expect(try await refresh(tester, third.refreshToken).status == .unauthorized)
            let me = try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Authorization": "Bearer \(third.accessToken)"])
            #expect(me.status == .unauthorized)
            let session = try #require(try await AuthSession.find(account.sessionID, on: app.db))
            #expect(session.revokedReason == "refresh_token_reuse")
            let audit = try await AuditEvent.query(on: app.db).filter(\.$action == "refresh.reuse_detected").all()
            #expect(audit.count == 1)
            #expect(audit.first?.target == account.sessionID.uuidString)
        }
    }

    @Test func doubleSubmitWithinGraceGetsTheSameSuccessor() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "double@example.com")
            let first = try await refresh(tester, account.refreshToken).content.decode(TokenPair.self)
            let again = try await refresh(tester, account.refreshToken)
            #expect(again.status == .ok)
            #expect(try again.content.decode(TokenPair.self).refreshToken == first.refreshToken)
            // Past the grace window the same replay is theft.
            let rotation = app.identity.refreshTokens
            let late = try await rotation.rotate(account.refreshToken, on: app.db, revocations: app.identity.revocations,
                                                 now: Date().addingTimeInterval(RefreshTokenRotation.graceWindow + 1))
            guard case .reuseDetected = late else { Issue.record("expected reuse, got \(late)"); return }
        }
    }

    @Test func fiftyParallelRefreshesLeaveExactlyOneLiveChain() async throws {
        try await withFlux { app, _ async throws in
            let account = try await mintSignedIn(app, role: .clientMember)
            let identity = app.identity
            let results = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        if case .rotated(_, let token) = try await identity.refreshTokens.rotate(
                            account.refreshToken, on: app.db, revocations: identity.revocations) { return token }
                        return nil
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            let successors = Set(results.compactMap { $0 })
            #expect(successors.count == 1, "distinct successors: \(successors.count)")
            #expect(results.allSatisfy { $0 != nil })
            let live = try await RefreshToken.query(on: app.db)
                .filter(\.$sessionID == account.sessionID).filter(\.$usedAt == nil).all()
            #expect(live.count == 1)
            #expect(live.first?.tokenHash == RefreshTokenRotation.hash(successors.first!))
            #expect(try await AuthSession.find(account.sessionID, on: app.db)?.revokedAt == nil)
        }
    }

    @Test func revokedSessionsAccessTokenIsRefusedOnItsNextRequest() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let laptop = try await registerAndSignIn(tester, email: "devices@example.com")
            let phone = try await login(tester, email: "devices@example.com", headers: ["User-Agent": "Mozilla/5.0 (iPhone) Safari/604.1"])
                .content.decode(TokenPair.self)
            let phoneBearer: HTTPHeaders = ["Authorization": "Bearer \(phone.accessToken)"]
            // Warm the revocation cache with the phone's session, then revoke it from the laptop.
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: phoneBearer).status == .ok)
            let list = try await tester.sendRequest(.GET, "/api/auth/sessions", headers: laptop.bearer)
            let sessions = try list.content.decode([SessionListEntry].self)
            #expect(sessions.count == 2)
            #expect(sessions.first { $0.current }?.id == laptop.sessionID)
            #expect(sessions.first { $0.id == phone.sessionId }?.deviceLabel == "Safari on iOS")
            let revoke = try await tester.sendRequest(.DELETE, "/api/auth/sessions/\(phone.sessionId)", headers: laptop.bearer)
            #expect(revoke.status == .noContent)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: phoneBearer).status == .unauthorized)
            #expect(try await refresh(tester, phone.refreshToken).status == .unauthorized)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: laptop.bearer).status == .ok)
            let audit = try await AuditEvent.query(on: app.db).filter(\.$action == "session.revoked").first()
            #expect(audit?.target == phone.sessionId.uuidString)
        }
    }

    @Test func aUserCannotRevokeAnotherUsersSession() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let alice = try await mintSignedIn(app, role: .clientAdmin)
            let mallory = try await mintSignedIn(app, role: .clientAdmin)
            let response = try await tester.sendRequest(.DELETE, "/api/auth/sessions/\(alice.sessionID)", headers: mallory.bearer)
            #expect(response.status == .notFound)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: alice.bearer).status == .ok)
        }
    }

    @Test func logoutAndLogoutAll() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let one = try await registerAndSignIn(tester, email: "out@example.com")
            let two = try await login(tester, email: "out@example.com").content.decode(TokenPair.self)
            let three = try await login(tester, email: "out@example.com").content.decode(TokenPair.self)
            #expect(try await tester.sendRequest(.POST, "/api/auth/logout", headers: one.bearer).status == .noContent)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: one.bearer).status == .unauthorized)
            let twoBearer: HTTPHeaders = ["Authorization": "Bearer \(two.accessToken)"]
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: twoBearer).status == .ok)
            #expect(try await tester.sendRequest(.POST, "/api/auth/logout-all", headers: twoBearer).status == .noContent)
            for token in [two.accessToken, three.accessToken] {
                #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Authorization": "Bearer \(token)"]).status == .unauthorized)
            }
            let actions = Set(try await AuditEvent.query(on: app.db).all().map(\.action))
            #expect(actions.isSuperset(of: ["register", "login.success", "logout", "logout_all"]))
        }
    }

    @Test func passwordChangeKeepsThisSessionAndEndsTheOthers() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let here = try await registerAndSignIn(tester, email: "change@example.com")
            let elsewhere = try await login(tester, email: "change@example.com").content.decode(TokenPair.self)
            func change(_ current: String, _ new: String) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.POST, "/api/auth/password", headers: here.bearer) { req in
                    try req.content.encode(["currentPassword": current, "newPassword": new])
                }
            }
            let wrongCurrent = try await change("not the passphrase", "a brand new passphrase")
            #expect(wrongCurrent.status == .unauthorized)
            #expect(errorCode(wrongCurrent) == "invalid_credentials")
            let weak = try await change(testPassword, "qwertyuiop")
            #expect(weak.status == .badRequest)
            #expect(try await change(testPassword, "a brand new passphrase").status == .noContent)

            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: here.bearer).status == .ok)
            let other: HTTPHeaders = ["Authorization": "Bearer \(elsewhere.accessToken)"]
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: other).status == .unauthorized)
            #expect(try await login(tester, email: "change@example.com").status == .unauthorized)
            #expect(try await login(tester, email: "change@example.com", password: "a brand new passphrase").status == .ok)
            let audit = try #require(try await AuditEvent.query(on: app.db).filter(\.$action == "password.changed").first())
            #expect(audit.actorID == here.userID)
        }
    }

    @Test func tokenInfoAndVerifyDescribeTheToken() async throws {
        try await withFlux { app, config async throws in
            let tester = try app.testing()
            let account = try await mintSignedIn(app, role: .engineer)
            let info = try await tester.sendRequest(.GET, "/api/auth/token-info", headers: account.bearer)
            #expect(info.status == .ok)
            let body = try info.content.decode(TokenInfoBody.self)
            #expect(body.role == "engineer")
            #expect(body.sessionId == account.sessionID)
            #expect(body.audience == ["flux-api"])
            #expect(body.expiresAt.timeIntervalSince(body.issuedAt) == 900)
            #expect(config.publicURL.absoluteString.hasPrefix(body.issuer))
            #expect(try await tester.sendRequest(.GET, "/api/auth/verify", headers: account.bearer).status == .ok)
            #expect(try await tester.sendRequest(.GET, "/api/auth/verify").status == .unauthorized)
        }
    }

    /// Two replicas on one PostgreSQL database: a revocation on one reaches the other's cache by NOTIFY.
    @Test(.enabled(if: TestDatabase.serverURL != nil, "replicas share PostgreSQL"))
    func revocationOnOneReplicaStopsTheTokenOnAnother() async throws {
        try await withFlux { app, config async throws in
            try await app.asyncBoot()
            let account = try await mintSignedIn(app, role: .clientMember)
            try await withAnotherInstance(config) { replica async throws in
                let other = try replica.testing()
                // The replica has the session cached as live.
                #expect(try await other.sendRequest(.GET, "/api/auth/me", headers: account.bearer).status == .ok)
                #expect(try await app.testing().sendRequest(.POST, "/api/auth/logout", headers: account.bearer).status == .noContent)
                let clock = ContinuousClock()
                let started = clock.now
                var status = HTTPStatus.ok
                while status == .ok, clock.now - started < .seconds(2) {
                    status = try await other.sendRequest(.GET, "/api/auth/me", headers: account.bearer).status
                    if status == .ok { try await Task.sleep(for: .milliseconds(5)) }
                }
                #expect(status == .unauthorized)
                // Well under the cache's 30 s lifetime: the notice, not the expiry, cleared it.
                #expect(clock.now - started < .seconds(2))
            }
        }
    }
}

struct SessionListEntry: Decodable {
    let id: UUID
    let deviceLabel: String
    let current: Bool
}

struct TokenInfoBody: Decodable {
    let role: String
    let sessionId: UUID
    let audience: [String]
    let issuedAt: Date
    let expiresAt: Date
    let issuer: String
}

@Suite struct RevocationCacheTests {
    @Test func nothingIsCachedUntilTheListenerHearsAndANoticeClearsWhatIs() async throws {
        try await withFlux { app, _ async throws in
            let member = try await mintSignedIn(app, role: .clientMember)
            let revocations = SessionRevocations(needsListener: true)
            func revokeBehindTheCache() async throws {
                try await AuthSession.query(on: app.db).filter(\.$id == member.sessionID)
                    .set(\.$revokedAt, to: Date()).update()
            }
            func restore() async throws {
                try await AuthSession.query(on: app.db).filter(\.$id == member.sessionID)
                    .set(\.$revokedAt, to: nil).update()
            }
            // Not listening yet (a replica whose LISTEN connection is down): every check reads the database.
            #expect(try await revocations.isActive(member.sessionID, on: app.db))
            try await revokeBehindTheCache()
            #expect(try await !revocations.isActive(member.sessionID, on: app.db))
            try await restore()
            // Listening: answers come from the cache until a notice (here `forget`) clears the entry.
            revocations.setListening(true)
            #expect(try await revocations.isActive(member.sessionID, on: app.db))
            try await revokeBehindTheCache()
            #expect(try await revocations.isActive(member.sessionID, on: app.db))
            revocations.forget([member.sessionID])
            #expect(try await !revocations.isActive(member.sessionID, on: app.db))
            // Losing the listener forgets everything cached.
            let other = try await mintSignedIn(app, role: .clientMember)
            #expect(try await revocations.isActive(other.sessionID, on: app.db))
            try await AuthSession.query(on: app.db).filter(\.$id == other.sessionID).set(\.$revokedAt, to: Date()).update()
            #expect(try await revocations.isActive(other.sessionID, on: app.db))
            revocations.setListening(false)
            #expect(try await !revocations.isActive(other.sessionID, on: app.db))
        }
    }
}
