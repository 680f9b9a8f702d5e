@testable import FluxApp
import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Testing
import VaporTesting

@Suite struct ChatTests {
    struct ReplyBody: Decodable {
        let reply: String
        let conversationId: UUID
        let funnelStage: String
        let industryLabel: String?
        let tools: [String]
    }

    func chat(_ tester: any TestingApplicationTester, _ session: String, _ message: String, locale: String = "en",
              path: String = "/api/chat") async throws -> TestingHTTPResponse {
        var headers = try await csrfHeaders(tester)
        // What browsers send by default: it must still get JSON, not the event stream.
        headers.replaceOrAdd(name: .accept, value: "*/*")
        return try await tester.sendRequest(.POST, path, headers: headers) { req in
            try req.content.encode(["sessionId": session, "message": message, "locale": locale, "pageUrl": "cases/textile-drying"])
        }
    }

    @Test func theFunnelMovesForwardWithEachSignalAndEveryEventIsRecorded() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let session = "s-\(UUID().uuidString)"
            var stages: [ReplyBody] = []
            for message in ["Hello there", "We make fresh pasta", "We produce 20 t/day, how much energy can we save?", "Can I talk to an engineer?"] {
                stages.append(try await chat(tester, session, message).content.decode(ReplyBody.self))
            }
            await written(app)
            #expect(stages.map(\.funnelStage) == ["DISCOVERY", "QUALIFY", "RECOMMEND", "HANDOFF"])
            #expect(stages[1].industryLabel == "food")
            #expect(stages[2].tools == ["energy_savings_calculator"])
            #expect(stages[3].tools == ["consultation_handoff"])
            let conversation = try #require(try await AiConversation.query(on: app.db).filter(\.$sessionID == session).first())
            #expect(conversation.messageCount == 8 && conversation.toolCallCount == 2)
            #expect(conversation.productionVolume == 20 && (conversation.estimatedSavingsPercent ?? 0) > 30)
            #expect(conversation.outcome == .open && conversation.pageURL == "cases/textile-drying")
            #expect(conversation.visitorIP.count == 32)
            let events = try await AiEvent.query(on: app.db).filter(\.$conversationID == conversation.id!).sort(\.$createdAt).all()
            #expect(events.count == 12)
            #expect(events.filter { $0.type == .toolCall }.compactMap(\.toolName) == ["energy_savings_calculator", "consultation_handoff"])
            #expect(events.filter { $0.type == .aiMessage }.allSatisfy { $0.latencyMs != nil && ($0.tokensOut ?? 0) > 0 })
            // What recording costs each turn is timed where operators look.
            let scrape = try await app.testing(method: .running(port: 0)).sendRequest(.GET, "/metrics").body.string
            #expect(scrape.contains(#"flux_chat_telemetry_duration_seconds_count{step="load"} 4"#))
            #expect(scrape.contains(#"flux_chat_telemetry_duration_seconds_count{step="record"} 4"#))
        }
    }

    @Test func aConsultationFromTheChatLinksBothWays() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let session = "s-\(UUID().uuidString)"
            _ = try await chat(tester, session, "We dry timber")
            let ticket = try await tester.sendRequest(.POST, "/api/consultation", headers: try await csrfHeaders(tester)) { req in
                try req.content.encode(["name": "Ada", "company": "Woodworks", "email": "ada@example.com", "preferredContact": "email",
                                        "sessionId": session])
            }
            #expect(ticket.status == .created)
            let ticketID = try #require(try ticket.content.decode([String: UUID].self)["ticketId"])
            let conversation = try #require(try await AiConversation.query(on: app.db).filter(\.$sessionID == session).first())
            #expect(conversation.outcome == .consultation && conversation.signalID == ticketID && conversation.closedAt != nil)
            #expect(try await OperationsSignal.find(ticketID, on: app.db)?.sessionID == session)
        }
    }

    struct FailingModel: LLMProvider {
        struct Down: Error {}
        var readsHistory: Bool { false }
        func reply(to message: String, context: AssistantContext, onText: @escaping @Sendable (String) async -> Void) async throws -> AssistantTurn {
            throw Down()
        }
    }

    @Test func neitherAFailingModelNorFailingTelemetryMakesTheChatFail() async throws {
        try await withFlux { app, _ async throws in
            // Registered before the first request boots the app, on the same CSRF-checked root as every route.
            let controller = ChatController(security: Hardening(secret: String(repeating: "k", count: 40)),
                                            provider: FailingModel(), recorder: app.conversationRecorder, metrics: HTTPMetrics())
            app.rootRoutes.post("test", "chat", use: controller.chat)
            let tester = try app.testing()
            let failing = try await chat(tester, "s-failing", "We make tablets", path: "/test/chat")
            #expect(failing.status == .ok)
            #expect(try failing.content.decode(ReplyBody.self).reply.contains("consultation form"))
            await written(app)
            let conversation = try #require(try await AiConversation.query(on: app.db).filter(\.$sessionID == "s-failing").first())
            #expect(try await AiEvent.query(on: app.db).filter(\.$conversationID == conversation.id!).filter(\.$type == .error).count() == 1)

            try await (app.db as! any SQLDatabase).raw("DROP TABLE ai_events").run()
            let unrecorded = try await chat(tester, "s-untracked", "We make rubber hoses")
            #expect(unrecorded.status == .ok)
            #expect(try unrecorded.content.decode(ReplyBody.self).industryLabel == "rubber")
            await written(app)
            // Counted where operators look (the scrape comes from loopback, so no token is needed).
            let scrape = try await app.testing(method: .running(port: 0)).sendRequest(.GET, "/metrics")
            #expect(scrape.body.string.contains("flux_chat_telemetry_failures_total 1"))
        }
    }

    @Test func badInputIsRefusedWithFields() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            for (field, body) in [("sessionId", ["sessionId": "../x", "message": "hi"]), ("message", ["sessionId": "s1", "message": " "]),
                                  ("locale", ["sessionId": "s1", "message": "hi", "locale": "pt"]),
                                  ("message", ["sessionId": "s1", "message": String(repeating: "m", count: 4001)])] {
                let response = try await tester.sendRequest(.POST, "/api/chat", headers: try await csrfHeaders(tester)) { req in
                    try req.content.encode(body)
                }
                #expect(response.status == .badRequest && response.body.string.contains("\"\(field)\""), "\(field)")
            }
            #expect(try await AiConversation.query(on: app.db).count() == 0)
        }
    }

    @Test func industriesAreFoundInEveryLocaleAndNotOffTopic() {
        let cases: [(String, String?)] = [
            ("We weave cotton fabric", "textile"), ("Produciamo tessuti tecnici", "textile"), ("Fabricamos pasta y comida", "food"),
            ("Nous produisons du caoutchouc", "rubber"), ("Wir stellen Arzneimittel her", "pharma"), ("Lavoriamo il legno", "wood"),
            ("Secamos madera", "wood"), ("What's the weather like?", nil), ("Bonjour", nil),
        ]
        for (message, expected) in cases {
            #expect(IndustryDetector.detect(message) == expected, "\(message)")
        }
    }

    @Test func payloadsAreCutOnACharacterBoundary() {
        let long = String(repeating: "é", count: 5000)
        let cut = AiEvent.truncated(long)
        #expect(cut.utf8.count <= AiEvent.payloadLimit && cut.utf8.count >= AiEvent.payloadLimit - 1)
        #expect(cut.allSatisfy { $0 == "é" })
        #expect(AiEvent.truncated("short") == "short")
    }
}

