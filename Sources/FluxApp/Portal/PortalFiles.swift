import Crypto
import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

final class PortalFolder: Model, @unchecked Sendable {
    static let schema = "portal_folders"

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @OptionalField(key: "parent_id") var parentID: UUID?
    @Field(key: "name") var name: String
    @Field(key: "created_by") var createdBy: UUID
    @Field(key: "created_at") var createdAt: Date

    init() {}
}

final class PortalFile: Model, @unchecked Sendable {
    static let schema = "portal_files"

    /// Who sees a file besides its uploader.
    enum Visibility: String, Codable, Sendable, CaseIterable {
        /// Nobody else.
        case `private`
        /// Every member of the organization.
        case tenant
        /// The company's staff (the engineers the client works with).
        case staff
    }

    @ID(key: .id) var id: UUID?
    @Field(key: "tenant_id") var tenantID: UUID
    @OptionalField(key: "folder_id") var folderID: UUID?
    @Field(key: "name") var name: String
    @Field(key: "content_type") var contentType: String
    @Field(key: "size") var size: Int64
    @Field(key: "sha256") var sha256: String
    @Enum(key: "visibility") var visibility: Visibility
    @Field(key: "uploaded_by") var uploadedBy: UUID
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "updated_at") var updatedAt: Date

    init() {}
}

final class PortalFileShare: Model, @unchecked Sendable {
    static let schema = "portal_file_shares"

    @ID(key: .id) var id: UUID?
    @Field(key: "file_id") var fileID: UUID
    @Field(key: "created_by") var createdBy: UUID
    @Field(key: "created_at") var createdAt: Date
    @Field(key: "expires_at") var expiresAt: Date
    @OptionalField(key: "revoked_at") var revokedAt: Date?

    init() {}
}

/// `/api/tenants/:tenantID/files…` and `/folders…`: a client organization's documents;
/// `GET /api/portal/messages/:messageID/attachment`, a file attached to a message; and
/// `GET /api/shared/:shareID/:token`, the share links.
///
/// Uploads stream through ``StreamedUpload`` with a documents allow-list (images, PDF, plain text), count
/// against TENANT_QUOTA_BYTES and land in DATA_DIR/files/<tenant>/<file>. A file is seen by its uploader and,
/// by its visibility, by the organization or by staff; it is changed or deleted by its uploader or, when the
/// organization sees it, by a client admin. Files the caller may not see answer 404, like another tenant's.
/// A share link carries an HMAC of its id and expiry under a key derived from SESSION_SECRET, so a link is
/// checked before the database is read, cannot be forged or extended, and stops working when revoked.
/// Every change and every download, through the API or a link, is audited.
struct PortalFilesController: Sendable {
    static let allowed: Set<FileType> = [.jpeg, .png, .webp, .gif, .pdf, .text]
    static let maxShareHours = 30 * 24

    let identity: Identity
    let security: Hardening
    let directory: URL
    let maxBytes: Int
    let quotaBytes: Int
    /// The current secret's key first: links signed before a rotation keep working while the previous
    /// secret is configured.
    let shareKeys: [SymmetricKey]
    let publicURL: URL

    init(identity: Identity, security: Hardening, config: AppConfig) {
        self.identity = identity
        self.security = security
        directory = config.dataDirectory.appendingPathComponent("files", isDirectory: true)
        maxBytes = config.uploadMaxBytes
        quotaBytes = config.tenantQuotaBytes
        shareKeys = identity.secrets.map { $0.key(for: "file-share") }
        publicURL = config.publicURL
    }

    func register(on root: any RoutesBuilder) {
        let tenants = root.grouped("api", "tenants").grouped(security.rateLimit(RateLimits.account))
        let everyone = Role.client.union(Role.clientDataStaff)
        tenants.tenantScoped(.GET, ":tenantID", "files", roles: everyone, identity: identity, use: list)
        tenants.tenantScoped(.POST, ":tenantID", "files", roles: Role.client, identity: identity, body: .stream, use: upload)
        tenants.tenantScoped(.GET, ":tenantID", "files", ":fileID", "content", roles: everyone, identity: identity, use: download)
        tenants.tenantScoped(.PATCH, ":tenantID", "files", ":fileID", roles: Role.client, identity: identity, use: change)
        tenants.tenantScoped(.DELETE, ":tenantID", "files", ":fileID", roles: Role.client, identity: identity, use: delete)
        tenants.tenantScoped(.POST, ":tenantID", "files", ":fileID", "shares", roles: Role.client, identity: identity, use: share)
        tenants.tenantScoped(.DELETE, ":tenantID", "files", ":fileID", "shares", ":shareID", roles: Role.client, identity: identity,
                             use: revokeShare)
        tenants.tenantScoped(.POST, ":tenantID", "folders", roles: Role.client, identity: identity, use: createFolder)
        tenants.tenantScoped(.DELETE, ":tenantID", "folders", ":folderID", roles: Role.client, identity: identity, use: deleteFolder)
        root.grouped("api", "portal").grouped(security.rateLimit(RateLimits.account))
            .secured(.GET, "messages", ":messageID", "attachment", roles: everyone, identity: identity, use: attachment)
        root.grouped(security.rateLimit(RateLimits.assets)).get("api", "shared", ":shareID", ":token", use: shared)
    }

