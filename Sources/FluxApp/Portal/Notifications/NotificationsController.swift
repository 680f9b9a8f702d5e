import Fluent
import FluxSecurity
import Foundation
import Vapor

/// `/api/portal/notifications…`: the caller's own notifications and their unread-mail setting, for everyone who
/// takes part in messaging (clients, and staff who handle client data; sales never reaches `/api/portal`).
/// Nobody reaches another person's.
struct NotificationsController: Sendable {
    struct NotificationView: Content {
        let id: UUID
        let kind: PortalNotification.Kind
        let subject: String
        /// Who caused it, by name; empty when nobody in particular did (or their account was erased).
        let actor: String
        let link: String
        let count: Int
        let createdAt: Date
        let readAt: Date?
    }

    struct Listing: Content {
        let unread: Int
        let notifications: [NotificationView]
    }

    static func view(_ row: PortalNotification, actors: [UUID: String]) -> NotificationView {
        NotificationView(id: row.id!, kind: row.kind, subject: row.subject, actor: row.actorID.flatMap { actors[$0] } ?? "", link: row.link, count: row.count,
                         createdAt: row.createdAt, readAt: row.readAt)
    }

    /// `userID`'s newest notifications (older than `before` when given), their actors named: the API and the account export.
    static func views(of userID: UUID, before: Date? = nil, limit: Int, on database: any Database) async throws -> [NotificationView] {
        let rows = try await NotificationStore.list(for: userID, before: before, limit: limit, on: database)
        let actors = try await NotificationStore.actors(of: rows, on: database)
        return rows.map { view($0, actors: actors) }
    }

    /// Newest first; `?before=` (an ISO 8601 time, a notice's `createdAt`) pages back; `limit` 1 to 100, default 30.
    @Sendable func list(_ request: Request, _ principal: Principal) async throws -> Listing {
        let limit = request.query[Int.self, at: "limit"] ?? 30
        let beforeText = request.query[String.self, at: "before"]
        let before = beforeText.flatMap { try? Date($0, strategy: .iso8601) }
        var errors = FieldErrors()
        errors.check("limit", (1...100).contains(limit), "must be 1 to 100")
        errors.check("before", beforeText == nil || before != nil, "must be an ISO 8601 time")
        try errors.throwIfAny()
        return Listing(unread: try await NotificationStore.unreadCount(for: principal.userID, on: request.db),
                       notifications: try await Self.views(of: principal.userID, before: before, limit: limit, on: request.db))
    }

    struct ReadBody: Content {
        /// The notices to mark read; absent: all of them.
        let ids: [UUID]?
    }

    struct Unread: Content {
        let unread: Int
    }

    @Sendable func read(_ request: Request, _ principal: Principal) async throws -> Unread {
        let body = try request.content.decode(ReadBody.self)
        var errors = FieldErrors()
        errors.check("ids", (body.ids?.count ?? 0) <= 100, "at most 100")
        try errors.throwIfAny()
        try await NotificationStore.markRead(body.ids, for: principal.userID, on: request.db)
        return Unread(unread: try await NotificationStore.unreadCount(for: principal.userID, on: request.db))
    }

    struct Settings: Content {
        /// `immediately`, `daily` or `never`: how unread messages are mailed.
        let digest: String
    }

    @Sendable func settings(_ request: Request, _ principal: Principal) async throws -> Settings {
        Settings(digest: try await NotificationStore.digest(for: principal.userID, on: request.db).rawValue)
    }

    @Sendable func changeSettings(_ request: Request, _ principal: Principal) async throws -> Settings {
        let body = try request.content.decode(Settings.self)
        guard let digest = NotificationSetting.Digest(rawValue: body.digest) else {
            throw AppError.invalidFields(["digest": "must be immediately, daily or never"])
        }
        try await NotificationStore.setDigest(digest, for: principal.userID, on: request.db)
        return Settings(digest: digest.rawValue)
    }
}
