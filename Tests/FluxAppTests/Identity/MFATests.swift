@testable import FluxApp
import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Testing
import VaporTesting

@Suite struct MFATests {
    /// RFC 6238 appendix B, SHA-1 rows (8 digits, seed "12345678901234567890").
    @Test func totpMatchesTheRFC6238Vectors() {
        let seed = Array("12345678901234567890".utf8)
        let vectors: [(Int64, String)] = [
            (59, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"), (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
        ]
        for (time, expected) in vectors {
            #expect(TOTP.code(secret: seed, step: time / 30, digits: 8) == expected, "T=\(time)")
        }
        #expect(TOTP.code(secret: seed, step: 1, digits: 6) == "287082")
        #expect(Base32.encode(Array("foobar".utf8)) == "MZXW6YTBOI")
    }

    /// The current factor's seed, read back as Flux holds it.
    func seed(_ app: Application, user: UUID) async throws -> [UInt8] {
        let factor = try #require(try await MfaFactor.query(on: app.db).filter(\.$userID == user).first())
        return try app.identity.secretBox.open(factor.sealedSecret)
    }

    func post(_ tester: any TestingApplicationTester, _ path: String, _ body: [String: String],
              headers extra: HTTPHeaders = [:]) async throws -> TestingHTTPResponse {
        var headers = try await csrfHeaders(tester)
        headers.add(contentsOf: extra)
        return try await tester.sendRequest(.POST, path, headers: headers) { req in try req.content.encode(body) }
    }

    @Test func enrolledClientSignsInWithACodeOnceAndARecoveryCodeOnce() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "mfa@example.com")
            // A signed-in enrolment re-checks the password: the access token alone does not add a factor.
            #expect(try await post(tester, "/api/auth/mfa/totp/setup", [:], headers: account.bearer).status == .badRequest)
            #expect(try await post(tester, "/api/auth/mfa/totp/setup", ["password": "not the passphrase"], headers: account.bearer).status == .unauthorized)
            let setup = try await post(tester, "/api/auth/mfa/totp/setup", ["password": testPassword], headers: account.bearer)
            #expect(setup.status == .ok)
            let enrolment = try setup.content.decode(EnrolmentBody.self)
            #expect(enrolment.otpauthUri.hasPrefix("otpauth://totp/Flux:mfa@example.com?secret=\(enrolment.secret)"))
            let secret = try await seed(app, user: account.userID)
            let now = TOTP.step(at: Date())
            #expect(try await post(tester, "/api/auth/mfa/totp/confirm", ["code": "000000"], headers: account.bearer).status == .unauthorized)
            let confirmed = try await post(tester, "/api/auth/mfa/totp/confirm",
                                           ["code": TOTP.code(secret: secret, step: now)], headers: account.bearer)
            #expect(confirmed.status == .ok)
            let recovery = try confirmed.content.decode(RecoveryBody.self).recoveryCodes
            #expect(recovery.count == 10 && Set(recovery).count == 10)

