import Fluent
import Foundation

/// One event of a conversation: a message, a tool call or result, or an error.
final class AiEvent: Model, @unchecked Sendable {
    static let schema = "ai_events"

    enum Kind: String, Codable, Sendable {
        case userMessage = "user_msg", aiMessage = "ai_msg", toolCall = "tool_call", toolResult = "tool_result", error
    }

    /// Payloads are cut to 8 KB, on a UTF-8 character boundary.
    static let payloadLimit = 8 * 1024

    @ID(key: .id) var id: UUID?
    @Field(key: "conversationId") var conversationID: UUID
    @Enum(key: "type") var type: Kind
    @Field(key: "payloadJson") var payloadJSON: String
    @OptionalField(key: "toolName") var toolName: String?
    @OptionalField(key: "latencyMs") var latencyMs: Int?
    @OptionalField(key: "tokensIn") var tokensIn: Int?
    @OptionalField(key: "tokensOut") var tokensOut: Int?
    @OptionalField(key: "cachedTokens") var cachedTokens: Int?
    /// The model that produced an `ai_msg` (its tokens are priced by ``ModelPrices``).
    @OptionalField(key: "model") var model: String?
    @Field(key: "createdAt") var createdAt: Date

    /// The payload text of a message, tool call or error: its fields as one JSON object.
    static func payload(_ fields: [String: String]) -> String {
        (try? JSONEncoder().encode(fields)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    init() {}

    init(conversationID: UUID, type: Kind, payload: String, toolName: String? = nil, latencyMs: Int? = nil,
         tokensIn: Int? = nil, tokensOut: Int? = nil, cachedTokens: Int? = nil, model: String? = nil, now: Date = Date()) {
        id = UUID()
        self.conversationID = conversationID
        self.type = type
        payloadJSON = Self.truncated(payload)
        self.toolName = toolName
        self.latencyMs = latencyMs
        self.tokensIn = tokensIn
        self.tokensOut = tokensOut
        self.cachedTokens = cachedTokens
        self.model = model
        createdAt = now
    }

    static func truncated(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > payloadLimit else { return text }
        var end = payloadLimit
        // Step back over continuation bytes (10xxxxxx) so no multi-byte character is split.
        while end > 0, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
