@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct PortalFilesTests {
    typealias FileView = PortalFilesController.FileView

    static let pdf = Array("%PDF-1.7\n".utf8) + [UInt8](repeating: 0x20, count: 5000)
    static let csv = Array("date,amount\n2026-11-24,12.50\n".utf8)
    static let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8) + [UInt8](repeating: 1, count: 40)

    func upload(_ tester: any TestingApplicationTester, _ by: SignedIn, _ bytes: [UInt8], filename: String, type: String = "application/octet-stream",
                query: String = "", tenant: UUID? = nil) async throws -> TestingHTTPResponse {
        let boundary = "flux-boundary-\(UUID().uuidString)"
        var body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\nContent-Type: \(type)\r\n\r\n".utf8)
        body += Data(bytes) + Data("\r\n--\(boundary)--\r\n".utf8)
        var headers = by.bearer
        headers.replaceOrAdd(name: .contentType, value: "multipart/form-data; boundary=\(boundary)")
        return try await tester.sendRequest(.POST, "/api/tenants/\(tenant ?? by.tenantID)/files\(query)", headers: headers) { req in
            req.body = ByteBuffer(data: body)
        }
    }

    func listing(_ tester: any TestingApplicationTester, _ by: SignedIn, tenant: UUID? = nil, folder: UUID? = nil) async throws -> PortalFilesController.Listing {
        let response = try await tester.sendRequest(.GET, "/api/tenants/\(tenant ?? by.tenantID)/files\(folder.map { "?folderId=\($0)" } ?? "")",
                                                    headers: by.bearer)
        #expect(response.status == .ok)
        return try response.content.decode(PortalFilesController.Listing.self)
    }

    func fields(_ response: TestingHTTPResponse) -> [String: String] {
        (try? response.content.decode(ErrorEnvelope.self))?.error.fields ?? [:]
    }

    func message(_ response: TestingHTTPResponse) -> String {
        (try? response.content.decode(ErrorEnvelope.self))?.error.message ?? ""
    }

    func stored(_ config: AppConfig) -> [String] {
        let files = config.dataDirectory.appendingPathComponent("files")
        return ((try? FileManager.default.subpathsOfDirectory(atPath: files.path)) ?? []).filter { !$0.hasPrefix(".incoming") && $0.contains("/") }
    }

    @Test func visibilityDecidesWhoSeesAFileAndAnotherTenantSeesNothing() async throws {
        try await withFlux { app, config in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let stranger = try await mintSignedIn(app, role: .clientAdmin)

            let privateFile = try await upload(tester, member, Self.pdf, filename: "payslip.pdf", type: "application/pdf")
            #expect(privateFile.status == .created)
            let mine = try privateFile.content.decode(FileView.self)
            #expect(mine.contentType == "application/pdf" && mine.size == Int64(Self.pdf.count) && mine.visibility == .private)
            let shared = try await upload(tester, member, Self.csv, filename: "costs.csv", type: "text/csv", query: "?visibility=tenant")
            #expect(shared.status == .created)
            let forStaff = try await upload(tester, admin, Self.csv, filename: "logs.txt", query: "?visibility=staff")
            #expect(forStaff.status == .created)

            #expect(Set(try await listing(tester, member).files.map(\.name)) == ["payslip.pdf", "costs.csv"])
            #expect(Set(try await listing(tester, admin).files.map(\.name)) == ["costs.csv", "logs.txt"])
            #expect(try await listing(tester, engineer, tenant: admin.tenantID).files.map(\.name) == ["logs.txt"])
            // Another organization's files are not there at all.
            let foreign = try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/files", headers: stranger.bearer)
            #expect(foreign.status == .notFound)
            let probe = try await tester.sendRequest(.GET, "/api/tenants/\(stranger.tenantID)/files/\(mine.id)/content", headers: stranger.bearer)
            #expect(probe.status == .notFound)

            // The admin neither downloads nor deletes a colleague's private file.
            #expect(try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/files/\(mine.id)/content", headers: admin.bearer).status == .notFound)
            #expect(try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/files/\(mine.id)", headers: admin.bearer).status == .notFound)
            let download = try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/files/\(mine.id)/content", headers: member.bearer)
            #expect(download.status == .ok && Array(download.body.readableBytesView) == Self.pdf)
            #expect(download.headers.first(name: .contentDisposition)?.hasPrefix("attachment") == true)
            #expect(download.headers.first(name: "Content-Security-Policy")?.contains("sandbox") == true)
            // Staff read what is shared with them, and change nothing.
            let staffCopy = try forStaff.content.decode(FileView.self)
            #expect(try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/files/\(staffCopy.id)/content", headers: engineer.bearer).status == .ok)
            #expect(try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/files/\(staffCopy.id)", headers: engineer.bearer).status == .forbidden)

            let actions = try await AuditEvent.query(on: app.db).filter(\.$tenantID == admin.tenantID).all().map(\.action)
            #expect(actions.filter { $0 == "file.uploaded" }.count == 3 && actions.filter { $0 == "file.downloaded" }.count == 2)
            #expect(stored(config).count == 3)
        }
    }

    /// The bytes of `response`, and how it is served: its Content-Type, disposition and CSP.
    func served(_ response: TestingHTTPResponse) -> (type: String, disposition: String, csp: String, sniff: String) {
        (response.headers.first(name: .contentType) ?? "", response.headers.first(name: .contentDisposition) ?? "",
         response.headers.first(name: "Content-Security-Policy") ?? "", response.headers.first(name: "X-Content-Type-Options") ?? "")
    }

    @Test func anyTypeIsStoredWithItsDetectedTypeAndOnlySafeTypesAreEverInline() async throws {
        try await withFlux { app, config in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let zip = Array("PK\u{03}\u{04}".utf8) + [UInt8](repeating: 7, count: 3000)
            let cases: [(bytes: [UInt8], name: String, type: String, inline: Bool)] = [
                (Array("<html><script>alert(1)</script>".utf8), "notes.txt", "text/html", false),
                (Array("<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".utf8), "logo.svg", "image/svg+xml", false),
                (zip, "bundle.zip", "application/zip", false),
                (Array("MZ".utf8) + [0x90, 0] + [UInt8](repeating: 0, count: 500), "setup.exe", "application/vnd.microsoft.portable-executable", false),
                (Self.pdf, "invoice.png", "application/pdf", true),
                (Self.csv, "costs.csv", "text/plain", true),
                (Self.png, "chart.png", "image/png", true),
                // An image signature carrying markup is not trusted as an image.
                (Self.png + Array("<script>".utf8), "trick.png", "application/octet-stream", false),
            ]
            for (bytes, name, type, inline) in cases {
                let response = try await upload(tester, admin, bytes, filename: name, type: "text/html")
                #expect(response.status == .created, "\(name)")
                let file = try response.content.decode(FileView.self)
                #expect(file.contentType == type && file.name == name && file.size == Int64(bytes.count), "\(name)")
                let path = "/api/tenants/\(admin.tenantID)/files/\(file.id)/content"
                let download = served(try await tester.sendRequest(.GET, path, headers: admin.bearer))
                #expect(download.type.hasPrefix(type) && download.disposition.hasPrefix("attachment;") && download.sniff == "nosniff", "\(name)")
                #expect(download.csp.contains("sandbox") && download.csp.contains("frame-ancestors 'none'"), "\(name)")
                let preview = try await tester.sendRequest(.GET, path + "?inline=true", headers: admin.bearer)
                #expect(Array(preview.body.readableBytesView) == bytes, "\(name)")
                let shown = served(preview)
                #expect(shown.disposition.hasPrefix(inline ? "inline;" : "attachment;") && shown.sniff == "nosniff", "\(name)")
                #expect(shown.csp.contains("default-src 'none'") && shown.csp.contains(inline ? "frame-ancestors 'self'" : "frame-ancestors 'none'"), "\(name)")
                // Everything but a PDF (whose viewer is a plugin) is sandboxed even inline.
                #expect(shown.csp.contains("sandbox") == (type != "application/pdf"), "\(name)")
                #expect(preview.headers.first(name: "X-Frame-Options") == (inline ? "SAMEORIGIN" : "DENY"), "\(name)")
            }
            #expect(stored(config).count == cases.count)
        }
    }

    @Test func theFileLimitAndTheQuotaHold() async throws {
        try await withFlux(environment: ["TENANT_QUOTA_BYTES": "12000", "PORTAL_FILE_MAX_BYTES": "8000"]) { app, config in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let big = try await upload(tester, admin, [UInt8](repeating: 0x41, count: 8001), filename: "big.txt")
            #expect(big.status == .payloadTooLarge && errorCode(big) == "payload_too_large")
            #expect(message(big).contains("8 kB"))
            #expect(try await upload(tester, admin, Self.pdf, filename: "a.pdf").status == .created)
            #expect(try await upload(tester, admin, Self.pdf, filename: "b.pdf").status == .created)
            let over = try await upload(tester, admin, Self.pdf, filename: "c.pdf")
            #expect(over.status == .payloadTooLarge && errorCode(over) == "quota_exceeded")
            #expect(message(over).contains("12 kB storage quota"))
            let listed = try await listing(tester, admin)
            #expect(listed.files.count == 2 && listed.usedBytes == Int64(2 * Self.pdf.count) && listed.quotaBytes == 12000)
            #expect(stored(config).count == 2)
        }
    }

    @Test func foldersRenamesMovesAndDeletes() async throws {
        try await withFlux { app, config in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let created = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/folders", headers: admin.bearer) { req in
                try req.content.encode(["name": "Contracts"])
            }
            #expect(created.status == .created)
            let folder = try created.content.decode(PortalFilesController.FolderView.self)
            let badName = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/folders", headers: admin.bearer) { req in
                try req.content.encode(["name": "a/b"])
            }
            #expect(badName.status == .badRequest)
            let file = try await upload(tester, admin, Self.pdf, filename: "draft.pdf", query: "?folderId=\(folder.id)").content.decode(FileView.self)
            #expect(try await listing(tester, admin).files.isEmpty)
            #expect(try await listing(tester, admin, folder: folder.id).files.map(\.name) == ["draft.pdf"])
            // A folder that holds a file is not deleted.
            let blocked = try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/folders/\(folder.id)", headers: admin.bearer)
            #expect(blocked.status == .conflict && errorCode(blocked) == "folder_not_empty")

            let renamed = try await tester.sendRequest(.PATCH, "/api/tenants/\(admin.tenantID)/files/\(file.id)", headers: admin.bearer) { req in
                try req.content.encode(PortalFilesController.ChangeBody(name: "../../etc/final.pdf", folderId: nil, toTopLevel: true, visibility: "tenant"))
            }
            #expect(renamed.status == .ok)
            let after = try renamed.content.decode(FileView.self)
            #expect(!after.name.contains("/") && after.folderId == nil && after.visibility == .tenant)
            // Folders are renamed and moved, never into themselves or their own subfolders.
            func changeFolder(_ id: UUID, _ body: [String: String]) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.PATCH, "/api/tenants/\(admin.tenantID)/folders/\(id)", headers: admin.bearer) { req in
                    try req.content.encode(body)
                }
            }
            let inner = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/folders", headers: admin.bearer) { req in
                try req.content.encode(["name": "2026", "parentId": folder.id.uuidString])
            }.content.decode(PortalFilesController.FolderView.self)
            #expect(inner.parentId == folder.id)
            let renamedFolder = try await changeFolder(folder.id, ["name": "  Signed contracts "])
            #expect(renamedFolder.status == .ok && (try? renamedFolder.content.decode(PortalFilesController.FolderView.self))?.name == "Signed contracts")
            let slash = try await changeFolder(folder.id, ["name": "a/b"])
            #expect(slash.status == .badRequest && fields(slash)["name"] != nil)
            for target in [folder.id, inner.id] {
                let cycle = try await changeFolder(folder.id, ["parentId": target.uuidString])
                #expect(cycle.status == .badRequest && fields(cycle)["parentId"] != nil)
            }
            let foreign = try await changeFolder(folder.id, ["parentId": UUID().uuidString])
            #expect(foreign.status == .badRequest && fields(foreign)["parentId"] == "no such folder")
            let lifted = try await tester.sendRequest(.PATCH, "/api/tenants/\(admin.tenantID)/folders/\(inner.id)", headers: admin.bearer) { req in
                try req.content.encode(PortalFilesController.FolderChangeBody(name: nil, parentId: nil, toTopLevel: true))
            }
            #expect(lifted.status == .ok && (try? lifted.content.decode(PortalFilesController.FolderView.self))?.parentId == nil)
            let stranger = try await mintSignedIn(app, role: .clientAdmin)
            #expect(try await tester.sendRequest(.PATCH, "/api/tenants/\(stranger.tenantID)/folders/\(inner.id)", headers: stranger.bearer) { req in
                try req.content.encode(["name": "mine"])
            }.status == .notFound)
            #expect(try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/folders/\(inner.id)", headers: admin.bearer).status == .noContent)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "folder.changed").count() == 2)

            let emptied = try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/folders/\(folder.id)", headers: admin.bearer)
            #expect(emptied.status == .noContent)
            #expect(try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/files/\(file.id)", headers: admin.bearer).status == .noContent)
            #expect(stored(config).isEmpty)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "file.deleted").count() == 1)
        }
    }

    @Test func shareLinksWorkUntilExpiredRevokedOrTamperedWith() async throws {
        try await withFlux { app, config in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let file = try await upload(tester, admin, Self.pdf, filename: "brochure.pdf").content.decode(FileView.self)
            func share(hours: Int) async throws -> PortalFilesController.ShareView {
                let response = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/files/\(file.id)/shares", headers: admin.bearer) { req in
                    try req.content.encode(["expiresInHours": hours])
                }
                #expect(response.status == .created)
                return try response.content.decode(PortalFilesController.ShareView.self)
            }
            func fetch(_ url: String) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.GET, String(url[url.range(of: "/api/shared/")!.lowerBound...]))
            }
            let link = try await share(hours: 24)
            let anonymous = try await fetch(link.url)
            #expect(anonymous.status == .ok && Array(anonymous.body.readableBytesView) == Self.pdf)

            // A changed character in the token, or another share's id with this token: refused alike.
            var tampered = link.url
            let last = tampered.removeLast()
            tampered.append(last == "A" ? "B" : "A")
            #expect(try await fetch(tampered).status == .notFound)
            let other = try await share(hours: 1)
            #expect(try await fetch(link.url.replacingOccurrences(of: link.id.uuidString, with: other.id.uuidString)).status == .notFound)

            let revoked = try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/files/\(file.id)/shares/\(link.id)", headers: admin.bearer)
            #expect(revoked.status == .noContent)
            #expect(try await fetch(link.url).status == .notFound)

            // Expired: the same share and token, an hour and a second later.
            let expiring = try await share(hours: 1)
            let row = try #require(try await PortalFileShare.find(expiring.id, on: app.db))
            let token = String(expiring.url.split(separator: "/").last!)
            let files = PortalFilesController(audit: app.identity.audit, store: app.blobStore, secrets: app.identity.secrets, config: config)
            #expect(files.accepts(row, token: token))
            #expect(!files.accepts(row, token: token, now: Date().addingTimeInterval(3601)))
            #expect(try await fetch(expiring.url).status == .ok)

            let badHours = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/files/\(file.id)/shares", headers: admin.bearer) { req in
                try req.content.encode(["expiresInHours": 10_000])
            }
            #expect(badHours.status == .badRequest && errorCode(badHours) == "invalid_input")
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "file.share_downloaded").count() == 2)

            // The links that still work, for whoever may share the file; a member who may not sees none of them.
            let listed = try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/files/\(file.id)/shares", headers: admin.bearer)
            let working = try listed.content.decode(PortalFilesController.ShareList.self).shares
            #expect(Set(working.map(\.id)) == [other.id, expiring.id] && working.allSatisfy { $0.url.contains("/api/shared/\($0.id)/") })
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            #expect(try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/files/\(file.id)/shares", headers: member.bearer).status == .notFound)
        }
    }

    @Test func aBrowserOpeningALinkGetsAPageAndOtherClientsTheBytes() async throws {
        try await withFlux { app, _ in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let file = try await upload(tester, admin, Self.pdf, filename: "Tom & Jerry.pdf").content.decode(FileView.self)
            let link = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/files/\(file.id)/shares", headers: admin.bearer) { req in
                try req.content.encode(["expiresInHours": 2])
            }.content.decode(PortalFilesController.ShareView.self)
            let path = String(link.url[link.url.range(of: "/api/shared/")!.lowerBound...])
            let browser: HTTPHeaders = ["Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "it"]

            let page = try await tester.sendRequest(.GET, path, headers: browser)
            #expect(page.status == .ok && page.headers.contentType?.subType == "html")
            #expect(page.headers.first(name: "Referrer-Policy") == "no-referrer" && page.headers.first(name: .cacheControl) == "no-store")
            let html = page.body.string
            #expect(html.contains("Tom &amp; Jerry.pdf") && !html.contains("Tom & Jerry"))
            #expect(html.contains("Un file condiviso con te") && html.contains("href=\"\(path)?download=1\""))
            // Looking at the page is not a download.
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "file.share_downloaded").count() == 0)
            let bytes = try await tester.sendRequest(.GET, path + "?download=1", headers: browser)
            #expect(bytes.status == .ok && Array(bytes.body.readableBytesView) == Self.pdf)
            #expect(bytes.headers.first(name: .contentDisposition)?.hasPrefix("attachment;") == true)
            #expect(try await tester.sendRequest(.GET, path, headers: ["Accept": "*/*"]).body.readableBytes == Self.pdf.count)

            // Revoked (or expired, or mistyped: all alike): a page saying so with the next step, not JSON.
            #expect(try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/files/\(file.id)/shares/\(link.id)",
                                                 headers: admin.bearer).status == .noContent)
            for gone in [path, path + "x", "/api/shared/\(UUID())/nothing"] {
                let refused = try await tester.sendRequest(.GET, gone, headers: ["Accept": "text/html"])
                #expect(refused.status == .notFound && refused.headers.contentType?.subType == "html", "\(gone)")
                #expect(refused.body.string.contains("This link no longer works") && refused.body.string.contains("href=\"/app/files\""))
                let api = try await tester.sendRequest(.GET, gone, headers: ["Accept": "application/json"])
                #expect(api.status == .notFound && errorCode(api) == "not_found")
            }
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "file.share_downloaded").count() == 2)
        }
    }

    @Test func theFilesPageShowsFoldersFilesAndTheControlsTheCallerMayUse() async throws {
        try await withFlux(environment: ["PORTAL_FILE_MAX_BYTES": "5242880"]) { app, _ in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let outer = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/folders", headers: admin.bearer) { req in
                try req.content.encode(["name": "Contracts <2026>"])
            }.content.decode(PortalFilesController.FolderView.self)
            let inner = try await tester.sendRequest(.POST, "/api/tenants/\(admin.tenantID)/folders", headers: admin.bearer) { req in
                try req.content.encode(["name": "Signed", "parentId": outer.id.uuidString])
            }.content.decode(PortalFilesController.FolderView.self)
            _ = try await upload(tester, admin, Self.png, filename: "plan.png", query: "?visibility=tenant&folderId=\(inner.id)")
            _ = try await upload(tester, admin, Self.csv, filename: "mine.csv", query: "?folderId=\(inner.id)")
            _ = try await upload(tester, member, Self.pdf, filename: "theirs.pdf", query: "?visibility=tenant&folderId=\(inner.id)")

            let headers = { (who: SignedIn) in HTTPHeaders([("Accept", "text/html")] + who.bearer.map { ($0.name, $0.value) }) }
            let page = try await tester.sendRequest(.GET, "/app/files?folderId=\(inner.id)", headers: headers(member))
            #expect(page.status == .ok)
            let html = page.body.string
            // The path, the folder choices for moves (whole paths, escaped), the limit and the files the member sees.
            #expect(html.contains("<a href=\"/app/files?folderId=\(outer.id)\">Contracts &lt;2026&gt;</a>"))
            #expect(html.contains(">Contracts &lt;2026&gt; / Signed</option>") && html.contains("up to 5 MB each"))
            #expect(html.contains("plan.png") && html.contains("theirs.pdf") && !html.contains("mine.csv"))
            // The member changes only their own file; previews only for what may be shown inline.
            #expect(html.components(separatedBy: "class=\"danger delete-file\"").count - 1 == 1)
            #expect(html.contains("data-preview=\"image\"") && html.contains("data-preview=\"pdf\""))
            #expect(html.contains("aria-label=\"Who can see it\" aria-describedby=\"file-"))
            let top = try await tester.sendRequest(.GET, "/app/files?lang=de", headers: headers(admin)).body.string
            #expect(top.contains("<h1>Dateien</h1>") && top.contains("Contracts &lt;2026&gt;/"))
        }
    }

    @Test func aFileAttachedToAMessageReachesTheConversationOnly() async throws {
        try await withFlux { app, _ in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let stranger = try await mintSignedIn(app, role: .clientAdmin)
            let file = try await upload(tester, member, Self.pdf, filename: "quote.pdf").content.decode(FileView.self)
            let foreign = try await upload(tester, stranger, Self.pdf, filename: "theirs.pdf").content.decode(FileView.self)
            let channel = try await tester.sendRequest(.POST, "/api/portal/conversations", headers: admin.bearer) { req in
                try req.content.encode(MessagingController.CreateBody(kind: "channel", title: "Sales", participantIds: nil, tenantId: nil))
            }.content.decode(MessagingController.ThreadView.self).id
            func post(_ by: SignedIn, _ fileID: UUID) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.POST, "/api/portal/conversations/\(channel)/messages", headers: by.bearer) { req in
                    try req.content.encode(MessagingController.PostBody(body: "See attached", fileId: fileID))
                }
            }
            // Only a file the sender sees, of this organization.
            #expect(try await post(member, foreign.id).status == .badRequest)
            #expect(try await post(admin, file.id).status == .badRequest)
            let posted = try await post(member, file.id)
            #expect(posted.status == .created)
            let message = try posted.content.decode(MessagingController.MessageView.self)
            #expect(message.attachment?.name == "quote.pdf" && message.attachment?.size == Int64(Self.pdf.count))
            let page = try await tester.sendRequest(.GET, "/api/portal/conversations/\(channel)/messages", headers: admin.bearer)
            #expect(try page.content.decode(MessagingController.MessagePage.self).messages.first?.attachment?.fileId == file.id)

            let path = "/api/portal/messages/\(message.id)/attachment"
            let fetched = try await tester.sendRequest(.GET, path, headers: admin.bearer)
            #expect(fetched.status == .ok && Array(fetched.body.readableBytesView) == Self.pdf)
            #expect(try await tester.sendRequest(.GET, path, headers: stranger.bearer).status == .notFound)
            #expect(try await tester.sendRequest(.DELETE, "/api/portal/messages/\(message.id)", headers: member.bearer).status == .noContent)
            #expect(try await tester.sendRequest(.GET, path, headers: admin.bearer).status == .notFound)
        }
    }
}
