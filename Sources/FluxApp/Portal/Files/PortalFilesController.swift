import Crypto
import Fluent
import FluxSecurity
import Foundation
import SQLKit
import Vapor

/// `/api/tenants/:tenantID/files…` and `/folders…`: a client organization's documents;
/// `GET /api/shared/:shareID/:token`, the share links.
///
/// Uploads of any type stream through ``StreamedUpload``: up to PORTAL_FILE_MAX_BYTES each, counted against
/// TENANT_QUOTA_BYTES, written to the ``BlobStore`` as they arrive under `files/<tenant>/<file id>`, their type
/// identified by content (``ContentIdentifier``) and recorded. Only images, audio, video, PDF and plain text are
/// ever served inline (and only when asked, `?inline=true`); everything else (HTML, SVG, archives, executables,
/// office files) is always an attachment; both under a sandbox CSP and `nosniff`. Who sees and changes a file is
/// ``FileAccess``'s rule; folders are in `+Folders.swift`, share links in `+Shares.swift`. Every change and every
/// download, through the API or a link, is audited.
struct PortalFilesController: Sendable {
    static let maxShareHours = 30 * 24

    let audit: AuditLog
    let store: any BlobStore
    /// Where the local store receives bodies.
    let incoming: URL
    /// The largest single file (PORTAL_FILE_MAX_BYTES).
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
        maxBytes = config.portalFileMaxBytes
        quotaBytes = config.tenantQuotaBytes
        shareKeys = secrets.map { $0.key(for: "file-share") }
        publicURL = config.publicURL
    }

    /// Sizes as people read them, in 1024s ("100 MB" for PORTAL_FILE_MAX_BYTES' default), in English for the API's
    /// messages and in the reader's `locale` on the page.
    static func bytes(_ count: some BinaryInteger, locale: String = "en_US") -> String {
        Int64(count).formatted(ByteCountFormatStyle(style: .binary, locale: Locale(identifier: locale)))
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

    /// The folder `id` names (`nil` for none); a field error on `field` when the organization has no such folder.
    func folder(_ id: UUID?, in tenant: UUID, on database: any Database, field: String = "folderId") async throws -> PortalFolder? {
        guard let id else { return nil }
        guard let folder = try await PortalFolder.find(id, on: database), folder.tenantID == tenant else {
            throw AppError.invalidFields([field: "no such folder"])
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
    func used(by tenant: UUID, on database: any Database) async throws -> Int64 {
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

    /// Multipart field `file`, of any type; `?folderId=` and `?visibility=` (default private).
    @Sendable func upload(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let visibility = try Self.visibility(request.query[String.self, at: "visibility"])
        let folder = try await folder(request.query[UUID.self, at: "folderId"], in: access.tenantID, on: request.db)
        let quotaExceeded = AppError(.payloadTooLarge, code: "quota_exceeded",
                                     message: "This upload would take the organization past its \(Self.bytes(quotaBytes)) storage quota.")
        let remaining = quotaBytes - Int(try await used(by: access.tenantID, on: request.db))
        guard remaining > 0 else { throw quotaExceeded }
        let limit = min(maxBytes, remaining)
        let tooLarge = limit < maxBytes ? quotaExceeded
            : AppError(.payloadTooLarge, code: "payload_too_large", message: "The file is larger than \(Self.bytes(maxBytes)), the most one file may be.")
        let id = UUID()
        let writer = try store.writer(for: BlobKey.portalFile(id, tenant: access.tenantID), staging: incoming)
        let upload = try await StreamedUpload.receive(request, rule: .anything, maxBytes: limit, into: writer, tooLarge: tooLarge)
        let now = Date()
        let file = PortalFile()
        file.id = id
        file.tenantID = access.tenantID
        file.folderID = folder?.id
        file.name = Sanitize.filename(upload.filename ?? "file")
        file.contentType = upload.mimeType
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

    /// The file, as an attachment; `?inline=true` shows an image, audio, video, PDF or plain text in place (a
    /// preview) and is ignored for every other type.
    @Sendable func download(_ request: Request, _ access: TenantAccess) async throws -> Response {
        let file = try await file(request, access)
        let inline = request.query[Bool.self, at: "inline"] == true
        try await audit.record("file.downloaded", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                               metadata: inline ? ["inline": "true"] : [:], request: request)
        return try await stream(file, request, inline: inline)
    }

    /// What a served file's Content-Security-Policy allows: nothing to run, ever (`sandbox`, no scripts); an
    /// image, audio, video or text document its own bytes; an inline one may be framed by the portal's own
    /// pages (the preview), an attachment by nobody.
    static func policy(inline: Bool, contentType: String) -> String {
        guard inline else { return "default-src 'none'; frame-ancestors 'none'; sandbox" }
        // Browsers show a PDF through their viewer, which a sandboxed document never loads (sandboxing blocks
        // plugins, and Chromium's viewer is one): a PDF gets every other restriction. A PDF's own scripts run in
        // the viewer, never as the portal's origin.
        if contentType == "application/pdf" { return "default-src 'none'; object-src 'self'; frame-ancestors 'self'" }
        return "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"
    }

    /// The stored bytes with the type Flux detected, never sniffed, under a CSP that sandboxes them: an
    /// attachment, unless `inline` is asked for a type ``ContentIdentifier/isInline(_:)`` allows.
    func stream(_ file: PortalFile, _ request: Request, inline asked: Bool = false) async throws -> Response {
        let parts = file.contentType.split(separator: "/", maxSplits: 1).map(String.init)
        let mediaType = parts.count == 2 ? HTTPMediaType(type: parts[0], subType: parts[1]) : .binary
        let response = try await store.serve(key(file), size: file.size, mediaType: mediaType, for: request)
        let inline = asked && ContentIdentifier.isInline(file.contentType)
        let name = file.name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: ".-_"))) ?? "file"
        response.headers.replaceOrAdd(name: .contentDisposition, value: "\(inline ? "inline" : "attachment"); filename*=UTF-8''\(name)")
        response.headers.replaceOrAdd(name: "Content-Security-Policy", value: Self.policy(inline: inline, contentType: file.contentType))
        response.headers.replaceOrAdd(name: "X-Content-Type-Options", value: "nosniff")
        if inline { response.headers.replaceOrAdd(name: "X-Frame-Options", value: "SAMEORIGIN") }
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
}
