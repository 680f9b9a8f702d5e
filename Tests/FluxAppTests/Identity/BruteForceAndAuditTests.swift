@testable import FluxApp
import Fluent
import Foundation
import SQLKit
import Testing
import VaporTesting

@Suite struct BruteForceAndAuditTests {
    @Test func failuresSlowTheAccountDownWithoutLockingItForever() async throws {
        // Each phase comes from its own address (through a trusted proxy), so the per-address bucket
        // (10 a minute) never answers for the per-account delay under test.
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            let tester = try app.testing(method: .running(port: 0))
            let first: HTTPHeaders = ["X-Forwarded-For": "198.51.100.1"]
            let second: HTTPHeaders = ["X-Forwarded-For": "198.51.100.2"]
            _ = try await registerAndSignIn(tester, email: "target@example.com")
            for _ in 0..<LoginThrottle.freeFailures {
                let failed = try await login(tester, email: "target@example.com", password: "guess guess guess", headers: first)
                #expect(failed.status == .unauthorized)
            }
            // Hashing is slow on a loaded machine: the last failure is made recent, so the 1 s delay under test
            // has not passed by itself.
            try await (app.db as! any SQLDatabase).update("login_failures").set("last_failed_at", to: Date()).run()
            // Now even the right password waits: the delay is per account, not a verdict on the password.
            let held = try await login(tester, email: "target@example.com", headers: first)
            #expect(held.status == .tooManyRequests)
            #expect(held.body.string.contains("for this account"))
            let retryAfter = try #require(held.headers.first(name: "Retry-After").flatMap(Int.init))
            #expect((1...Int(LoginThrottle.maximumDelay)).contains(retryAfter))
            // An unknown email is throttled exactly the same way, so the delay reveals nothing.
            for _ in 0..<LoginThrottle.freeFailures {
                _ = try await login(tester, email: "ghost@example.com", password: "guess guess guess", headers: second)
            }
            try await (app.db as! any SQLDatabase).update("login_failures").set("last_failed_at", to: Date()).run()
            let ghost = try await login(tester, email: "ghost@example.com", headers: second)
            #expect(ghost.status == .tooManyRequests)
            #expect(ghost.body.string.contains("for this account"))
            // The delay is capped, and once it has passed the owner may sign in again.
            #expect(LoginThrottle.delay(afterFailures: 1_000) == LoginThrottle.maximumDelay)
            let throttle = app.identity.throttle
            #expect(try await throttle.retryAfter("target@example.com", on: app.db,
                                                  now: Date().addingTimeInterval(LoginThrottle.maximumDelay + 1)) == nil)
            let failures = try await AuditEvent.query(on: app.db).filter(\.$action == "login.failure").count()
            #expect(failures == 2 * LoginThrottle.freeFailures)
        }
    }

    @Test func concurrentWrongPasswordsAreCountedBeforeTheHashIsCompared() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            try await app.asyncBoot()
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "stormed@example.com")
            let csrf = try await csrfHeaders(tester)
            try await serving(app) { port in
                // 32 guesses at once from 32 addresses: only the per-account count can stop them.
                let started = ContinuousClock.now
                let answers = try await concurrently(app, port: port, count: 32, "/api/auth/login") { index in
                    var headers = csrf
                    headers.add(name: "X-Forwarded-For", value: "198.51.100.\(index + 1)")
                    return (headers, ["email": "stormed@example.com", "password": "guess number \(index)"])
                }
                // The free failures, plus one more each time a delay ran out while the burst lasted (on a loaded
                // machine 32 sign-ins can take longer than the first, one-second delay).
                let elapsed = (ContinuousClock.now - started) / .seconds(1)
                var allowed = LoginThrottle.freeFailures, delays = 0.0
                while true {
                    delays += LoginThrottle.delay(afterFailures: allowed)
                    guard delays <= elapsed else { break }
                    allowed += 1
                }
                let checked = answers.filter { $0.status == .unauthorized }.count
                #expect(checked <= allowed, "\(answers.map(\.status.code)) in \(elapsed) s")
                let waited = answers.filter { $0.status == .tooManyRequests }
                #expect(checked + waited.count == 32, "\(answers.map(\.status.code))")
                #expect(waited.allSatisfy { $0.headers.first(name: "Retry-After").flatMap(Int.init) != nil })
            }
        }
    }

    @Test func rotatingIPv6AddressesInOneSlash64ShareOneBucket() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            let tester = try app.testing(method: .running(port: 0))
            // Second-factor attempts (10 a minute per client) with a new address for every try, all inside
            // 2001:db8:7:1::/64: no password is hashed, so the whole run takes far less than a refill.
            func attempt(from address: String) async throws -> HTTPStatus {
                var headers = try await csrfHeaders(tester)
                headers.add(name: "X-Forwarded-For", value: address)
                return try await tester.sendRequest(.POST, "/api/auth/mfa/verify", headers: headers) { req in
                    try req.content.encode(["challenge": "not a challenge", "code": "000000"])
                }.status
            }
            let clock = ContinuousClock()
            let started = clock.now
            var statuses: [HTTPStatus] = []
            for index in 0..<30 where statuses.last != .tooManyRequests {
                statuses.append(try await attempt(from: "2001:db8:7:1:\(String(index, radix: 16)):\(index * 7 + 1):a:\(index + 1)"))
            }
            // 10 a minute: the bucket holds 10 and refills one every 6 s while the loop runs (slowly, on a busy
            // machine); with each address its own client, none of the 30 would be refused.
            let elapsed = Double((clock.now - started).components.seconds)
            #expect(statuses.last == .tooManyRequests, "\(statuses)")
            #expect(statuses.filter { $0 == .unauthorized }.count <= RateLimits.mfa.limit + Int(elapsed / 6) + 1, "\(statuses) in \(elapsed) s")
            // The next /64 is another client.
            #expect(try await attempt(from: "2001:db8:7:2::1") == .unauthorized)
        }
    }

    @Test func aRotatedSecretKeepsTheThrottleCount() async throws {
        try await withFlux(environment: ["SESSION_SECRET": SecretRotationTests.old]) { app, config async throws in
            // Ten failures a minute apart, the last one now: a 32 s delay, longer than booting the rotated instance.
            let start = Date().addingTimeInterval(-9 * 61)
            for index in 0..<10 {
                try await app.identity.throttle.claimAttempt("held@example.com", on: app.db, now: start.addingTimeInterval(Double(index) * 61))
            }
            #expect(try await app.identity.throttle.retryAfter("held@example.com", on: app.db) != nil)
            var rotated = config
            rotated.sessionSecret = SecretValue(SecretRotationTests.new)
            rotated.previousSessionSecret = SecretValue(SecretRotationTests.old)
            try await withAnotherInstance(rotated) { other in
                #expect(try await other.identity.throttle.retryAfter("held@example.com", on: other.db) != nil)
                let refused = try await login(try other.testing(), email: "held@example.com", password: "guess guess guess")
                #expect(refused.status == .tooManyRequests)
            }
        }
    }

    @Test func perAddressBucketAnswers429WithRetryAfter() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let clock = ContinuousClock()
            let started = clock.now
            var refused: TestingHTTPResponse?
            var attempts = 0
            while refused == nil, attempts < 30 {
                let response = try await login(tester, email: "spray\(attempts)@example.com", password: "guess guess guess")
                if response.status == .tooManyRequests { refused = response } else { attempts += 1 }
            }
            // 10 a minute: the bucket holds 10 and refills one every 6 s while the loop runs.
            let elapsed = Double((clock.now - started).components.seconds)
            #expect(attempts >= 10 && attempts <= 10 + Int(elapsed / 6) + 1, "\(attempts) attempts in \(elapsed) s")
            let response = try #require(refused)
            #expect(errorCode(response) == "rate_limited")
            #expect(response.headers.first(name: "Retry-After") != nil)
        }
    }

    @Test func auditLogIsForAdminsAndFilters() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "audited@example.com")
            _ = try await login(tester, email: "audited@example.com", password: "wrong wrong wrong")
            let admin = try await mintSignedIn(app, role: .admin)
            let all = try await tester.sendRequest(.GET, "/api/admin/audit?per=2", headers: admin.bearer)
            #expect(all.status == .ok)
            let page = try all.content.decode(AuditPage.self)
            #expect(page.total == 3)
            #expect(page.items.count == 2)
            let failures = try await tester.sendRequest(.GET, "/api/admin/audit?action=login.failure", headers: admin.bearer)
            let failure = try #require(try failures.content.decode(AuditPage.self).items.first)
            #expect(failure.action == "login.failure")
            #expect(failure.target == "audited@example.com")
            #expect(failure.ipHash?.count == 32)
            #expect(failure.requestId != nil)
            let bad = try await tester.sendRequest(.GET, "/api/admin/audit?per=1000&from=yesterday", headers: admin.bearer)
            #expect(bad.status == .badRequest)
            #expect(bad.body.string.contains(#""per""#) && bad.body.string.contains(#""from""#))
            let client = try await mintSignedIn(app, role: .clientAdmin)
            #expect(try await tester.sendRequest(.GET, "/api/admin/audit", headers: client.bearer).status == .forbidden)
        }
    }
}

struct AuditPage: Decodable {
    struct Item: Decodable {
        let action: String
        let target: String?
        let ipHash: String?
        let requestId: String?
    }

    let items: [Item]
    let total: Int
}
