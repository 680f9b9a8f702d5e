import Fluent
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

    /// Someone a direct conversation can be started with; the page's script also names senders and readers by it.
    struct Person: Encodable {
        let userId: UUID
        let label: String
    }

    /// A file that may be attached (one the caller sees).
    struct AttachableFile: Encodable {
        let id: UUID
        let label: String
    }

    /// The messages page of the portal and of HQ: one organization's conversations with the selected one
    /// (`?thread=`, else the most recent) live; staff also get the organizations to choose from.
    static func render(_ request: Request, _ principal: Principal, site: PageSite, tenantID: UUID?, page: String,
                       tenants: [TenantLink]) async throws -> Response {
        let locale = Messages.locale(for: request)
        let text = { (key: String) in Messages.shared.text(key, locale: locale) }
        var threads: [MessagingController.ThreadView] = []
        var people: [Person] = []
        var files: [AttachableFile] = []
        if let tenantID {
            threads = try await ConversationStore.threads(of: tenantID, visibleTo: principal, on: request.db)
            people = try await Self.people(of: tenantID, for: principal, on: request.db)
            files = try await Self.attachable(in: tenantID, for: principal, on: request.db)
        }
        let names = Dictionary(people.map { ($0.userId, $0.label) }) { first, _ in first }
        // A direct conversation is called by the other people in it.
        let direct = threads.filter { $0.kind == .direct }.map(\.id)
        let directMembers = direct.isEmpty ? [] : try await ChatMember.query(on: request.db).filter(\.$threadID ~~ direct).all()
        func title(_ thread: MessagingController.ThreadView) -> String {
            guard thread.kind == .direct else { return thread.title }
            let others = directMembers.filter { $0.threadID == thread.id && $0.userID != principal.userID }.compactMap { names[$0.userID] }
            return others.isEmpty ? text("messages.direct") : others.sorted().joined(separator: ", ")
        }
        let selected = request.query[UUID.self, at: "thread"].flatMap { id in threads.first { $0.id == id } } ?? threads.first
        let prefix = principal.role.isStaff ? "\(page)?tenantId=\(tenantID?.uuidString ?? "")&" : "\(page)?"
        struct Item: Encodable {
            let id: UUID
            let href: String
            let title: String
            let unread: Int
            let current: Bool
        }
        struct Body: Encodable {
            let userId: UUID
            let tenants: [TenantLink]
            let isStaff: Bool
            /// The organization whose conversations these are (where a new one goes); empty until staff choose.
            let tenant: String
            let threads: [Item]
            let thread: String
            let threadTitle: String
            let people: [Person]
            let files: [AttachableFile]
        }
        return try await site.render(request, "messages", title: text("messages.title"), principal: principal, script: "messages", body: Body(
            userId: principal.userID, tenants: tenants, isStaff: principal.role.isStaff, tenant: tenantID?.uuidString ?? "",
            threads: threads.map { Item(id: $0.id, href: prefix + "thread=\($0.id)", title: title($0), unread: $0.unread, current: $0.id == selected?.id) },
            thread: selected?.id.uuidString ?? "", threadTitle: selected.map(title) ?? "",
            people: people.filter { $0.userId != principal.userID }, files: files))
    }

    /// Who may be in the organization's conversations: its members, and the company's engineers (staff who handle
    /// client data), named with their role.
    static func people(of tenantID: UUID, for principal: Principal, on database: any Database) async throws -> [Person] {
        let operatorTenant = try await Accounts.operatorTenant(on: database).id!
        let memberships = try await Membership.query(on: database).filter(\.$tenantID ~~ [tenantID, operatorTenant]).all()
            .filter { $0.tenantID == tenantID || Role.clientDataStaff.contains($0.role) }
        let users = Dictionary(try await User.query(on: database).filter(\.$id ~~ memberships.map(\.userID)).all().map { ($0.id!, $0) }) { a, _ in a }
        return memberships.compactMap { membership -> Person? in
            guard let user = users[membership.userID] else { return nil }
            let name = user.displayName.flatMap { $0.isEmpty ? nil : $0 } ?? user.email
            return Person(userId: membership.userID, label: "\(name) (\(membership.role.label))")
        }.sorted { $0.label.localizedStandardCompare($1.label) == .orderedAscending }
    }

    /// The organization's newest files the caller sees (at most 100), to attach to a message.
    static func attachable(in tenantID: UUID, for principal: Principal, on database: any Database) async throws -> [AttachableFile] {
        let sizes = ByteCountFormatStyle(style: .file)
        return try await PortalFile.query(on: database).filter(\.$tenantID == tenantID).sort(\.$updatedAt, .descending).limit(300).all()
            .filter { FileAccess.canSee($0, principal) }.prefix(100)
            .map { AttachableFile(id: $0.id!, label: "\($0.name) (\($0.size.formatted(sizes)))") }
    }
}
