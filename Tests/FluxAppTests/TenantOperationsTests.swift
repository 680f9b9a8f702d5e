@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct TenantOperationsTests {
    struct KeyBody: Decodable {
        let id: UUID
        let key: String?
        let scopes: [String]
    }

    struct LogPage: Decodable {
        struct Entry: Decodable {
            let text: String
            let direction: String
        }

        let entries: [Entry]
        let nextCursor: String?
    }

    func makeKey(_ tester: any TestingApplicationTester, staff: SignedIn, tenant: UUID, name: String = "worker",
                 scopes: [String] = ["heartbeat", "logs:write"]) async throws -> KeyBody {
        let response = try await tester.sendRequest(.POST, "/api/hq/tenants/\(tenant)/api-keys", headers: staff.bearer) { req in
            try req.content.encode(APIKeyController.CreateBody(name: name, scopes: scopes))
        }
        #expect(response.status == .created, "\(response.body.string)")
        return try response.content.decode(KeyBody.self)
    }

    func heartbeat(_ tester: any TestingApplicationTester, key: String?, name: String = "wa-bridge", status: String = "running") async throws
        -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/portal/worker/heartbeat", headers: key.map { ["Authorization": "Bearer \($0)"] } ?? [:]) { req in
            try req.content.encode(["name": name, "status": status])
        }
    }

    func sendLogs(_ tester: any TestingApplicationTester, key: String, _ entries: [[String: String]]) async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/portal/worker/message-logs", headers: ["Authorization": "Bearer \(key)"]) { req in
            try req.content.encode(["entries": entries])
        }
    }

    @Test func workerKeysAreScopedToTheirTenantRotatedAndRevoked() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let engineer = try await mintSignedIn(app, role: .engineer)
            let clientA = try await mintSignedIn(app, role: .clientAdmin)
            let clientB = try await mintSignedIn(app, role: .clientAdmin)
            let key = try await makeKey(tester, staff: engineer, tenant: clientA.tenantID)
            let secret = try #require(key.key)
            #expect(secret.hasPrefix("fxk_") && secret.count == 100)
            #expect(try await APIKey.find(key.id, on: app.db)?.secretHash.contains(secret.suffix(64)) == false)

            #expect(try await heartbeat(tester, key: secret).status == .noContent)
            let worker = try #require(try await WorkerProcess.query(on: app.db).first())
            #expect(worker.tenantID == clientA.tenantID && worker.status == "running")
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "apikey.used").count() == 1)

            // Wrong, tampered, missing: 401 and audited; a key without the scope: 403.
            var tampered = Array(secret)
            tampered[99] = tampered[99] == "a" ? "b" : "a"
            for presented in [String(tampered), "fxk_" + String(repeating: "0", count: 96), "not-a-key"] {
                let refused = try await heartbeat(tester, key: presented)
                #expect(refused.status == .unauthorized && errorCode(refused) == "invalid_api_key", "\(presented)")
            }
            // With no key at all the request is an ordinary unsafe one without a CSRF pair.
            #expect(errorCode(try await heartbeat(tester, key: nil)) == "csrf_failed")
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "apikey.refused").count() == 2)
            let logsOnly = try await makeKey(tester, staff: engineer, tenant: clientB.tenantID, name: "logger", scopes: ["logs:write"])
            #expect(try await heartbeat(tester, key: logsOnly.key).status == .forbidden)

            // Rotation: both keys work during the grace period; a second rotation waits for it to end.
            let rotated = try await tester.sendRequest(.POST, "/api/hq/api-keys/\(key.id)/rotate", headers: engineer.bearer)
            #expect(rotated.status == .created)
            let successor = try rotated.content.decode(KeyBody.self)
            #expect(try await heartbeat(tester, key: secret).status == .noContent)
            #expect(try await heartbeat(tester, key: successor.key).status == .noContent)
            #expect(try await tester.sendRequest(.POST, "/api/hq/api-keys/\(key.id)/rotate", headers: engineer.bearer).status == .conflict)
            let old = try #require(try await APIKey.find(key.id, on: app.db))
            old.expiresAt = Date().addingTimeInterval(-1)
            try await old.update(on: app.db)
            #expect(try await heartbeat(tester, key: secret).status == .unauthorized)
            let revoked = try await tester.sendRequest(.DELETE, "/api/hq/api-keys/\(successor.id)", headers: engineer.bearer)
            #expect(revoked.status == .noContent)
            #expect(try await heartbeat(tester, key: successor.key).status == .unauthorized)
            // Clients cannot manage keys, not even their own tenant's.
            let clientTry = try await tester.sendRequest(.GET, "/api/hq/tenants/\(clientA.tenantID)/api-keys", headers: clientA.bearer)
            #expect(clientTry.status == .forbidden)
        }
    }

    @Test func logsAreStoredOncePerExternalIdAndReadByCursorOnlyByTheirTenant() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let engineer = try await mintSignedIn(app, role: .engineer)
            let clientA = try await mintSignedIn(app, role: .clientAdmin)
            let clientB = try await mintSignedIn(app, role: .clientMember)
            let key = try #require(try await makeKey(tester, staff: engineer, tenant: clientA.tenantID).key)
            let base = Date().addingTimeInterval(-3600)
            let entries = (0..<25).map { index -> [String: String] in
                ["direction": index % 2 == 0 ? "inbound" : "outbound", "from": "+390000000\(index)", "to": "shop",
                 "text": "message \(index)\(index == 7 ? " urgent" : "")", "externalId": "wamid.\(index)",
                 "occurredAt": base.addingTimeInterval(Double(index) * 60).formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))]
            }
            let first = try await sendLogs(tester, key: key, entries)
            #expect(first.status == .accepted && first.body.string.contains(#""stored":25"#))
            let resent = try await sendLogs(tester, key: key, Array(entries.prefix(5)))
            #expect(resent.body.string.contains(#""received":5"#) && resent.body.string.contains(#""stored":0"#))

            var seen: [String] = []
            var cursor: String?
            repeat {
                let path = "/api/portal/tenant/current/logs?limit=10" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await tester.sendRequest(.GET, path, headers: clientA.bearer).content.decode(LogPage.self)
                seen += page.entries.map(\.text)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen.count == 25 && seen.first == "message 24" && seen.last == "message 0" && Set(seen).count == 25)

            let filtered = try await tester.sendRequest(.GET, "/api/portal/tenant/current/logs?direction=outbound&q=urgent", headers: clientA.bearer)
            #expect(try filtered.content.decode(LogPage.self).entries.map(\.text) == ["message 7 urgent"])
            let other = try await tester.sendRequest(.GET, "/api/portal/tenant/current/logs", headers: clientB.bearer)
            #expect(try other.content.decode(LogPage.self).entries.isEmpty)

            let bad = try await sendLogs(tester, key: key, [["direction": "sideways", "from": "", "to": "x", "text": "t",
                                                             "occurredAt": "2999-01-01T00:00:00Z"]])
            #expect(bad.status == .badRequest)
            for field in ["entries[0].direction", "entries[0].from", "entries[0].occurredAt"] {
                #expect(bad.body.string.contains(field), "\(field)")
            }
            let badQuery = try await tester.sendRequest(.GET, "/api/portal/tenant/current/logs?limit=0&cursor=zz&direction=up", headers: clientA.bearer)
            #expect(badQuery.status == .badRequest && badQuery.body.string.contains(#""cursor""#) && badQuery.body.string.contains(#""limit""#))
        }
    }

    @Test func staffProvisionATenantAndItsClientSeesItRunning() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let client = try await mintSignedIn(app, role: .clientAdmin)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let created = try await tester.sendRequest(.POST, "/api/portal/setup-request", headers: client.bearer) { req in
                try req.content.encode(["templateType": "restaurant", "contactNumber": "+39 02 1234567"])
            }
            let id = try created.content.decode(PortalController.SetupRequestView.self).id
            func move(_ status: String) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.PUT, "/api/hq/setup-requests/\(id)/status", headers: engineer.bearer) { req in
                    try req.content.encode(["status": status])
                }
            }
            #expect(try await move("provisioned").status == .conflict)
            #expect(try await move("approved").status == .ok)
            #expect(try await move("provisioned").status == .ok)
            #expect(try await move("rejected").status == .conflict)
            let key = try #require(try await makeKey(tester, staff: engineer, tenant: client.tenantID).key)
            #expect(try await heartbeat(tester, key: key, name: "bot", status: "degraded").status == .noContent)
            let status = try await tester.sendRequest(.GET, "/api/portal/tenant/current/status", headers: client.bearer).body.string
            #expect(status.contains(#""status":"active""#) && status.contains(#""templateType":"restaurant""#))
            #expect(status.contains(#""status":"provisioned""#) && status.contains(#""name":"bot""#) && status.contains(#""stale":false"#))
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "setup_request.provisioned").count() == 1)
        }
    }
}
