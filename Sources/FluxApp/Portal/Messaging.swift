import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

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

/// `/api/portal/conversations…` and `/api/portal/messages/:messageID`: messaging between a tenant's users and
/// staff. Clients reach their own tenant's channels and the direct conversations they are in; staff reach every
/// tenant's (company engineers answer any client). Messages are numbered per conversation (`seq`), pages go
/// by `seq`, reading moves the reader's receipt forward, and edits and deletions keep the earlier text.
struct MessagingController: Sendable {
    let identity: Identity
    let security: Hardening
    let realtime: RealtimeHub

    func register(on root: any RoutesBuilder) {
        let portal = root.grouped("api", "portal").grouped(security.rateLimit(RateLimits.account))
        let everyone = Role.client.union(Role.clientDataStaff)
        portal.secured(.GET, "conversations", roles: everyone, identity: identity, use: list)
        portal.secured(.POST, "conversations", roles: everyone, identity: identity, use: create)
        portal.secured(.GET, "conversations", ":threadID", roles: everyone, identity: identity, use: show)
        portal.secured(.GET, "conversations", ":threadID", "messages", roles: everyone, identity: identity, use: messages)
        portal.secured(.POST, "conversations", ":threadID", "messages", roles: everyone, identity: identity, use: post)
        portal.secured(.POST, "conversations", ":threadID", "read", roles: everyone, identity: identity, use: read)
        portal.secured(.PATCH, "messages", ":messageID", roles: everyone, identity: identity, use: edit)
        portal.secured(.DELETE, "messages", ":messageID", roles: everyone, identity: identity, use: delete)
    }

    static let notFound = AppError(.notFound, code: "not_found", message: "No such conversation.")

    /// The thread named by the path, if the caller may see it (another tenant's looks like nothing at all).
    static func thread(_ request: Request, _ principal: Principal) async throws -> ChatThread {
        guard let id = request.parameters.get("threadID", as: UUID.self), let thread = try await ChatThread.find(id, on: request.db),
            try await canSee(thread, principal, on: request.db)
        else { throw notFound }
        return thread
    }

    static func canSee(_ thread: ChatThread, _ principal: Principal, on database: any Database) async throws -> Bool {
        if principal.role.isStaff { return Role.clientDataStaff.contains(principal.role) }
        guard thread.tenantID == principal.tenantID else { return false }
        if thread.kind == .channel { return true }
        return try await ChatMember.query(on: database).filter(\.$threadID == thread.id!).filter(\.$userID == principal.userID).first() != nil
    }

    /// The caller's membership, made on first use of a channel (or, for staff, of any thread they answer in).
    static func member(of thread: ChatThread, _ principal: Principal, on database: any Database) async throws -> ChatMember {
        if let existing = try await ChatMember.query(on: database).filter(\.$threadID == thread.id!).filter(\.$userID == principal.userID).first() {
            return existing
        }
        let member = ChatMember(threadID: thread.id!, userID: principal.userID, now: Date())
        do {
            try await member.create(on: database)
        } catch where (error as? any DatabaseError)?.isConstraintFailure == true {
            // A parallel request of the same person joined first.
            if let joined = try await ChatMember.query(on: database).filter(\.$threadID == thread.id!).filter(\.$userID == principal.userID).first() {
                return joined
            }
            throw error
        }
        return member
    }

    // MARK: - Threads

    struct ThreadView: Content {
        let id: UUID
        let tenantId: UUID
        let kind: ChatThread.Kind
        let title: String
        let lastSeq: Int
        let lastMessageAt: Date?
        let unread: Int
    }

    /// The caller's conversations, most recent first, with unread counts (staff: `?tenantId=` names the tenant).
    @Sendable func list(_ request: Request, _ principal: Principal) async throws -> [ThreadView] {
        var tenantID = principal.tenantID
        if principal.role.isStaff {
            guard let named = request.query[UUID.self, at: "tenantId"] else {
                throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.", fields: ["tenantId": "staff name the tenant"])
            }
            tenantID = named
        }
        let threads = try await ChatThread.query(on: request.db).filter(\.$tenantID == tenantID).sort(\.$lastMessageAt, .descending)
            .sort(\.$createdAt, .descending).limit(200).all()
        let mine = Set(try await ChatMember.query(on: request.db).filter(\.$userID == principal.userID)
            .filter(\.$threadID ~~ threads.compactMap(\.id)).all().map(\.threadID))
        let visible = threads.filter { principal.role.isStaff || $0.kind == .channel || mine.contains($0.id!) }
        let unread = try await Self.unread(in: visible.map { $0.id! }, for: principal.userID, on: request.db)
        return visible.map { Self.view($0, unread: unread[$0.id!] ?? 0) }
    }

