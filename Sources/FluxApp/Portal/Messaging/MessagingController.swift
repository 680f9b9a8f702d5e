import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// `/api/portal/conversations…` and `/api/portal/messages/:messageID`: messaging between a tenant's users and
/// staff. Clients reach their own tenant's channels and the direct conversations they are in; staff reach every
/// tenant's (company engineers answer any client). Messages are numbered per conversation (`seq`), pages go
/// by `seq`, reading moves the reader's receipt forward, and edits and deletions keep the earlier text.
struct MessagingController: Sendable {
    let audit: AuditLog
    let realtime: RealtimeHub
    let files: PortalFilesController

    /// The caller's conversations, most recent first, with unread counts (staff: `?tenantId=` names the tenant).
    @Sendable func list(_ request: Request, _ principal: Principal) async throws -> [ThreadView] {
        var tenantID = principal.tenantID
        if principal.role.isStaff {
            guard let named = request.query[UUID.self, at: "tenantId"] else {
                throw AppError.invalidFields(["tenantId": "staff name the tenant"])
            }
            tenantID = named
        }
        return try await ConversationStore.threads(of: tenantID, visibleTo: principal, on: request.db)
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
            throw AppError.notFound("No such tenant.")
        }
        // Everyone named is a member of that organization or staff: nobody from another client.
        let operatorTenant = try await Accounts.operatorTenant(on: request.db).id!
        let allowed = try await Membership.query(on: request.db).filter(\.$userID ~~ Array(participants))
            .filter(\.$tenantID ~~ [tenant.id!, operatorTenant]).all().map(\.userID)
        guard Set(allowed) == participants else {
            throw AppError.invalidFields(["participantIds": "must be members of the organization or staff"])
        }
        // Starting a direct conversation with someone you already have one with opens that one (200, not 201).
        if kind == .direct, let existing = try await Self.directThread(between: principal.userID, and: participants.first!, in: tenant.id!, on: request.db) {
            let unread = try await ConversationStore.unread(in: [existing.id!], for: principal.userID, on: request.db)
            return try await Self.view(existing, unread: unread[existing.id!] ?? 0).encodeResponse(status: .ok, for: request)
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
        try await audit.record("conversation.created", actor: principal.userID, tenant: tenant.id, target: thread.id!.uuidString,
                               metadata: ["kind": thread.kind.rawValue], request: request)
        return try await Self.view(thread, unread: 0).encodeResponse(status: .created, for: request)
    }

    /// The direct conversation in `tenantID` that both `one` and `other` are in, if there is one.
    static func directThread(between one: UUID, and other: UUID, in tenantID: UUID, on database: any Database) async throws -> ChatThread? {
        let mine = try await ChatMember.query(on: database).filter(\.$userID == one).all().map(\.threadID)
        guard !mine.isEmpty else { return nil }
        let shared = try await ChatMember.query(on: database).filter(\.$userID == other).filter(\.$threadID ~~ mine).all().map(\.threadID)
        guard !shared.isEmpty else { return nil }
        return try await ChatThread.query(on: database).filter(\.$id ~~ shared).filter(\.$tenantID == tenantID).filter(\.$kind == .direct)
            .sort(\.$createdAt).first()
    }

    @Sendable func show(_ request: Request, _ principal: Principal) async throws -> ThreadDetail {
        let thread = try await ThreadAccess.thread(request, principal)
        let members = try await ChatMember.query(on: request.db).filter(\.$threadID == thread.id!).sort(\.$joinedAt).all()
        let emails = Dictionary(try await User.query(on: request.db).filter(\.$id ~~ members.map(\.userID)).all().map { ($0.id!, $0.email) }) { a, _ in a }
        let unread = try await ConversationStore.unread(in: [thread.id!], for: principal.userID, on: request.db)
        return ThreadDetail(
            thread: Self.view(thread, unread: unread[thread.id!] ?? 0),
            members: members.map { MemberView(userId: $0.userID, email: emails[$0.userID] ?? "", lastReadSeq: $0.lastReadSeq) })
    }

