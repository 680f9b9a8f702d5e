import Fluent
import Foundation
import SQLKit
import Vapor

/// Records the notifications other features' events cause: the one place messaging, files, setup requests and
/// invitations call. Each call comes after the event itself is stored and never throws: a notice that cannot be
/// written is logged and lost, rather than failing a request whose change already happened (a client would
/// retry it and, say, post its message twice).
enum Notifications {
    /// What happened, for whom it is written, and where the reader goes from it.
    struct Notice: Sendable {
        let kind: PortalNotification.Kind
        let subject: String
        let actor: UUID?
        /// The path for a client; staff readers get `staffLink` when there is one.
        let link: String
        var staffLink: String? = nil
        let source: UUID?
    }

    static func record(_ notice: Notice, to users: Set<UUID>, request: Request) async {
        guard !users.isEmpty else { return }
        do {
            try await write(notice, to: users, on: request.db)
        } catch {
            request.logger.warning("notification not recorded", metadata: ["kind": .string(notice.kind.rawValue), "error": .string(String(describing: error))])
        }
    }

    static func write(_ notice: Notice, to users: Set<UUID>, on database: any Database, now: Date = Date()) async throws {
        guard !users.isEmpty else { return }
        var staff: Set<UUID> = []
        if notice.staffLink != nil {
            let operatorTenant = try await Accounts.operatorTenant(on: database).id!
            staff = Set(try await Membership.query(on: database).filter(\.$userID ~~ Array(users)).filter(\.$tenantID == operatorTenant).all().map(\.userID))
        }
        // New messages of one conversation fold into each reader's unread notice about it: one statement for all
        // readers, then one insert for those who had none (a channel's whole organization hears of every message).
        var folded: Set<UUID> = []
        if notice.kind == .message, let source = notice.source {
            let rows = try await database.sql.raw("""
                UPDATE notifications SET count = count + 1, actor_id = \(bind: notice.actor), created_at = \(bind: now)
                WHERE kind = 'message' AND source_id = \(bind: source) AND read_at IS NULL
                    AND user_id IN (\(SQLList(users.map { SQLBind($0) })))
                RETURNING user_id
                """).all()
            folded = Set(try rows.map { try $0.decode(column: "user_id", as: UUID.self) })
        }
        let rows = users.subtracting(folded).map { user -> PortalNotification in
            let row = PortalNotification()
            row.id = UUID()
            row.userID = user
            row.kind = notice.kind
            row.subject = notice.subject
            row.actorID = notice.actor
            row.link = staff.contains(user) ? notice.staffLink ?? notice.link : notice.link
            row.sourceID = notice.source
            row.count = 1
            row.createdAt = now
            return row
        }
        if !rows.isEmpty { try await rows.create(on: database) }
    }

    /// A new message: everyone else who may read the conversation hears of it once (folded per conversation);
    /// whoever it names as `@address` or `@name-before-the-at` gets a mention instead; an attachment makes it a
    /// file shared.
    static func messagePosted(_ message: ChatMessage, in thread: ChatThread, attachment: PortalFile?, request: Request) async {
        do {
            let database = request.db
            var readers = Set(try await ChatMember.query(on: database).filter(\.$threadID == thread.id!).all().map(\.userID))
            if thread.kind == .channel {
                readers.formUnion(try await Membership.query(on: database).filter(\.$tenantID == thread.tenantID).all().map(\.userID))
            }
            readers.remove(message.senderID)
            let named = mentions(in: message.body)
            let mentioned = named.isEmpty ? [] : Set(try await User.query(on: database).filter(\.$id ~~ Array(readers)).all()
                .filter { named.contains($0.email.lowercased()) || named.contains(String($0.email.lowercased().split(separator: "@").first ?? "")) }
                .map { $0.id! })
            let actor = message.senderID
            let link = "/app/messages?thread=\(thread.id!)"
            let staffLink = "/hq-command/messages?tenantId=\(thread.tenantID)&thread=\(thread.id!)"
            await record(Notice(kind: .mention, subject: thread.title, actor: actor, link: link, staffLink: staffLink, source: thread.id),
                         to: mentioned, request: request)
            if let attachment {
                await record(Notice(kind: .file, subject: attachment.name, actor: actor, link: link, staffLink: staffLink, source: thread.id),
                             to: readers.subtracting(mentioned), request: request)
            } else {
                await record(Notice(kind: .message, subject: thread.title, actor: actor, link: link, staffLink: staffLink, source: thread.id),
                             to: readers.subtracting(mentioned), request: request)
            }
        } catch {
            request.logger.warning("message notifications not recorded", metadata: ["error": .string(String(describing: error))])
        }
    }

    /// The lower-cased words of `text` that follow an `@`, without trailing punctuation.
    static func mentions(in text: String) -> Set<String> {
        var found: Set<String> = []
        for word in text.split(whereSeparator: { $0.isWhitespace }) where word.hasPrefix("@") && word.count > 1 {
            let name = word.dropFirst().lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".,;:!?)]}'\""))
            if !name.isEmpty { found.insert(name) }
        }
        return found
    }

    /// A file the organization may now see (`visibility` is what the change asked for): every other member hears of it.
    static func fileShared(_ file: PortalFile, visibility: String?, by actorID: UUID, request: Request) async {
        guard visibility == PortalFile.Visibility.tenant.rawValue else { return }
        do {
            let members = Set(try await Membership.query(on: request.db).filter(\.$tenantID == file.tenantID).all().map(\.userID))
            let link = "/app/files" + (file.folderID.map { "?folderId=\($0)" } ?? "")
            await record(Notice(kind: .file, subject: file.name, actor: actorID, link: link, source: file.id),
                         to: members.subtracting([actorID]), request: request)
        } catch {
            request.logger.warning("file notification not recorded", metadata: ["error": .string(String(describing: error))])
        }
    }

    /// A setup request moved: the organization's members hear its new status.
    static func setupRequestChanged(_ setup: SetupRequest, request: Request) async {
        do {
            let members = Set(try await Membership.query(on: request.db).filter(\.$tenantID == setup.tenantID).all().map(\.userID))
            await record(Notice(kind: .setup, subject: setup.status.rawValue, actor: nil, link: "/app/status", source: setup.id), to: members, request: request)
        } catch {
            request.logger.warning("setup notification not recorded", metadata: ["error": .string(String(describing: error))])
        }
    }

    /// An invitation was accepted: whoever sent it hears who joined.
    static func invitationAccepted(_ invitation: Invitation, request: Request) async {
        do {
            let joined = try await User.query(on: request.db).filter(\.$email == invitation.email).first()?.id
            await record(Notice(kind: .invitation, subject: "", actor: joined, link: "/app/team", source: invitation.id),
                         to: [invitation.invitedBy], request: request)
        } catch {
            request.logger.warning("invitation notification not recorded", metadata: ["error": .string(String(describing: error))])
        }
    }
}
