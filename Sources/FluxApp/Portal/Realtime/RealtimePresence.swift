import Foundation

/// Who is in each conversation, per person: how many sockets they have there on each replica, by status.
///
/// Each replica keeps this in memory; nothing of it is read from the database at a join, so a join costs the
/// same in a room of ten as in a room of ten thousand. A replica's own sockets change its own slot. On
/// PostgreSQL it tells the others the slots that changed (``takeOutgoing(all:)``, sent at every presence
/// flush) and all of its slots at every upkeep, so a replica that starts learns the others' within one upkeep,
/// and the slots of a replica that stopped refreshing (it crashed) are dropped after ``RealtimeHub/presenceTimeout``.
///
/// Subscribers see people, not sockets: a person is online while any of their sockets is, away while all of
/// them are away. Past ``listLimit`` people a conversation's changes go out as counts only (otherwise n joins
/// cost n² entries), and a client asks for the list when it shows it.
struct RealtimePresence {
    /// Past this many people in a conversation, subscribers get counts and ask for the list.
    static let listLimit = 100

    struct Connections: Codable, Equatable, Sendable {
        var online = 0
        var away = 0

        var isEmpty: Bool { online <= 0 && away <= 0 }
        var status: String { online > 0 ? "online" : away > 0 ? "away" : "offline" }

        static func + (lhs: Self, rhs: Self) -> Self { Self(online: lhs.online + rhs.online, away: lhs.away + rhs.away) }
    }

    /// One person as subscribers see them.
    struct Person: Codable, Equatable, Sendable {
        let userId: UUID
        let name: String
        /// Sockets open to the conversation, over every replica.
        let connections: Int
        let status: String
    }

    /// A conversation's presence in a `subscribed` frame: the counts of people online and away, and who they
    /// are while the conversation has at most ``listLimit`` people.
    struct Room: Encodable, Sendable {
        let threadId: UUID
        let online: Int
        let away: Int
        let users: [Person]?
    }

    /// The data of a `presence` event: the counts, and the people whose presence changed (none past ``listLimit``).
    struct Changes: Encodable, Sendable {
        let online: Int
        let away: Int
        let changes: [Person]?
    }

    /// What one replica tells the others about one conversation: its own slots, absolute (an empty one is a
    /// person whose last socket there closed).
    struct Notice: Codable, Sendable {
        struct Slot: Codable, Sendable {
            let userId: UUID
            let name: String
            let connections: Connections
        }

        let replica: UUID
        let threadId: UUID
        let users: [Slot]
    }

    private struct Slot {
        var connections: Connections
        var refreshed: Date
    }

    private struct Entry {
        var name: String
        var replicas: [UUID: Slot] = [:]

        var connections: Connections { replicas.values.reduce(Connections()) { $0 + $1.connections } }
    }

    let replica: UUID
    private var rooms: [UUID: [UUID: Entry]] = [:]
    /// People per status in each conversation, kept as they change so counting never walks a room.
    private var counts: [UUID: Connections] = [:]
    /// People whose presence subscribers have not been told yet, per conversation.
    private var changed: [UUID: Set<UUID>] = [:]
    /// People whose slot on this replica the other replicas have not been told yet, per conversation.
    private var outgoing: [UUID: Set<UUID>] = [:]

    init(replica: UUID) {
        self.replica = replica
    }

    /// This replica's sockets of `user` in `thread` changed by `delta`.
    mutating func adjust(_ thread: UUID, user: UUID, name: String, by delta: Connections, now: Date) {
        let slot = rooms[thread]?[user]?.replicas[replica]?.connections ?? Connections()
        set(thread, user: user, name: name, replica: replica, to: slot + delta, now: now)
        outgoing[thread, default: []].insert(user)
    }

    /// Another replica's slots, as it announced them.
    mutating func apply(_ notice: Notice, now: Date) {
        guard notice.replica != replica else { return }
        for slot in notice.users {
            set(notice.threadId, user: slot.userId, name: slot.name, replica: notice.replica, to: slot.connections, now: now)
        }
    }

