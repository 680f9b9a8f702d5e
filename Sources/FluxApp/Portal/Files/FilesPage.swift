import Fluent
import FluxSecurity
import Foundation
import Vapor

/// The portal's files page (`/app/files?folderId=`): one folder's subfolders and the files the caller sees, the
/// path to it, the organization's use of its quota, and what `files.js` needs to upload (with progress and
/// retry), preview, share, rename, move and delete in the browser. Every word is in the `files.` keys of the
/// message catalogue.
enum FilesPage {
    struct Crumb: Encodable {
        let id: UUID
        let name: String
    }

    struct Folder: Encodable {
        let id: UUID
        let name: String
    }

    /// A folder a file or folder may move to, with its whole path; `ancestors` (its own id and those above it,
    /// space-separated) lets the page leave out a folder's own subfolders when moving it.
    struct Target: Encodable {
        let id: UUID
        let path, ancestors: String
    }

    struct Row: Encodable {
        let id: UUID
        let name, type, size, visibility, updated: String
        let changeable: Bool
        /// "image", "pdf" or "" (no preview).
        let preview: String
    }

    struct Body: Encodable {
        let tenantId: UUID
        let folderId: String
        let folderName: String
        let crumbs: [Crumb]
        let folders: [Folder]
        let targets: [Target]
        let files: [Row]
        let empty: Bool
        let used, quota, maxSize: String
        let usedPercent: Int
        let maxBytes: Int
    }

    static func preview(_ contentType: String) -> String {
        guard ContentIdentifier.isInline(contentType) else { return "" }
        if contentType.hasPrefix("image/") { return "image" }
        return contentType == "application/pdf" ? "pdf" : ""
    }

    static func render(_ request: Request, _ principal: Principal, site: PageSite, files: PortalFilesController) async throws -> Response {
        let access = TenantAccess(principal: principal, tenantID: principal.tenantID)
        let listing = try await files.list(request, access)
        let tree = try await files.folders(of: principal.tenantID, on: request.db)
        let crumbs = listing.folder.map { folder in
            PortalFilesController.ancestry(of: folder.id, in: tree).dropFirst().reversed().compactMap { id in tree[id].map { Crumb(id: id, name: $0.name) } }
        } ?? []
        let targets = tree.keys.map { id in
            Target(id: id, path: PortalFilesController.path(of: id, in: tree),
                   ancestors: PortalFilesController.ancestry(of: id, in: tree).map(\.uuidString).joined(separator: " "))
        }.sorted { $0.path.localizedStandardCompare($1.path) == .orderedAscending }
        let locale = Messages.locale(for: request)
        let title = Messages.shared.text("files.title", locale: locale)
        let percent = listing.quotaBytes > 0 ? Int(min(100, (Double(listing.usedBytes) / Double(listing.quotaBytes) * 100).rounded(.up))) : 100
        return try await site.render(request, "app/files", title: title, principal: principal, script: "files", body: Body(
            tenantId: principal.tenantID, folderId: listing.folder?.id.uuidString ?? "", folderName: listing.folder?.name ?? "",
            crumbs: crumbs,
            folders: listing.folders.map { Folder(id: $0.id, name: $0.name) },
            targets: targets,
            files: listing.files.map { file in
                Row(id: file.id, name: file.name, type: file.contentType, size: PortalFilesController.bytes(file.size, locale: locale),
                    visibility: file.visibility.rawValue, updated: PageSite.time(file.updatedAt),
                    changeable: FileAccess.canChange(uploadedBy: file.uploadedBy, visibility: file.visibility, principal),
                    preview: preview(file.contentType))
            },
            empty: listing.folders.isEmpty && listing.files.isEmpty,
            used: PortalFilesController.bytes(listing.usedBytes, locale: locale),
            quota: PortalFilesController.bytes(listing.quotaBytes, locale: locale),
            maxSize: PortalFilesController.bytes(files.maxBytes, locale: locale), usedPercent: percent, maxBytes: files.maxBytes))
    }
}
