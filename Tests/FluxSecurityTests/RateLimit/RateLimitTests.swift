import Foundation
import Testing
import VaporTesting
@testable import FluxSecurity

@Suite struct RateLimitTests {
    let policy = RateLimitPolicy.perMinute(5, name: "test")

    @Test func bucketAllowsBurstThenRefillsEvenly() {
        let start = Date(timeIntervalSince1970: 1_000)
        var tokens = 5.0
        var updated = start
        for expectedRemaining in [4, 3, 2, 1, 0] {
            let (decision, left) = RateLimitDecision.consume(tokens: tokens, updated: updated, now: start, policy: policy)
            #expect(decision.allowed && decision.remaining == expectedRemaining)
            (tokens, updated) = (left, start)
        }
        let (refused, left) = RateLimitDecision.consume(tokens: tokens, updated: updated, now: start, policy: policy)
        #expect(!refused.allowed)
        #expect(abs(refused.retryAfter - 12) < 0.001)
        let (later, _) = RateLimitDecision.consume(tokens: left, updated: start, now: start.addingTimeInterval(12), policy: policy)
        #expect(later.allowed)
    }

    @Test func memoryStoreCountsPerKey() async throws {
        let store = MemoryRateLimitStore()
        let now = Date()
        for _ in 0..<5 { #expect(try await store.consume(key: "a", policy: policy, now: now).allowed) }
        #expect(try await !store.consume(key: "a", policy: policy, now: now).allowed)
        #expect(try await store.consume(key: "b", policy: policy, now: now).allowed)
    }

    @Test func memoryStoreStaysBoundedUnderAFloodOfKeys() async throws {
        let store = MemoryRateLimitStore(capacity: 1_600, shardCount: 16)
        let now = Date()
        for index in 0..<20_000 { _ = try await store.consume(key: "k\(index)", policy: policy, now: now) }
        #expect(store.count <= 1_600)
    }

    @Test func memoryStoreForgetsRefilledBucketsFirst() async throws {
        let store = MemoryRateLimitStore(capacity: 16, shardCount: 1)
        let start = Date()
        for _ in 0..<6 { _ = try await store.consume(key: "busy", policy: policy, now: start) }
        for index in 0..<15 { _ = try await store.consume(key: "idle\(index)", policy: policy, now: start) }
        // Twelve seconds later every idle bucket is full again (one token spent, one refilled); "busy" is not.
        _ = try await store.consume(key: "new", policy: policy, now: start.addingTimeInterval(12))
        #expect(store.count == 2)
        // "busy" kept its state: one token regained since it emptied, so this request leaves none (a
        // forgotten bucket would start full and leave four).
        let busy = try await store.consume(key: "busy", policy: policy, now: start.addingTimeInterval(12))
        #expect(busy.allowed && busy.remaining == 0)
    }

    @Test func concurrentRequestsNeverSpendMoreThanTheLimit() async throws {
        let store = MemoryRateLimitStore()
        let now = Date()
        let allowed = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 { group.addTask { try await store.consume(key: "shared", policy: policy, now: now).allowed } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(allowed == 5)
    }

    @Test func middlewareAnswers429WithRetryAfterAndRateLimitHeaders() async throws {
        let store = MemoryRateLimitStore()
        // 5 an hour: a token comes back every 720 s, so a slow, loaded machine cannot refill one mid-test.
        let policy = RateLimitPolicy(name: "hourly", limit: 5, period: 3600)
        try await withBareApp({ app in
            app.grouped(RateLimitMiddleware(policy: policy, store: store, trustedProxies: TrustedProxies())).get("limited") { _ in "ok" }
        }) { app async throws in
            let live = try app.testing(method: .running(port: 0))
            for remaining in (0..<5).reversed() {
                let res = try await live.sendRequest(.GET, "/limited")
                #expect(res.status == .ok)
                // The IETF draft's two fields: the policy, and what is left of it with the seconds to full.
                #expect(res.headers.first(name: "RateLimit-Policy") == "\"hourly\";q=5;w=3600")
                #expect(res.headers.first(name: "RateLimit")?.hasPrefix("\"hourly\";r=\(remaining);t=") == true)
            }
            let refused = try await live.sendRequest(.GET, "/limited")
            #expect(refused.status == .tooManyRequests)
            // 720 s per token, less whatever time the five requests took.
            #expect(refused.headers.first(name: .retryAfter).flatMap(Int.init).map { (600...720).contains($0) } == true)
            #expect(refused.headers.first(name: "RateLimit")?.hasPrefix("\"hourly\";r=0;t=") == true)
            #expect(refused.headers.first(name: "RateLimit-Policy") == "\"hourly\";q=5;w=3600")
        }
    }

    @Test func aRouteBehindTwoLimitsListsBoth() async throws {
        let store = MemoryRateLimitStore()
        let site = RateLimitPolicy(name: "site", limit: 100, period: 60)
        let form = RateLimitPolicy(name: "form", limit: 3, period: 60)
        try await withBareApp({ app in
            app.grouped(RateLimitMiddleware(policy: site, store: store, trustedProxies: TrustedProxies()))
                .grouped(RateLimitMiddleware(policy: form, store: store, trustedProxies: TrustedProxies()))
                .get("form") { _ in "ok" }
        }) { app async throws in
            let res = try await app.testing(method: .running(port: 0)).sendRequest(.GET, "/form")
            // Neither limit hides the other: a client sees the one about to run out as well as the wider one.
            #expect(res.headers["RateLimit-Policy"].sorted() == ["\"form\";q=3;w=60", "\"site\";q=100;w=60"])
            let states = res.headers["RateLimit"].sorted()
            #expect(states.count == 2)
            #expect(states.first?.hasPrefix("\"form\";r=2;t=") == true)
            #expect(states.last?.hasPrefix("\"site\";r=99;t=") == true)
        }
    }

    @Test func aPolicyNameThatWouldBreakTheQuotedFieldIsRefused() async {
        #expect(RateLimitPolicy(name: "login-address_v2.1", limit: 1, period: 1).name == "login-address_v2.1")
        // A quote would end the field's string early; a comma or space would split the list.
        await #expect(processExitsWith: .failure) { _ = RateLimitPolicy(name: "a\"b", limit: 1, period: 1) }
        await #expect(processExitsWith: .failure) { _ = RateLimitPolicy(name: "a, b", limit: 1, period: 1) }
        await #expect(processExitsWith: .failure) { _ = RateLimitPolicy(name: "", limit: 1, period: 1) }
    }

    struct FailingStore: RateLimitStore {
        struct Down: Error {}
        func consume(key: String, policy: RateLimitPolicy, now: Date) async throws -> RateLimitDecision { throw Down() }
    }

    @Test func aFailingStoreLetsRequestsThrough() async throws {
        try await withBareApp({ app in
            app.grouped(RateLimitMiddleware(policy: policy, store: FailingStore()) { _ in "k" }).get("limited") { _ in "ok" }
        }) { app async throws in
            #expect(try await app.testing().sendRequest(.GET, "/limited").status == .ok)
        }
    }
}
