@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct NotificationsTests {
    typealias Listing = NotificationsController.Listing

    func conversation(_ tester: any TestingApplicationTester, _ by: SignedIn, kind: String, title: String? = nil,
                      with others: [UUID]) async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/portal/conversations", headers: by.bearer) { req in
            try req.content.encode(MessagingController.CreateBody(kind: kind, title: title, participantIds: others, tenantId: nil))
        }
    }

    func post(_ tester: any TestingApplicationTester, _ by: SignedIn, _ thread: UUID, _ text: String, file: UUID? = nil) async throws {
        let response = try await tester.sendRequest(.POST, "/api/portal/conversations/\(thread)/messages", headers: by.bearer) { req in
            try req.content.encode(MessagingController.PostBody(body: text, fileId: file))
        }
        #expect(response.status == .created)
    }

    func listing(_ tester: any TestingApplicationTester, _ who: SignedIn) async throws -> Listing {
        try await tester.sendRequest(.GET, "/api/portal/notifications", headers: who.bearer).content.decode(Listing.self)
    }

    @Test func messagesFoldPerConversationMentionsStandApartAndReadingClearsTheCount() async throws {
        try await withFlux { app, _ async throws in
            // setup
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let outsider = try await mintSignedIn(app, role: .clientAdmin)
            let channel = try await conversation(tester, admin, kind: "channel", title: "Front desk", with: []).content
                .decode(MessagingController.ThreadView.self).id
            let memberEmail = try #require(try await User.find(member.userID, on: app.db)).email

            // MUT
            try await post(tester, admin, channel, "Room 3 is ready")
            try await post(tester, admin, channel, "Room 4 too")
            try await post(tester, admin, channel, "@\(memberEmail.split(separator: "@")[0]), can you take room 5?")

            // validate: a member who never opened the channel still hears of it, once per conversation, plus the mention.
            let heard = try await listing(tester, member)
            #expect(heard.unread == 2)
            #expect(heard.notifications.map(\.kind) == [.mention, .message])
            #expect(heard.notifications.last?.count == 2 && heard.notifications.last?.subject == "Front desk")
            #expect(heard.notifications.allSatisfy { $0.link == "/app/messages?thread=\(channel)" })
            let adminEmail = try #require(try await User.find(admin.userID, on: app.db)).email
            #expect(heard.notifications.allSatisfy { $0.actor == adminEmail })
            // The sender hears nothing of their own messages, and another organization nothing at all.
            #expect(try await listing(tester, admin).notifications.isEmpty)
            #expect(try await listing(tester, outsider).notifications.isEmpty)

            let one = try #require(heard.notifications.first?.id)
            let read = try await tester.sendRequest(.POST, "/api/portal/notifications/read", headers: member.bearer) { req in
                try req.content.encode(NotificationsController.ReadBody(ids: [one]))
            }
            #expect(try read.content.decode(NotificationsController.Unread.self).unread == 1)
            // Someone else's notice cannot be marked read by another person.
            _ = try await tester.sendRequest(.POST, "/api/portal/notifications/read", headers: outsider.bearer) { req in
                try req.content.encode(NotificationsController.ReadBody(ids: heard.notifications.map(\.id)))
            }
            #expect(try await listing(tester, member).unread == 1)
            // A new message after the notice was read starts a new one rather than reviving it.
            _ = try await tester.sendRequest(.POST, "/api/portal/notifications/read", headers: member.bearer) { req in
                try req.content.encode(NotificationsController.ReadBody(ids: nil))
            }
            try await post(tester, admin, channel, "Room 6")
            let after = try await listing(tester, member)
            #expect(after.unread == 1 && after.notifications.count == 3 && after.notifications.first?.count == 1)
        }
    }

    @Test func aDirectMessageOpensTheExistingConversationAndTellsOnlyTheOtherPerson() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let colleague = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let first = try await conversation(tester, admin, kind: "direct", with: [member.userID])
            #expect(first.status == .created)
            let again = try await conversation(tester, member, kind: "direct", with: [admin.userID])
            #expect(again.status == .ok)
            let id = try first.content.decode(MessagingController.ThreadView.self).id
            #expect(try again.content.decode(MessagingController.ThreadView.self).id == id)
            // With an engineer: another conversation, and the engineer's notice leads into HQ.
            let withEngineer = try await conversation(tester, admin, kind: "direct", with: [engineer.userID])
            #expect(withEngineer.status == .created)
            let engineerThread = try withEngineer.content.decode(MessagingController.ThreadView.self).id

            try await post(tester, admin, id, "Private note")
            try await post(tester, admin, engineerThread, "Bridge down")

            let heard = try await listing(tester, member).notifications
            #expect(heard.count == 1 && heard.first?.kind == .message && heard.first?.subject == "")
            #expect(try await listing(tester, colleague).notifications.isEmpty)
            let engineerHeard = try await listing(tester, engineer).notifications
            #expect(engineerHeard.first?.link == "/hq-command/messages?tenantId=\(admin.tenantID)&thread=\(engineerThread)")

            // Who caused a notice is named when it is read: an account that is gone leaves no name behind.
            try await Notifications.write(Notifications.Notice(kind: .file, subject: "plan.pdf", actor: UUID(), link: "/app/files", source: nil),
                                          to: [colleague.userID], on: app.db)
            #expect(try await listing(tester, colleague).notifications.map(\.actor) == [""])
        }
    }

    @Test func theDigestSettingDecidesWhetherAndHowOftenUnreadMessagesAreMailed() async throws {
        try await withFlux { app, _ async throws in
            // setup
            let tester = try app.testing()
            let client = try await mintSignedIn(app, role: .clientAdmin)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let thread = try await conversation(tester, client, kind: "direct", with: [engineer.userID]).content
                .decode(MessagingController.ThreadView.self).id
            let notifier = UnreadMail(links: app.identity.links)
            func choose(_ digest: String) async throws -> TestingHTTPResponse {
                try await tester.sendRequest(.PUT, "/api/portal/notifications/settings", headers: engineer.bearer) { req in
                    try req.content.encode(NotificationsController.Settings(digest: digest))
                }
            }
            let refused = try await choose("hourly")
            #expect(refused.status == .badRequest && refused.body.string.contains("digest"))
            let shown = try await tester.sendRequest(.GET, "/api/portal/notifications/settings", headers: engineer.bearer)
            #expect(try shown.content.decode(NotificationsController.Settings.self).digest == "immediately")

            // MUT, validate: never mails nothing.
            #expect(try await choose("never").status == .ok)
            try await post(tester, client, thread, "First")
            let later = Date().addingTimeInterval(UnreadMail.delay + 60)
            #expect(try await notifier.pass(on: app.db, now: later) == 0)

            // Daily: one batch, then nothing more until a day has passed.
            #expect(try await choose("daily").status == .ok)
            #expect(try await notifier.pass(on: app.db, now: later) == 1)
            try await post(tester, client, thread, "Second")
            let soon = later.addingTimeInterval(UnreadMail.delay + 60)
            #expect(try await notifier.pass(on: app.db, now: soon) == 0)
            #expect(try await notifier.pass(on: app.db, now: later.addingTimeInterval(UnreadMail.dailyInterval + 60)) == 1)
        }
    }

    @Test func setupStatusAndFilesSharedWithTheOrganizationAreNoticed() async throws {
        try await withFlux { app, _ async throws in
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let tester = try app.testing()
            let setup = SetupRequest(tenantID: admin.tenantID, userID: admin.userID, templateType: "clinic", contactNumber: "+39 06 1234567")
            try await setup.create(on: app.db)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let moved = try await tester.sendRequest(.PUT, "/api/hq/setup-requests/\(setup.id!)/status", headers: engineer.bearer) { req in
                try req.content.encode(HQController.SetupStatusBody(status: "approved"))
            }
            #expect(moved.status == .ok)
            let heard = try await listing(tester, member).notifications
            #expect(heard.map(\.kind) == [.setup] && heard.first?.subject == "approved" && heard.first?.link == "/app/status")
            let sentence = NotificationsPage.sentence(try #require(try await PortalNotification.query(on: app.db).first()), actor: nil) {
                Messages.shared.text($0, locale: "it", $1)
            }
            #expect(sentence == "La tua richiesta di attivazione ora è approvata.")

            // A file made visible to the organization: the other members hear of it, the one who shared it does not.
            let file = PortalFile()
            file.id = UUID()
            file.tenantID = admin.tenantID
            file.name = "price-list.csv"
            file.contentType = "text/csv"
            file.size = 22
            file.sha256 = String(repeating: "0", count: 64)
            file.visibility = .private
            file.uploadedBy = admin.userID
            file.createdAt = Date()
            file.updatedAt = Date()
            try await file.create(on: app.db)
            let shared = try await tester.sendRequest(.PATCH, "/api/tenants/\(admin.tenantID)/files/\(file.id!)", headers: admin.bearer) { req in
                try req.content.encode(["visibility": "tenant"])
            }
            #expect(shared.status == .ok)
            let files = try await listing(tester, member).notifications.filter { $0.kind == .file }
            #expect(files.map(\.subject) == ["price-list.csv"] && files.first?.link == "/app/files")
            #expect(try await listing(tester, admin).notifications.filter { $0.kind == .file }.isEmpty)
        }
    }
}