    /// `?before=SEQ` pages back (newest first); `?after=SEQ` catches up (oldest first): what a client that
    /// was away has missed. `limit` 1 to 200, default 50.
    @Sendable func messages(_ request: Request, _ principal: Principal) async throws -> MessagePage {
        let thread = try await ThreadAccess.thread(request, principal)
        let limit = request.query[Int.self, at: "limit"] ?? 50
        let before = request.query[Int.self, at: "before"]
        let after = request.query[Int.self, at: "after"]
        var errors = FieldErrors()
        errors.check("limit", (1...200).contains(limit), "must be 1 to 200")
        errors.check("after", before == nil || after == nil, "give before or after, not both")
        try errors.throwIfAny()
        let sql = request.db.sql
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
        let thread = try await ThreadAccess.thread(request, principal)
        var attachment: PortalFile?
        if let fileID = input.fileId {
            // Attaching shares the file with everyone in the conversation, so the sender must see it and it
            // must be the conversation's organization's.
            guard let file = try await PortalFile.find(fileID, on: request.db), file.tenantID == thread.tenantID,
                FileAccess.canSee(file, principal)
            else {
                throw AppError.invalidFields(["fileId": "no such file"])
            }
            attachment = file
        }
        let now = Date()
        let sql = request.db.sql
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
        let member = try await ThreadAccess.member(of: thread, principal, on: request.db)
        // Your own message is read by you.
        if member.lastReadSeq < message.seq {
            member.lastReadSeq = message.seq
            try await member.update(on: request.db)
        }
        let view = Self.view(message, attachment: attachment)
        await realtime.announce(.messageCreated, thread: thread.id!, data: view, on: request.db)
        await Notifications.messagePosted(message, in: thread, attachment: attachment, request: request)
        return try await view.encodeResponse(status: .created, for: request)
    }

    struct ReadBody: Content {
        let seq: Int
    }

    /// Moves the caller's read receipt forward to `seq` (never back).
    @Sendable func read(_ request: Request, _ principal: Principal) async throws -> MemberView {
        let body = try request.content.decode(ReadBody.self)
        let thread = try await ThreadAccess.thread(request, principal)
        var errors = FieldErrors()
        errors.check("seq", (0...thread.lastSeq).contains(body.seq), "must be 0 to \(thread.lastSeq)")
        try errors.throwIfAny()
        let member = try await ThreadAccess.member(of: thread, principal, on: request.db)
        if body.seq > member.lastReadSeq {
            member.lastReadSeq = body.seq
            try await member.update(on: request.db)
            await realtime.announce(.messageRead, thread: thread.id!, data: Receipt(userId: principal.userID, seq: body.seq), on: request.db)
        }
        // Read to the end: the notices about this conversation are read too.
        if body.seq == thread.lastSeq {
            try await NotificationStore.markRead(about: thread.id!, for: principal.userID, on: request.db)
        }
        let email = try await User.find(principal.userID, on: request.db)?.email ?? ""
        return MemberView(userId: principal.userID, email: email, lastReadSeq: member.lastReadSeq)
    }

    /// A message's attachment, for anyone who may read the conversation (attaching shared it with them).
    @Sendable func attachment(_ request: Request, _ principal: Principal) async throws -> Response {
        let (message, thread) = try await ThreadAccess.message(request, principal)
        guard message.deletedAt == nil, let id = message.attachmentID, let file = try await PortalFile.find(id, on: request.db) else {
            throw FileAccess.notFound
        }
        try await audit.record("file.downloaded", actor: principal.userID, tenant: thread.tenantID, target: file.id!.uuidString,
                               metadata: ["message": message.id!.uuidString], request: request)
        return try await files.stream(file, request)
    }

    /// The sender edits their own message; the earlier text is kept as a revision and audited.
    @Sendable func edit(_ request: Request, _ principal: Principal) async throws -> MessageView {
        let body = try Self.checked(try request.content.decode(PostBody.self).body)
        let (message, thread) = try await ThreadAccess.message(request, principal)
        guard message.senderID == principal.userID else { throw AppError.forbidden("Only the sender edits a message.") }
        guard message.deletedAt == nil else { throw AppError(.conflict, code: "message_deleted", message: "This message was deleted.") }
        try await revise(message, action: "edit", actor: principal.userID, on: request.db) { message.body = body; message.editedAt = $0 }
        try await audit.record("message.edited", actor: principal.userID, tenant: thread.tenantID, target: message.id!.uuidString,
                               request: request)
        let view = try await Self.views([message], on: request.db)[0]
        try await RealtimeEventRedaction.rewrite(message: message.id!, thread: thread.id!, as: view, on: request.db)
        await realtime.announce(.messageEdited, thread: thread.id!, data: view, on: request.db)
        return view
    }

    /// The sender, a client admin of the tenant, or staff delete a message; its text is kept as a revision.
    @Sendable func delete(_ request: Request, _ principal: Principal) async throws -> HTTPStatus {
        let (message, thread) = try await ThreadAccess.message(request, principal)
        guard message.senderID == principal.userID || principal.role == .clientAdmin || Role.clientDataStaff.contains(principal.role) else {
            throw AppError.forbidden("Only the sender or an admin deletes a message.")
        }
        if message.deletedAt == nil {
            try await revise(message, action: "delete", actor: principal.userID, on: request.db) { message.body = ""; message.deletedAt = $0 }
            let view = Self.view(message, attachment: nil)
            try await RealtimeEventRedaction.rewrite(message: message.id!, thread: thread.id!, as: view, on: request.db)
            await realtime.announce(.messageDeleted, thread: thread.id!, data: view, on: request.db)
        }
        try await audit.record("message.deleted", actor: principal.userID, tenant: thread.tenantID, target: message.id!.uuidString,
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
