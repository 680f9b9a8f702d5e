import Crypto
import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// `/api/tenants/:tenantID/files…` and `/folders…`: a client organization's documents;
/// `GET /api/shared/:shareID/:token`, the share links.
///
/// Uploads stream through ``StreamedUpload`` with a documents allow-list (images, PDF, plain text), count
/// against TENANT_QUOTA_BYTES and go to the ``BlobStore`` as they arrive, under `files/<tenant>/<file id>`. Who sees and changes a file is
/// ``FileAccess``'s rule; share links are in `PortalFilesController+Shares.swift`. Every change and every
/// download, through the API or a link, is audited.
struct PortalFilesController: Sendable {
    static let allowed: Set<FileType> = [.jpeg, .png, .webp, .gif, .pdf, .text]
    static let maxShareHours = 30 * 24

    let audit: AuditLog
    let store: any BlobStore
    /// Where the local store receives bodies.
    let incoming: URL
    let maxBytes: Int
    let quotaBytes: Int
    /// The current secret's key first: links signed before a rotation keep working while the previous
    /// secret is configured.
    let shareKeys: [SymmetricKey]
    let publicURL: URL

    init(audit: AuditLog, store: any BlobStore, secrets: [SecretKeys], config: AppConfig) {
        self.audit = audit
        self.store = store
        incoming = config.dataDirectory.appendingPathComponent("files/.incoming", isDirectory: true)
        maxBytes = config.uploadMaxBytes
        quotaBytes = config.tenantQuotaBytes
        shareKeys = secrets.map { $0.key(for: "file-share") }
        publicURL = config.publicURL
    }

    func file(_ request: Request, _ access: TenantAccess) async throws -> PortalFile {
        guard let id = request.parameters.get("fileID", as: UUID.self), let file = try await PortalFile.find(id, on: request.db),
            file.tenantID == access.tenantID, FileAccess.canSee(file, access.principal)
        else { throw FileAccess.notFound }
        return file
    }

    func changeable(_ request: Request, _ access: TenantAccess) async throws -> PortalFile {
        let file = try await file(request, access)
        guard FileAccess.canChange(file, access.principal) else {
            throw AppError.forbidden("Only the uploader or, for the organization's files, an admin changes a file.")
        }
        return file
    }

    private func folder(_ id: UUID?, in tenant: UUID, on database: any Database) async throws -> PortalFolder? {
        guard let id else { return nil }
        guard let folder = try await PortalFolder.find(id, on: database), folder.tenantID == tenant else {
            throw AppError.invalidFields(["folderId": "no such folder"])
        }
        return folder
    }

    func key(_ file: PortalFile) -> String {
        BlobKey.portalFile(file.id!, tenant: file.tenantID)
    }

    /// One folder's contents (`?folderId=`, else the top level) that the caller may see.
    @Sendable func list(_ request: Request, _ access: TenantAccess) async throws -> Listing {
        let folder = try await folder(request.query[UUID.self, at: "folderId"], in: access.tenantID, on: request.db)
        var folders = PortalFolder.query(on: request.db).filter(\.$tenantID == access.tenantID)
        var files = PortalFile.query(on: request.db).filter(\.$tenantID == access.tenantID)
        if let id = folder?.id {
            folders = folders.filter(\.$parentID == id)
            files = files.filter(\.$folderID == id)
        } else {
            folders = folders.filter(\.$parentID == nil)
            files = files.filter(\.$folderID == nil)
        }
        let visible = try await files.sort(\.$name).all().filter { FileAccess.canSee($0, access.principal) }
        return Listing(folder: folder.map(Self.view), folders: try await folders.sort(\.$name).all().map(Self.view),
                       files: visible.map(Self.view), usedBytes: try await used(by: access.tenantID, on: request.db), quotaBytes: quotaBytes)
    }

    /// Bytes the organization stores (PostgreSQL sums a bigint as numeric, hence the cast).
    private func used(by tenant: UUID, on database: any Database) async throws -> Int64 {
        try await database.sql.raw("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS used FROM portal_files WHERE tenant_id = \(bind: tenant)")
            .first(decodingColumn: "used", as: Int64.self) ?? 0
    }

    // MARK: - Upload and download

    static func visibility(_ text: String?) throws -> PortalFile.Visibility {
        guard let text else { return .private }
        guard let visibility = PortalFile.Visibility(rawValue: text) else {
            throw AppError.invalidFields(["visibility": "must be private, tenant or staff"])
        }
        return visibility
    }