    static func view(_ thread: ChatThread, unread: Int) -> ThreadView {
        ThreadView(id: thread.id!, tenantId: thread.tenantID, kind: thread.kind, title: thread.title, lastSeq: thread.lastSeq,
                   lastMessageAt: thread.lastMessageAt, unread: unread)
    }

    /// Messages from others, not deleted, past the reader's receipt (none yet: all of them), per thread, in one query.
    static func unread(in threads: [UUID], for userID: UUID, on database: any Database) async throws -> [UUID: Int] {
        guard !threads.isEmpty else { return [:] }
        struct Row: Decodable {
            let thread_id: UUID
            let unread: Int
        }
        let rows = try await (database as! any SQLDatabase).raw("""
            SELECT m.thread_id, count(*) AS unread FROM chat_messages m
            WHERE m.thread_id IN (\(SQLList(threads.map { SQLBind($0) }))) AND m.sender_id <> \(bind: userID) AND m.deleted_at IS NULL
                AND m.seq > COALESCE((SELECT c.last_read_seq FROM chat_members c WHERE c.thread_id = m.thread_id AND c.user_id = \(bind: userID)), 0)
            GROUP BY m.thread_id
            """).all(decoding: Row.self)
        return Dictionary(rows.map { ($0.thread_id, $0.unread) }) { first, _ in first }
    }

    struct CreateBody: Content {
        let kind: String
        let title: String?
        let participantIds: [UUID]?
        /// Staff only: the client organization the conversation belongs to.
        let tenantId: UUID?
    }

    @Sendable func create(_ request: Request, _ principal: Principal) async throws -> Response {
        let body = try request.content.decode(CreateBody.self)
        let kind = ChatThread.Kind(rawValue: body.kind)
        let participants = Set(body.participantIds ?? []).subtracting([principal.userID])
        let tenantID = principal.role.isStaff ? body.tenantId : principal.tenantID
        var errors = FieldErrors()
        errors.check("kind", kind != nil, "must be direct or channel")
        errors.check("title", kind != .channel || !(body.title ?? "").trimmingCharacters(in: .whitespaces).isEmpty, "a channel needs a title")
        errors.check("title", (body.title ?? "").count <= 100, "must be at most 100 characters")
        errors.check("participantIds", kind != .direct || participants.count == 1, "a direct conversation has exactly one other participant")
        errors.check("participantIds", participants.count <= 50, "at most 50")
        errors.check("tenantId", tenantID != nil, "staff name the client organization")
        try errors.throwIfAny()
        guard let tenant = try await Tenant.find(tenantID!, on: request.db), tenant.kind == .client else {
            throw AppError(.notFound, code: "not_found", message: "No such tenant.")
        }
        // Everyone named is a member of that organization or staff: nobody from another client.
        let operatorTenant = try await Accounts.operatorTenant(on: request.db).id!
        let allowed = try await Membership.query(on: request.db).filter(\.$userID ~~ Array(participants))
            .filter(\.$tenantID ~~ [tenant.id!, operatorTenant]).all().map(\.userID)
        guard Set(allowed) == participants else {
            throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.",
                           fields: ["participantIds": "must be members of the organization or staff"])
        }
        let now = Date()
        let thread = ChatThread()
        thread.id = UUID()
        thread.tenantID = tenant.id!
        thread.kind = kind!
        thread.title = TextInput.line(body.title ?? "", maxLength: 100)
        thread.createdBy = principal.userID
        thread.createdAt = now
        thread.lastSeq = 0
        try await request.db.writeTransaction { transaction in
            try await thread.create(on: transaction)
            for userID in participants.union([principal.userID]) {
                try await ChatMember(threadID: thread.id!, userID: userID, now: now).create(on: transaction)
            }
        }
        try await identity.audit.record("conversation.created", actor: principal.userID, tenant: tenant.id, target: thread.id!.uuidString,
                                        metadata: ["kind": thread.kind.rawValue], request: request)
        return try await Self.view(thread, unread: 0).encodeResponse(status: .created, for: request)
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

    @Sendable func show(_ request: Request, _ principal: Principal) async throws -> ThreadDetail {
        let thread = try await Self.thread(request, principal)
        let members = try await ChatMember.query(on: request.db).filter(\.$threadID == thread.id!).sort(\.$joinedAt).all()
        let emails = Dictionary(try await User.query(on: request.db).filter(\.$id ~~ members.map(\.userID)).all().map { ($0.id!, $0.email) }) { a, _ in a }
        let unread = try await Self.unread(in: [thread.id!], for: principal.userID, on: request.db)
        return ThreadDetail(
            thread: Self.view(thread, unread: unread[thread.id!] ?? 0),
            members: members.map { MemberView(userId: $0.userID, email: emails[$0.userID] ?? "", lastReadSeq: $0.lastReadSeq) })
    }

