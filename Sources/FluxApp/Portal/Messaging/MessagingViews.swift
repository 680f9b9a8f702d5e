import Fluent
import Foundation
import SQLKit
import Vapor

/// What the messaging API answers, and how messages become those answers.
extension MessagingController {
    struct ThreadView: Content {
        let id: UUID
        let tenantId: UUID
        let kind: ChatThread.Kind
        let title: String
        let lastSeq: Int
        let lastMessageAt: Date?
        let unread: Int
    }

    static func view(_ thread: ChatThread, unread: Int) -> ThreadView {
        ThreadView(id: thread.id!, tenantId: thread.tenantID, kind: thread.kind, title: thread.title, lastSeq: thread.lastSeq,
                   lastMessageAt: thread.lastMessageAt, unread: unread)
    }

    struct MemberView: Content {
        let userId: UUID
        let email: String
        let lastReadSeq: Int
    }

    struct ThreadDetail: Content {
        let thread: ThreadView
        /// Who has read how far: the read receipts.
        let members: [MemberView]
    }

    struct MessageView: Content {
        let id: UUID
        let seq: Int
        let senderId: UUID
        /// Empty once deleted.
        let body: String
        let createdAt: Date
        let editedAt: Date?
        let deletedAt: Date?
        /// Absent once the message or the file is deleted.
        let attachment: Attachment?
    }

    struct Attachment: Content {
        let fileId: UUID
        let name: String
        let contentType: String
        let size: Int64
    }

    /// A message as the pages read it: straight from SQL, without building a Fluent model per row (half the
    /// cost of a page of 50), column by column (SQLKit's Codable row decoder walks a keyed container per row).
    struct MessageRow {
        let id: UUID
        let seq: Int
        let sender_id: UUID
        let body: String
        let created_at: Date
        let edited_at: Date?
        let deleted_at: Date?
        let attachment_id: UUID?

        init(_ message: ChatMessage) {
            id = message.id!
            seq = message.seq
            sender_id = message.senderID
            body = message.body
            created_at = message.createdAt
            edited_at = message.editedAt
            deleted_at = message.deletedAt
            attachment_id = message.attachmentID
        }

        init(_ row: any SQLRow) throws {
            id = try row.decode(column: "id", as: UUID.self)
            seq = try row.decode(column: "seq", as: Int.self)
            sender_id = try row.decode(column: "sender_id", as: UUID.self)
            body = try row.decode(column: "body", as: String.self)
            created_at = try row.decode(column: "created_at", as: Date.self)
            edited_at = try row.decode(column: "edited_at", as: Date?.self)
            deleted_at = try row.decode(column: "deleted_at", as: Date?.self)
            attachment_id = try row.decode(column: "attachment_id", as: UUID?.self)
        }

        static let columns = "id, seq, sender_id, body, created_at, edited_at, deleted_at, attachment_id"
    }

    static func view(_ message: ChatMessage, attachment file: PortalFile?) -> MessageView {
        view(MessageRow(message), attachment: file)
    }

    static func view(_ row: MessageRow, attachment file: PortalFile?) -> MessageView {
        MessageView(id: row.id, seq: row.seq, senderId: row.sender_id, body: row.deleted_at == nil ? row.body : "",
                    createdAt: row.created_at, editedAt: row.edited_at, deletedAt: row.deleted_at,
                    attachment: row.deleted_at == nil ? file.map { Attachment(fileId: $0.id!, name: $0.name, contentType: $0.contentType, size: $0.size) } : nil)
    }

    static func views(_ messages: [ChatMessage], on database: any Database) async throws -> [MessageView] {
        try await views(messages.map(MessageRow.init), on: database)
    }

    /// Views of `rows` with their attachments, read in one query.
    static func views(_ rows: [MessageRow], on database: any Database) async throws -> [MessageView] {
        let ids = rows.compactMap(\.attachment_id)
        let files = ids.isEmpty ? [:]
            : Dictionary(try await PortalFile.query(on: database).filter(\.$id ~~ ids).all().map { ($0.id!, $0) }) { a, _ in a }
        return rows.map { view($0, attachment: $0.attachment_id.flatMap { files[$0] }) }
    }

    struct MessagePage: Content {
        let messages: [MessageView]
        /// Pass as `before` for the next (older) page; `nil` on the first message.
        let nextBefore: Int?
    }

    /// A read receipt as real-time subscribers see it.
    struct Receipt: Codable, Sendable {
        let userId: UUID
        let seq: Int
    }
}
