import Fluent
import Foundation

/// A conversation between a client organization's users and the company's staff: a direct conversation
/// between named people, or a channel every member of the organization can read.
final class ChatThread: Model, @unchecked Sendable {
    static let schema = "chat_threads"

    enum Kind: String, Codable, Sendable {
        case direct, channel
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @Enum(key: "kind") var kind: Kind
    @Field(key: "title") var title: String
    @Field(key: "created_by") var createdBy: UUID
    @Field(key: "created_at") var createdAt: Date
    /// The sequence number of the newest message (each message takes the next; see ``MessagingController/post``).
    @Field(key: "last_seq") var lastSeq: Int
    @OptionalField(key: "last_message_at") var lastMessageAt: Date?

    init() {}
}
