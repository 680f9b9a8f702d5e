@testable import FluxApp
import Fluent
import FluxSecurity
import Foundation
import Testing
import VaporTesting

@Suite struct ConsultationTests {
    static var valid: [String: Any] { [
        "name": "Ada <script>alert(1)</script>", "company": "Acme Textiles", "email": "ada+x@example.com",
        "phone": "+39 02 1234 5678", "message": "We dry 20 t/day.\nCan you help?", "timeframe": "Q1",
        "preferredContact": "whatsapp", "conversationInsights": ["textile", "drying"], "suggestedTopics": ["RF drying"],
        "pageUrl": "https://www.example.com/cases/textile", "sessionId": "3f2a9c1e-7b7d-4c1e-9f00-aa11bb22cc33",
    ] }

    /// Posts `body` as JSON with a CSRF pair, from its own client address (through the trusted proxy), so the
    /// 5-a-minute limit never answers for the rule under test.
    func submit(_ tester: any TestingApplicationTester, _ body: [String: Any], address: String = "198.51.100.\(Int.random(in: 1...250))") async throws -> TestingHTTPResponse {
        let data = try JSONSerialization.data(withJSONObject: body)
        var headers = try await csrfHeaders(tester)
        headers.add(name: "X-Forwarded-For", value: address)
        return try await tester.sendRequest(.POST, "/api/consultation", headers: headers) { req in
            req.body = ByteBuffer(data: data)
        }
    }

    func with(_ changes: [String: Any]) -> [String: Any] {
        Self.valid.merging(changes) { _, new in new }
    }

    @Test func aValidRequestBecomesATicketAndAnEscapedNotification() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1", "NOTIFY_EMAIL": "Sales <sales@flux.example>"]) { app, _ async throws in
            let tester = try app.testing(method: .running(port: 0))
            let response = try await submit(tester, Self.valid)
            #expect(response.status == .created)
            let ticketID = try response.content.decode([String: UUID].self)["ticketId"]
            let ticket = try #require(try await OperationsSignal.find(ticketID, on: app.db))
            #expect(ticket.status == .new && ticket.phone == "+390212345678" && ticket.preferredContact == .whatsapp)
            #expect(ticket.message == "We dry 20 t/day.\nCan you help?")
            #expect(ticket.sessionID == "3f2a9c1e-7b7d-4c1e-9f00-aa11bb22cc33")
            let row = try #require(try await OutboxMessage.query(on: app.db).filter(\.$kind == "consultation").first())
            let mail = try JSONDecoder().decode(MailMessage.self, from: Data(row.payload.utf8))
            #expect(mail.to.address == "sales@flux.example")
            #expect(!mail.html.contains("<script>") && mail.html.contains("&lt;script&gt;"))
            // The address is percent-encoded into the mailto; Leaf escapes the attribute like every value it prints.
            #expect(mail.html.contains(#"href="mailto:ada%2Bx@example.com""#))
            #expect(mail.text.contains(ticketID!.uuidString))
        }
    }

    @Test func everyRuleIsEnforcedAtAndPastItsBound() async throws {
        try await withFlux(environment: ["TRUSTED_PROXIES": "127.0.0.1"]) { app, _ async throws in
            let tester = try app.testing(method: .running(port: 0))
            // 254 bytes exactly: a 64-byte local part and a 189-byte domain; one more label byte makes 255.
            let domain = [String](repeating: String(repeating: "b", count: 61), count: 3).joined(separator: ".") + ".com"
            let longEmail = String(repeating: "a", count: 64) + "@" + domain
            let tooLongEmail = String(repeating: "a", count: 64) + "@b" + domain
            #expect(longEmail.utf8.count == 254 && tooLongEmail.utf8.count == 255)
            let accepted: [[String: Any]] = [
                ["name": String(repeating: "n", count: 120)], ["company": String(repeating: "c", count: 160)],
                ["email": longEmail], ["message": String(repeating: "m", count: 5000)], ["timeframe": String(repeating: "t", count: 100)],
                ["preferredContact": "email", "phone": ""], ["conversationInsights": Array(repeating: String(repeating: "i", count: 500), count: 20)],
                ["suggestedTopics": Array(repeating: String(repeating: "s", count: 200), count: 20)],
                ["pageUrl": "http://example.com/x"], ["sessionId": String(repeating: "a", count: 100)],
            ]
            for change in accepted {
                let response = try await submit(tester, with(change))
                #expect(response.status == .created, "\(change.keys.first!): \(response.body.string.prefix(200))")
            }
            let refused: [(String, [String: Any])] = [
                ("name", ["name": String(repeating: "n", count: 121)]), ("name", ["name": "  "]),
                ("company", ["company": String(repeating: "c", count: 161)]),
                ("email", ["email": tooLongEmail]), ("email", ["email": "not an email"]),
                ("phone", ["phone": "call me"]), ("phone", ["preferredContact": "phone", "phone": ""]),
                ("message", ["message": String(repeating: "m", count: 5001)]),
                ("timeframe", ["timeframe": String(repeating: "t", count: 101)]),
                ("preferredContact", ["preferredContact": "fax"]),
                ("conversationInsights", ["conversationInsights": Array(repeating: "i", count: 21)]),
                ("conversationInsights", ["conversationInsights": [String(repeating: "i", count: 501)]]),
                ("suggestedTopics", ["suggestedTopics": [String(repeating: "s", count: 201)]]),
                ("suggestedTopics", ["suggestedTopics": [""]]),
                ("pageUrl", ["pageUrl": "javascript:alert(1)"]), ("referrerUrl", ["referrerUrl": "ftp://example.com"]),
                ("sessionId", ["sessionId": "../../etc"]), ("sessionId", ["sessionId": String(repeating: "a", count: 101)]),
            ]
            for (field, change) in refused {
                let response = try await submit(tester, with(change))
                #expect(response.status == .badRequest, "\(field)")
                #expect(errorCode(response) == "invalid_input")
                #expect(response.body.string.contains("\"\(field)\""), "\(field): \(response.body.string.prefix(200))")
            }
            #expect(try await OperationsSignal.query(on: app.db).count() == accepted.count)
        }
    }

    @Test func csrfAndTheRateLimitGuardTheForm() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let noCSRF = try await tester.sendRequest(.POST, "/api/consultation", headers: ["Cookie": "a=b", "Content-Type": "application/json"])
            #expect(noCSRF.status == .forbidden)
            let clock = ContinuousClock()
            let started = clock.now
            var accepted = 0
            var last = try await submit(tester, Self.valid, address: "198.51.100.7")
            while last.status == .created, accepted < 20 {
                accepted += 1
                last = try await submit(tester, Self.valid, address: "198.51.100.7")
            }
            let elapsed = Double((clock.now - started).components.seconds)
            #expect(last.status == .tooManyRequests)
            #expect(accepted >= 5 && accepted <= 5 + Int(elapsed / 12) + 1)
        }
    }
}
