import Fluent
import Foundation
import SQLKit

/// The conversation queries more than one place reads: the conversations a caller sees, and unread counts.
enum ConversationStore {
    /// `tenantID`'s conversations that `principal` sees, most recent first (at most 200), with unread counts.
    static func threads(of tenantID: UUID, visibleTo principal: Principal, on database: any Database) async throws -> [MessagingController.ThreadView] {
        let threads = try await ChatThread.query(on: database).filter(\.$tenantID == tenantID).sort(\.$lastMessageAt, .descending)
            .sort(\.$createdAt, .descending).limit(200).all()
        let mine = Set(try await ChatMember.query(on: database).filter(\.$userID == principal.userID)
            .filter(\.$threadID ~~ threads.compactMap(\.id)).all().map(\.threadID))
        let visible = threads.filter { principal.role.isStaff || $0.kind == .channel || mine.contains($0.id!) }
        let unread = try await unread(in: visible.map { $0.id! }, for: principal.userID, on: database)
        return visible.map { MessagingController.view($0, unread: unread[$0.id!] ?? 0) }
    }

    /// Messages from others, not deleted, past the reader's receipt (none yet: all of them), per thread, in one query.
    static func unread(in threads: [UUID], for userID: UUID, on database: any Database) async throws -> [UUID: Int] {
        guard !threads.isEmpty else { return [:] }
        struct Row: Decodable {
            let thread_id: UUID
            let unread: Int
        }
        let rows = try await database.sql.raw("""
            SELECT m.thread_id, count(*) AS unread FROM chat_messages m
            WHERE m.thread_id IN (\(SQLList(threads.map { SQLBind($0) }))) AND m.sender_id <> \(bind: userID) AND m.deleted_at IS NULL
                AND m.seq > COALESCE((SELECT c.last_read_seq FROM chat_members c WHERE c.thread_id = m.thread_id AND c.user_id = \(bind: userID)), 0)
            GROUP BY m.thread_id
            """).all(decoding: Row.self)
        return Dictionary(rows.map { ($0.thread_id, $0.unread) }) { first, _ in first }
    }
}
