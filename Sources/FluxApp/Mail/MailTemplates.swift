import Foundation

/// Every message Flux sends, each with a plain-text part and an HTML part rendered from `Resources/Views/mail`, in
/// which Leaf escapes every value (links as attributes and as text), so nothing a user typed becomes markup in a mail
/// client.
enum MailTemplates {
    static func verifyEmail(to: MailAddress, link: URL) async throws -> MailMessage {
        try await message(to: to, subject: "Confirm your email address for Flux",
                          lines: ["Confirm that this address is yours by opening the link below. It works once, for 60 minutes."],
                          link: link, linkLabel: "Confirm my email address",
                          footer: "If you did not create a Flux account, ignore this message.")
    }

    static func confirmEmailChange(to: MailAddress, link: URL) async throws -> MailMessage {
        try await message(to: to, subject: "Confirm your new email address for Flux",
                          lines: ["Your Flux account asked to use this address from now on. Confirm it by opening the link below. It works once, for 60 minutes."],
                          link: link, linkLabel: "Use this address",
                          footer: "If you did not ask for this, ignore this message: nothing changes.")
    }

    /// The old address hears that the account moved, so an owner whose account was taken over learns of it.
    static func emailChanged(to: MailAddress, newAddress: String, link: URL) async throws -> MailMessage {
        try await message(to: to, subject: "Your Flux account's email address changed",
                          lines: ["Your Flux account now uses the address \(TextInput.line(newAddress, maxLength: 254)) instead of this one.",
                                  "If you did not make this change, contact your Flux administrator at once."],
                          link: link, linkLabel: "Sign in to Flux",
                          footer: "If you made this change, there is nothing to do.")
    }

    static func accountExists(to: MailAddress, resetLink: URL) async throws -> MailMessage {
        try await message(to: to, subject: "Someone tried to register with your email on Flux",
                          lines: ["Somebody, perhaps you, tried to create a Flux account with this address, which already has one.",
                                  "If you forgot your password, you can choose a new one:"],
                          link: resetLink, linkLabel: "Reset my password",
                          footer: "If it was not you, nothing has changed and you can ignore this message.")
    }

    static func passwordReset(to: MailAddress, link: URL) async throws -> MailMessage {
        try await message(to: to, subject: "Reset your Flux password",
                          lines: ["Choose a new password with the link below. It works once, for 60 minutes, and signs you out everywhere."],
                          link: link, linkLabel: "Choose a new password",
                          footer: "If you did not ask for this, ignore this message: your password has not changed.")
    }

    /// The organization's and the inviter's names are typed by whoever signed up: they never reach the Subject
    /// (where a mail client shows them as Flux's own words), and the body quotes them as names.
    static func invitation(to: MailAddress, organization: String, inviter: String, link: URL) async throws -> MailMessage {
        try await message(to: to, subject: "You are invited to an organization on the Flux portal",
                          lines: ["“\(TextInput.line(inviter, maxLength: 100))” invites you to join the organization “\(TextInput.line(organization, maxLength: 100))” on the Flux portal.",
                                  "Accept with the link below. It works once, for 7 days."],
                          link: link, linkLabel: "Accept the invitation",
                          footer: "If you do not know this organization, ignore this message.")
    }

    /// A sign-in from a device and network the account has not used before.
    static func newDevice(to: MailAddress, device: String, at time: Date, link: URL) async throws -> MailMessage {
        try await message(to: to, subject: "New sign-in to your Flux account",
                          lines: ["Your Flux account was just signed in to from a device and network it has not used before.",
                                  "Device: \(TextInput.line(device, maxLength: 100))",
                                  "Time: \(time.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeSeparator(.colon))) UTC"],
                          link: link, linkLabel: "Not you? Review your devices and sign that one out",
                          footer: "If this was you, there is nothing to do.")
    }

    /// Wrong second-factor codes after a correct password: the password is known to someone.
    static func secondFactorFailures(to: MailAddress, count: Int, link: URL) async throws -> MailMessage {
        try await message(to: to, subject: "Someone who knows your password is trying to sign in to Flux",
                          lines: ["\(count) wrong two-factor codes have been entered for your Flux account, each after the correct password.",
                                  "Whoever tried knows your password. Your second factor kept them out: sign in and change your password now."],
                          link: link, linkLabel: "Sign in to Flux",
                          footer: "If these attempts were yours, you can ignore this message.")
    }

    /// A second factor was turned on or off: the owner hears of it whoever did it.
    static func secondFactorChanged(to: MailAddress, enabled: Bool, link: URL) async throws -> MailMessage {
        try await message(to: to, subject: enabled ? "Two-factor authentication was turned on for your Flux account"
                                                   : "Two-factor authentication was turned off for your Flux account",
                          lines: [enabled ? "An authenticator app was added to your Flux account; sign-ins now ask for its code."
                                          : "The authenticator app was removed from your Flux account; sign-ins no longer ask for a code."],
                          link: link, linkLabel: "Sign in to Flux",
                          footer: "If this was not you, sign in, change your password and end your other sessions at once.")
    }