    // MARK: - Messages

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

    /// `?before=SEQ` pages back (newest first); `?after=SEQ` catches up (oldest first): what a client that
    /// was away has missed. `limit` 1 to 200, default 50.
    @Sendable func messages(_ request: Request, _ principal: Principal) async throws -> MessagePage {
        let thread = try await Self.thread(request, principal)
        let limit = request.query[Int.self, at: "limit"] ?? 50
        let before = request.query[Int.self, at: "before"]
        let after = request.query[Int.self, at: "after"]
        var errors = FieldErrors()
        errors.check("limit", (1...200).contains(limit), "must be 1 to 200")
        errors.check("after", before == nil || after == nil, "give before or after, not both")
        try errors.throwIfAny()
        let sql = request.db as! any SQLDatabase
        if let after {
            let rows = try await sql.raw("""
                SELECT \(unsafeRaw: MessageRow.columns) FROM chat_messages WHERE thread_id = \(bind: thread.id!) AND seq > \(bind: after)
                ORDER BY seq LIMIT \(bind: limit)
                """).all().map(MessageRow.init)
            return MessagePage(messages: try await Self.views(rows, on: request.db), nextBefore: nil)
        }
        let rows = try await sql.raw("""
            SELECT \(unsafeRaw: MessageRow.columns) FROM chat_messages WHERE thread_id = \(bind: thread.id!) AND seq < \(bind: before ?? Int(Int32.max))
            ORDER BY seq DESC LIMIT \(bind: limit + 1)
            """).all().map(MessageRow.init)
        let page = Array(rows.prefix(limit))
        return MessagePage(messages: try await Self.views(page, on: request.db), nextBefore: rows.count > limit ? page.last?.seq : nil)
    }

    struct PostBody: Content {
        let body: String
        /// A file of the conversation's organization that the sender may see (posting only).
        let fileId: UUID?
    }

    static func checked(_ text: String) throws -> String {
        let body = TextInput.multiline(text)
        var errors = FieldErrors()
        errors.check("body", (1...4000).contains(body.count), "must be 1 to 4000 characters")
        try errors.throwIfAny()
        return body
    }

    @Sendable func post(_ request: Request, _ principal: Principal) async throws -> Response {
        let input = try request.content.decode(PostBody.self)
        let body = try Self.checked(input.body)
        let thread = try await Self.thread(request, principal)
        var attachment: PortalFile?
        if let fileID = input.fileId {
            // Attaching shares the file with everyone in the conversation, so the sender must see it and it
            // must be the conversation's organization's.
            guard let file = try await PortalFile.find(fileID, on: request.db), file.tenantID == thread.tenantID,
                PortalFilesController.canSee(file, principal)
            else {
                throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.", fields: ["fileId": "no such file"])
            }
            attachment = file
        }
        let now = Date()
        let sql = request.db as! any SQLDatabase
        let message = ChatMessage()
        message.id = UUID()
        message.threadID = thread.id!
        message.senderID = principal.userID
        message.body = body
        message.createdAt = now
        message.attachmentID = attachment?.id
        // The next number and the row in one statement, without a transaction held across statements (on SQLite
        // such a transaction, waiting for another writer, can starve the thread pool the writer needs). Two
        // senders computing the same number collide on UNIQUE (thread_id, seq); the later one takes the next.
        var seq: Int?
        for attempt in 1...8 where seq == nil {
            do {
                seq = try await sql.raw("""
                    INSERT INTO chat_messages (id, thread_id, seq, sender_id, body, created_at, attachment_id)
                    SELECT \(bind: message.id!), \(bind: thread.id!), COALESCE(MAX(seq), 0) + 1, \(bind: principal.userID), \(bind: body), \(bind: now),
                        \(bind: attachment?.id)
                    FROM chat_messages WHERE thread_id = \(bind: thread.id!)
                    RETURNING seq
                    """).first(decodingColumn: "seq", as: Int.self)
            } catch let error as any DatabaseError where error.isConstraintFailure && attempt < 8 {
                continue
            }
        }
        message.seq = seq!
        try await sql.raw("""
            UPDATE chat_threads SET last_seq = CASE WHEN last_seq < \(bind: message.seq) THEN \(bind: message.seq) ELSE last_seq END,
                last_message_at = \(bind: now) WHERE id = \(bind: thread.id!)
            """).run()
        let member = try await Self.member(of: thread, principal, on: request.db)
        // Your own message is read by you.
        if member.lastReadSeq < message.seq {
            member.lastReadSeq = message.seq
            try await member.update(on: request.db)
        }
        let view = Self.view(message, attachment: attachment)
        await realtime.announce(.messageCreated, thread: thread.id!, data: view, on: request.db)
        return try await view.encodeResponse(status: .created, for: request)
    }

