import Fluent
import Foundation

/// Someone in a thread, with how far they have read (the read receipt) and been mailed about.
final class ChatMember: Model, @unchecked Sendable {
    static let schema = "chat_members"

    @ID(key: .id) var id: UUID?
    @Field(key: "thread_id") var threadID: UUID
    @Field(key: "user_id") var userID: UUID
    @Field(key: "last_read_seq") var lastReadSeq: Int
    @Field(key: "notified_seq") var notifiedSeq: Int
    @Field(key: "joined_at") var joinedAt: Date

    init() {}

    init(threadID: UUID, userID: UUID, now: Date) {
        id = UUID()
        self.threadID = threadID
        self.userID = userID
        lastReadSeq = 0
        notifiedSeq = 0
        joinedAt = now
    }
}