    /// A passkey added to or removed from the account, named as its owner named it.
    static func passkeyChanged(to: MailAddress, added: Bool, name: String, link: URL) async throws -> MailMessage {
        let key = "“\(TextInput.line(name, maxLength: 64))”"
        return try await message(to: to, subject: added ? "A passkey was added to your Flux account" : "A passkey was removed from your Flux account",
                                 lines: [added ? "The passkey \(key) was added to your Flux account; it can now sign you in."
                                               : "The passkey \(key) was removed from your Flux account; it can no longer sign you in."],
                                 link: link, linkLabel: "Sign in to Flux",
                                 footer: "If this was not you, sign in, change your password and end your other sessions at once.")
    }

    /// Messages waiting in a portal conversation. Only the count and the conversation's title: message text
    /// stays in the portal, behind sign-in.
    static func unreadMessages(to: MailAddress, count: Int, conversation: String, link: URL) async throws -> MailMessage {
        let title = TextInput.line(conversation, maxLength: 100)
        let what = count == 1 ? "1 unread message" : "\(count) unread messages"
        return try await message(to: to, subject: "\(what) in \(title.isEmpty ? "your Flux portal" : title)",
                                 lines: ["You have \(what) in \(title.isEmpty ? "a conversation" : "“\(title)”") on the Flux portal."],
                                 link: link, linkLabel: "Read them in the portal",
                                 footer: "You get this when a message stays unread for 10 minutes, once per batch of messages.")
    }

    /// A worker stopped reporting, or reports again. Sent once per incident to the organization's admins and
    /// HQ's engineers; `link` is where each of them sees and acts on it.
    static func workerIncident(to: MailAddress, organization: String, worker: String, stale: Bool, link: URL) async throws -> MailMessage {
        let name = TextInput.line(organization, maxLength: 100)
        if stale {
            return try await message(to: to, subject: "\(name)'s assistant stopped reporting",
                                     lines: ["The assistant worker “\(worker)” of \(name) has not reported for longer than its threshold.",
                                             "Its messages may be going unanswered until it is restarted."],
                                     link: link, linkLabel: "See its status",
                                     footer: "You will get one more message when it reports again.")
        }
        return try await message(to: to, subject: "\(name)'s assistant is reporting again",
                                 lines: ["The assistant worker “\(worker)” of \(name) is reporting again."],
                                 link: link, linkLabel: "See its status", footer: "No action is needed.")
    }

    /// The notification for a new consultation ticket: every value the visitor typed is escaped, and the
    /// reply link is a mailto of the validated address, percent-encoded.
    static func consultation(to: MailAddress, signal: OperationsSignal) async throws -> MailMessage {
        let insights = (try? JSONDecoder().decode([String].self, from: Data(signal.conversationInsights.utf8))) ?? []
        let topics = (try? JSONDecoder().decode([String].self, from: Data(signal.suggestedTopics.utf8))) ?? []
        let rows: [(String, String)] = [
            ("Ticket", signal.id!.uuidString), ("Name", signal.name), ("Company", signal.company), ("Email", signal.email),
            ("Phone", signal.phone ?? "—"), ("Preferred contact", signal.preferredContact.rawValue),
            ("Timeframe", signal.timeframe ?? "—"), ("Message", signal.message ?? "—"),
            ("Conversation insights", insights.joined(separator: "; ")), ("Suggested topics", topics.joined(separator: "; ")),
            ("Page", signal.pageURL ?? "—"), ("FluxAI session", signal.sessionID ?? "—"),
        ]
        let text = rows.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        let mailto = "mailto:" + (signal.email.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "@.-_"))) ?? "")
        struct Row: Encodable {
            let label, value: String
        }
        struct Context: Encodable {
            let rows: [Row]
            let mailto, name: String
        }
        let html = try await PageTemplates.render("mail/consultation", Context(rows: rows.map { Row(label: $0.0, value: $0.1) },
                                                                              mailto: mailto, name: signal.name))
        return MailMessage(to: to, subject: "Consultation request from \(signal.company)", text: text, html: html)
    }

    private static func message(to: MailAddress, subject: String, lines: [String], link: URL, linkLabel: String,
                                footer: String) async throws -> MailMessage {
        struct Context: Encodable {
            let greeting: String
            let lines: [String]
            let link, linkLabel, footer: String
        }
        let greeting = "Hello\(to.name.map { " " + $0 } ?? ""),"
        let text = ([greeting, ""] + lines + ["", link.absoluteString, "", footer]).joined(separator: "\n")
        let html = try await PageTemplates.render("mail/message", Context(greeting: greeting, lines: lines, link: link.absoluteString,
                                                                          linkLabel: linkLabel, footer: footer))
        return MailMessage(to: to, subject: subject, text: text, html: html)
    }
}
