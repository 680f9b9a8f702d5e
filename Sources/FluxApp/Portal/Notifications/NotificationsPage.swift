import Foundation
import Vapor

/// `/app/notifications`: the caller's newest notifications in their language, with their unread-mail setting.
enum NotificationsPage {
    static func render(_ request: Request, _ principal: Principal, site: PageSite) async throws -> Response {
        let locale = Messages.locale(for: request)
        let text = { (key: String, arguments: [String]) in Messages.shared.text(key, locale: locale, arguments) }
        let rows = try await NotificationStore.list(for: principal.userID, before: nil, limit: 50, on: request.db)
        struct Item: Encodable {
            let id: UUID
            let text, link, time: String
            let unread: Bool
        }
        struct Choice: Encodable {
            let value, label: String
            let selected: Bool
        }
        struct Body: Encodable {
            let items: [Item]
            let hasItems: Bool
            let unread: Int
            let choices: [Choice]
        }
        let actors = try await NotificationStore.actors(of: rows, on: request.db)
        let digest = try await NotificationStore.digest(for: principal.userID, on: request.db)
        return try await site.render(request, "app/notifications", title: text("notifications.title", []), principal: principal,
                                     script: "notifications", body: Body(
            items: rows.map { Item(id: $0.id!, text: Self.sentence($0, actor: $0.actorID.flatMap { actors[$0] }, text), link: $0.link, time: PageSite.time($0.createdAt), unread: $0.readAt == nil) },
            hasItems: !rows.isEmpty, unread: rows.filter { $0.readAt == nil }.count,
            choices: NotificationSetting.Digest.allCases.map {
                Choice(value: $0.rawValue, label: text("notifications.digest." + $0.rawValue, []), selected: $0 == digest)
            }))
    }

    /// A notice as a sentence in the reader's language; `actor` is who caused it (nil: an erased account).
    static func sentence(_ row: PortalNotification, actor name: String?, _ text: (String, [String]) -> String) -> String {
        let conversation = row.subject.isEmpty ? text("notifications.directConversation", []) : row.subject
        let actor = name ?? text("notifications.someone", [])
        switch row.kind {
        case .message where row.count > 1: return text("notifications.text.messages", [actor, conversation, String(row.count)])
        case .message: return text("notifications.text.message", [actor, conversation])
        case .mention: return text("notifications.text.mention", [actor, conversation])
        case .file: return text("notifications.text.file", [actor, row.subject])
        case .setup: return text("notifications.text.setup", [text("notifications.status." + row.subject, [])])
        case .invitation: return text("notifications.text.invitation", [actor])
        case .worker: return text("notifications.text.worker." + (row.subject == "stale" ? "stale" : "recovered"), [])
        }
    }
}
