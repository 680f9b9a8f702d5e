@testable import FluxApp
import Fluent
import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import Testing
import VaporTesting

/// A mail client that records what it is asked to send, and fails while `down` is set.
final class RecordingMailClient: MailClient {
    let sent = NIOLockedValueBox<[MailMessage]>([])
    let down = NIOLockedValueBox(false)

    struct Outage: Error {}

    func send(_ message: MailMessage, from: MailAddress, messageID: String) async throws {
        if down.withLockedValue({ $0 }) { throw Outage() }
        sent.withLockedValue { $0.append(message) }
    }
}

@Suite struct MailFlowTests {
    func queued(_ app: Application, kind: String) async throws -> [MailMessage] {
        try await OutboxMessage.query(on: app.db).filter(\.$kind == kind).all().map {
            try JSONDecoder().decode(MailMessage.self, from: Data($0.payload.utf8))
        }
    }

    func token(in message: MailMessage) throws -> String {
        let range = try #require(message.text.range(of: "#token="))
        return String(message.text[range.upperBound...].prefix(43))
    }

    func post(_ tester: any TestingApplicationTester, _ path: String, _ body: [String: String]) async throws -> TestingHTTPResponse {
        try await tester.sendRequest(.POST, path, headers: try await csrfHeaders(tester)) { req in try req.content.encode(body) }
    }

