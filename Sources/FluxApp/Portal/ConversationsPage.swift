import Foundation
import Vapor

/// The messages page of the portal and of HQ: one organization's conversations, the selected one live in the
/// browser over the portal's WebSocket.
enum ConversationsPage {
    /// A tenant the HQ messages page links to.
    struct TenantLink: Encodable {
        let name: String
        let href: String
        let current: Bool
    }

    /// The messages page of the portal and of HQ: one organization's conversations with the selected one
    /// (`?thread=`, else the most recent) live; staff also get the organizations to choose from.
    static func render(_ request: Request, _ principal: Principal, site: PageSite, tenantID: UUID?, page: String,
                              tenants: [TenantLink]) async throws -> Response {
        var threads: [MessagingController.ThreadView] = []
        if let tenantID { threads = try await ConversationStore.threads(of: tenantID, visibleTo: principal, on: request.db) }
        let selected = request.query[UUID.self, at: "thread"].flatMap { id in threads.first { $0.id == id } } ?? threads.first
        let prefix = principal.role.isStaff ? "\(page)?tenantId=\(tenantID?.uuidString ?? "")&" : "\(page)?"
        struct Item: Encodable {
            let href: String
            let title: String
            let unread: Int
            let current: Bool
        }
        struct Body: Encodable {
            let userId: UUID
            let tenants: [TenantLink]
            let isStaff: Bool
            /// Where a new channel goes: the caller's organization, or the one staff chose.
            let channelTenant: String
            let threads: [Item]
            let thread: String
            let threadTitle: String
        }
        func title(_ thread: MessagingController.ThreadView) -> String {
            thread.title.isEmpty ? "Direct conversation" : thread.title
        }
        return try await site.render(request, "messages", title: "Messages", principal: principal, script: "messages", body: Body(
            userId: principal.userID, tenants: tenants, isStaff: principal.role.isStaff, channelTenant: tenantID?.uuidString ?? "",
            threads: threads.map { Item(href: prefix + "thread=\($0.id)", title: title($0), unread: $0.unread, current: $0.id == selected?.id) },
            thread: selected?.id.uuidString ?? "", threadTitle: selected.map(title) ?? ""))
    }
}
