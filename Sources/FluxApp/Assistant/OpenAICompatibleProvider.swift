import AsyncHTTPClient
import Foundation
import NIOCore

/// An OpenAI-compatible chat-completions service (OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL).
public struct OpenAISettings: Sendable {
    public let baseURL: URL
    public let apiKey: SecretValue
    public let model: String
    /// The longest wait for the service to connect, or between two pieces of a streamed answer.
    public let timeout: TimeAmount
}

/// FluxAI on an OpenAI-compatible model: streamed chat completions with the four ``AssistantTools`` offered
/// as functions. A tool call is run here and its result sent back, up to ``maxRounds`` times; the text
/// reaches `onText` as it streams. Usage (input, output and cached input tokens) is summed over the rounds.
/// The system prompt and tools come first and never change, and `prompt_cache_key` names that prefix, so
/// the service can serve it from its prompt cache.
///
/// The service is not trusted to behave: a turn reads at most ``maxTurnBytes`` and lasts at most
/// ``turnTimeouts`` read timeouts, and a tool call index outside ``maxToolCalls`` ends it, so a broken or
/// hostile service costs one graceful answer, never a crash, a hang or the memory it asks for.
struct OpenAICompatibleProvider: LLMProvider {
    static let maxRounds = 3
    /// Far more tool calls than the four tools could need in one answer.
    static let maxToolCalls = 16
    static let maxTurnBytes = 1 << 20
    static let turnTimeouts: Int64 = 4

    let settings: OpenAISettings
    let client: HTTPClient

    var readsHistory: Bool { true }

    enum Failure: Error, CustomStringConvertible {
        case status(Int, String)
        case malformed(String)
        case tooLong(String)

        var description: String {
            switch self {
            case let .status(code, message): "the model service answered \(code): \(message)"
            case let .malformed(what): "the model service sent \(what)"
            case let .tooLong(what): "the model service's answer \(what)"
            }
        }
    }

    /// What is left of one turn's allowance: a stream that keeps sending (a byte before each read timeout, or
    /// everything at once) runs out of it instead of holding the request and its memory for ever.
    struct Budget {
        let deadline: ContinuousClock.Instant
        var bytesLeft: Int

        mutating func spend(_ bytes: Int) throws {
            bytesLeft -= bytes
            guard bytesLeft >= 0 else { throw Failure.tooLong("passed \(OpenAICompatibleProvider.maxTurnBytes) bytes") }
            guard ContinuousClock.now < deadline else { throw Failure.tooLong("was still streaming at the turn's time limit") }
        }
    }

    func reply(to message: String, context: AssistantContext, onText: @escaping @Sendable (String) async -> Void) async throws -> AssistantTurn {
        var messages: [[String: Any]] = [["role": "system", "content": Self.systemPrompt(locale: context.locale)]]
        messages += context.history.map { ["role": $0.role.rawValue, "content": $0.text] }
        messages.append(["role": "user", "content": message])
        var known = context
        var tools: [ToolUse] = []
        var usage = Usage()
        var text = ""
        var budget = Budget(deadline: .now + .nanoseconds(settings.timeout.nanoseconds * Self.turnTimeouts), bytesLeft: Self.maxTurnBytes)
        for round in 1...Self.maxRounds {
            let completion = try await complete(messages: messages, allowTools: round < Self.maxRounds, budget: &budget, onText: onText)
            usage.add(completion.usage)
            text += completion.content
            guard !completion.toolCalls.isEmpty else { break }
            messages.append(["role": "assistant", "content": completion.content.isEmpty ? NSNull() : completion.content,
                             "tool_calls": completion.toolCalls.map { call in
                                 ["id": call.id, "type": "function", "function": ["name": call.name, "arguments": call.arguments]]
                             }])
            for call in completion.toolCalls {
                let result: String
                if let name = ToolUse.Name(rawValue: call.name) {
                    let use = AssistantTools.run(name, arguments: Self.arguments(call.arguments), context: known)
                    tools.append(use)
                    known = AssistantContext(locale: known.locale, industry: use.arguments["industry"].flatMap {
                        IndustryDetector.industries.contains($0) ? $0 : nil
                    } ?? known.industry, productionVolume: use.productionVolume ?? known.productionVolume)
                    result = use.result
                } else {
                    result = "unknown tool \(call.name)"
                }
                messages.append(["role": "tool", "tool_call_id": call.id, "content": result])
            }
        }
        return AssistantTurn(text: text, tools: tools, model: settings.model, tokensIn: usage.prompt,
                             tokensOut: usage.completion, cachedTokens: usage.cached)
    }

    static func systemPrompt(locale: String) -> String {
        """
        You are FluxAI, the assistant on the website of a company that builds radio-frequency heating and drying \
        machines for the textile, food, rubber, pharma and wood industries. Answer briefly in the visitor's \
        language (\(locale)). Use the tools for case studies, energy savings, equipment specifications and to hand \
        the visitor to an engineer; never invent figures the tools did not give.
        """
    }

