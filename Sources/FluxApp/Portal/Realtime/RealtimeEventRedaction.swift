import Fluent
import Foundation
import SQLKit

/// Stored realtime events are replayed to any subscriber that asks with `after`, so a message's old text
/// must not outlive an edit, a deletion or an erasure there: every stored event about the message is
/// rewritten to the message as it is now (its number and order kept, so resuming clients miss nothing).
enum RealtimeEventRedaction {
    static let messageKinds: [RealtimeEvent.Kind] = [.messageCreated, .messageEdited, .messageDeleted]

    static func rewrite(message: UUID, thread: UUID, as view: MessagingController.MessageView, on database: any Database) async throws {
        let json = String(decoding: try RealtimeHub.encoder.encode(view), as: UTF8.self)
        // Event data is encoded with sorted keys and no spaces, so the message's id appears exactly so.
        let marker = "%\"id\":\"\(message.uuidString)\"%"
        try await database.sql.raw("""
            UPDATE realtime_events SET data = \(bind: json)
            WHERE thread_id = \(bind: thread) AND type IN (\(SQLList(messageKinds.map { SQLBind($0.rawValue) })))
                AND data LIKE \(bind: marker)
            """).run()
    }
}
