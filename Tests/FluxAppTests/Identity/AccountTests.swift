@testable import FluxApp
import Fluent
import FluxSecurity
import Foundation
import Testing
import VaporTesting

@Suite struct AccountTests {
    @Test func registerThenSignInReachesMe() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "  Alice@Example.COM ", company: "Acme")
            let me = try await tester.sendRequest(.GET, "/api/auth/me", headers: account.bearer)
            #expect(me.status == .ok)
            let body = try me.content.decode(MeBody.self)
            #expect(body.email == "alice@example.com")
            #expect(body.role == "client_admin")
            #expect(body.tenant.kind == "client")
            let stored = try #require(try await User.query(on: app.db).filter(\.$email == "alice@example.com").first())
            #expect(stored.passwordHash?.hasPrefix("$2b$12$") == true)
        }
    }

    @Test func registerAnswersTheSameForATakenEmail() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            func register(_ password: String) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.POST, "/api/auth/register", headers: try await csrfHeaders(tester)) { req in
                    try req.content.encode(["email": "taken@example.com", "password": password])
                }
            }
            let first = try await register(testPassword)
            let second = try await register("another long passphrase")
            #expect(first.status == .accepted)
            #expect(second.status == first.status)
            #expect(second.body.string == first.body.string)
            #expect(try await User.query(on: app.db).count() == 1)
            // The original password still signs in; the second registration changed nothing.
            #expect(try await login(tester, email: "taken@example.com").status == .ok)
        }
    }

    @Test func unknownEmailAndWrongPasswordGiveTheSameAnswer() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "known@example.com")
            let wrongPassword = try await login(tester, email: "known@example.com", password: "not the passphrase")
            let unknownEmail = try await login(tester, email: "nobody@example.com", password: "not the passphrase")
            #expect(wrongPassword.status == .unauthorized)
            #expect(unknownEmail.status == wrongPassword.status)
            #expect(unknownEmail.body.string == wrongPassword.body.string)
            #expect(errorCode(unknownEmail) == "invalid_credentials")
        }
    }

    @Test func unknownEmailCostsABcryptCheckLikeAWrongPassword() async throws {
        try await withFlux { app, _ async throws in
            let hasher = app.identity.passwords
            let hash = try await hasher.hash(testPassword)
            let clock = ContinuousClock()
            var matched: [Bool] = []
            let wrong = try await clock.measure { matched.append(try await hasher.verify("wrong passphrase!", against: hash)) }
            let unknown = try await clock.measure { matched.append(try await hasher.verify("wrong passphrase!", against: nil)) }
            #expect(matched == [false, false])
            // Both run one cost-12 bcrypt (about 0.25 s here, more under load); without the dummy hash the
            // unknown case would take microseconds.
            #expect(wrong > .milliseconds(50))
            #expect(unknown > .milliseconds(50), "unknown \(unknown), wrong \(wrong)")
        }
    }

    @Test func aFloodOfHashesIsShedNotQueuedWithoutBound() async throws {
        let hasher = PasswordHasher(maxInFlight: 2)
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    do {
                        _ = try await hasher.verify("a long enough passphrase", against: nil)
                        return "checked"
                    } catch let error as AppError {
                        return error.code
                    } catch {
                        return "other"
                    }
                }
            }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == "busy" }.count >= 1, "\(outcomes)")
        #expect(outcomes.filter { $0 == "checked" }.count >= 2, "\(outcomes)")
        #expect(!outcomes.contains("other"))
        #expect(PasswordHasher.busy.status == .serviceUnavailable && PasswordHasher.busy.headers.first(name: "Retry-After") != nil)
        // Once the flood has passed, hashing works again.
        #expect(try await hasher.verify("a long enough passphrase", against: nil) == false)
    }

    @Test func requireCapacityRefusesWhileTheHasherIsFull() async throws {
        let hasher = PasswordHasher(maxInFlight: 1)
        #expect(throws: Never.self) { try hasher.requireCapacity() }
        let check = Task { try await hasher.verify("a long enough passphrase", against: nil) }
        var refused = false
        for _ in 0..<400 where !refused {
            do { try hasher.requireCapacity() } catch let error as AppError where error.code == "busy" { refused = true }
            if !refused { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(refused)
        #expect(try await check.value == false)
        #expect(throws: Never.self) { try hasher.requireCapacity() }
    }

    @Test func passwordPolicyFollowsNIST() async throws {
        func problem(_ password: String) -> String? {
            var errors = FieldErrors()
            PasswordPolicy.check(password, into: &errors)
            return errors.fields["password"]
        }
        #expect(problem("short pw")?.contains("at least 10") == true)
        #expect(problem(String(repeating: "x", count: 129))?.contains("at most 128") == true)
        for common in ["qwertyuiop", "Password123", "1q2w3e4r5t6y", "1234567890"] {
            #expect(problem(common)?.contains("too common") == true, "\(common)")
        }
        // No composition rules: a long lowercase passphrase is fine, and so are 128 characters of anything.
        #expect(problem("just lowercase words here") == nil)
        #expect(problem(String(repeating: "é", count: 128)) == nil)

        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            func register(_ password: String) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.POST, "/api/auth/register", headers: try await csrfHeaders(tester)) { req in
                    try req.content.encode(["email": "p\(UUID().uuidString.prefix(6))@example.com", "password": password])
                }
            }
            let refused = try await register("qwertyuiop")
            #expect(refused.status == .badRequest)
            #expect(refused.body.string.contains("too common"))
            #expect(try await register(String(repeating: "é", count: 128)).status == .accepted)
        }
    }

    @Test func everyCharacterOfALongPasswordCounts() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            // 100 bytes: plain bcrypt would ignore everything after byte 72.
            let long = String(repeating: "a", count: 90) + "0123456789"
            let sameFirst72 = String(repeating: "a", count: 90) + "9876543210"
            let registered = try await tester.sendRequest(.POST, "/api/auth/register", headers: try await csrfHeaders(tester)) { req in
                try req.content.encode(["email": "long@example.com", "password": long])
            }
            #expect(registered.status == .accepted)
            #expect(try await login(tester, email: "long@example.com", password: long).status == .ok)
            #expect(try await login(tester, email: "long@example.com", password: sameFirst72).status == .unauthorized)
        }
    }

    @Test func malformedRegistrationGetsFieldErrors() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let response = try await tester.sendRequest(.POST, "/api/auth/register", headers: try await csrfHeaders(tester)) { req in
                try req.content.encode(["email": "not-an-email", "password": testPassword, "name": String(repeating: "n", count: 121)])
            }
            #expect(response.status == .badRequest)
            #expect(errorCode(response) == "invalid_input")
            #expect(response.body.string.contains(#""email""#) && response.body.string.contains(#""name""#))
            #expect(try await User.query(on: app.db).count() == 0)
        }
    }
}
