@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct PortalFilesTests {
    typealias FileView = PortalFilesController.FileView

    static let pdf = Array("%PDF-1.7\n".utf8) + [UInt8](repeating: 0x20, count: 5000)
    static let csv = Array("date,amount\n2026-11-24,12.50\n".utf8)

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

    @Test func contentIsJudgedAndTheQuotaHolds() async throws {
        try await withFlux(environment: ["TENANT_QUOTA_BYTES": "12000"]) { app, config in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let spoof = try await upload(tester, admin, Array("<html><script>alert(1)</script>".utf8), filename: "notes.txt")
            #expect(spoof.status == .unsupportedMediaType)
            let renamed = try await upload(tester, admin, Self.pdf, filename: "invoice.png")
            #expect(renamed.status == .unsupportedMediaType)
            #expect(try await upload(tester, admin, Self.pdf, filename: "a.pdf").status == .created)
            #expect(try await upload(tester, admin, Self.pdf, filename: "b.pdf").status == .created)
            let over = try await upload(tester, admin, Self.pdf, filename: "c.pdf")
            #expect(over.status == .payloadTooLarge && errorCode(over) == "quota_exceeded")
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
