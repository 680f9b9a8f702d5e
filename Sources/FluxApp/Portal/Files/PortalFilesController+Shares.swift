import Crypto
import Fluent
import FluxSecurity
import Foundation
import Vapor

/// Share links: a link carries an HMAC of its id and expiry under a key derived from SESSION_SECRET, so it is
/// checked before the database is read, cannot be forged or extended, and stops working when revoked. A
/// browser opening a link gets a page naming the file with a download button (or, for a link that no longer
/// works, a page saying so and what to do next); any other client gets the bytes, or the JSON 404.
extension PortalFilesController {
    struct ShareBody: Content {
        let expiresInHours: Int
    }

    struct ShareList: Content {
        /// The links that still work, the soonest to expire first.
        let shares: [ShareView]
    }

    func url(for share: PortalFileShare) -> String {
        publicURL.appendingPathComponent("api/shared/\(share.id!.uuidString)/\(token(for: share))").absoluteString
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
        try await audit.record("file.shared", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                               metadata: ["share": share.id!.uuidString, "expiresAt": share.expiresAt.formatted(.iso8601)], request: request)
        return try await ShareView(id: share.id!, url: url(for: share), expiresAt: share.expiresAt).encodeResponse(status: .created, for: request)
    }

    /// The file's links that still work (neither revoked nor expired), for whoever may share it.
    @Sendable func shares(_ request: Request, _ access: TenantAccess) async throws -> ShareList {
        let file = try await changeable(request, access)
        let active = try await PortalFileShare.query(on: request.db).filter(\.$fileID == file.id!).filter(\.$revokedAt == nil)
            .filter(\.$expiresAt > Date()).sort(\.$expiresAt).all()
        return ShareList(shares: active.map { ShareView(id: $0.id!, url: url(for: $0), expiresAt: $0.expiresAt) })
    }

    @Sendable func revokeShare(_ request: Request, _ access: TenantAccess) async throws -> HTTPStatus {
        let file = try await changeable(request, access)
        guard let id = request.parameters.get("shareID", as: UUID.self), let share = try await PortalFileShare.find(id, on: request.db),
            share.fileID == file.id
        else { throw AppError.notFound("No such share link.") }
        if share.revokedAt == nil {
            share.revokedAt = Date()
            try await share.update(on: request.db)
        }
        try await audit.record("file.share_revoked", actor: access.principal.userID, tenant: access.tenantID, target: file.id!.uuidString,
                               metadata: ["share": id.uuidString], request: request)
        return .noContent
    }

    /// A share link: anyone holding it downloads the file until it expires or is revoked. Every refusal
    /// looks the same (404), so a link reveals nothing about why it fails. A browser (asking for HTML, without
    /// `?download=1`) gets `site`'s page instead: the file's name, size and the link's expiry with a download
    /// button, or, for a link that does not work, a page saying so with the next step.
    @Sendable func shared(_ request: Request, site: PageSite) async throws -> Response {
        let page = PageSite.wantsPage(request) && request.query[String.self, at: "download"] == nil
        guard let id = request.parameters.get("shareID", as: UUID.self), let presented = request.parameters.get("token"),
            let share = try await PortalFileShare.find(id, on: request.db), accepts(share, token: presented),
            let file = try await PortalFile.find(share.fileID, on: request.db)
        else {
            guard page else { throw AppError.notFound("This link does not work: it is wrong, expired or revoked.") }
            return try await sharedPage(request, site: site, status: .notFound, body: SharedPage(file: nil))
        }
        if page {
            return try await sharedPage(request, site: site, status: .ok, body: SharedPage(file: .init(
                name: file.name, size: Self.bytes(file.size, locale: Messages.locale(for: request)), type: file.contentType, expires: PageSite.time(share.expiresAt),
                download: request.url.path + "?download=1")))
        }
        try await audit.record("file.share_downloaded", actor: nil, tenant: file.tenantID, target: file.id!.uuidString,
                               metadata: ["share": id.uuidString], request: request)
        return try await stream(file, request)
    }

    struct SharedPage: Encodable {
        struct File: Encodable {
            let name, size, type, expires, download: String
        }

        /// `nil`: the link does not work.
        let file: File?
    }

    private func sharedPage(_ request: Request, site: PageSite, status: HTTPStatus, body: SharedPage) async throws -> Response {
        let locale = Messages.locale(for: request)
        let title = Messages.shared.text(body.file == nil ? "files.shared.goneTitle" : "files.shared.title", locale: locale)
        let response = try await site.render(request, "app/shared", title: title, body: body)
        response.status = status
        response.headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        // The link is the credential: it goes nowhere in a Referer.
        response.headers.replaceOrAdd(name: "Referrer-Policy", value: "no-referrer")
        return response
    }
}
