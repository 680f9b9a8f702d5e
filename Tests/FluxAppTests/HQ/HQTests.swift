@testable import FluxApp
import Fluent
import Foundation
import LeafKit
import Testing
import VaporTesting

@Suite struct HQTests {
    static let attack = #"<script>alert(1)</script><img src=x onerror=alert(2)>"#

    func ticket(_ app: Application, name: String, session: String? = nil) async throws -> OperationsSignal {
        let ticket = OperationsSignal()
        ticket.id = UUID()
        ticket.status = .new
        ticket.name = name
        ticket.company = "=HYPERLINK(\"http://evil.example\")"
        ticket.email = "eve@example.com"
        ticket.message = Self.attack
        ticket.preferredContact = .email
        ticket.conversationInsights = "[]"
        ticket.suggestedTopics = "[]"
        ticket.sessionID = session
        ticket.ipHash = "h"
        ticket.createdAt = Date()
        ticket.updatedAt = Date()
        try await ticket.create(on: app.db)
        return ticket
    }

    var page: HTTPHeaders { ["Accept": "text/html"] }

    @Test func aSignedOutBrowserIsSentToSignInAndAWrongRoleGetsA403Page() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let away = try await tester.sendRequest(.GET, "/hq-command/dashboard/conversations", headers: page)
            #expect(away.status == .seeOther)
            #expect(away.headers.first(name: .location) == "/hq-command?next=%2Fhq%2Dcommand%2Fdashboard%2Fconversations")
            let client = try await mintSignedIn(app, role: .clientAdmin)
            var headers = client.bearer
            headers.add(name: .accept, value: "text/html")
            let refused = try await tester.sendRequest(.GET, "/hq-command/dashboard", headers: headers)
            #expect(refused.status == .forbidden && refused.body.string.contains("Not for your role"))
            // Only HQ paths may follow the sign-in.
            for next in ["https://evil.example/", "//evil.example", "/hq-command/\\\\evil", "/elsewhere"] {
                #expect(HQController.site(app.identity).safeNext(next) == "/hq-command/dashboard", "\(next)")
            }
            #expect(HQController.site(app.identity).safeNext("/hq-command/signals") == "/hq-command/signals")
        }
    }

    @Test func theConversationsDashboardCountsWhatIsStored() async throws {
        try await withFlux { app, _ async throws in
            let now = Date()
            let rows: [(String, AiConversation.FunnelStage, AiConversation.Outcome, String?, Int, Int)] = [
                ("a", .discovery, .abandoned, nil, 2, 0), ("b", .qualify, .open, "food", 4, 0), ("c", .recommend, .open, "food", 6, 1),
                ("d", .handoff, .consultation, "wood", 8, 2), ("e", .recommend, .abandoned, "textile", 6, 1),
            ]
            for (session, stage, outcome, industry, messages, tools) in rows {
                let conversation = AiConversation(sessionID: session, visitorIP: "v", locale: session == "d" ? "de" : "en", pageURL: nil, now: now)
                conversation.funnelStage = stage
                conversation.outcome = outcome
                conversation.industryLabel = industry
                conversation.messageCount = messages
                conversation.toolCallCount = tools
                try await conversation.create(on: app.db)
            }
            let sales = try await mintSignedIn(app, role: .sales)
            let tester = try app.testing()
            let html = try await tester.sendRequest(.GET, "/hq-command/dashboard/conversations", headers: sales.bearer).body.string
            #expect(html.contains(#"id="kpi-total">5<"#) && html.contains(#"id="kpi-conversion">20.0 %<"#))
            #expect(html.contains(#"id="kpi-messages">5.2<"#) && html.contains(#"id="kpi-tools">0.8<"#))
            #expect(html.contains(#"<td data-label="Stage">Recommend</td><td data-label="Conversations at it">2</td><td data-label="Share of total">40.0 %</td><td data-label="Reached it">3</td><td data-label="Lost before the next">66.7 %</td>"#))
            #expect(html.contains(#"<td data-label="Industry">wood</td><td data-label="Conversations">1</td><td data-label="Consultations">1</td><td data-label="Conversion">100.0 %</td>"#))
            #expect(html.contains(#"<td data-label="Industry">food</td><td data-label="Conversations">2</td><td data-label="Consultations">0</td>"#))
            // One copy of each chart's numbers in view: the table is behind "Show as table".
            #expect(html.components(separatedBy: #"<details class="as-table">"#).count - 1 == 1)
            #expect(html.contains(#"href="/hq-command/dashboard/conversations?from="#) && html.contains(">7 days</a>"))
            #expect(html.components(separatedBy: ">Open</a>").count - 1 == 5)
            #expect(html.contains("<svg") && html.contains(#"<table class="fallback">"#))
            let filtered = try await tester.sendRequest(.GET, "/hq-command/dashboard/conversations?industry=food&locale=en",
                                                        headers: sales.bearer).body.string
            #expect(filtered.contains(#"id="kpi-total">2<"#) && filtered.contains(#"id="kpi-conversion">0.0 %<"#))
            let bad = try await tester.sendRequest(.GET, "/hq-command/dashboard/conversations?outcome=WON&to=yesterday", headers: sales.bearer)
            #expect(bad.status == .badRequest && errorCode(bad) == "invalid_input")
            #expect(bad.body.string.contains(#""outcome""#) && bad.body.string.contains(#""to""#))
        }
    }

    @Test func aTranscriptReadsAsAConversationWithToolsAsCards() async throws {
        try await withFlux { app, _ async throws in
            let conversation = AiConversation(sessionID: "s-read", visitorIP: "v", locale: "it", pageURL: "https://example.com/textile", now: Date())
            try await conversation.create(on: app.db)
            let id = conversation.id!
            let start = Date()
            let events = [
                AiEvent(conversationID: id, type: .userMessage, payload: AiEvent.payload(["text": "We dry 20 t of textile a day"]), now: start),
                AiEvent(conversationID: id, type: .toolCall, payload: AiEvent.payload(["industry": "textile", "productionVolume": "20"]),
                        toolName: "energy_savings_calculator", now: start.addingTimeInterval(1)),
                AiEvent(conversationID: id, type: .toolResult, payload: AiEvent.payload(["result": "estimatedSavingsPercent=38.9"]),
                        toolName: "energy_savings_calculator", now: start.addingTimeInterval(2)),
                AiEvent(conversationID: id, type: .aiMessage, payload: AiEvent.payload(["text": "You could save about 39 %."]), latencyMs: 812,
                        tokensIn: 1200, tokensOut: 80, cachedTokens: 1000, model: "gpt-4o-mini", now: start.addingTimeInterval(3)),
                AiEvent(conversationID: id, type: .aiMessage, payload: "not json {", now: start.addingTimeInterval(4)),
            ]
            for event in events { try await event.create(on: app.db) }
            let sales = try await mintSignedIn(app, role: .sales)
            let html = try await app.testing().sendRequest(.GET, "/hq-command/dashboard/conversations/\(id)", headers: sales.bearer).body.string
            #expect(html.contains(#"<li class="visitor">"#) && html.contains("We dry 20 t of textile a day"))
            #expect(html.contains("<summary><span class=\"badge info\">Tool</span> Energy savings calculator"))
            #expect(html.contains("<dt>productionVolume</dt><dd>20</dd>") && html.contains("estimatedSavingsPercent=38.9"))
            #expect(html.contains("812 ms · 1200 in / 80 out / 1000 cached tokens"))
            #expect(html.contains("<dd>Italian</dd>") && html.contains("not json {"))
            // Text, never the recorder's JSON.
            #expect(!html.contains("{&quot;text&quot;") && !html.contains(#"{"text""#))
            #expect(html.components(separatedBy: "<details>").count - 1 == 1)
        }
    }

    @Test func storedAttackTextIsShownAsTextAndExportsCannotRunFormulas() async throws {
        try await withFlux { app, _ async throws in
            let conversation = AiConversation(sessionID: "s-x", visitorIP: "v", locale: "en", pageURL: "javascript:alert(3)", now: Date())
            try await conversation.create(on: app.db)
            try await AiEvent(conversationID: conversation.id!, type: .userMessage, payload: AiEvent.payload(["text": Self.attack])).create(on: app.db)
            let stored = try await ticket(app, name: Self.attack, session: "s-x")
            conversation.signalID = stored.id
            conversation.outcome = .consultation
            try await conversation.update(on: app.db)
            let sales = try await mintSignedIn(app, role: .sales)
            let tester = try app.testing()
            for path in ["/hq-command/signals", "/hq-command/signals/\(stored.id!)", "/hq-command/dashboard/conversations/\(conversation.id!)"] {
                let html = try await tester.sendRequest(.GET, path, headers: sales.bearer).body.string
                #expect(!html.contains("<script>alert") && !html.contains("<img src=x"), "\(path)")
                #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(path)")
            }
            let transcript = try await tester.sendRequest(.GET, "/hq-command/dashboard/conversations/\(conversation.id!)", headers: sales.bearer)
            #expect(transcript.body.string.contains(#"<p class="converted" id="ticket">"#))
            let csv = try await tester.sendRequest(.GET, "/hq-command/signals/export.csv", headers: sales.bearer)
            #expect(csv.headers.contentType?.subType == "csv")
            #expect(csv.body.string.contains(#""'=HYPERLINK(""http://evil.example"")""#))
            #expect(CSV.field("-2+3") == #""'-2+3""# && CSV.field("@SUM(A1)") == #""'@SUM(A1)""# && CSV.field("plain") == #""plain""#)
        }
    }

    @Test func tableRowsEscapesEveryValueItWritesAndIsTheOnlyUnescapedTag() async throws {
        let hostile = #"x" onmouseover="alert(1)'><script>alert(2)</script>&"#
        let escaped = "x&quot; onmouseover=&quot;alert(1)&#39;&gt;&lt;script&gt;alert(2)&lt;/script&gt;&amp;"
        let html = try TableRowsTag.html([
            .dictionary(["class": .string(hostile), "cells": .array([.string(hostile), .dictionary(["text": .string(hostile), "class": .string(hostile)])])]),
            .dictionary(["cells": .array([.string("plain"), .dictionary(["text": "no class"])])]),
        ])
        #expect(html == #"<tr class="\#(escaped)"><td>\#(escaped)</td><td class="\#(escaped)">\#(escaped)</td></tr>"#
            + "<tr><td>plain</td><td>no class</td></tr>")
        #expect(throws: TableRowsTag.Malformed.self) { try TableRowsTag.html([.string("not a row")]) }
        try await withFlux { app, _ async throws in
            let unescaped = app.leaf.tags.filter { $0.value is any UnsafeUnescapedLeafTag }.keys.sorted()
            #expect(unescaped == ["tableRows"])
        }
    }

    @Test func salesMovesATicketAlongAndTheChangeIsItsHistory() async throws {
        try await withFlux { app, _ async throws in
            let stored = try await ticket(app, name: "Ada")
            let sales = try await mintSignedIn(app, role: .sales)
            let tester = try app.testing()
            let moved = try await tester.sendRequest(.PUT, "/api/hq/signals/\(stored.id!)/status", headers: sales.bearer) { req in
                try req.content.encode(["status": "contacted"])
            }
            #expect(moved.status == .noContent)
            #expect(try await OperationsSignal.find(stored.id, on: app.db)?.status == .contacted)
            let page = try await tester.sendRequest(.GET, "/hq-command/signals/\(stored.id!)", headers: sales.bearer).body.string
            #expect(page.contains("signal.status_changed"))
            let bad = try await tester.sendRequest(.PUT, "/api/hq/signals/\(stored.id!)/status", headers: sales.bearer) { req in
                try req.content.encode(["status": "closed"])
            }
            #expect(bad.status == .badRequest && bad.body.string.contains(#""status""#))
        }
    }

    @Test func anAdminEndsAnotherAccountsSession() async throws {
        try await withFlux { app, _ async throws in
            let admin = try await mintSignedIn(app, role: .admin)
            let victim = try await mintSignedIn(app, role: .sales)
            let tester = try app.testing()
            let users = try await tester.sendRequest(.GET, "/hq-command/users", headers: admin.bearer).body.string
            #expect(users.contains(victim.sessionID.uuidString))
            let revoke = try await tester.sendRequest(.DELETE, "/api/hq/sessions/\(victim.sessionID)", headers: admin.bearer)
            #expect(revoke.status == .noContent)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: victim.bearer).status == .unauthorized)
            let health = try await tester.sendRequest(.GET, "/hq-command/health", headers: admin.bearer).body.string
            #expect(health.contains("<dt>Database</dt><dd>up</dd>") && health.contains(HQController.version))
            #expect(health.contains("<dt>File storage</dt><dd>up</dd>") && health.contains("<dd>0 missing of the newest"))
            // A row whose stored bytes vanished (a DATA_DIR restored without its files) is counted.
            let orphan = Asset()
            orphan.sha256 = String(repeating: "0", count: 64)
            orphan.size = 1
            orphan.contentType = "text/plain"
            orphan.originalName = "gone.txt"
            orphan.uploaderIPHash = ""
            orphan.createdAt = Date()
            try await orphan.create(on: app.db)
            let after = try await tester.sendRequest(.GET, "/hq-command/health", headers: admin.bearer).body.string
            #expect(after.contains("<dd>1 missing of the newest 1 checked</dd>"))
        }
    }
}
