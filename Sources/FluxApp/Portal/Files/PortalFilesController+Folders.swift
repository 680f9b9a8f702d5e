import Fluent
import FluxSecurity
import Foundation
import Vapor

/// Folders of an organization's files: made, renamed, moved (never into themselves) and deleted once empty.
/// Any client member manages them; what a folder holds keeps its own visibility.
extension PortalFilesController {
    struct FolderBody: Content {
        let name: String
        let parentId: UUID?
    }

    struct FolderChangeBody: Content {
        let name: String?
        /// Moves the folder into another; `null` leaves it where it is (`toTopLevel` moves it to the top).
        let parentId: UUID?
        let toTopLevel: Bool?
    }

    static let folderNameRule = "must be 1 to 100 characters, without /"

    static func folderName(_ text: String, into errors: inout FieldErrors) -> String {
        let name = TextInput.line(text, maxLength: 100)
        errors.check("name", !name.isEmpty && !name.contains("/"), folderNameRule)
        return name
    }

    private func ownFolder(_ request: Request, _ access: TenantAccess) async throws -> PortalFolder {
        guard let id = request.parameters.get("folderID", as: UUID.self), let folder = try await PortalFolder.find(id, on: request.db),
            folder.tenantID == access.tenantID
        else { throw AppError.notFound("No such folder.") }
        return folder
    }

    @Sendable func createFolder(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let body = try request.content.decode(FolderBody.self)
        var errors = FieldErrors()
        let name = Self.folderName(body.name, into: &errors)
        try errors.throwIfAny()
        let parent = try await folder(body.parentId, in: access.tenantID, on: request.db, field: "parentId")
        let folder = PortalFolder()
        folder.id = UUID()
        folder.tenantID = access.tenantID
        folder.parentID = parent?.id
        folder.name = name
        folder.createdBy = access.principal.userID
        folder.createdAt = Date()
        try await folder.create(on: request.db)
        try await audit.record("folder.created", actor: access.principal.userID, tenant: access.tenantID, target: folder.id!.uuidString,
                               request: request)
        return try await Self.view(folder).encodeResponse(status: .created, for: request)
    }

    /// Renames a folder or moves it (with everything in it) into another folder or to the top level; a folder
    /// never goes into itself or one of its own subfolders.
    @Sendable func changeFolder(_ request: Request, _ access: TenantAccess) async throws -> FolderView {
        let body = try request.content.decode(FolderChangeBody.self)
        let folder = try await ownFolder(request, access)
        var errors = FieldErrors()
        let name = body.name.map { Self.folderName($0, into: &errors) }
        try errors.throwIfAny()
        var changes: [String: String] = [:]
        if let name {
            folder.name = name
            changes["name"] = name
        }
        if body.toTopLevel == true {
            folder.parentID = nil
            changes["parent"] = "top"
        } else if let target = try await self.folder(body.parentId, in: access.tenantID, on: request.db, field: "parentId") {
            let tree = try await folders(of: access.tenantID, on: request.db)
            guard !Self.ancestry(of: target.id!, in: tree).contains(folder.id!) else {
                throw AppError.invalidFields(["parentId": "cannot be the folder itself or one inside it"])
            }
            folder.parentID = target.id
            changes["parent"] = target.id!.uuidString
        }
        try await folder.update(on: request.db)
        try await audit.record("folder.changed", actor: access.principal.userID, tenant: access.tenantID, target: folder.id!.uuidString,
                               metadata: changes, request: request)
        return Self.view(folder)
    }

    /// Deletes an empty folder (files another member keeps private count too: nothing is lost unseen).
    @Sendable func deleteFolder(_ request: Request, _ access: TenantAccess) async throws -> HTTPStatus {
        let folder = try await ownFolder(request, access)
        let id = folder.id!
        let files = try await PortalFile.query(on: request.db).filter(\.$folderID == id).count()
        let folders = try await PortalFolder.query(on: request.db).filter(\.$parentID == id).count()
        guard files == 0, folders == 0 else {
            throw AppError(.conflict, code: "folder_not_empty", message: "Move or delete what the folder holds first.")
        }
        try await folder.delete(on: request.db)
        try await audit.record("folder.deleted", actor: access.principal.userID, tenant: access.tenantID, target: id.uuidString,
                               request: request)
        return .noContent
    }

    /// Every folder of the organization, by id.
    func folders(of tenant: UUID, on database: any Database) async throws -> [UUID: PortalFolder] {
        Dictionary(uniqueKeysWithValues: try await PortalFolder.query(on: database).filter(\.$tenantID == tenant).all().map { ($0.id!, $0) })
    }

    /// `id` and the folders above it, innermost first (a cycle, which the API never makes, ends the walk).
    static func ancestry(of id: UUID, in tree: [UUID: PortalFolder]) -> [UUID] {
        var chain: [UUID] = []
        var next: UUID? = id
        while let current = next, !chain.contains(current), let folder = tree[current] {
            chain.append(current)
            next = folder.parentID
        }
        return chain
    }

    /// The folder's path from the top level, as its names joined by " / ".
    static func path(of id: UUID, in tree: [UUID: PortalFolder]) -> String {
        ancestry(of: id, in: tree).reversed().compactMap { tree[$0]?.name }.joined(separator: " / ")
    }
}
