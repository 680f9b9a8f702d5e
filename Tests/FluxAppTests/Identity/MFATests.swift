@testable import FluxApp
import Fluent
import FluxSecurity
import Foundation
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
            let setup = try await post(tester, "/api/auth/mfa/totp/setup", [:], headers: account.bearer)
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
            _ = try await post(tester, "/api/auth/mfa/totp/setup", [:], headers: account.bearer)
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