    /// Multipart field `file`; `?folderId=` and `?visibility=` (default private).
    @Sendable func upload(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let visibility = try Self.visibility(request.query[String.self, at: "visibility"])
        let folder = try await folder(request.query[UUID.self, at: "folderId"], in: access.tenantID, on: request.db)
        let quotaExceeded = AppError(.payloadTooLarge, code: "quota_exceeded",
                                     message: "This upload would take the organization past its \(quotaBytes)-byte storage quota.")
        let remaining = quotaBytes - Int(try await used(by: access.tenantID, on: request.db))
        guard remaining > 0 else { throw quotaExceeded }
        let limit = min(maxBytes, remaining)
        let tooLarge = limit < maxBytes ? quotaExceeded
            : AppError(.payloadTooLarge, code: "payload_too_large", message: "The upload is larger than \(maxBytes) bytes.")
        let id = UUID()
        let writer = try store.writer(for: BlobKey.portalFile(id, tenant: access.tenantID), staging: incoming)
        let upload = try await StreamedUpload.receive(request, allowed: Self.allowed, maxBytes: limit, into: writer, tooLarge: tooLarge)
        let now = Date()
        let file = PortalFile()
        file.id = id
        file.tenantID = access.tenantID
        file.folderID = folder?.id
        file.name = Sanitize.filename(upload.filename ?? "file")
        file.contentType = upload.type.mimeType
        file.size = Int64(upload.size)
        file.sha256 = upload.sha256
        file.visibility = visibility
        file.uploadedBy = access.principal.userID
        file.createdAt = now
        file.updatedAt = now
        try await writer.finish()
        do {
            try await file.create(on: request.db)
            // Parallel uploads each saw room before either was stored: the later one to push past the quota goes.
            if try await used(by: access.tenantID, on: request.db) > quotaBytes {
                try await file.delete(on: request.db)
                throw quotaExceeded
            }
        } catch {
            try? await store.delete(key(file))
            throw error
        }
        try await audit.record("file.uploaded", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                               metadata: ["size": String(file.size), "type": file.contentType, "visibility": visibility.rawValue],
                               request: request)
        return try await Self.view(file).encodeResponse(status: .created, for: request)
    }

    @Sendable func download(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let file = try await file(request, access)
        try await audit.record("file.downloaded", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                               request: request)
        return try await stream(file, request)
    }

    /// The stored bytes as an attachment with the type Flux detected, never sniffed, under a CSP that sandboxes them.
    func stream(_ file: PortalFile, _ request: Request) async throws -> Response {
        let parts = file.contentType.split(separator: "/").map(String.init)
        let response = try await store.serve(key(file), size: file.size, mediaType: HTTPMediaType(type: parts[0], subType: parts[1]), for: request)
        let name = file.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".-_"))) ?? "file"
        response.headers.replaceOrAdd(name: .contentDisposition, value: "attachment; filename*=UTF-8''\(name)")
        response.headers.replaceOrAdd(name: "Content-Security-Policy", value: "default-src 'none'; sandbox")
        response.headers.replaceOrAdd(name: .cacheControl, value: "private, no-store")
        return response
    }

    // MARK: - Changes

    struct ChangeBody: Content {
        let name: String?
        /// Moves the file; `null` leaves it where it is (use `toTopLevel` to move it out of every folder).
        let folderId: UUID?
        let toTopLevel: Bool?
        let visibility: String?
    }

    /// Renames, moves or changes who sees a file.
    @Sendable func change(_ request: Request, _ access: TenantAccess) async throws -> FileView {
        let body = try request.content.decode(ChangeBody.self)
        let file = try await changeable(request, access)
        var changes: [String: String] = [:]
        if let name = body.name {
            let clean = Sanitize.filename(name)
            var errors = FieldErrors()
            errors.check("name", !name.trimmingCharacters(in: .whitespaces).isEmpty && name.utf8.count <= 200, "must be 1 to 200 bytes")
            try errors.throwIfAny()
            file.name = clean
            changes["name"] = clean
        }
        if body.toTopLevel == true {
            file.folderID = nil
            changes["folder"] = "top"
        } else if let target = try await folder(body.folderId, in: access.tenantID, on: request.db) {
            file.folderID = target.id
            changes["folder"] = target.id!.uuidString
        }
        if let text = body.visibility {
            file.visibility = try Self.visibility(text)
            changes["visibility"] = text
        }
        file.updatedAt = Date()
        try await file.update(on: request.db)
        await Notifications.fileShared(file, visibility: body.visibility, by: access.principal.userID, request: request)
        try await audit.record("file.changed", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                               metadata: changes, request: request)
        return Self.view(file)
    }

    @Sendable func delete(_ request: Request, _ access: TenantAccess) async throws -> HTTPStatus {
        let file = try await changeable(request, access)
        try await file.delete(on: request.db)
        // The row first: an object left by a failure here is an orphan for the cleanup, never a row without bytes.
        try? await store.delete(key(file))
        try await audit.record("file.deleted", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                               metadata: ["name": file.name], request: request)
        return .noContent
    }

    // MARK: - Folders

    struct FolderBody: Content {
        let name: String
        let parentId: UUID?
    }

    @Sendable func createFolder(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let body = try request.content.decode(FolderBody.self)
        let name = TextInput.line(body.name, maxLength: 100)
        var errors = FieldErrors()
        errors.check("name", !name.isEmpty && !name.contains("/"), "must be 1 to 100 characters, without /")
        try errors.throwIfAny()
        let parent = try await folder(body.parentId, in: access.tenantID, on: request.db)
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

    /// Deletes an empty folder (files another member keeps private count too: nothing is lost unseen).
    @Sendable func deleteFolder(_ request: Request, _ access: TenantAccess) async throws -> HTTPStatus {
        guard let id = request.parameters.get("folderID", as: UUID.self), let folder = try await PortalFolder.find(id, on: request.db),
            folder.tenantID == access.tenantID
        else { throw AppError.notFound("No such folder.") }
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
}