@Suite struct ConversationLifecycleTests {
    func converse(_ app: Application, _ session: String) async throws {
        let tester = try app.testing()
        let response = try await tester.sendRequest(.POST, "/api/chat", headers: try await csrfHeaders(tester)) { req in
            try req.content.encode(["sessionId": session, "message": "We dry wood pellets"])
        }
        #expect(response.status == .ok)
        await written(app)
    }

    @Test func idleConversationsAreAbandonedAndOldOnesPurged() async throws {
        try await withFlux(environment: ["IDLE_ABANDON_MINUTES": "30", "RETENTION_DAYS": "365"]) { app, _ async throws in
            try await converse(app, "s-idle")
            let jobs = app.conversationHousekeeping
            #expect(try await jobs.run(on: app.db, now: Date().addingTimeInterval(29 * 60)) == .init(abandoned: 0, purged: 0))
            #expect(try await jobs.run(on: app.db, now: Date().addingTimeInterval(31 * 60)) == .init(abandoned: 1, purged: 0))
            let conversation = try #require(try await AiConversation.query(on: app.db).first())
            #expect(conversation.outcome == .abandoned && conversation.closedAt != nil)
            // A consultation is never abandoned.
            try await converse(app, "s-converted")
            try await (app.db as! any SQLDatabase).raw("UPDATE ai_conversations SET \"outcome\" = 'CONSULTATION' WHERE \"sessionId\" = 's-converted'").run()
            #expect(try await jobs.run(on: app.db, now: Date().addingTimeInterval(3600)).abandoned == 0)
            let pass = try await jobs.run(on: app.db, now: Date().addingTimeInterval(366 * 86_400))
            #expect(pass.purged == 2)
            #expect(try await AiEvent.query(on: app.db).count() == 0)
        }
    }