            // The password alone no longer signs in: it yields a challenge, which is not an access token.
            func challenge() async throws -> String {
                let response = try await login(tester, email: "mfa@example.com")
                let body = try response.content.decode(ChallengeBody.self)
                #expect(body.mfaRequired && !body.enrollmentRequired)
                #expect(!response.body.string.contains("accessToken"))
                return body.challenge
            }
            let first = try await challenge()
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Authorization": "Bearer \(first)"]).status == .unauthorized)
            // The code used to confirm is spent; one out of the ±1 window is refused; the next step passes once.
            #expect(try await post(tester, "/api/auth/mfa/verify", ["challenge": first, "code": TOTP.code(secret: secret, step: now)]).status == .unauthorized)
            #expect(try await post(tester, "/api/auth/mfa/verify", ["challenge": first, "code": TOTP.code(secret: secret, step: now + 3)]).status == .unauthorized)
            let next = TOTP.code(secret: secret, step: now + 1)
            let passed = try await post(tester, "/api/auth/mfa/verify", ["challenge": first, "code": next])
            #expect(passed.status == .ok)
            let tokens = try passed.content.decode(TokenPair.self)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: ["Authorization": "Bearer \(tokens.accessToken)"]).status == .ok)
            #expect(try await post(tester, "/api/auth/mfa/verify", ["challenge": try await challenge(), "code": next]).status == .unauthorized)

            let withRecovery = try await post(tester, "/api/auth/mfa/verify", ["challenge": try await challenge(), "recoveryCode": recovery[3].lowercased()])
            #expect(withRecovery.status == .ok)
            #expect(try await post(tester, "/api/auth/mfa/verify", ["challenge": try await challenge(), "recoveryCode": recovery[3]]).status == .unauthorized)
            let actions = Set(try await AuditEvent.query(on: app.db).all().map(\.action))
            #expect(actions.isSuperset(of: ["mfa.enabled", "login.mfa_challenge", "mfa.success", "mfa.failure", "mfa.recovery_code_used"]))
        }
    }

    @Test func ownerMustEnrolAtFirstSignInAndCannotTurnItOff() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let owner = try await Accounts(passwords: app.identity.passwords)
                .createStaff(email: "owner@example.com", password: testPassword, role: .owner, on: app.db)
            let signIn = try await login(tester, email: "owner@example.com")
            let held = try signIn.content.decode(ChallengeBody.self)
            #expect(held.enrollmentRequired && !held.mfaRequired)
            // An enrolment challenge does not complete a sign-in by itself.
            #expect(try await post(tester, "/api/auth/mfa/verify", ["challenge": held.challenge, "code": "123456"]).status == .unauthorized)
            #expect(try await post(tester, "/api/auth/mfa/totp/setup", ["challenge": "forged"]).status == .unauthorized)
            #expect(try await post(tester, "/api/auth/mfa/totp/setup", ["challenge": held.challenge]).status == .ok)
            let secret = try await seed(app, user: owner.id!)
            let done = try await post(tester, "/api/auth/mfa/totp/confirm",
                                      ["challenge": held.challenge, "code": TOTP.code(secret: secret, step: TOTP.step(at: Date()))])
            #expect(done.status == .ok)
            let body = try done.content.decode(EnrolledSignIn.self)
            #expect(body.recoveryCodes.count == 10)
            let bearer: HTTPHeaders = ["Authorization": "Bearer \(body.accessToken)"]
            let me = try await tester.sendRequest(.GET, "/api/auth/me", headers: bearer)
            #expect(try me.content.decode(MeBody.self).role == "owner")
            let off = try await post(tester, "/api/auth/mfa/totp/disable", ["password": testPassword, "code": "000000"], headers: bearer)
            #expect(off.status == .forbidden)
            #expect(errorCode(off) == "mfa_required")
            // From now on the owner signs in with a code.
            #expect(try await login(tester, email: "owner@example.com").content.decode(ChallengeBody.self).mfaRequired)
        }
    }

    @Test func challengesAreSingleAudienceAndShortLived() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let member = try await mintSignedIn(app, role: .clientMember)
            let tokens = app.identity.accessTokens
            let verify = try await tokens.issueChallenge(userID: member.userID, tenantID: member.tenantID, role: .clientMember,
                                                         purpose: .verify, cookies: false)
            #expect(await tokens.verifyChallenge(verify, purpose: .enroll) == nil)
            #expect(await tokens.verifyChallenge(verify, purpose: .verify) != nil)
            #expect(await tokens.verifyChallenge(verify, purpose: .verify, now: Date().addingTimeInterval(MFAChallengeClaims.lifetime + 1)) == nil)
            // Access tokens and challenges are not interchangeable.
            #expect(await tokens.verifyChallenge(member.accessToken, purpose: .verify) == nil)
            #expect(await tokens.verify(verify) == nil)
            #expect(try await post(tester, "/api/auth/mfa/verify", ["challenge": member.accessToken, "code": "123456"]).status == .unauthorized)
        }
    }

    @Test func clientTurnsMFAOffWithPasswordAndCode() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "off@example.com")
            _ = try await post(tester, "/api/auth/mfa/totp/setup", ["password": testPassword], headers: account.bearer)
            let secret = try await seed(app, user: account.userID)
            let step = TOTP.step(at: Date())
            _ = try await post(tester, "/api/auth/mfa/totp/confirm", ["code": TOTP.code(secret: secret, step: step)], headers: account.bearer)
            let wrongPassword = try await post(tester, "/api/auth/mfa/totp/disable",
                                               ["password": "not the passphrase", "code": TOTP.code(secret: secret, step: step + 1)],
                                               headers: account.bearer)
            #expect(wrongPassword.status == .unauthorized)
            let off = try await post(tester, "/api/auth/mfa/totp/disable",
                                     ["password": testPassword, "code": TOTP.code(secret: secret, step: step + 1)], headers: account.bearer)
            #expect(off.status == .noContent)
            #expect(try await login(tester, email: "off@example.com").content.decode(TokenPair.self).accessToken.isEmpty == false)
            #expect(try await RecoveryCode.query(on: app.db).count() == 0)
            // The owner heard of both changes.
            let notices = try await OutboxMessage.query(on: app.db).filter(\.$recipient == "off@example.com").all().map(\.kind)
            #expect(notices.filter { $0 == "mfa-enabled" }.count == 1 && notices.filter { $0 == "mfa-disabled" }.count == 1)
        }
    }
}

