@testable import FluxApp
import Foundation
import NIOCore
import Testing
import VaporTesting

@Suite struct AssistantWireTests {
    @Test func theAnswerStreamsAsServerSentEventsWhenTheBrowserAsksForThem() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            var headers = try await csrfHeaders(tester)
            headers.replaceOrAdd(name: .accept, value: "text/event-stream")
            let response = try await tester.sendRequest(.POST, "/api/chat", headers: headers) { req in
                try req.content.encode(["sessionId": "s-\(UUID().uuidString)", "message": "We dry yarn, 20 t/day: energy savings?"])
            }
            #expect(response.status == .ok)
            #expect(response.headers.contentType == ServerSentEvents.mediaType)
            #expect(response.headers.first(name: "X-Accel-Buffering") == "no")
            let events = response.body.string.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.count == 2)
            #expect(events.first?.hasPrefix("event: delta\ndata: ") == true)
            let done = try #require(events.last)
            #expect(done.hasPrefix("event: done\ndata: "))
            let reply = try JSONDecoder().decode(ChatTests.ReplyBody.self, from: Data(done.dropFirst("event: done\ndata: ".count).utf8))
            let delta = try JSONDecoder().decode([String: String].self, from: Data(events[0].dropFirst("event: delta\ndata: ".count).utf8))
            #expect(delta["text"] == reply.reply)
            #expect(reply.funnelStage == "RECOMMEND" && reply.tools == ["energy_savings_calculator"])
        }
    }

    @Test func aStreamCutAnywhereGivesTheSameLines() {
        let wire = "data: {\"a\":\"è\"}\r\n\r\ndata: [DONE]\n\n"
        for cut in 0...wire.utf8.count {
            var lines = ServerSentLines()
            let bytes = Array(wire.utf8)
            let read = lines.feed(ByteBuffer(bytes: bytes[..<cut])) + lines.feed(ByteBuffer(bytes: bytes[cut...]))
            #expect(read == ["data: {\"a\":\"è\"}", "", "data: [DONE]", ""], "cut at \(cut)")
        }
    }

    func event(model: String?, on day: String, tokensIn: Int, cached: Int, out: Int) throws -> AiEvent {
        AiEvent(conversationID: UUID(), type: .aiMessage, payload: "{}", tokensIn: tokensIn, tokensOut: out, cachedTokens: cached,
                model: model, now: try Date(day + "T12:00:00Z", strategy: .iso8601))
    }

    @Test func eventsArePricedAtTheirModelsRateOfTheirDayWithCachedInputCheaper() throws {
        let prices = ModelPrices.standard
        // gpt-4o-mini: 0.15 $/M input, 0.075 cached, 0.60 output.
        let mini = try event(model: "gpt-4o-mini", on: "2026-01-10", tokensIn: 1_000_000, cached: 400_000, out: 100_000)
        #expect(prices.cost(of: mini) == Decimal(string: "0.09")! + Decimal(string: "0.03")! + Decimal(string: "0.06")!)
        // gpt-4o changed price on 2024-10-01: the same tokens cost what they cost that day.
        let before = try event(model: "gpt-4o", on: "2024-09-01", tokensIn: 1_000_000, cached: 0, out: 0)
        let after = try event(model: "gpt-4o", on: "2024-11-01", tokensIn: 1_000_000, cached: 0, out: 0)
        #expect(prices.cost(of: before) == 5 && prices.cost(of: after) == Decimal(string: "2.5")!)
        #expect(try prices.cost(of: event(model: "gpt-4o", on: "2024-01-01", tokensIn: 10, cached: 0, out: 0)) == nil)
        #expect(try prices.cost(of: event(model: "unknown-model", on: "2026-01-10", tokensIn: 10, cached: 0, out: 0)) == nil)
        #expect(try prices.cost(of: event(model: OfflineAssistant.model, on: "2026-01-10", tokensIn: 10, cached: 0, out: 10)) == 0)
        // A conversation's cost is the sum over its priced events (unpriced ones add nothing).
        let events = [mini, after, try event(model: nil, on: "2026-01-10", tokensIn: 5, cached: 0, out: 5)]
        #expect(events.compactMap(prices.cost(of:)).reduce(0, +) == Decimal(string: "2.68")!)
    }
}
