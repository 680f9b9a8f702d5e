@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct DataRightsTests {
    let files = PortalFilesTests()

    func channel(_ tester: any TestingApplicationTester, _ by: SignedIn) async throws -> UUID {
        try await tester.sendRequest(.POST, "/api/portal/conversations", headers: by.bearer) { req in
            try req.content.encode(MessagingController.CreateBody(kind: "channel", title: "General", participantIds: nil, tenantId: nil))
        }.content.decode(MessagingController.ThreadView.self).id
    }

    func say(_ tester: any TestingApplicationTester, _ by: SignedIn, _ thread: UUID, _ text: String) async throws {
        let response = try await tester.sendRequest(.POST, "/api/portal/conversations/\(thread)/messages", headers: by.bearer) { req in
            try req.content.encode(["body": text])
        }
        #expect(response.status == .created)
    }

    @Test func anAccountExportHoldsTheirDataAndNoSecret() async throws {
        try await withFlux { app, _ in
            let tester = try app.testing()
            let person = try await registerAndSignIn(tester, email: "ada@export.example")
            let thread = try await channel(tester, person)
            try await say(tester, person, thread, "Our invoices are late")
            #expect(try await files.upload(tester, person, PortalFilesTests.csv, filename: "invoices.csv").status == .created)
            try await Notifications.write(.init(kind: .setup, subject: "approved", actor: nil, link: "/app/status", source: nil),
                                          to: [person.userID], on: app.db)

            let response = try await tester.sendRequest(.GET, "/api/account/export", headers: person.bearer)
            #expect(response.status == .ok)
            #expect(response.headers.first(name: .contentDisposition)?.hasPrefix("attachment") == true)
            let export = try response.content.decode(DataRightsController.AccountExport.self)
            #expect(export.user.email == "ada@export.example" && export.user.hasPassword)
            #expect(export.messages.map(\.body) == ["Our invoices are late"])
            #expect(export.files.map(\.name) == ["invoices.csv"])
            #expect(export.sessions.map(\.id).contains(person.sessionID))
            #expect(export.memberships.first?.role == .clientAdmin)
            #expect(export.auditEvents.contains { $0.action == "file.uploaded" })
            #expect(export.notifications.map(\.subject) == ["approved"] && export.mailDigest == "immediately")
            let text = response.body.string
            #expect(!text.contains("$2") && !text.contains(person.refreshToken) && !text.lowercased().contains("hash\":\"$"))
        }
    }

    @Test func erasureTakesTheAccountItsWordsAndItsPrivateFiles() async throws {
        try await withFlux { app, config in
            let tester = try app.testing()
            let person = try await registerAndSignIn(tester, email: "bob@erase.example")
            let colleague = try await mintSignedIn(app, role: .clientAdmin, tenant: person.tenantID)
            let thread = try await channel(tester, colleague)
            try await say(tester, person, thread, "My phone is 555-0100")
            let secret = try await files.upload(tester, person, PortalFilesTests.pdf, filename: "id-card.pdf").content.decode(PortalFilesController.FileView.self)
            let shared = try await files.upload(tester, person, PortalFilesTests.csv, filename: "team.csv", query: "?visibility=tenant")
                .content.decode(PortalFilesController.FileView.self)
            func erase(_ body: [String: String]) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.DELETE, "/api/account", headers: person.bearer) { req in try req.content.encode(body) }
            }
            #expect(try await erase(["email": "someone@else.example", "password": testPassword]).status == .badRequest)
            let wrong = try await erase(["email": "bob@erase.example", "password": "not the password at all"])
            #expect(wrong.status == .forbidden && errorCode(wrong) == "reauthentication_failed")
            #expect(try await User.find(person.userID, on: app.db) != nil)

            #expect(try await erase(["email": "BOB@erase.example", "password": testPassword]).status == .noContent)
            #expect(try await User.find(person.userID, on: app.db) == nil)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: person.bearer).status == .unauthorized)
            let messages = try await ChatMessage.query(on: app.db).filter(\.$senderID == person.userID).all()
            #expect(messages.count == 1 && messages[0].body.isEmpty && messages[0].deletedAt != nil)
            #expect(try await PortalFile.find(secret.id, on: app.db) == nil)
            #expect(try await PortalFile.find(shared.id, on: app.db) != nil)
            #expect(files.stored(config).count == 1)
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "account.erased").count() == 1)
        }
    }

    @Test func theLastAdminOfAnOrganizationWithMembersCannotLeaveItHeadless() async throws {
        try await withFlux { app, _ in
            let tester = try app.testing()
            let admin = try await registerAndSignIn(tester, email: "carol@org.example")
            _ = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let refused = try await tester.sendRequest(.DELETE, "/api/account", headers: admin.bearer) { req in
                try req.content.encode(["email": "carol@org.example", "password": testPassword])
            }
            #expect(refused.status == .conflict && errorCode(refused) == "last_admin")
        }
    }

    @Test func anAdminExportsTheOrganizationAndNobodyElseDoes() async throws {
        try await withFlux { app, _ in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let stranger = try await mintSignedIn(app, role: .clientAdmin)
            let thread = try await channel(tester, admin)
            try await say(tester, member, thread, "Printer is out of toner")
            #expect(try await files.upload(tester, member, PortalFilesTests.pdf, filename: "mine.pdf").status == .created)
            #expect(try await files.upload(tester, member, PortalFilesTests.csv, filename: "ours.csv", query: "?visibility=tenant").status == .created)

            let response = try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/export", headers: admin.bearer)
            #expect(response.status == .ok)
            let export = try response.content.decode(DataRightsController.TenantExport.self)
            #expect(Set(export.members.map(\.userId)) == [admin.userID, member.userID])
            #expect(export.conversations.first?.messages.map(\.body) == ["Printer is out of toner"])
            #expect(export.files.map(\.name) == ["ours.csv"])
            #expect(try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/export", headers: member.bearer).status == .forbidden)
            #expect(try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/export", headers: stranger.bearer).status == .notFound)
        }
    }

    @Test func anOrganizationExportLeavesOutDirectConversationsTheAdminIsNotPartOf() async throws {
        try await withFlux { app, _ in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let alice = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let bob = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let general = try await channel(tester, admin)
            try await say(tester, alice, general, "Hello all")
            let direct = try await tester.sendRequest(.POST, "/api/portal/conversations", headers: alice.bearer) { req in
                try req.content.encode(MessagingController.CreateBody(kind: "direct", title: nil, participantIds: [bob.userID], tenantId: nil))
            }
            #expect(direct.status == .created)
            try await say(tester, alice, try direct.content.decode(MessagingController.ThreadView.self).id, "Between us: the budget is 40k")
            let export = try await tester.sendRequest(.GET, "/api/tenants/\(admin.tenantID)/export", headers: admin.bearer)
                .content.decode(DataRightsController.TenantExport.self)
            #expect(export.conversations.map(\.thread.id) == [general])
            #expect(!export.conversations.flatMap(\.messages).map(\.body).contains("Between us: the budget is 40k"))
        }
    }
}