/// The second factor under attack by someone who has the password.
@Suite struct MFAGuessingTests {
    let mfa = MFATests()

    /// An account with a confirmed factor; returns it and its seed.
    func enrolled(_ app: Application, _ tester: any TestingApplicationTester, email: String) async throws -> (SignedIn, [UInt8]) {
        let account = try await registerAndSignIn(tester, email: email)
        _ = try await mfa.post(tester, "/api/auth/mfa/totp/setup", ["password": testPassword], headers: account.bearer)
        let secret = try await mfa.seed(app, user: account.userID)
        let confirmed = try await mfa.post(tester, "/api/auth/mfa/totp/confirm", ["code": TOTP.code(secret: secret, step: TOTP.step(at: Date()))],
                                           headers: account.bearer)
        #expect(confirmed.status == .ok)
        return (account, secret)
    }

    /// A code that is not the current one (nor in its window).
    func wrongCode(_ secret: [UInt8], _ index: Int) -> String {
        let now = TOTP.step(at: Date())
        var candidate = index % 1_000_000
        while (now - 2...now + 2).contains(where: { TOTP.code(secret: secret, step: $0) == String(format: "%06d", candidate) }) { candidate += 1 }
        return String(format: "%06d", candidate)
    }

    func challenge(_ tester: any TestingApplicationTester, _ email: String, from address: String) async throws -> String {
        let response = try await login(tester, email: email, headers: ["X-Forwarded-For": address])
        #expect(response.status == .ok, "\(response.body.string)")
        return try response.content.decode(ChallengeBody.self).challenge
    }

