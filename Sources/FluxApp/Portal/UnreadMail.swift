import Fluent
import Foundation
import SQLKit
import Vapor

/// Mails a conversation member about messages still unread after ``delay``, once per batch: the member's
/// `notified_seq` moves to the newest message mailed about, so the next mail needs newer messages.
///
/// Each member is claimed by a conditional update before the mail is queued, so two replicas never both
/// mail; a crash between the two loses that one notice rather than sending it twice.
///
/// Each person's ``NotificationSetting/Digest`` decides: `immediately` (no setting) mails as above, `daily`
/// mails at most one batch a day (every conversation then due), `never` mails nothing.
final class UnreadMail: LifecycleHandler, Sendable {
    static let delay: TimeInterval = 10 * 60
    static let dailyInterval: TimeInterval = 24 * 3600
    private let links: AccountLinks
    private let loop = BackgroundTask()

    init(links: AccountLinks) {
        self.links = links
    }

    private struct Due: Decodable {
        let member_id: UUID
        let user_id: UUID
        let thread_id: UUID
        let newest: Int
        let unread: Int
    }

    /// Queues the notices due at `now`; returns how many.
    @discardableResult
    func pass(on database: any Database, now: Date = Date()) async throws -> Int {
        let sql = database.sql
        let due = try await sql.raw("""
            SELECT c.id AS member_id, c.user_id, c.thread_id, MAX(m.seq) AS newest, COUNT(*) AS unread
            FROM chat_members c JOIN chat_messages m ON m.thread_id = c.thread_id
                LEFT JOIN notification_settings s ON s.user_id = c.user_id
            WHERE m.seq > c.last_read_seq AND m.seq > c.notified_seq AND m.sender_id <> c.user_id AND m.deleted_at IS NULL
                AND m.created_at < \(bind: now.addingTimeInterval(-Self.delay))
                AND (s.digest IS NULL OR s.digest = 'immediately' OR (s.digest = 'daily'
                    AND (s.last_digest_at IS NULL OR s.last_digest_at < \(bind: now.addingTimeInterval(-Self.dailyInterval)))))
            GROUP BY c.id, c.user_id, c.thread_id
            LIMIT 200
            """).all(decoding: Due.self)
        var sent = 0
        for item in due {
            let claimed = try await sql.raw("""
                UPDATE chat_members SET notified_seq = \(bind: item.newest)
                WHERE id = \(bind: item.member_id) AND notified_seq < \(bind: item.newest) RETURNING id
                """).all().count == 1
            guard claimed, let user = try await User.find(item.user_id, on: database), let address = MailAddress(name: nil, address: user.email),
                let thread = try await ChatThread.find(item.thread_id, on: database)
            else { continue }
            let link = links.publicURL.appendingPathComponent("app/messages")
            try await Outbox.enqueue(MailTemplates.unreadMessages(to: address, count: item.unread, conversation: thread.title, link: link),
                                     kind: "unread-messages", on: database, now: now)
            // A daily reader's batch is this pass: the next one is a day away.
            try await sql.raw("""
                UPDATE notification_settings SET last_digest_at = \(bind: now) WHERE user_id = \(bind: item.user_id) AND digest = 'daily'
                """).run()
            sent += 1
        }
        return sent
    }

    func didBootAsync(_ application: Application) async throws {
        let logger = application.logger
        loop.repeating(every: .seconds(60), firstAfter: .seconds(60)) { [self] in
            guard let database = application.databases.database(logger: logger, on: application.eventLoopGroup.any()) else { return }
            do {
                try await pass(on: database)
            } catch {
                logger.warning("unread-message mail failed", metadata: ["error": .string(String(describing: error))])
            }
        }
    }

    func shutdownAsync(_ application: Application) async {
        await loop.stop()
    }
}
