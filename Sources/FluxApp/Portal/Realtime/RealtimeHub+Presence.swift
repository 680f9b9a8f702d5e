import Fluent
import Foundation
import NIOCore
import SQLKit

/// Presence: who is in each conversation, gathered per conversation and sent at most every flush.
extension RealtimeHub {
    /// Sends each conversation's presence changes since the last flush to its subscribers, one frame each, and
    /// on PostgreSQL tells the other replicas how this one's changed (every slot when `refreshing`).
    func flushPresence(refreshing: Bool = false) async {
        let now = Date()
        for (thread, changes) in presence.takeChanges() {
            guard let data = try? Self.encoder.encode(changes) else { continue }
            let frame = ByteBuffer(string: #"{"at":"\#(now.formatted(.iso8601))","data":\#(String(decoding: data, as: UTF8.self)),"threadId":"\#(thread.uuidString)","type":"presence"}"#)
            fanOut(frame, id: nil, thread: thread)
        }
        let notices = presence.takeOutgoing(all: refreshing)
        guard postgres, !notices.isEmpty, let sql = database() as? any SQLDatabase else { return }
        do {
            for notice in notices {
                let payload = Self.presencePrefix + String(decoding: try Self.encoder.encode(notice), as: UTF8.self)
                try await sql.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: payload))").run()
            }
        } catch {
            logger.warning("presence not sent to the other replicas", metadata: ["error": .string(String(describing: error))])
        }
    }

    /// Drops the presence of replicas that stopped refreshing it before `cutoff`.
    func expirePresence(before cutoff: Date) {
        presence.expire(before: cutoff)
    }

    /// Everyone in `thread`, for a subscriber that asked.
    func people(in thread: UUID) -> [RealtimePresence.Person] {
        presence.list(thread)
    }

    /// Moves `connection`'s presence in all its conversations to `status` (`online` or `away`).
    func setStatus(_ connection: RealtimeConnection, _ status: String) {
        guard let old = statuses[connection.id], old != status else { return }
        statuses[connection.id] = status
        for thread in subscriptions[connection.id] ?? [] {
            presence.adjust(thread, user: connection.principal.userID, name: connection.name, by: Self.delta(old, -1) + Self.delta(status, 1), now: Date())
        }
    }

    static func delta(_ status: String, _ by: Int) -> RealtimePresence.Connections {
        status == "away" ? .init(online: 0, away: by) : .init(online: by, away: 0)
    }
}