    /// Drops the slots of replicas that have not refreshed them since `cutoff`.
    mutating func expire(before cutoff: Date) {
        for (thread, room) in rooms {
            for (user, entry) in room {
                for (replica, slot) in entry.replicas where replica != self.replica && slot.refreshed < cutoff {
                    set(thread, user: user, name: entry.name, replica: replica, to: Connections(), now: cutoff)
                }
            }
        }
    }

    private mutating func set(_ thread: UUID, user: UUID, name: String, replica: UUID, to connections: Connections, now: Date) {
        var entry = rooms[thread]?[user] ?? Entry(name: name)
        let unchanged = entry.name == name && (entry.replicas[replica]?.connections ?? Connections()) == connections
        let before = entry.connections.status
        if connections.isEmpty {
            entry.replicas[replica] = nil
        } else {
            entry.replicas[replica] = Slot(connections: connections, refreshed: now)
        }
        entry.name = name
        let after = entry.connections.status
        rooms[thread, default: [:]][user] = entry.replicas.isEmpty ? nil : entry
        if rooms[thread]?.isEmpty == true { rooms[thread] = nil }
        if before != after {
            var count = counts[thread] ?? Connections()
            if before == "online" { count.online -= 1 } else if before == "away" { count.away -= 1 }
            if after == "online" { count.online += 1 } else if after == "away" { count.away += 1 }
            counts[thread] = count.isEmpty ? nil : count
        }
        // A refresh that changes nothing tells subscribers nothing.
        if !unchanged { changed[thread, default: []].insert(user) }
    }

    private func person(_ user: UUID, in thread: UUID) -> Person {
        let entry = rooms[thread]?[user]
        let connections = entry?.connections ?? Connections()
        return Person(userId: user, name: entry?.name ?? "", connections: connections.online + connections.away, status: connections.status)
    }

    private func listed(_ thread: UUID) -> Bool { (rooms[thread]?.count ?? 0) <= Self.listLimit }

    /// Everyone in `thread` now, for a `subscribed` frame.
    func room(_ thread: UUID) -> Room {
        let count = counts[thread] ?? Connections()
        return Room(threadId: thread, online: count.online, away: count.away, users: listed(thread) ? list(thread) : nil)
    }

    /// Everyone in `thread`, however many (a client asked).
    func list(_ thread: UUID) -> [Person] {
        (rooms[thread] ?? [:]).keys.map { person($0, in: thread) }
    }

    /// The changes since the last call, one per conversation.
    mutating func takeChanges() -> [(thread: UUID, changes: Changes)] {
        defer { changed.removeAll() }
        return changed.map { thread, users in
            let count = counts[thread] ?? Connections()
            return (thread, Changes(online: count.online, away: count.away, changes: listed(thread) ? users.map { person($0, in: thread) } : nil))
        }
    }

    /// What the other replicas should hear of this one: the slots changed since the last call, or all of them.
    mutating func takeOutgoing(all: Bool) -> [Notice] {
        defer { outgoing.removeAll() }
        let threads: [UUID: Set<UUID>] = all
            ? rooms.compactMapValues { room in Set(room.compactMap { $0.value.replicas[replica] == nil ? nil : $0.key }) }.merging(outgoing) { $0.union($1) }
            : outgoing
        // A notice stays inside NOTIFY's 8,000 bytes: a person takes at most about 700 bytes (a name is cut at 100 characters).
        return threads.flatMap { thread, users in
            let slots = users.map { user in
                Notice.Slot(userId: user, name: rooms[thread]?[user]?.name ?? "", connections: rooms[thread]?[user]?.replicas[replica]?.connections ?? Connections())
            }
            return stride(from: 0, to: slots.count, by: 10).map { start in
                Notice(replica: replica, threadId: thread, users: Array(slots[start..<min(start + 10, slots.count)]))
            }
        }
    }
}
