import Fluent
import Foundation

/// A ticket born from a consultation request: new → triaged → contacted → won | lost.
final class OperationsSignal: Model, @unchecked Sendable {
    static let schema = "operations_signals"

    enum Status: String, Codable, Sendable, CaseIterable {
        case new, triaged, contacted, won, lost
    }

    enum PreferredContact: String, Codable, Sendable, CaseIterable {
        case email, phone, whatsapp
    }

    @ID(key: .id) var id: UUID?
    @Enum(key: "status") var status: Status
    @Field(key: "name") var name: String
    @Field(key: "company") var company: String
    @Field(key: "email") var email: String
    @OptionalField(key: "phone") var phone: String?
    @OptionalField(key: "message") var message: String?
    @OptionalField(key: "timeframe") var timeframe: String?
    @Enum(key: "preferred_contact") var preferredContact: PreferredContact
    /// JSON arrays of strings.
    @Field(key: "conversation_insights") var conversationInsights: String
    @Field(key: "suggested_topics") var suggestedTopics: String
    @OptionalField(key: "page_url") var pageURL: String?
    @OptionalField(key: "referrer_url") var referrerURL: String?
    /// The FluxAI session the visitor chatted in, when the form says so.
    @OptionalField(key: "session_id") var sessionID: String?
    @Field(key: "ip_hash") var ipHash: String
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}