    @Test func aVisitorIsErasedOnRequestWithAnAuditRecord() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            try await converse(app, "s-erase-me")
            try await converse(app, "s-keep-me")
            _ = try await tester.sendRequest(.POST, "/api/consultation", headers: try await csrfHeaders(tester)) { req in
                try req.content.encode(["name": "Eve", "company": "E Ltd", "email": "eve@example.com", "preferredContact": "email",
                                        "sessionId": "s-erase-me"])
            }
            let admin = try await mintSignedIn(app, role: .admin)
            let erase = try await tester.sendRequest(.POST, "/api/admin/privacy/erase", headers: admin.bearer) { req in
                try req.content.encode(["sessionId": "s-erase-me"])
            }
            #expect(erase.status == .ok)
            #expect(erase.body.string.contains(#""conversations":1"#) && erase.body.string.contains(#""ticketsUnlinked":1"#))
            #expect(try await AiConversation.query(on: app.db).all().map(\.sessionID) == ["s-keep-me"])
            #expect(try await OperationsSignal.query(on: app.db).filter(\.$sessionID == "s-erase-me").count() == 0)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "privacy.erased").first()?.target == "session:s-erase-me")
            let both = try await tester.sendRequest(.POST, "/api/admin/privacy/erase", headers: admin.bearer) { req in
                try req.content.encode(["sessionId": "a", "visitorHash": "b"])
            }
            #expect(both.status == .badRequest)
            // Nothing this process remembered of the erased chat comes back with the visitor.
            _ = try await tester.sendRequest(.POST, "/api/chat", headers: try await csrfHeaders(tester)) { req in
                try req.content.encode(["sessionId": "s-erase-me", "message": "Hello"])
            }
            await written(app)
            let fresh = try #require(try await AiConversation.query(on: app.db).filter(\.$sessionID == "s-erase-me").first())
            #expect(fresh.industryLabel == nil && fresh.funnelStage == .discovery && fresh.messageCount == 2)
        }
    }

    @Test func turnsOfOneConversationFromTwoReplicasAddUp() async throws {
        try await withFlux { app, _ async throws in
            // Two processes, each meeting the visitor for the first time, each with its own id for the chat.
            let (first, second) = (ConversationRecorder(metrics: HTTPMetrics()), ConversationRecorder(metrics: HTTPMetrics()))
            func turn(_ stage: AiConversation.FunnelStage, industry: String?, volume: Double?) -> TurnRecord {
                let state = ConversationState(id: UUID(), locale: "it", industry: industry, stage: stage, productionVolume: volume)
                return TurnRecord(sessionID: "s-shared", state: state, visitorIP: "v", pageURL: "/", at: Date(), toolCalls: volume == nil ? 0 : 1,
                                  events: [AiEvent(conversationID: state.id, type: .userMessage, payload: "{}"),
                                           AiEvent(conversationID: state.id, type: .aiMessage, payload: "{}")])
            }
            first.record(turn(.recommend, industry: "food", volume: 12))
            second.record(turn(.qualify, industry: "wood", volume: nil))
            second.record(turn(.qualify, industry: "wood", volume: nil))
            await first.flush(on: app.db, logger: app.logger)
            await second.flush(on: app.db, logger: app.logger)
            let rows = try await AiConversation.query(on: app.db).filter(\.$sessionID == "s-shared").all()
            let conversation = try #require(rows.first)
            #expect(rows.count == 1)
            #expect(conversation.messageCount == 6 && conversation.toolCallCount == 1)
            // The stage never goes back; the first industry found stays; the volume is not lost.
            #expect(conversation.funnelStage == .recommend && conversation.industryLabel == "food" && conversation.productionVolume == 12)
            let events = try await AiEvent.query(on: app.db).all()
            #expect(events.count == 6 && events.allSatisfy { $0.conversationID == conversation.id })
        }
    }
}

/// Writes the chat turns still queued, as the recorder would within its interval.
func written(_ app: Application) async {
    await app.conversationRecorder.flush(on: app.db, logger: app.logger)
}