    static let notFound = AppError(.notFound, code: "not_found", message: "No such file.")

    // MARK: - Access

    static func canSee(_ file: PortalFile, _ principal: Principal) -> Bool {
        if principal.role.isStaff { return Role.clientDataStaff.contains(principal.role) && file.visibility == .staff }
        guard principal.tenantID == file.tenantID else { return false }
        return file.uploadedBy == principal.userID || file.visibility == .tenant
    }

    static func canChange(_ file: PortalFile, _ principal: Principal) -> Bool {
        principal.tenantID == file.tenantID && canChange(uploadedBy: file.uploadedBy, visibility: file.visibility, principal)
    }

    /// For a file of the caller's own organization.
    static func canChange(uploadedBy: UUID, visibility: PortalFile.Visibility, _ principal: Principal) -> Bool {
        uploadedBy == principal.userID || (principal.role == .clientAdmin && visibility == .tenant)
    }

    private func file(_ request: Request, _ access: TenantAccess) async throws -> PortalFile {
        guard let id = request.parameters.get("fileID", as: UUID.self), let file = try await PortalFile.find(id, on: request.db),
            file.tenantID == access.tenantID, Self.canSee(file, access.principal)
        else { throw Self.notFound }
        return file
    }

    private func changeable(_ request: Request, _ access: TenantAccess) async throws -> PortalFile {
        let file = try await file(request, access)
        guard Self.canChange(file, access.principal) else {
            throw AppError(.forbidden, code: "forbidden", message: "Only the uploader or, for the organization's files, an admin changes a file.")
        }
        return file
    }

    private func folder(_ id: UUID?, in tenant: UUID, on database: any Database) async throws -> PortalFolder? {
        guard let id else { return nil }
        guard let folder = try await PortalFolder.find(id, on: database), folder.tenantID == tenant else {
            throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.", fields: ["folderId": "no such folder"])
        }
        return folder
    }

    func path(_ file: PortalFile) -> URL {
        directory.appendingPathComponent(file.tenantID.uuidString, isDirectory: true).appendingPathComponent(file.id!.uuidString)
    }

    // MARK: - Listing

    struct FileView: Content {
        let id: UUID
        let folderId: UUID?
        let name: String
        let contentType: String
        let size: Int64
        let sha256: String
        let visibility: PortalFile.Visibility
        let uploadedBy: UUID
        let createdAt: Date
        let updatedAt: Date
    }

    struct FolderView: Content {
        let id: UUID
        let parentId: UUID?
        let name: String
    }

    struct Listing: Content {
        let folder: FolderView?
        let folders: [FolderView]
        let files: [FileView]
        let usedBytes: Int64
        let quotaBytes: Int
    }

    static func view(_ file: PortalFile) -> FileView {
        FileView(id: file.id!, folderId: file.folderID, name: file.name, contentType: file.contentType, size: file.size, sha256: file.sha256,
                 visibility: file.visibility, uploadedBy: file.uploadedBy, createdAt: file.createdAt, updatedAt: file.updatedAt)
    }

    static func view(_ folder: PortalFolder) -> FolderView {
        FolderView(id: folder.id!, parentId: folder.parentID, name: folder.name)
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
        let visible = try await files.sort(\.$name).all().filter { Self.canSee($0, access.principal) }
        return Listing(folder: folder.map(Self.view), folders: try await folders.sort(\.$name).all().map(Self.view),
                       files: visible.map(Self.view), usedBytes: try await used(by: access.tenantID, on: request.db), quotaBytes: quotaBytes)
    }