    struct ReadBody: Content {
        let seq: Int
    }

    /// A read receipt as real-time subscribers see it.
    struct Receipt: Codable, Sendable {
        let userId: UUID
        let seq: Int
    }

    /// Moves the caller's read receipt forward to `seq` (never back).
    @Sendable func read(_ request: Request, _ principal: Principal) async throws -> MemberView {
        let body = try request.content.decode(ReadBody.self)
        let thread = try await Self.thread(request, principal)
        var errors = FieldErrors()
        errors.check("seq", (0...thread.lastSeq).contains(body.seq), "must be 0 to \(thread.lastSeq)")
        try errors.throwIfAny()
        let member = try await Self.member(of: thread, principal, on: request.db)
        if body.seq > member.lastReadSeq {
            member.lastReadSeq = body.seq
            try await member.update(on: request.db)
            await realtime.announce(.messageRead, thread: thread.id!, data: Receipt(userId: principal.userID, seq: body.seq), on: request.db)
        }
        let email = try await User.find(principal.userID, on: request.db)?.email ?? ""
        return MemberView(userId: principal.userID, email: email, lastReadSeq: member.lastReadSeq)
    }

    /// The message named by the path, if the caller may see its conversation.
    static func message(_ request: Request, _ principal: Principal) async throws -> (ChatMessage, ChatThread) {
        guard let id = request.parameters.get("messageID", as: UUID.self), let message = try await ChatMessage.find(id, on: request.db),
            let thread = try await ChatThread.find(message.threadID, on: request.db), try await Self.canSee(thread, principal, on: request.db)
        else { throw AppError(.notFound, code: "not_found", message: "No such message.") }
        return (message, thread)
    }

    /// The sender edits their own message; the earlier text is kept as a revision and audited.
    @Sendable func edit(_ request: Request, _ principal: Principal) async throws -> MessageView {
        let body = try Self.checked(try request.content.decode(PostBody.self).body)
        let (message, thread) = try await Self.message(request, principal)
        guard message.senderID == principal.userID else { throw AppError(.forbidden, code: "forbidden", message: "Only the sender edits a message.") }
        guard message.deletedAt == nil else { throw AppError(.conflict, code: "message_deleted", message: "This message was deleted.") }
        try await revise(message, action: "edit", actor: principal.userID, on: request.db) { message.body = body; message.editedAt = $0 }
        try await identity.audit.record("message.edited", actor: principal.userID, tenant: thread.tenantID, target: message.id!.uuidString,
                                        request: request)
        let view = try await Self.views([message], on: request.db)[0]
        try await RealtimeEventRedaction.rewrite(message: message.id!, thread: thread.id!, as: view, on: request.db)
        await realtime.announce(.messageEdited, thread: thread.id!, data: view, on: request.db)
        return view
    }

    /// The sender, a client admin of the tenant, or staff delete a message; its text is kept as a revision.
    @Sendable func delete(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let (message, thread) = try await Self.message(request, principal)
        guard message.senderID == principal.userID || principal.role == .clientAdmin || Role.clientDataStaff.contains(principal.role) else {
            throw AppError(.forbidden, code: "forbidden", message: "Only the sender or an admin deletes a message.")
        }
        if message.deletedAt == nil {
            try await revise(message, action: "delete", actor: principal.userID, on: request.db) { message.body = ""; message.deletedAt = $0 }
            let view = Self.view(message, attachment: nil)
            try await RealtimeEventRedaction.rewrite(message: message.id!, thread: thread.id!, as: view, on: request.db)
            await realtime.announce(.messageDeleted, thread: thread.id!, data: view, on: request.db)
        }
        try await identity.audit.record("message.deleted", actor: principal.userID, tenant: thread.tenantID, target: message.id!.uuidString,
                                        request: request)
        return .noContent
    }

    /// Keeps the message's current text as a revision, then applies `change`, in one transaction.
    private func revise(_ message: ChatMessage, action: String, actor: UUID, on database: any Database, change: (Date) -> Void) async throws {
        let now = Date()
        let revision = ChatRevision()
        revision.id = UUID()
        revision.messageID = message.id!
        revision.action = action
        revision.body = message.body
        revision.actorID = actor
        revision.at = now
        change(now)
        try await database.writeTransaction { transaction in
            try await revision.create(on: transaction)
            try await message.update(on: transaction)
        }
    }
}
