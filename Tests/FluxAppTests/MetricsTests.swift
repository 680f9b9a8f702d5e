@testable import FluxApp
import Foundation
import Testing
import VaporTesting

@Suite struct MetricsTests {
    static let token = "mT9vQ2xK7wR4nY8pL3sD6fJ1hG5cB0zAeU"

    @Test func withoutTokenARemoteOrUnknownPeerIsRefused() async throws {
        try await withFlux { app, _ in
            // In-memory requests carry no peer address, so they count as not loopback.
            try await app.testing().test(.GET, "/metrics") { res async throws in
                #expect(res.status == .forbidden)
                #expect(!res.body.string.contains("http_requests_total"))
            }
        }
    }

    @Test func withoutTokenALoopbackPeerIsServed() async throws {
        try await withFlux { app, _ in
            let live = try app.testing(method: .running(port: 0))
            // Liveness, not readiness: the database probe's 500 ms budget can run out on a loaded CI machine.
            try await live.test(.GET, "/api/health/live") { res async throws in #expect(res.status == .ok) }
            try await live.test(.GET, "/metrics") { res async throws in
                #expect(res.status == .ok)
                #expect(res.headers.contentType?.subType == "plain")
                let text = res.body.string
                #expect(text.contains(#"http_requests_total{method="GET",route="/api/health/live",status="200"} 1"#))
                #expect(text.contains(#"http_request_duration_seconds_bucket{method="GET",route="/api/health/live",status="200""#))
                #expect(text.contains("process_resident_memory_bytes"))
                #expect(text.contains("process_cpu_seconds_total"))
            }
        }
    }

    /// Behind a proxy on the same host every visitor's peer is loopback: a request the proxy relayed (it names
    /// the client) is not served as a local one.
    @Test func withoutTokenARequestRelayedByAProxyIsRefused() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ in
            let live = try app.testing(method: .running(port: 0))
            for header in ["X-Forwarded-For", "Forwarded", "X-Real-IP"] {
                try await live.test(.GET, "/metrics", headers: [header: header == "Forwarded" ? "for=203.0.113.9" : "203.0.113.9"]) { res async throws in
                    #expect(res.status == .forbidden, "\(header)")
                    #expect(!res.body.string.contains("http_requests_total"))
                }
            }
        }
    }

    @Test func inProductionOnlyTheTokenOpensMetrics() async throws {
        let production = ["FLUX_ENV": "production", "SESSION_SECRET": "q4Jm7X1c2ZrV+p9nW0s3bKfT8yLhE6aGdUoR5iNtQwMzSvHxCkPjYlBe"]
        try await withFlux(environment: production) { app, _ in
            let live = try app.testing(method: .running(port: 0))
            try await live.test(.GET, "/metrics") { res async throws in
                #expect(res.status == .forbidden)
                #expect(!res.body.string.contains("http_requests_total"))
            }
        }
        try await withFlux(environment: production.merging(["METRICS_TOKEN": Self.token]) { _, new in new }) { app, _ in
            let live = try app.testing(method: .running(port: 0))
            try await live.test(.GET, "/metrics", headers: ["Authorization": "Bearer \(Self.token)"]) { res async throws in
                #expect(res.status == .ok)
            }
        }
    }

    @Test func withTokenOnlyTheRightBearerIsServed() async throws {
        try await withFlux(environment: ["METRICS_TOKEN": Self.token]) { app, _ in
            let live = try app.testing(method: .running(port: 0))
            try await live.test(.GET, "/metrics") { res async throws in
                #expect(res.status == .unauthorized)
                #expect(res.headers.first(name: .wwwAuthenticate) == "Bearer")
            }
            try await live.test(.GET, "/metrics", headers: ["Authorization": "Bearer wrong-\(Self.token)"]) { res async throws in
                #expect(res.status == .unauthorized)
            }
            try await live.test(.GET, "/metrics", headers: ["Authorization": "Bearer \(Self.token)"]) { res async throws in
                #expect(res.status == .ok)
                #expect(res.body.string.contains("process_open_fds"))
            }
        }
    }

    @Test func unmatchedPathsShareOneRouteLabel() async throws {
        try await withFlux(environment: ["METRICS_TOKEN": Self.token]) { app, _ in
            let tester = try app.testing()
            try await tester.test(.GET, "/random/\(UUID())") { _ in }
            try await tester.test(.GET, "/metrics", headers: ["Authorization": "Bearer \(Self.token)"]) { res async throws in
                #expect(res.body.string.contains(#"route="unmatched",status="404""#))
                #expect(!res.body.string.contains("/random/"))
            }
        }
    }
}
