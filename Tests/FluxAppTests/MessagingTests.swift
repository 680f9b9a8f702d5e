@testable import FluxApp
import Fluent
import Foundation
import SQLKit
import Testing
import VaporTesting

@Suite struct MessagingTests {
    typealias Thread = MessagingController.ThreadView
    typealias Message = MessagingController.MessageView

    func create(_ tester: any TestingApplicationTester, _ by: SignedIn, kind: String, title: String? = nil, with others: [UUID],
                tenant: UUID? = nil) async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/portal/conversations", headers: by.bearer) { req in
            try req.content.encode(MessagingController.CreateBody(kind: kind, title: title, participantIds: others, tenantId: tenant))
        }
    }

    func post(_ tester: any TestingApplicationTester, _ by: SignedIn, _ thread: UUID, _ text: String) async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/portal/conversations/\(thread)/messages", headers: by.bearer) { req in
            try req.content.encode(["body": text])
        }
    }

    @Test func aClientAndAnEngineerTalkWithReceiptsUnreadCountsAndPages() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let created = try await create(tester, admin, kind: "direct", with: [engineer.userID])
            #expect(created.status == .created)
            let thread = try created.content.decode(Thread.self).id
            for text in ["Our bridge is down", "Since 9:00", "<script>x</script>"] {
                #expect(try await post(tester, admin, thread, text).status == .created)
            }
            // A direct conversation is private to its two people, even inside the organization.
            #expect(try await tester.sendRequest(.GET, "/api/portal/conversations/\(thread)/messages", headers: member.bearer).status == .notFound)

            let listed = try await tester.sendRequest(.GET, "/api/portal/conversations?tenantId=\(admin.tenantID)", headers: engineer.bearer)
            #expect(try listed.content.decode([Thread].self).first?.unread == 3)
            let receipt = try await tester.sendRequest(.POST, "/api/portal/conversations/\(thread)/read", headers: engineer.bearer) { req in
                try req.content.encode(["seq": 2])
            }
            #expect(receipt.status == .ok)
            #expect(try await post(tester, engineer, thread, "Restarting it now").status == .created)
            let detail = try await tester.sendRequest(.GET, "/api/portal/conversations/\(thread)", headers: admin.bearer)
            let shown = try detail.content.decode(MessagingController.ThreadDetail.self)
            #expect(shown.thread.unread == 1 && shown.thread.lastSeq == 4)
            #expect(Set(shown.members.map(\.lastReadSeq)) == [3, 4])

            let older = try await tester.sendRequest(.GET, "/api/portal/conversations/\(thread)/messages?before=4&limit=2", headers: admin.bearer)
            let page = try older.content.decode(MessagingController.MessagePage.self)
            #expect(page.messages.map(\.seq) == [3, 2] && page.nextBefore == 2)
            let missed = try await tester.sendRequest(.GET, "/api/portal/conversations/\(thread)/messages?after=2", headers: admin.bearer)
            #expect(try missed.content.decode(MessagingController.MessagePage.self).messages.map(\.body) == ["<script>x</script>", "Restarting it now"])
            let backwards = try await tester.sendRequest(.POST, "/api/portal/conversations/\(thread)/read", headers: engineer.bearer) { req in
                try req.content.encode(["seq": 1])
            }
            #expect(try backwards.content.decode(MessagingController.MemberView.self).lastReadSeq == 4)
        }
    }

    @Test func channelsAreTheOrganizationsAndNobodyElses() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let outsider = try await mintSignedIn(app, role: .clientAdmin)
            let channel = try await create(tester, admin, kind: "channel", title: "Support", with: [])
            let id = try channel.content.decode(Thread.self).id
            #expect(try await post(tester, member, id, "Hello all").status == .created)
            #expect(try await tester.sendRequest(.GET, "/api/portal/conversations", headers: member.bearer).content.decode([Thread].self).count == 1)
            #expect(try await post(tester, outsider, id, "Hi").status == .notFound)
            #expect(try await tester.sendRequest(.GET, "/api/portal/conversations", headers: outsider.bearer).content.decode([Thread].self).isEmpty)
            let foreign = try await create(tester, admin, kind: "direct", with: [outsider.userID])
            #expect(foreign.status == .badRequest && foreign.body.string.contains("participantIds"))
            let untitled = try await create(tester, admin, kind: "channel", with: [])
            #expect(untitled.status == .badRequest && untitled.body.string.contains("title"))
            #expect(try await post(tester, member, id, String(repeating: "x", count: 4001)).status == .badRequest)
        }
    }

    @Test func editsAndDeletionsKeepTheEarlierText() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let id = try await create(tester, admin, kind: "channel", title: "General", with: []).content.decode(Thread.self).id
            let message = try await post(tester, member, id, "first draft").content.decode(Message.self)
            let edited = try await tester.sendRequest(.PATCH, "/api/portal/messages/\(message.id)", headers: member.bearer) { req in
                try req.content.encode(["body": "final text"])
            }
            #expect(try edited.content.decode(Message.self).body == "final text")
            let notYours = try await tester.sendRequest(.PATCH, "/api/portal/messages/\(message.id)", headers: admin.bearer) { req in
                try req.content.encode(["body": "hijacked"])
            }
            #expect(notYours.status == .forbidden)
            #expect(try await tester.sendRequest(.DELETE, "/api/portal/messages/\(message.id)", headers: admin.bearer).status == .noContent)
            let page = try await tester.sendRequest(.GET, "/api/portal/conversations/\(id)/messages", headers: member.bearer)
            let gone = try #require(try page.content.decode(MessagingController.MessagePage.self).messages.first)
            #expect(gone.body.isEmpty && gone.deletedAt != nil)
            let revisions = try await ChatRevision.query(on: app.db).filter(\.$messageID == message.id).sort(\.$at).all()
            #expect(revisions.map(\.body) == ["first draft", "final text"] && revisions.map(\.action) == ["edit", "delete"])
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action ~~ ["message.edited", "message.deleted"]).count() == 2)
        }
    }

    /// Stored realtime events are what a subscriber replays with `after: 0`: an edit, a deletion or an
    /// erasure leaves none of the earlier text there.
    @Test func editedDeletedAndErasedTextIsGoneFromTheReplayableEvents() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let id = try await create(tester, admin, kind: "channel", title: "General", with: []).content.decode(Thread.self).id
            let edited = try await post(tester, member, id, "the vault code is 4711").content.decode(Message.self)
            let deleted = try await post(tester, member, id, "our supplier is failing").content.decode(Message.self)
            #expect(try await post(tester, admin, id, "noted").status == .created)
            _ = try await tester.sendRequest(.PATCH, "/api/portal/messages/\(edited.id)", headers: member.bearer) { req in
                try req.content.encode(["body": "the vault code is on paper"])
            }
            #expect(try await tester.sendRequest(.DELETE, "/api/portal/messages/\(deleted.id)", headers: member.bearer).status == .noContent)
            func stored() async throws -> String {
                try await (app.db as! any SQLDatabase).raw("SELECT data FROM realtime_events ORDER BY id").all(decodingColumn: "data", as: String.self)
                    .joined(separator: "\n")
            }
            let events = try await stored()
            #expect(!events.contains("4711") && !events.contains("supplier"))
            #expect(events.contains("the vault code is on paper") && events.contains("noted"))

            // The member erases their account: their words leave the event log too.
            let erased = try await tester.sendRequest(.DELETE, "/api/account", headers: member.bearer) { req in
                try req.content.encode(["email": try #require(try await User.find(member.userID, on: app.db)).email])
            }
            #expect(erased.status == .noContent)
            let after = try await stored()
            #expect(!after.contains("on paper") && after.contains("noted"))
        }
    }

    @Test func parallelSendersGetDistinctConsecutiveNumbers() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let id = try await create(tester, admin, kind: "channel", title: "Busy", with: []).content.decode(Thread.self).id
            let statuses = try await withThrowingTaskGroup(of: HTTPStatus.self) { group in
                for index in 0..<20 { group.addTask { try await post(tester, admin, id, "message \(index)").status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .created }, "\(statuses)")
            let seqs = try await ChatMessage.query(on: app.db).filter(\.$threadID == id).all().map(\.seq).sorted()
            #expect(seqs == Array(1...20))
        }
    }

    @Test func messagesLeftUnreadAreMailedOncePerBatch() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let client = try await mintSignedIn(app, role: .clientAdmin)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let thread = try await create(tester, client, kind: "direct", with: [engineer.userID]).content.decode(Thread.self).id
            for text in ["First", "Second"] { #expect(try await post(tester, client, thread, text).status == .created) }
            let notifier = UnreadMail(links: app.identity.links)
            func mails() async throws -> [(to: String, subject: String, text: String)] {
                try await OutboxMessage.query(on: app.db).filter(\.$kind == "unread-messages").sort(\.$createdAt).all().map { row in
                    let mail = try JSONDecoder().decode(MailMessage.self, from: Data(row.payload.utf8))
                    return (row.recipient, mail.subject, mail.text)
                }
            }
            // Not before the delay.
            #expect(try await notifier.pass(on: app.db) == 0)
            let later = Date().addingTimeInterval(UnreadMail.delay + 60)
            #expect(try await notifier.pass(on: app.db, now: later) == 1)
            let first = try #require(try await mails().first)
            let engineerEmail = try #require(try await User.find(engineer.userID, on: app.db)).email
            #expect(first.to == engineerEmail && first.subject.hasPrefix("2 unread messages"))
            // The message text stays in the portal.
            #expect(!first.text.contains("First") && first.text.contains("/app/messages"))
            // The same messages are not mailed twice, and the sender never hears of their own.
            #expect(try await notifier.pass(on: app.db, now: later) == 0)

            // Read in time: no mail. A newer message left unread: a new mail, about it alone.
            #expect(try await post(tester, client, thread, "Third").status == .created)
            _ = try await tester.sendRequest(.POST, "/api/portal/conversations/\(thread)/read", headers: engineer.bearer) { req in
                try req.content.encode(["seq": 3])
            }
            #expect(try await notifier.pass(on: app.db, now: later) == 0)
            #expect(try await post(tester, client, thread, "Fourth").status == .created)
            #expect(try await notifier.pass(on: app.db, now: later) == 1)
            #expect(try await mails().map(\.subject).last?.hasPrefix("1 unread message in") == true)
            #expect(Set(try await mails().map(\.to)) == [engineerEmail])
        }
    }

    @Test func theMessagesPageOffersColleaguesEngineersAndFilesAndNamesDirectConversationsByThePerson() async throws {
        try await withFlux { app, _ async throws in
            // setup
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let sales = try await mintSignedIn(app, role: .sales)
            let outsider = try await mintSignedIn(app, role: .clientAdmin)
            func email(_ who: SignedIn) async throws -> String { try #require(try await User.find(who.userID, on: app.db)).email }
            let direct = try await create(tester, admin, kind: "direct", with: [member.userID]).content.decode(Thread.self).id
            let file = PortalFile()
            file.id = UUID()
            file.tenantID = admin.tenantID
            file.name = "floor-plan.pdf"
            file.contentType = "application/pdf"
            file.size = 2_400_000
            file.sha256 = String(repeating: "0", count: 64)
            file.visibility = .tenant
            file.uploadedBy = member.userID
            file.createdAt = Date()
            file.updatedAt = Date()
            try await file.create(on: app.db)
            var headers = admin.bearer
            headers.replaceOrAdd(name: .accept, value: "text/html")

            // MUT
            let page = try await tester.sendRequest(.GET, "/app/messages?lang=it", headers: headers).body.string

            // validate: colleagues and the company's engineers, named with their role; never sales or another client.
            let (memberEmail, engineerEmail) = (try await email(member), try await email(engineer))
            let (salesEmail, outsiderEmail) = (try await email(sales), try await email(outsider))
            #expect(page.contains(">\(memberEmail) (Client member)</option>") && page.contains(">\(engineerEmail) (Engineer)</option>"))
            #expect(!page.contains(salesEmail) && !page.contains(outsiderEmail))
            // The direct conversation is called by the other person; the organization's file can be attached, its size in words.
            #expect(page.contains(#"data-thread="\#(direct)" aria-current="page">\#(memberEmail) (Client member)</a>"#))
            #expect(page.contains(#"<option value="\#(file.id!)">floor-plan.pdf (2.4 MB)</option>"#))
            #expect(page.contains("Conversazioni") && page.contains("Inizia la conversazione"))
            #expect(page.contains(#"id="attach-upload""#))

            // An engineer answering in HQ starts conversations with the organization's people and attaches what staff
            // may see, but uploads nothing into the client's files.
            var staffHeaders = engineer.bearer
            staffHeaders.replaceOrAdd(name: .accept, value: "text/html")
            let staffPage = try await tester.sendRequest(.GET, "/hq-command/messages?tenantId=\(admin.tenantID)", headers: staffHeaders).body.string
            #expect(staffPage.contains(">\(memberEmail) (Client member)</option>") && !staffPage.contains(">\(engineerEmail) (Engineer)</option>"))
            #expect(!staffPage.contains(#"id="attach-upload""#) && !staffPage.contains("floor-plan.pdf"))
        }
    }
}
