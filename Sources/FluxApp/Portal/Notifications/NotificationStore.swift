import Fluent
import Foundation

/// The notification queries the API, the page and the navigation share.
enum NotificationStore {
    static func unreadCount(for userID: UUID, on database: any Database) async throws -> Int {
        try await PortalNotification.query(on: database).filter(\.$userID == userID).filter(\.$readAt == nil).count()
    }

    /// `userID`'s notifications, newest first, older than `before` when given.
    static func list(for userID: UUID, before: Date?, limit: Int, on database: any Database) async throws -> [PortalNotification] {
        var query = PortalNotification.query(on: database).filter(\.$userID == userID)
        if let before { query = query.filter(\.$createdAt < before) }
        return try await query.sort(\.$createdAt, .descending).limit(limit).all()
    }

    /// Marks `ids` (all when `nil`) of `userID`'s unread notifications read.
    static func markRead(_ ids: [UUID]?, for userID: UUID, on database: any Database, now: Date = Date()) async throws {
        var query = PortalNotification.query(on: database).filter(\.$userID == userID).filter(\.$readAt == nil)
        if let ids { query = query.filter(\.$id ~~ ids) }
        try await query.set(\.$readAt, to: now).update()
    }

    /// Marks `userID`'s unread notices about `source` (a conversation they have now read) read.
    static func markRead(about source: UUID, for userID: UUID, on database: any Database, now: Date = Date()) async throws {
        try await PortalNotification.query(on: database).filter(\.$userID == userID).filter(\.$sourceID == source).filter(\.$readAt == nil)
            .set(\.$readAt, to: now).update()
    }

    /// How the people who caused `rows` are named: their name, else their address; an erased account is absent.
    static func actors(of rows: [PortalNotification], on database: any Database) async throws -> [UUID: String] {
        let ids = Array(Set(rows.compactMap(\.actorID)))
        guard !ids.isEmpty else { return [:] }
        return Dictionary(try await User.query(on: database).filter(\.$id ~~ ids).all().map { user in
            (user.id!, user.displayName.flatMap { $0.isEmpty ? nil : $0 } ?? user.email)
        }) { first, _ in first }
    }

    static func digest(for userID: UUID, on database: any Database) async throws -> NotificationSetting.Digest {
        try await NotificationSetting.query(on: database).filter(\.$userID == userID).first()?.digest ?? .immediately
    }

    static func setDigest(_ digest: NotificationSetting.Digest, for userID: UUID, on database: any Database) async throws {
        if let setting = try await NotificationSetting.query(on: database).filter(\.$userID == userID).first() {
            setting.digest = digest
            try await setting.update(on: database)
            return
        }
        let setting = NotificationSetting()
        setting.id = UUID()
        setting.userID = userID
        setting.digest = digest
        try await setting.create(on: database)
    }
}