    @Test func registrationQueuesAVerificationLinkThatWorksOnce() async throws {
        try await withFlux { app, config async throws in
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "verify@example.com")
            let mails = try await queued(app, kind: "verify-email")
            #expect(mails.count == 1)
            let mail = try #require(mails.first)
            #expect(mail.to.address == "verify@example.com")
            #expect(mail.text.contains(config.publicURL.appendingPathComponent("account/verify-email").absoluteString + "#token="))
            #expect(mail.html.contains("<a href="))
            let token = try token(in: mail)
            #expect(try await post(tester, "/api/auth/email/verify", ["token": token]).status == .noContent)
            #expect(try await User.query(on: app.db).filter(\.$email == "verify@example.com").first()?.emailVerifiedAt != nil)
            let again = try await post(tester, "/api/auth/email/verify", ["token": token])
            #expect(again.status == .badRequest)
            #expect(errorCode(again) == "invalid_token")
        }
    }

    @Test func aTakenEmailMailsItsOwnerAndTellsTheCallerNothing() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "owner-of@example.com")
            _ = try await post(tester, "/api/auth/register", ["email": "owner-of@example.com", "password": "another passphrase!"])
            let notices = try await queued(app, kind: "account-exists")
            #expect(notices.map(\.to.address) == ["owner-of@example.com"])
        }
    }

    @Test func forgotPasswordAnswersTheSameForKnownAndUnknownEmails() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "known@example.com")
            let known = try await post(tester, "/api/auth/password/forgot", ["email": "Known@Example.com"])
            let unknown = try await post(tester, "/api/auth/password/forgot", ["email": "unknown@example.com"])
            #expect(known.status == .accepted)
            #expect(unknown.status == known.status)
            #expect(unknown.body.string == known.body.string)
            #expect(try await queued(app, kind: "password-reset").map(\.to.address) == ["known@example.com"])
        }
    }

    @Test func resetSetsThePasswordOnceAndEndsEverySession() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "reset@example.com")
            _ = try await post(tester, "/api/auth/password/forgot", ["email": "reset@example.com"])
            let token = try token(in: try #require(try await queued(app, kind: "password-reset").first))
            let weak = try await post(tester, "/api/auth/password/reset", ["token": token, "password": "qwertyuiop"])
            #expect(weak.status == .badRequest)
            #expect(try await post(tester, "/api/auth/password/reset", ["token": token, "password": "a fresh passphrase"]).status == .noContent)
            #expect(try await tester.sendRequest(.GET, "/api/auth/me", headers: account.bearer).status == .unauthorized)
            #expect(try await login(tester, email: "reset@example.com", password: "a fresh passphrase").status == .ok)
            #expect(try await post(tester, "/api/auth/password/reset", ["token": token, "password": "a third passphrase"]).status == .badRequest)
        }
    }

    @Test func expiredForeignAndSupersededResetTokensAreRefused() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            let account = try await registerAndSignIn(tester, email: "tokens@example.com")
            let verification = try token(in: try #require(try await queued(app, kind: "verify-email").first))
            let expired = try await OneTimeTokens.issue(purpose: AccountRecovery.passwordReset, userID: account.userID,
                                                        lifetime: AccountRecovery.lifetime, on: app.db,
                                                        now: Date().addingTimeInterval(-2 * AccountRecovery.lifetime))
            // Issued, then the password changed some other way: the link is void.
            let superseded = try await OneTimeTokens.issue(purpose: AccountRecovery.passwordReset, userID: account.userID,
                                                           lifetime: AccountRecovery.lifetime, on: app.db,
                                                           now: Date().addingTimeInterval(-5))
            let changed = try await tester.sendRequest(.POST, "/api/auth/password", headers: account.bearer) { req in
                try req.content.encode(["currentPassword": testPassword, "newPassword": "changed passphrase"])
            }
            #expect(changed.status == .noContent)
            for candidate in [verification, expired, superseded, "x"] {
                let response = try await post(tester, "/api/auth/password/reset", ["token": candidate, "password": "a fresh passphrase"])
                #expect(response.status == .badRequest)
                #expect(errorCode(response) == "invalid_token")
            }
            #expect(try await login(tester, email: "tokens@example.com", password: "changed passphrase").status == .ok)
        }
    }

    @Test func anOutageLeavesMailPendingAndItIsDeliveredOnceLater() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "outage@example.com")
            let client = RecordingMailClient()
            let worker = OutboxWorker(client: client, from: MailAddress(address: "no-reply@example.com")!)
            client.down.withLockedValue { $0 = true }
            #expect(try await worker.deliverDue(on: app.db, logger: app.logger) == 0)
            let row = try #require(try await OutboxMessage.query(on: app.db).first())
            #expect(row.status == "pending" && row.attempts == 1 && row.lastError != nil)
            #expect(row.nextAttemptAt > Date())
            let waiting = try await Outbox.backlog(on: app.db, now: Date().addingTimeInterval(60))
            #expect(waiting.pending == 1 && waiting.oldestPendingAge >= 59)
            // Not due yet: nothing is retried early.
            client.down.withLockedValue { $0 = false }
            #expect(try await worker.deliverDue(on: app.db, logger: app.logger) == 0)
            let later = Date().addingTimeInterval(Outbox.backoff(afterAttempts: 1) + 1)
            #expect(try await worker.deliverDue(on: app.db, logger: app.logger, now: later) == 1)
            #expect(try await worker.deliverDue(on: app.db, logger: app.logger, now: later.addingTimeInterval(3600)) == 0)
            #expect(client.sent.withLockedValue { $0.map(\.to.address) } == ["outage@example.com"])
            let backlog = try await Outbox.backlog(on: app.db, now: later)
            #expect(backlog.pending == 0 && backlog.failed == 0)
            #expect(try await OutboxMessage.query(on: app.db).first()?.status == "sent")
        }
    }

    @Test func aSentMessageKeepsNoTokenAndGoesAfterTheRetention() async throws {
        try await withFlux { app, _ async throws in
            let tester = try app.testing()
            _ = try await registerAndSignIn(tester, email: "kept@example.com")
            let forgot = try await tester.sendRequest(.POST, "/api/auth/password/forgot", headers: try await csrfHeaders(tester)) { req in
                try req.content.encode(["email": "kept@example.com"])
            }
            #expect(forgot.status == .accepted)
            let reset = try #require(try await OutboxMessage.query(on: app.db).filter(\.$kind == "password-reset").first())
            #expect(reset.payload.contains("reset-password#token="))
            let client = RecordingMailClient()
            let worker = OutboxWorker(client: client, from: MailAddress(address: "no-reply@example.com")!, retentionDays: 30)
            #expect(try await worker.deliverDue(on: app.db, logger: app.logger) == 2)
            let rows = try await OutboxMessage.query(on: app.db).all()
            #expect(rows.count == 2 && rows.allSatisfy { $0.status == "sent" && $0.payload.isEmpty && $0.sentAt != nil })
            #expect(rows.map(\.recipient) == ["kept@example.com", "kept@example.com"])
            // Kept as metadata for the retention, then gone.
            try await worker.purge(on: app.db, now: Date().addingTimeInterval(29 * 86_400))
            #expect(try await OutboxMessage.query(on: app.db).count() == 2)
            try await worker.purge(on: app.db, now: Date().addingTimeInterval(31 * 86_400))
            #expect(try await OutboxMessage.query(on: app.db).count() == 0)
        }
    }

    @Test func headersCannotBeInjectedAndHTMLIsEscaped() async throws {
        let to = try #require(MailAddress(name: "Eve\r\nBcc: victim@example.com <b>", address: "eve@example.com"))
        let message = try await MailTemplates.passwordReset(to: to, link: URL(string: "https://flux.example/account/reset-password#token=abc")!)
        let evil = MailMessage(to: to, subject: "Hi\r\nBcc: victim@example.com", text: message.text, html: message.html)
        let rendered = MIME.render(evil, from: MailAddress(address: "no-reply@example.com")!, messageID: "id@flux", date: Date())
        let headers = rendered.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        #expect(!headers.contains { $0.lowercased().hasPrefix("bcc:") })
        #expect(headers.filter { $0.hasPrefix("Subject:") }.count == 1)
        #expect(headers.contains { $0.hasPrefix("To: \"Eve") && $0.hasSuffix("<b>\" <eve@example.com>") })
        #expect(MailAddress(name: "Zoë \"Z\"", address: "z@example.com")!.header.hasPrefix("=?UTF-8?B?"))
        #expect(MailAddress(address: "eve@example.com\r\nBcc: x@example.com") == nil)
        #expect(!message.html.contains("<b>"))
        #expect(message.html.contains("&lt;b&gt;"))
    }
}

@Suite struct SMTPClientTests {
    @Test func aServerThatNeverAnswersCannotHoldADelivery() async throws {
        // A listener that accepts and never speaks: only the client's own bound ends the exchange.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let silent = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let settings = try #require(SMTPSettings(url: "smtp://127.0.0.1:\(silent.localAddress!.port!)", caFile: nil))
        var client = SMTPMailClient(settings: settings, group: group, heloName: "flux.test")
        client.timeout = .milliseconds(300)
        let message = MailMessage(to: MailAddress(address: "a@example.com")!, subject: "s", text: "t", html: "h")
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: SMTPMailClient.Failure.self) {
            try await client.send(message, from: MailAddress(address: "b@example.com")!, messageID: "x@flux")
        }
        #expect(clock.now - started < .seconds(10))
        try await silent.close()
        try await group.shutdownGracefully()
    }
}
