@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct TeamTests {
    struct Accepted: Decodable {
        let tenantId: UUID
        let newAccount: Bool
        let role: String
    }

    func invite(_ tester: any TestingApplicationTester, _ admin: SignedIn, _ email: String, role: String = "client_member") async throws
        -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/portal/team/invitations", headers: admin.bearer) { req in
            try req.content.encode(["email": email, "role": role])
        }
    }

    /// The invitation id and token from the last invitation mailed to `email`.
    func link(_ app: Application, to email: String) async throws -> (id: String, token: String) {
        let row = try #require(try await OutboxMessage.query(on: app.db).filter(\.$kind == "invitation").filter(\.$recipient == email)
            .sort(\.$createdAt, .descending).first())
        let text = try JSONDecoder().decode(MailMessage.self, from: Data(row.payload.utf8)).text
        let match = try #require(text.firstMatch(of: #/#invitation=([0-9A-F-]{36})&token=([A-Za-z0-9_-]{43})/#))
        return (String(match.1), String(match.2))
    }

    func accept(_ tester: any TestingApplicationTester, _ link: (id: String, token: String), password: String? = testPassword) async throws
        -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, "/api/portal/team/accept", headers: try await csrfHeaders(tester)) { req in
            var body = ["invitationId": link.id, "token": link.token, "name": "New <b>Colleague</b>"]
            body["password"] = password
            try req.content.encode(body)
        }
    }

    @Test func anInviteeJoinsOnceThroughTheMailedLinkAndSignsIn() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            #expect(try await invite(tester, admin, "New.Person@Example.com").status == .created)
            #expect(try await invite(tester, admin, "new.person@example.com").status == .conflict)
            let mailed = try await link(app, to: "new.person@example.com")

            let noPassword = try await accept(tester, mailed, password: nil)
            #expect(noPassword.status == .badRequest && noPassword.body.string.contains(#""password""#))
            let joined = try await accept(tester, mailed)
            #expect(joined.status == .created)
            let body = try joined.content.decode(Accepted.self)
            #expect(body.tenantId == admin.tenantID && body.newAccount && body.role == "client_member")
            #expect(try await accept(tester, mailed).status == .badRequest)
            #expect(try await login(tester, email: "new.person@example.com").status == .ok)
            let team = try await tester.sendRequest(.GET, "/api/portal/team", headers: admin.bearer).body.string
            #expect(team.contains("new.person@example.com") && team.contains(#""invitations":[]"#))
            #expect(try await AuditEvent.query(on: app.db).filter(\.$action == "invitation.accepted").count() == 1)
            // The admin who invited hears who joined, by the name they chose.
            let notices = try await tester.sendRequest(.GET, "/api/portal/notifications", headers: admin.bearer).content
                .decode(NotificationsController.Listing.self).notifications
            #expect(notices.map(\.kind) == [.invitation] && notices.first?.actor == "New <b>Colleague</b>")
        }
    }

    @Test func aRevokedInvitationCannotBeUsedAndMembersCannotInvite() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            #expect(try await invite(tester, member, "x@example.com").status == .forbidden)
            let created = try await invite(tester, admin, "later@example.com", role: "client_admin")
            let id = try created.content.decode(TeamController.InvitationView.self).id
            let mailed = try await link(app, to: "later@example.com")
            let outsider = try await mintSignedIn(app, role: .clientAdmin)
            #expect(try await tester.sendRequest(.DELETE, "/api/portal/team/invitations/\(id)", headers: outsider.bearer).status == .notFound)
            #expect(try await tester.sendRequest(.DELETE, "/api/portal/team/invitations/\(id)", headers: admin.bearer).status == .noContent)
            #expect(try await accept(tester, mailed).status == .badRequest)
            let forged = try await accept(tester, (mailed.id, String(repeating: "A", count: 43)))
            #expect(forged.status == .badRequest)
            for bad in [["email": "nope", "role": "client_member"], ["email": "ok@example.com", "role": "owner"]] {
                let refused = try await tester.sendRequest(.POST, "/api/portal/team/invitations", headers: admin.bearer) { req in
                    try req.content.encode(bad)
                }
                #expect(refused.status == .badRequest)
            }
        }
    }

    @Test func onlyAProvedAddressInvitesAndAnOrganizationInvitesAtMostItsDailyShare() async throws {
        try await withFlux(environment: ["INVITATIONS_PER_DAY": "3"]) { app, _ async throws in
            let tester = try app.testing()
            // Registered, never proved its address: Flux mails nobody on its word.
            let unproved = try await registerAndSignIn(tester, email: "squatter@example.com", company: "Evil\r\nBcc: everyone")
            let refused = try await invite(tester, unproved, "victim@example.com")
            #expect(refused.status == .forbidden && errorCode(refused) == "email_unverified")
            #expect(try await OutboxMessage.query(on: app.db).filter(\.$kind == "invitation").count() == 0)

            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let tenant = try #require(try await Tenant.find(admin.tenantID, on: app.db))
            tenant.name = "Free Prizes <script>alert(1)</script>"
            try await tenant.update(on: app.db)
            for index in 0..<3 { #expect(try await invite(tester, admin, "person\(index)@example.com").status == .created) }
            let over = try await invite(tester, admin, "person3@example.com")
            #expect(over.status == .tooManyRequests && errorCode(over) == "invitation_limit")
            #expect(over.headers.first(name: "Retry-After") != nil)

            // The organization's name is quoted in the body, escaped in HTML, and never in the Subject.
            let row = try #require(try await OutboxMessage.query(on: app.db).filter(\.$kind == "invitation").first())
            let mail = try JSONDecoder().decode(MailMessage.self, from: Data(row.payload.utf8))
            #expect(!mail.subject.contains("Free Prizes") && !mail.subject.contains("invites you to Free"))
            #expect(mail.text.contains("“Free Prizes <script>alert(1)</script>”"))
            #expect(!mail.html.contains("<script>") && mail.html.contains("&lt;script&gt;"))
        }
    }

    @Test func removingAMemberEndsTheirSessionsIntoTheTenant() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: member.bearer).status == .ok)
            let removed = try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/members/\(member.userID)", headers: admin.bearer)
            #expect(removed.status == .noContent)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: member.bearer).status == .unauthorized)
            #expect(try await Membership.query(on: app.db).filter(\.$userID == member.userID).count() == 0)
            let itself = try await tester.sendRequest(.DELETE, "/api/tenants/\(admin.tenantID)/members/\(admin.userID)", headers: admin.bearer)
            #expect(itself.status == .forbidden)
        }
    }
}
