@testable import FluxApp
import Fluent
import Foundation
import Testing
import VaporTesting

@Suite struct PortalPagesTests {
    func browser(_ signedIn: SignedIn? = nil) -> HTTPHeaders {
        var headers: HTTPHeaders = ["Accept": "text/html"]
        if let signedIn { headers.add(contentsOf: signedIn.bearer) }
        return headers
    }

    @Test func aClientGoesFromOnboardingToStatusAndReadsItsLogs() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let away = try await tester.sendRequest(.GET, "/app/status", headers: browser())
            #expect(away.status == .seeOther && away.headers.first(name: .location) == "/app/sign-in?next=%2Fapp%2Fstatus")
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let member = try await mintSignedIn(app, role: .clientMember, tenant: admin.tenantID)
            #expect(try await tester.sendRequest(.GET, "/app", headers: browser(admin)).headers.first(name: .location) == "/app/onboarding")
            let form = try await tester.sendRequest(.GET, "/app/onboarding", headers: browser(admin)).body.string
            #expect(form.contains(#"<form id="setup-form""#) && form.contains("<option>restaurant</option>"))
            let memberView = try await tester.sendRequest(.GET, "/app/onboarding", headers: browser(member)).body.string
            #expect(!memberView.contains("setup-form") && memberView.contains("administrator requests the setup"))

            let setup = SetupRequest(tenantID: admin.tenantID, userID: admin.userID, templateType: "clinic", contactNumber: "+390212345678")
            try await setup.create(on: app.db)
            #expect(try await tester.sendRequest(.GET, "/app", headers: browser(member)).headers.first(name: .location) == "/app/status")
            let worker = WorkerProcess()
            worker.tenantID = admin.tenantID
            worker.name = "<b>bridge</b>"
            worker.status = "running"
            worker.heartbeatAt = Date().addingTimeInterval(-600)
            try await worker.create(on: app.db)
            let status = try await tester.sendRequest(.GET, "/app/status", headers: browser(member)).body.string
            #expect(status.contains("<dt>Setup request</dt><dd>waiting for review</dd>"))
            #expect(status.contains("&lt;b&gt;bridge&lt;/b&gt;") && status.contains("Not reporting"))

            for index in 0..<60 {
                let log = MessageLog()
                log.tenantID = admin.tenantID
                log.direction = .inbound
                log.from = "+3900\(index)"
                log.to = "clinic"
                log.text = "booking \(index)"
                log.occurredAt = Date().addingTimeInterval(Double(index - 100))
                try await log.create(on: app.db)
            }
            let logs = try await tester.sendRequest(.GET, "/app/logs", headers: browser(member)).body.string
            #expect(logs.components(separatedBy: "<td class=\"payload\">booking").count - 1 == 50)
            let older = try #require(logs.firstMatch(of: #/href="(/app/logs\?cursor=[^"]+)"/#)?.1)
            let second = try await tester.sendRequest(.GET, String(older).replacingOccurrences(of: "&amp;", with: "&"), headers: browser(member))
            #expect(second.body.string.components(separatedBy: "<td class=\"payload\">booking").count - 1 == 10)
            #expect(!second.body.string.contains(#"id="older""#))

            let staff = try await mintSignedIn(app, role: .owner)
            let refused = try await tester.sendRequest(.GET, "/app/status", headers: browser(staff))
            #expect(refused.status == .forbidden && refused.body.string.contains("Not for your role"))
        }
    }

    @Test func clientsAndEngineersShareTheMessagesPage() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let admin = try await mintSignedIn(app, role: .clientAdmin)
            let engineer = try await mintSignedIn(app, role: .engineer)
            let created = try await tester.sendRequest(.POST, "/api/portal/conversations", headers: admin.bearer) { req in
                try req.content.encode(MessagingController.CreateBody(kind: "channel", title: "<i>Ops</i>", participantIds: nil, tenantId: nil))
            }
            let thread = try created.content.decode(MessagingController.ThreadView.self).id
            let clientPage = try await tester.sendRequest(.GET, "/app/messages", headers: browser(admin)).body.string
            #expect(clientPage.contains(#"data-thread="\#(thread)""#) && clientPage.contains("&lt;i&gt;Ops&lt;/i&gt;"))
            #expect(clientPage.contains(#"href="/app/messages?thread=\#(thread)""#) && !clientPage.contains("tenant-choice"))

            // Staff first choose the organization, then talk in its conversations.
            let choose = try await tester.sendRequest(.GET, "/hq-command/messages", headers: browser(engineer)).body.string
            #expect(choose.contains("tenant-choice") && choose.contains("/hq-command/messages?tenantId=\(admin.tenantID)") && !choose.contains("data-thread=\"\(thread)"))
            let staffPage = try await tester.sendRequest(.GET, "/hq-command/messages?tenantId=\(admin.tenantID)", headers: browser(engineer)).body.string
            #expect(staffPage.contains(#"data-thread="\#(thread)""#))
            #expect(staffPage.contains("/hq-command/messages?tenantId=\(admin.tenantID)&amp;thread=\(thread)"))
            #expect(staffPage.contains(#"data-tenant="\#(admin.tenantID)""#))
            #expect(try await tester.sendRequest(.GET, "/hq-command/messages", headers: browser(admin)).status == .forbidden)
        }
    }
}
