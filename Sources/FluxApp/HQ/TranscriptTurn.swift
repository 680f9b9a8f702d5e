import Foundation
import SQLKit

/// One recorded FluxAI event as the transcript page reads it.
struct TranscriptEvent {
    let type: String
    let payloadJson: String
    let toolName: String?
    let latencyMs, tokensIn, tokensOut, cachedTokens: Int?
    let model: String?
    let createdAt: Date

    init(_ row: any SQLRow) throws {
        type = try row.decode(column: "type", as: String.self)
        payloadJson = try row.decode(column: "payloadJson", as: String.self)
        toolName = try row.decode(column: "toolName", as: String?.self)
        latencyMs = try row.decode(column: "latencyMs", as: Int?.self)
        tokensIn = try row.decode(column: "tokensIn", as: Int?.self)
        tokensOut = try row.decode(column: "tokensOut", as: Int?.self)
        cachedTokens = try row.decode(column: "cachedTokens", as: Int?.self)
        model = try row.decode(column: "model", as: String?.self)
        createdAt = try row.decode(column: "createdAt", as: Date.self)
    }
}

/// One entry of a transcript as staff read it: a visitor's or the assistant's message, or a tool the assistant
/// used with what it was given and what it answered. Payloads are the recorder's JSON objects of text; one that
/// does not parse is shown as it is, never as an error.
struct TranscriptTurn: Encodable {
    struct Field: Encodable {
        let name, value: String
    }

    enum Kind: String, Encodable {
        case visitor, assistant, tool, error
    }

    let kind: Kind
    let time: String
    let text: String
    let tool: String
    let inputs: [Field]
    let result: String
    /// Latency, tokens, cost and model of an assistant turn.
    let meta: String
    let hasInputs: Bool

    private init(_ kind: Kind, time: String, text: String = "", tool: String = "", inputs: [Field] = [], result: String = "", meta: String = "") {
        self.kind = kind
        self.time = time
        self.text = text
        self.tool = tool
        self.inputs = inputs
        self.result = result
        self.meta = meta
        hasInputs = !inputs.isEmpty
    }

    static func turns(_ events: [TranscriptEvent], costs: [Decimal?]) -> [TranscriptTurn] {
        var turns: [TranscriptTurn] = []
        var answered = Set<Int>()
        for (index, event) in events.enumerated() where !answered.contains(index) {
            let fields = payload(event.payloadJson)
            let time = PageSite.time(event.createdAt)
            switch event.type {
            case "user_msg":
                turns.append(TranscriptTurn(.visitor, time: time, text: fields.text))
            case "ai_msg":
                var meta: [String] = []
                if let latency = event.latencyMs { meta.append("\(latency) ms") }
                if let tokensIn = event.tokensIn {
                    meta.append("\(tokensIn) in / \(event.tokensOut ?? 0) out / \(event.cachedTokens ?? 0) cached tokens")
                }
                if let cost = costs[index] { meta.append(HQController.money(cost)) }
                if let model = event.model { meta.append(model) }
                turns.append(TranscriptTurn(.assistant, time: time, text: fields.text, meta: meta.joined(separator: " · ")))
            case "tool_call":
                // Its result is the next tool_result of the same tool.
                let resultIndex = events.indices.dropFirst(index + 1).first {
                    events[$0].type == "tool_result" && events[$0].toolName == event.toolName && !answered.contains($0)
                }
                if let resultIndex { answered.insert(resultIndex) }
                turns.append(TranscriptTurn(.tool, time: time, tool: toolName(event.toolName), inputs: fields.pairs.map { Field(name: $0.0, value: $0.1) },
                                            result: resultIndex.map { payload(events[$0].payloadJson).text } ?? "No result recorded."))
            case "tool_result":
                turns.append(TranscriptTurn(.tool, time: time, tool: toolName(event.toolName), result: fields.text))
            default:
                turns.append(TranscriptTurn(.error, time: time, text: fields.text))
            }
        }
        return turns
    }

    /// The payload's pairs in key order, and its text: the `text`, `result` or `error` field, or all of it.
    private static func payload(_ json: String) -> (pairs: [(String, String)], text: String) {
        guard let fields = try? JSONDecoder().decode([String: String].self, from: Data(json.utf8)) else { return ([], json) }
        let pairs = fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let text = fields["text"] ?? fields["result"] ?? fields["error"] ?? pairs.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        return (pairs, text)
    }

    /// `savings_calculator` → "Savings calculator".
    private static func toolName(_ name: String?) -> String {
        guard let name, !name.isEmpty else { return "Tool" }
        let words = name.replacingOccurrences(of: "_", with: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }
}