    /// A model's JSON arguments as text values; anything unreadable counts as no arguments.
    static func arguments(_ json: String) -> [String: String] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else { return [:] }
        return object.reduce(into: [:]) { result, entry in
            switch entry.value {
            case let text as String: result[entry.key] = text
            case let number as NSNumber: result[entry.key] = number.stringValue
            default: break
            }
        }
    }

    struct Usage {
        var prompt = 0, completion = 0, cached = 0

        mutating func add(_ other: Usage) {
            prompt += other.prompt
            completion += other.completion
            cached += other.cached
        }
    }

    struct ToolCall {
        var id = "", name = "", arguments = ""
    }

    struct Completion {
        var content = ""
        var toolCalls: [ToolCall] = []
        var usage = Usage()
    }

    /// One streamed chat completion.
    private func complete(messages: [[String: Any]], allowTools: Bool, budget: inout Budget,
                          onText: @escaping @Sendable (String) async -> Void) async throws -> Completion {
        var body: [String: Any] = [
            "model": settings.model, "messages": messages, "stream": true, "stream_options": ["include_usage": true],
            "prompt_cache_key": "fluxai-v1", "tools": AssistantTools.definitions,
        ]
        if !allowTools { body["tool_choice"] = "none" }
        var request = HTTPClientRequest(url: settings.baseURL.appendingPathComponent("chat/completions").absoluteString)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(settings.apiKey.value)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "text/event-stream")
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))

        let response = try await client.execute(request, timeout: settings.timeout)
        guard response.status == .ok else {
            let text = String(buffer: try await response.body.collect(upTo: 16 * 1024))
            let reason = ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])
                .flatMap { $0["error"] as? [String: Any] }.flatMap { $0["message"] as? String } ?? response.status.reasonPhrase
            throw Failure.status(Int(response.status.code), String(reason.prefix(200)))
        }
        var completion = Completion()
        var lines = ServerSentLines()
        for try await chunk in response.body {
            try budget.spend(chunk.readableBytes)
            for line in lines.feed(chunk) {
                guard line.hasPrefix("data:") else { continue }
                let data = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                if data == "[DONE]" { return completion }
                let piece: Chunk
                do { piece = try JSONDecoder().decode(Chunk.self, from: Data(data.utf8)) } catch { throw Failure.malformed("an unreadable chunk") }
                if let usage = piece.usage {
                    completion.usage = Usage(prompt: usage.prompt_tokens, completion: usage.completion_tokens,
                                             cached: usage.prompt_tokens_details?.cached_tokens ?? 0)
                }
                guard let delta = piece.choices.first?.delta else { continue }
                if let content = delta.content, !content.isEmpty {
                    completion.content += content
                    await onText(content)
                }
                for call in delta.tool_calls ?? [] {
                    guard (0..<Self.maxToolCalls).contains(call.index) else { throw Failure.malformed("a tool call index out of range") }
                    while completion.toolCalls.count <= call.index { completion.toolCalls.append(ToolCall()) }
                    if let id = call.id { completion.toolCalls[call.index].id = id }
                    if let name = call.function?.name { completion.toolCalls[call.index].name += name }
                    if let arguments = call.function?.arguments { completion.toolCalls[call.index].arguments += arguments }
                }
            }
        }
        throw Failure.malformed("a stream that ended without [DONE]")
    }

    /// The parts of a streamed chunk Flux reads (field names as on the wire).
    struct Chunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable {
                struct Call: Decodable {
                    struct Function: Decodable {
                        let name: String?
                        let arguments: String?
                    }

                    let index: Int
                    let id: String?
                    let function: Function?
                }

                let content: String?
                let tool_calls: [Call]?
            }

            let delta: Delta?
        }

        struct Usage: Decodable {
            struct PromptDetails: Decodable {
                let cached_tokens: Int?
            }

            let prompt_tokens: Int
            let completion_tokens: Int
            let prompt_tokens_details: PromptDetails?
        }

        let choices: [Choice]
        let usage: Usage?
    }
}

/// Splits a server-sent-events byte stream into lines, however the network cuts it.
struct ServerSentLines {
    private var pending: [UInt8] = []

    mutating func feed(_ buffer: ByteBuffer) -> [String] {
        pending += buffer.readableBytesView
        var lines: [String] = []
        var start = pending.startIndex
        // The consumed lines are dropped once, at the end: dropping each as it is read moves the rest of the
        // buffer every time, which a chunk of many short lines turns into quadratic work.
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            var line = pending[start..<newline]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            lines.append(String(decoding: line, as: UTF8.self))
            start = newline + 1
        }
        pending.removeSubrange(..<start)
        return lines
    }
}
