@testable import FluxApp
import Foundation
import Testing
import VaporTesting

@Suite struct RequestTelemetryTests {
    @Test func wellFormedRequestIDIsEchoed() async throws {
        try await withFlux { app, _ in
            try await app.testing().test(.GET, "/api/health/live", headers: ["X-Request-Id": "edge-7f3a.42_b"]) { res async throws in
                #expect(res.headers.first(name: .xRequestId) == "edge-7f3a.42_b")
            }
        }
    }

    @Test(arguments: ["bad id with spaces", "line\\nbreak\"}", String(repeating: "a", count: 129), ""])
    func malformedRequestIDIsReplaced(candidate: String) async throws {
        try await withFlux { app, _ in
            try await app.testing().test(.GET, "/api/health/live", headers: ["X-Request-Id": candidate]) { res async throws in
                let echoed = try #require(res.headers.first(name: .xRequestId))
                #expect(echoed != candidate)
                #expect(UUID(uuidString: echoed) != nil)
            }
        }
    }

    @Test func missingRequestIDIsGenerated() async throws {
        try await withFlux { app, _ in
            try await app.testing().test(.GET, "/api/nothing-here") { res async throws in
                #expect(UUID(uuidString: res.headers.first(name: .xRequestId) ?? "") != nil)
            }
        }
    }

    @Test func oneAccessLineWithoutQueryValues() async throws {
        try await withFlux { app, _ in
            let requestID = "access-\(UUID().uuidString)"
            try await app.testing().test(.GET, "/api/health/live?token=s3cr3t-query-value&page=2",
                                         headers: ["X-Request-Id": requestID]) { res async throws in
                #expect(res.status == .ok)
            }
            let access = LogCapture.shared.entries(forRequestID: requestID).filter { $0["message"] as? String == "request" }
            #expect(access.count == 1)
            let line = try #require(access.first)
            #expect(line["request_id"] as? String == requestID)
            #expect(line["method"] as? String == "GET")
            #expect(line["path"] as? String == "/api/health/live")
            #expect(line["status"] as? Int == 200)
            #expect((line["duration_ms"] as? Double).map { $0 >= 0 } == true)
            #expect(line["query_keys"] as? String == "token,page")
            #expect(line["level"] as? String == "info")
            #expect(line["ts"] is String)
            #expect(!LogCapture.shared.all.contains { $0.contains("s3cr3t-query-value") })
        }
    }

    /// A share link is a bearer credential: the access log, kept and shipped by operators, must not hold
    /// one, whether the route matched, the method was wrong or a segment was added.
    @Test func shareLinkTokensNeverReachTheLog() async throws {
        try await withFlux { app, _ in
            let share = UUID().uuidString
            let token = "s3cr3t-share-\(UUID().uuidString)"
            let attempts: [(HTTPMethod, String, String)] = [
                (.GET, "/api/shared/\(share)/\(token)", "/api/shared/\(share)/[redacted]"),
                (.HEAD, "/api/shared/\(share)/\(token)", "/api/shared/\(share)/[redacted]"),
                (.POST, "/api/shared/\(share)/\(token)", "/api/shared/\(share)/[redacted]"),
                (.GET, "/api/shared/\(share)/\(token)/more", "/api/shared/\(share)/[redacted]"),
                (.GET, "/API/%73hared/\(share)/\(token)", "/API/%73hared/\(share)/[redacted]"),
                (.GET, "/api/shared/\(share)?\(token)", "/api/shared/\(share)"),
            ]
            for (method, path, logged) in attempts {
                let requestID = "share-\(UUID().uuidString)"
                try await app.testing().test(method, path, headers: ["X-Request-Id": requestID]) { _ in }
                let access = LogCapture.shared.entries(forRequestID: requestID).filter { $0["message"] as? String == "request" }
                #expect(access.first?["path"] as? String == logged, "\(method) \(path)")
            }
            #expect(!LogCapture.shared.all.contains { $0.contains(token) })
            let query = LogCapture.shared.all.filter { $0.contains("\"query_keys\"") && $0.contains(share) }
            #expect(query.contains { $0.contains("[redacted]") })
        }
    }

    /// At trace level Vapor's HTTP decoder logs each request head whole, so LOG_LEVEL=trace is held at debug.
    @Test func traceLoggingCannotWriteARequestsSecrets() async throws {
        try await withFlux(environment: ["LOG_LEVEL": "trace"]) { app, config in
            #expect(config.logLevel == .debug)
            #expect(config.warnings.contains { $0.hasPrefix("LOG_LEVEL=trace is logged as debug") })
            let token = "s3cr3t-trace-\(UUID().uuidString)"
            let live = try app.testing(method: .running(port: 0))
            try await live.test(.GET, "/api/shared/\(UUID())/\(token)", headers: ["Authorization": "Bearer \(token)"]) { _ in }
            #expect(!LogCapture.shared.all.contains { $0.contains(token) })
        }
    }

    /// The routes whose path carries a secret are found by parameter name; the share links are among them.
    @Test func shareLinksAreKnownToTheRedaction() async throws {
        try await withFlux { app, _ in
            try await app.testing().test(.GET, "/api/health/live") { _ in }
            let secret = app.routes.all.filter { $0.path.contains(where: SecretPaths.isSecret) }
                .map { "/" + $0.path.map(\.description).joined(separator: "/") }
            #expect(secret.contains("/api/shared/:shareID/:token"))
        }
    }

    @Test func rejectedRequestIsLoggedWithItsCode() async throws {
        try await withFlux { app, _ in
            let requestID = "rejected-\(UUID().uuidString)"
            try await app.testing().test(.GET, "/api/missing", headers: ["X-Request-Id": requestID]) { _ in }
            let lines = LogCapture.shared.entries(forRequestID: requestID)
            #expect(lines.contains { $0["message"] as? String == "request rejected" && $0["code"] as? String == "not_found" })
        }
    }
}
