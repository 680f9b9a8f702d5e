import Fluent
import Foundation

/// One visitor's FluxAI conversation (names as in the site's report).
final class AiConversation: Model, @unchecked Sendable {
    static let schema = "ai_conversations"

    enum FunnelStage: String, Codable, Sendable, CaseIterable {
        case discovery = "DISCOVERY", qualify = "QUALIFY", recommend = "RECOMMEND", handoff = "HANDOFF"

        var rank: Int { Self.allCases.firstIndex(of: self)! }
    }

    enum Outcome: String, Codable, Sendable, CaseIterable {
        case open = "OPEN", consultation = "CONSULTATION", abandoned = "ABANDONED"
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "sessionId") var sessionID: String
    /// Keyed hash of the visitor's address; the address itself is never stored.
    @Field(key: "visitorIp") var visitorIP: String
    @Field(key: "locale") var locale: String
    @OptionalField(key: "pageUrl") var pageURL: String?
    @OptionalField(key: "industryLabel") var industryLabel: String?
    @Enum(key: "funnelStage") var funnelStage: FunnelStage
    @Enum(key: "outcome") var outcome: Outcome
    @Field(key: "messageCount") var messageCount: Int
    @Field(key: "toolCallCount") var toolCallCount: Int
    @OptionalField(key: "estimatedSavingsPercent") var estimatedSavingsPercent: Double?
    @OptionalField(key: "productionVolume") var productionVolume: Double?
    @OptionalField(key: "signalId") var signalID: UUID?
    @Field(key: "startedAt") var startedAt: Date
    @Field(key: "lastMessageAt") var lastMessageAt: Date
    @OptionalField(key: "closedAt") var closedAt: Date?

    init() {}

    init(sessionID: String, visitorIP: String, locale: String, pageURL: String?, now: Date) {
        id = UUID()
        self.sessionID = sessionID
        self.visitorIP = visitorIP
        self.locale = locale
        self.pageURL = pageURL
        funnelStage = .discovery
        outcome = .open
        messageCount = 0
        toolCallCount = 0
        startedAt = now
        lastMessageAt = now
    }

    /// Stages only move forward.
    func advance(to stage: FunnelStage) {
        if stage.rank > funnelStage.rank { funnelStage = stage }
    }
}
