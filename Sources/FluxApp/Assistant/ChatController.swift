import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `POST /api/chat` `{sessionId, message, locale?, pageUrl?}`: one FluxAI turn, recorded as telemetry. The
/// chat answers even when its recording fails (logged) or the model fails (a graceful reply and an error
/// event): a visitor never sees a 500 from the assistant.
struct ChatController: Sendable {
    static let locales: Set<String> = ["it", "en", "es", "fr", "de"]

    let security: Hardening
    let provider: any LLMProvider
    let recorder: ConversationRecorder
    let metrics: HTTPMetrics

    struct Body: Content {
        let sessionId: String
        let message: String
        let locale: String?
        let pageUrl: String?
    }

    struct Reply: Content {
        let reply: String
        let conversationId: UUID
        let funnelStage: AiConversation.FunnelStage
        let industryLabel: String?
        let tools: [String]
    }

    /// Answers with JSON, or, when the request accepts `text/event-stream`, streams the answer as server-sent
    /// events: `delta` events carrying text as the model produces it, then one `done` event with the reply.
    @Sendable func chat(_ request: Request) async throws -> Response {
        let body = try request.content.decode(Body.self)
        var errors = FieldErrors()
        errors.check("sessionId", TextInput.isToken(body.sessionId),
                     "must be 1 to 100 letters, digits, - or _")
        let message = TextInput.multiline(body.message)
        errors.check("message", (1...4000).contains(message.count), "must be 1 to 4000 characters")
        errors.check("locale", body.locale.map(Self.locales.contains) ?? true, "must be one of it, en, es, fr, de")
        errors.check("pageUrl", (body.pageUrl ?? "").count <= 2048, "must be at most 2048 characters")
        try errors.throwIfAny()

        // Compared by name: HTTPMediaType's == lets `*/*` match, and a plain client must get JSON.
        guard request.headers.accept.mediaTypes.contains(where: { $0.type == "text" && $0.subType == "event-stream" }) else {
            return try await turn(request, body: body, message: message, onText: { _ in }).encodeResponse(for: request)
        }
        let response = Response(status: .ok)
        response.headers.contentType = ServerSentEvents.mediaType
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        // nginx would otherwise hold the stream back until it ends.
        response.headers.replaceOrAdd(name: "X-Accel-Buffering", value: "no")
        response.body = .init(asyncStream: { writer in
            let reply = await self.turn(request, body: body, message: message) { text in
                try? await writer.write(.buffer(ServerSentEvents.frame("delta", ["text": text])))
            }
            try await writer.write(.buffer(ServerSentEvents.frame("done", reply)))
            try await writer.write(.end)
        })
        return response
    }

    /// One turn: the model's answer, the funnel moved, everything recorded. Never throws: a failing model
    /// gives a graceful answer and an error event, failing telemetry is logged and counted.
    private func turn(_ request: Request, body: Body, message: String, onText: @escaping @Sendable (String) async -> Void) async -> Reply {
        let now = Date()
        let known = await recorded(request, "load") { try await recorder.state(of: body.sessionId, on: request.db) } ?? nil
        var conversation = known ?? ConversationState(id: UUID(), locale: body.locale ?? "en", industry: nil, stage: .discovery)
        if let locale = body.locale { conversation.locale = locale }

        var context = AssistantContext(locale: conversation.locale, industry: conversation.industry,
                                       productionVolume: conversation.productionVolume)
        if provider.readsHistory, known != nil {
            // The last turn may still be queued: write it before reading what was said.
            await recorder.flush(on: request.db, logger: request.logger)
            context.history = await recorded(request, "history") { try await history(of: conversation.id, on: request.db) } ?? []
        }
        var events = [AiEvent(conversationID: conversation.id, type: .userMessage, payload: AiEvent.payload(["text": message]), now: now)]
        let clock = ContinuousClock()
        let started = clock.now
        let turn: AssistantTurn
        do {
            turn = try await provider.reply(to: message, context: context, onText: onText)
        } catch {
            request.logger.error("assistant failed", metadata: ["error": .string(String(describing: error))])
            events.append(AiEvent(conversationID: conversation.id, type: .error, payload: AiEvent.payload(["error": String(describing: error)])))
            let apology = OfflineAssistant.Phrases.for(conversation.locale).handoff
            await onText(apology)
            turn = AssistantTurn(text: apology, tools: [], model: OfflineAssistant.model, tokensIn: 0, tokensOut: 0, cachedTokens: 0)
        }
        let latency = Int((clock.now - started) / .milliseconds(1))
        if conversation.industry == nil, let industry = IndustryDetector.detect(message) {
            conversation.industry = industry
        }
        if conversation.industry != nil { conversation.advance(to: .qualify) }
        for tool in turn.tools {
            events.append(AiEvent(conversationID: conversation.id, type: .toolCall, payload: AiEvent.payload(tool.arguments), toolName: tool.name.rawValue))
            events.append(AiEvent(conversationID: conversation.id, type: .toolResult, payload: AiEvent.payload(["result": tool.result]),
                                  toolName: tool.name.rawValue))
            switch tool.name {
            case .savingsCalculator:
                conversation.estimatedSavingsPercent = tool.estimatedSavingsPercent
                conversation.productionVolume = tool.productionVolume
                conversation.advance(to: .recommend)
            case .consultationHandoff:
                conversation.advance(to: .handoff)
            case .caseStudies, .equipmentSpecs:
                break
            }
        }
        events.append(AiEvent(conversationID: conversation.id, type: .aiMessage, payload: AiEvent.payload(["text": turn.text]),
                              latencyMs: latency, tokensIn: turn.tokensIn, tokensOut: turn.tokensOut, cachedTokens: turn.cachedTokens,
                              model: turn.model))
        let record = TurnRecord(sessionID: body.sessionId, state: conversation, visitorIP: security.clientAddressHash(request),
                                pageURL: body.pageUrl.map { String($0.prefix(2048)) }, at: Date(), toolCalls: turn.tools.count, events: events)
        await recorded(request, "record") { recorder.record(record) }
        return Reply(reply: turn.text, conversationId: conversation.id, funnelStage: conversation.stage,
                     industryLabel: conversation.industry, tools: turn.tools.map(\.name.rawValue))
    }

    /// The conversation's last messages, oldest first, for a model that reads what was said before.
    private func history(of conversationID: UUID, on database: any Database) async throws -> [HistoryMessage] {
        let recent = try await AiEvent.query(on: database).filter(\.$conversationID == conversationID)
            .filter(\.$type ~~ [.userMessage, .aiMessage]).sort(\.$createdAt, .descending).limit(Self.historyLimit).all()
        return recent.reversed().compactMap { event in
            guard let text = (try? JSONDecoder().decode([String: String].self, from: Data(event.payloadJSON.utf8)))?["text"] else { return nil }
            return HistoryMessage(role: event.type == .userMessage ? .user : .assistant, text: text)
        }
    }

    static let historyLimit = 20

    /// Runs a telemetry step (`load`, `history` or `record`), timed in /metrics; a failure is logged and counted, and the chat goes on without it.
    @discardableResult
    private func recorded<T>(_ request: Request, _ step: String, _ body: () async throws -> T) async -> T? {
        let started = ContinuousClock.now
        defer { metrics.telemetryStep(step, took: ContinuousClock.now - started) }
        do {
            return try await body()
        } catch {
            metrics.telemetryFailed()
            request.logger.warning("chat telemetry failed; the visitor still gets an answer",
                                   metadata: ["step": .string(step), "error": .string(String(describing: error))])
            return nil
        }
    }
}
