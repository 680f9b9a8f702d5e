import Fluent
import Foundation

/// Something a person should know about, listed in the app until read: a new message (several in one
/// conversation fold into one notice with a count), a mention, a file shared, a setup request's new status,
/// an invitation. It stores what happened, not words, so each reader sees it in their own language.
final class PortalNotification: Model, @unchecked Sendable {
    static let schema = "notifications"

    enum Kind: String, Codable, Sendable, CaseIterable {
        case message, mention, file, setup, invitation, worker
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "user_id") var userID: UUID
    @Enum(key: "kind") var kind: Kind
    /// What it is about, as the reader knows it: a conversation's title (empty: a direct one), a file's name, a status.
    @Field(key: "subject") var subject: String
    /// Who caused it, named when read (so a new name shows, and an erased account leaves no name behind).
    @OptionalField(key: "actor_id") var actorID: UUID?
    /// Where to go from the notice: a path inside the portal or HQ.
    @Field(key: "link") var link: String
    /// The conversation, file, request or invitation it is about; new messages of one conversation fold on it.
    @OptionalField(key: "source_id") var sourceID: UUID?
    @Field(key: "count") var count: Int
    @Field(key: "created_at") var createdAt: Date
    @OptionalField(key: "read_at") var readAt: Date?

    init() {}
}