    @Test func aCorrectPasswordDoesNotResetTheSecondFactorCount() async throws {
        // Every request from its own address, so only the per-account counts answer.
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            let tester = try app.testing(method: .running(port: 0))
            let (_, secret) = try await enrolled(app, tester, email: "guessed@example.com")
            var statuses: [HTTPStatus] = []
            // Before the fix each sign-in (correct password) gave five fresh guesses; now the count carries over.
            for round in 0..<2 {
                let held = try await challenge(tester, "guessed@example.com", from: "198.51.100.\(10 + round)")
                for attempt in 0..<3 {
                    let response = try await mfa.post(tester, "/api/auth/mfa/verify", ["challenge": held, "code": wrongCode(secret, round * 10 + attempt)],
                                                      headers: ["X-Forwarded-For": "198.51.100.\(20 + round * 3 + attempt)"])
                    statuses.append(response.status)
                }
            }
            #expect(statuses.prefix(LoginThrottle.freeFailures).allSatisfy { $0 == .unauthorized }, "\(statuses)")
            // The sixth guess waits or counts: either way the count went on across the sign-ins.
            let user = try #require(try await User.query(on: app.db).filter(\.$email == "guessed@example.com").first())
            let counted = try await (app.db as! any SQLDatabase).select().column("failures").from("login_failures")
                .where("account_key", .equal, app.identity.mfaThrottle.accountKey(user.id!.uuidString))
                .first(decodingColumn: "failures", as: Int.self)
            #expect((counted ?? 0) >= LoginThrottle.freeFailures)
        }
    }

    @Test func aChallengeTakesFiveCodesAndNoMoreEvenInParallel() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            try await app.asyncBoot()
            let tester = try app.testing()
            let (account, secret) = try await enrolled(app, tester, email: "parallel@example.com")
            let held = try await login(tester, email: "parallel@example.com").content.decode(ChallengeBody.self).challenge
            let csrf = try await csrfHeaders(tester)
            try await serving(app) { port in
                // 50 guesses at once, each from its own address: at most five are looked at.
                let answers = try await concurrently(app, port: port, count: 50, "/api/auth/mfa/verify") { index in
                    var headers = csrf
                    headers.add(name: "X-Forwarded-For", value: "203.0.113.\(index + 1)")
                    return (headers, ["challenge": held, "code": wrongCode(secret, index)])
                }
                // A code was looked at only where the answer is "wrong code"; the rest were turned away first.
                let codes = answers.map { response in
                    (try? response.content.decode(ErrorBody.self).error.code) ?? "status \(response.status.code)"
                }
                let examined = codes.filter { $0 == "invalid_code" }.count
                #expect(examined >= 1 && examined <= MFAChallengeAttempts.maximum, "\(codes)")
                #expect(codes.allSatisfy { ["invalid_code", "invalid_challenge", "rate_limited"].contains($0) }, "\(codes)")
            }
            // The challenge is dead: even the right code no longer completes it.
            try await app.identity.mfaThrottle.clear(account.userID.uuidString, on: app.db)
            let right = try await mfa.post(tester, "/api/auth/mfa/verify", ["challenge": held, "code": TOTP.code(secret: secret, step: TOTP.step(at: Date()) + 1)])
            #expect(right.status == .unauthorized && errorCode(right) == "invalid_challenge")
        }
    }

    struct ErrorBody: Decodable {
        struct Detail: Decodable { let code: String }
        let error: Detail
    }

    @Test func tenWrongCodesMailTheOwnerAndAuditIt() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            let tester = try app.testing(method: .running(port: 0))
            let (account, secret) = try await enrolled(app, tester, email: "alerted@example.com")
            let throttle = app.identity.mfaThrottle
            var failures = 0
            var round = 0
            while failures < MFAController.failuresAlertEvery {
                let held = try await challenge(tester, "alerted@example.com", from: "198.51.100.\(round + 1)")
                for _ in 0..<2 where failures < MFAController.failuresAlertEvery {
                    // The delay is the throttle's own, tested above; here only the count matters.
                    let wait = try await throttle.retryAfter(account.userID.uuidString, on: app.db)
                    if wait != nil {
                        try await (app.db as! any SQLDatabase).update("login_failures")
                            .set("last_failed_at", to: Date().addingTimeInterval(-3600)).run()
                    }
                    let response = try await mfa.post(tester, "/api/auth/mfa/verify", ["challenge": held, "code": wrongCode(secret, failures)],
                                                      headers: ["X-Forwarded-For": "203.0.113.\(failures + 1)"])
                    #expect(response.status == .unauthorized)
                    failures += 1
                }
                round += 1
            }
            let mailed = try await OutboxMessage.query(on: app.db).filter(\.$kind == "mfa-failures").all()
            #expect(mailed.map(\.recipient) == ["alerted@example.com"])
            #expect(mailed.first?.payload.contains("knows your password") == true)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "mfa.failures_alert").count() == 1)
        }
    }

    @Test func aChallengeCompletesWithTheRoleHeldNowOrNotAtAll() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let tokens = app.identity.accessTokens
            for (change, expected) in [("demote", HTTPStatus.ok), ("remove", .unauthorized)] {
                let (member, secret) = try await enrolled(app, tester, email: "\(change)@example.com")
                try await Membership.query(on: app.db).filter(\.$userID == member.userID).delete()
                try await Membership(userID: member.userID, tenantID: admin.tenantID, role: .clientAdmin).create(on: app.db)
                // The challenge was issued while the member was an admin of the tenant.
                let held = try await tokens.issueChallenge(userID: member.userID, tenantID: admin.tenantID, role: .clientAdmin,
                                                           purpose: .verify, cookies: false)
                let membership = try #require(try await Membership.query(on: app.db).filter(\.$userID == member.userID).first())
                if change == "demote" {
                    membership.role = .clientMember
                    try await membership.update(on: app.db)
                } else {
                    try await membership.delete(on: app.db)
                }
                let response = try await mfa.post(tester, "/api/auth/mfa/verify",
                                                  ["challenge": held, "code": TOTP.code(secret: secret, step: TOTP.step(at: Date()) + 1)])
                #expect(response.status == expected, "\(change): \(response.body.string)")
                if expected == .ok {
                    let access = try response.content.decode(TokenPair.self).accessToken
                    #expect(await tokens.verify(access)?.role == .clientMember)
                }
            }
        }
    }
}

struct EnrolmentBody: Decodable {
    let secret: String
    let otpauthUri: String
}

struct RecoveryBody: Decodable {
    let recoveryCodes: [String]
}

struct ChallengeBody: Decodable {
    let mfaRequired: Bool
    let enrollmentRequired: Bool
    let challenge: String
}

struct EnrolledSignIn: Decodable {
    let accessToken: String
    let recoveryCodes: [String]
}

@Suite struct SecretBoxTests {
    @Test func aSealedSeedOpensAfterARotationOnlyWhileThePreviousSecretIsKept() throws {
        let old = SecretKeys(secret: "the-old-session-secret-long-enough-000000001")
        let new = SecretKeys(secret: "the-new-session-secret-long-enough-000000002")
        let seed = Array("12345678901234567890".utf8)
        let sealed = try SecretBox(secrets: [old]).seal(seed)
        #expect(try SecretBox(secrets: [new, old]).open(sealed) == seed)
        #expect(throws: SecretBoxError.self) { try SecretBox(secrets: [new]).open(sealed) }
        var tampered = Array(Data(base64Encoded: sealed)!)
        tampered[tampered.count - 1] ^= 1
        #expect(throws: (any Error).self) { try SecretBox(secrets: [old]).open(Data(tampered).base64EncodedString()) }
    }
}