    /// Bytes the organization stores (PostgreSQL sums a bigint as numeric, hence the cast).
    private func used(by tenant: UUID, on database: any Database) async throws -> Int64 {
        try await (database as! any SQLDatabase).raw("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS used FROM portal_files WHERE tenant_id = \(bind: tenant)")
            .first(decodingColumn: "used", as: Int64.self) ?? 0
    }

    // MARK: - Upload and download

    static func visibility(_ text: String?) throws -> PortalFile.Visibility {
        guard let text else { return .private }
        guard let visibility = PortalFile.Visibility(rawValue: text) else {
            throw AppError(.badRequest, code: "invalid_input", message: "Some fields are invalid.",
                           fields: ["visibility": "must be private, tenant or staff"])
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
        let tenantDirectory = directory.appendingPathComponent(access.tenantID.uuidString, isDirectory: true)
        let upload = try await StreamedUpload.receive(request, allowed: Self.allowed, maxBytes: limit,
                                                      incoming: directory.appendingPathComponent(".incoming", isDirectory: true), tooLarge: tooLarge)
        let now = Date()
        let file = PortalFile()
        file.id = UUID()
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
        do {
            try FileManager.default.createDirectory(at: tenantDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.moveItem(at: upload.temporary, to: path(file))
            try await file.create(on: request.db)
            // Parallel uploads each saw room before either was stored: the later one to push past the quota goes.
            if try await used(by: access.tenantID, on: request.db) > quotaBytes {
                try await file.delete(on: request.db)
                throw quotaExceeded
            }
        } catch {
            try? FileManager.default.removeItem(at: upload.temporary)
            try? FileManager.default.removeItem(at: path(file))
            throw error
        }
        try await identity.audit.record("file.uploaded", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                                        metadata: ["size": String(file.size), "type": file.contentType, "visibility": visibility.rawValue],
                                        request: request)
        return try await Self.view(file).encodeResponse(status: .created, for: request)
    }

    @Sendable func download(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let file = try await file(request, access)
        try await identity.audit.record("file.downloaded", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                                        request: request)
        return try await stream(file, request)
    }

    /// The stored bytes as an attachment with the type Flux detected, never sniffed, under a CSP that sandboxes them.
    private func stream(_ file: PortalFile, _ request: Request) async throws -> Response {
        let parts = file.contentType.split(separator: "/").map(String.init)
        let response = try await request.fileio.asyncStreamFile(at: path(file).path, mediaType: HTTPMediaType(type: parts[0], subType: parts[1]))
        let name = file.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".-_"))) ?? "file"
        response.headers.replaceOrAdd(name: .contentDisposition, value: "attachment; filename*=UTF-8''\(name)")
        response.headers.replaceOrAdd(name: "Content-Security-Policy", value: "default-src 'none'; sandbox")
        response.headers.replaceOrAdd(name: .cacheControl, value: "private, no-store")
        return response
    }

    /// A message's attachment, for anyone who may read the conversation (attaching shared it with them).
    @Sendable func attachment(_ request: Request, _ principal: Principal) async throws -> Response {
        let (message, thread) = try await MessagingController.message(request, principal)
        guard message.deletedAt == nil, let id = message.attachmentID, let file = try await PortalFile.find(id, on: request.db) else {
            throw Self.notFound
        }
        try await identity.audit.record("file.downloaded", actor: principal.userID, tenant: thread.tenantID, target: file.id!.uuidString,
                                        metadata: ["message": message.id!.uuidString], request: request)
        return try await stream(file, request)
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
        try await identity.audit.record("file.changed", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                                        metadata: changes, request: request)
        return Self.view(file)
    }

    @Sendable func delete(_ request: Request, _ access: TenantAccess) async throws -> HTTPStatus {
        let file = try await changeable(request, access)
        try await file.delete(on: request.db)
        try? FileManager.default.removeItem(at: path(file))
        try await identity.audit.record("file.deleted", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
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
        try await identity.audit.record("folder.created", actor: access.principal.userID, tenant: access.tenantID, target: folder.id!.uuidString,
                                        request: request)
        return try await Self.view(folder).encodeResponse(status: .created, for: request)
    }

    /// Deletes an empty folder (files another member keeps private count too: nothing is lost unseen).
    @Sendable func deleteFolder(_ request: Request, _ access: TenantAccess) async throws -> HTTPStatus {
        guard let id = request.parameters.get("folderID", as: UUID.self), let folder = try await PortalFolder.find(id, on: request.db),
            folder.tenantID == access.tenantID
        else { throw AppError(.notFound, code: "not_found", message: "No such folder.") }
        let files = try await PortalFile.query(on: request.db).filter(\.$folderID == id).count()
        let folders = try await PortalFolder.query(on: request.db).filter(\.$parentID == id).count()
        guard files == 0, folders == 0 else {
            throw AppError(.conflict, code: "folder_not_empty", message: "Move or delete what the folder holds first.")
        }
        try await folder.delete(on: request.db)
        try await identity.audit.record("folder.deleted", actor: access.principal.userID, tenant: access.tenantID, target: id.uuidString,
                                        request: request)
        return .noContent
    }

    // MARK: - Share links

    struct ShareBody: Content {
        let expiresInHours: Int
    }

    struct ShareView: Content {
        let id: UUID
        let url: String
        let expiresAt: Date
    }

    /// The link's token: HMAC-SHA256 of the share's id and expiry (whole seconds), base64url.
    func token(for share: PortalFileShare, key: SymmetricKey? = nil) -> String {
        let message = Data("\(share.id!.uuidString)|\(Int(share.expiresAt.timeIntervalSince1970))".utf8)
        return Data(HMAC<SHA256>.authenticationCode(for: message, using: key ?? shareKeys[0])).base64URLEncodedString()
    }

    /// Whether `token` is this share's (under the current or the previous secret) and the share is neither
    /// revoked nor expired at `now`.
    func accepts(_ share: PortalFileShare, token presented: String, now: Date = Date()) -> Bool {
        shareKeys.contains { ConstantTimeComparison.equals(presented, token(for: share, key: $0)) }
            && share.revokedAt == nil && share.expiresAt > now
    }

    @Sendable func share(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let body = try request.content.decode(ShareBody.self)
        var errors = FieldErrors()
        errors.check("expiresInHours", (1...Self.maxShareHours).contains(body.expiresInHours), "must be 1 to \(Self.maxShareHours)")
        try errors.throwIfAny()
        let file = try await changeable(request, access)
        let now = Date()
        let share = PortalFileShare()
        share.id = UUID()
        share.fileID = file.id!
        share.createdBy = access.principal.userID
        share.createdAt = now
        // Whole seconds, as the token signs them (the database may keep less precision than Date has).
        share.expiresAt = Date(timeIntervalSince1970: (now.timeIntervalSince1970 + Double(body.expiresInHours * 3600)).rounded(.down))
        try await share.create(on: request.db)
        try await identity.audit.record("file.shared", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                                        metadata: ["share": share.id!.uuidString, "expiresAt": share.expiresAt.formatted(.iso8601)], request: request)
        let url = publicURL.appendingPathComponent("api/shared/\(share.id!.uuidString)/\(token(for: share))").absoluteString
        return try await ShareView(id: share.id!, url: url, expiresAt: share.expiresAt).encodeResponse(status: .created, for: request)
    }

    @Sendable func revokeShare(_ request: Request, _ access: TenantAccess) async throws -> HTTPStatus {
        let file = try await changeable(request, access)
        guard let id = request.parameters.get("shareID", as: UUID.self), let share = try await PortalFileShare.find(id, on: request.db),
            share.fileID == file.id
        else { throw AppError(.notFound, code: "not_found", message: "No such share link.") }
        if share.revokedAt == nil {
            share.revokedAt = Date()
            try await share.update(on: request.db)
        }
        try await identity.audit.record("file.share_revoked", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                                        metadata: ["share": id.uuidString], request: request)
        return .noContent
    }

    /// A share link: anyone holding it downloads the file until it expires or is revoked. Every refusal
    /// looks the same (404), so a link reveals nothing about why it fails.
    @Sendable func shared(_ request: Request) async throws -> Response {
        let gone = AppError(.notFound, code: "not_found", message: "This link does not work: it is wrong, expired or revoked.")
        guard let id = request.parameters.get("shareID", as: UUID.self), let presented = request.parameters.get("token"),
            let share = try await PortalFileShare.find(id, on: request.db), accepts(share, token: presented),
            let file = try await PortalFile.find(share.fileID, on: request.db)
        else { throw gone }
        try await identity.audit.record("file.share_downloaded", actor: nil, tenant: file.tenantID, target: file.id!.uuidString,
                                        metadata: ["share": id.uuidString], request: request)
        return try await stream(file, request)
    }
}
