import Fluent
import Foundation

/// The text a message had before an edit or a deletion, and who changed it.
final class ChatRevision: Model, @unchecked Sendable {
    static let schema = "chat_revisions"

    @ID(key: .id) var id: UUID?
    @Field(key: "message_id") var messageID: UUID
    @Field(key: "action") var action: String
    @Field(key: "body") var body: String
    @Field(key: "actor_id") var actorID: UUID
    @Field(key: "at") var at: Date

    init() {}
}
