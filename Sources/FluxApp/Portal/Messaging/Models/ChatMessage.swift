import Fluent
import Foundation

/// A message in a conversation, numbered per conversation (`seq`); a deleted one keeps its row with no text.
final class ChatMessage: Model, @unchecked Sendable {
    static let schema = "chat_messages"

    @ID(key: .id) var id: UUID?
    @Field(key: "thread_id") var threadID: UUID
    @Field(key: "seq") var seq: Int
    @Field(key: "sender_id") var senderID: UUID
    @Field(key: "body") var body: String
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "edited_at") var editedAt: Date?
    @OptionalField(key: "deleted_at") var deletedAt: Date?
    /// One of the organization's files, which every reader of the conversation may download through the message.
    @OptionalField(key: "attachment_id") var attachmentID: UUID?

    init() {}
}
